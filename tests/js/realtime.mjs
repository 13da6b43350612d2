// One Realtime turn with the official JS SDK (openai on npm, OpenAIRealtimeWS), for
// tests/test_js_sdk.py: session.update, response.create, every event until response.done,
// then close. Configured as the README's JS row says: the base URL from RTREC_BASE_URL
// (https://127.0.0.1:PORT/v1), the certificate trusted through NODE_EXTRA_CA_CERTS.
//
// Prints one JSON line: {sent: [text frames as the SDK handed them to the socket],
// received: [base64 of every frame as it came off the socket], types, close: [code, reason]}.
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const client = new OpenAI({ apiKey: process.env.RTREC_API_KEY, baseURL: process.env.RTREC_BASE_URL });
const rt = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);

const sent = [];
const received = [];
const types = [];
const socketSend = rt.socket.send.bind(rt.socket);
rt.socket.send = (data, ...rest) => {
  sent.push(String(data));
  return socketSend(data, ...rest);
};
rt.socket.on("message", (data, isBinary) => {
  received.push({ binary: isBinary, data: Buffer.from(data).toString("base64") });
});

const timer = setTimeout(() => {
  console.error(`no response.done within 30 s; events seen: ${types.join(" ")}`);
  process.exit(3);
}, 30_000);

rt.on("error", (error) => {
  console.error(`realtime error: ${error.message}`);
  process.exit(2);
});
rt.on("event", (event) => types.push(event.type));
rt.socket.on("open", () => {
  rt.send({
    type: "session.update",
    session: { type: "realtime", instructions: "Réponds brièvement, s'il te plaît 🙂" },
  });
  rt.send({ type: "response.create" });
});
rt.on("response.done", () => rt.close());
rt.socket.on("close", (code, reason) => {
  clearTimeout(timer);
  console.log(JSON.stringify({ sent, received, types, close: [code, reason.toString()] }));
});
