// The session page: lanes on one time axis, a player with a playhead, frames on click.
import { getJSON, el, clock, duration } from "/static/api.js";

const sid = decodeURIComponent(location.pathname.split("/").pop());
const api = `/api/sessions/${encodeURIComponent(sid)}`;
const params = new URLSearchParams(location.search);

const $ = (id) => document.getElementById(id);
const timeline = $("timeline");
const audio = $("audio");
const BASE_BUCKET_MS = 10;
const MAX_LEVEL = 16;

const view = { start: 0, span: 1000, end: 1000 };
let data = null;
let kinds = new Set();
let ticks = [];
let selected = null;
const peaks = { user: null, assistant: null };
let cursorMs = 0;

function width() { return Math.max(timeline.clientWidth, 1); }
function x(ms) { return ((ms - view.start) / view.span) * width(); }
function msAt(px) { return view.start + (px / width()) * view.span; }
function clampView() {
  const total = Math.max(view.end, 1);
  view.span = Math.min(Math.max(view.span, 20), total * 1.05 + 1000);
  view.start = Math.min(Math.max(view.start, 0), Math.max(0, total - view.span * 0.5));
}

function place(node, start, end, minWidth = 2) {
  const left = x(start);
  const right = end === null || end === undefined ? left + minWidth : x(end);
  node.style.left = `${left}px`;
  node.style.width = `${Math.max(right - left, minWidth)}px`;
}

// -- lanes ---------------------------------------------------------------------------------------

// a tool call as name(arguments); a Live delegation (no arguments) by its name alone
function call(c) {
  return c.kind === "delegation" ? c.name : `${c.name}(${c.arguments ?? ""})`;
}

function buildLanes() {
  const user = $("lane-user");
  const assistant = $("lane-assistant");
  const tools = $("lane-tools");
  for (const t of data.lanes.user) {
    t.node = el("div", { class: "turn user", title: `${clock(t.start_ms)} user: ${t.text ?? t.note ?? ""}`,
      "data-item": t.item_id, text: t.text ?? t.note ?? "", onclick: () => seek(t.start_ms) });
    user.append(t.node);
  }
  for (const t of data.lanes.assistant) {
    const status = t.status && t.status !== "completed" ? ` (${t.status}${t.status_reason ? ": " + t.status_reason : ""})` : "";
    t.node = el("div", { class: "turn assistant", "data-item": t.item_id,
      "data-status": t.status ?? "", onclick: () => seek(t.start_ms),
      title: `${clock(t.start_ms)} assistant${status}: ${t.text ?? ""}` +
        (t.truncated ? `\nheard ${duration(t.heard_ms)} of ${duration(t.audio_ms)}` : ""),
      text: (t.text ?? "") + status });
    assistant.append(t.node);
    if (t.truncated && t.generated_end_ms > t.heard_end_ms) {
      t.unheard = el("div", { class: "unheard", "data-item": t.item_id,
        title: `not heard: ${duration(t.generated_end_ms - t.heard_end_ms)} cut at ${clock(t.heard_end_ms)}` });
      assistant.append(t.unheard);
    }
  }
  for (const c of data.lanes.tools) {
    c.node = el("div", { class: `tool-span${c.kind === "delegation" ? " delegation" : ""}`,
      "data-call": c.call_id ?? "", "data-kind": c.kind ?? "tool_call",
      title: `${call(c)}\n-> ${c.output ?? "(no output recorded)"}` +
        (c.tool_ms !== null ? `\ntime in the tool: ${duration(c.tool_ms)}` : ""),
      text: `${c.name ?? "call"}${c.tool_ms !== null ? " · " + duration(c.tool_ms) : ""}`,
      onclick: () => seek(c.start_ms) });
    tools.append(c.node);
  }
  data.latency = [];
  const figures = data.figures;
  if (figures && figures.turns) {
    for (const turn of figures.turns) {
      if (turn.voice_to_voice_ms === null || turn.voice_to_voice_ms === undefined) continue;
      const from = turn.speech_end_wire_ms ?? turn.speech_stopped_ms;
      if (from === null || from === undefined) continue;
      const node = el("div", { class: "latency", title: `turn ${turn.index}: voice to voice ${duration(turn.voice_to_voice_ms)}` },
        el("span", { text: `v2v ${duration(turn.voice_to_voice_ms)}` }));
      assistant.append(node);
      data.latency.push({ node, start: from, end: from + turn.voice_to_voice_ms });
    }
  }
  if (!data.has_audio) {
    for (const lane of [user, assistant]) lane.append(el("span", { class: "nowave", text: "no audio recorded" }));
  }
  // a lane that does not apply to this session (a Live one: no heard-audio) says so
  for (const [name, text] of Object.entries(data.lanes.notes ?? {})) {
    const lane = $(`lane-${name}`);
    if (lane) lane.append(el("span", { class: "lane-note", "data-lane": name, text }));
  }
  if (data.session.protocol === "live") {
    assistant.querySelector(".name").textContent = "assistant (as generated)";
    tools.querySelector(".name").textContent = "delegations and tool calls";
  }
}

function layout() {
  clampView();
  for (const t of data.lanes.user) place(t.node, t.start_ms, t.end_ms, 3);
  for (const t of data.lanes.assistant) {
    place(t.node, t.start_ms, t.heard_end_ms, 3);
    if (t.unheard) place(t.unheard, t.heard_end_ms, t.generated_end_ms, 3);
  }
  for (const c of data.lanes.tools) place(c.node, c.start_ms, c.end_ms, 4);
  for (const m of data.latency) place(m.node, m.start, m.end, 2);
  drawAxis();
  drawTicks();
  drawWaves();
  movePlayhead();
  loadWindow();
}

function drawAxis() {
  const axis = $("axis");
  const steps = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000];
  const every = steps.find((s) => (s / view.span) * width() >= 80) ?? 600000;
  const marks = [];
  for (let t = Math.floor(view.start / every) * every; t <= view.start + view.span; t += every) {
    if (t < 0) continue;
    const mark = el("span", { text: clock(t) });
    mark.style.left = `${x(t)}px`;
    marks.push(mark);
  }
  axis.replaceChildren(...marks);
}

// -- events: paged by time window ----------------------------------------------------------------

let loading = null;  // { want, promise } of the window being fetched
function tickBucket() {  // about a pixel, as a power of two ms: one tick per kind per pixel
  const perPixel = view.span / width();
  return perPixel < 1 ? 0 : 2 ** Math.floor(Math.log2(perPixel));
}

function loadWindow() {
  const from = Math.max(0, view.start - view.span * 0.25);
  const to = view.start + view.span * 1.25;
  const key = [...kinds].sort().join(",");
  const bucket = tickBucket();
  const want = `${Math.floor(from)}:${Math.ceil(to)}:${key}:${bucket}`;
  if (ticksCover(from, to, key, bucket)) return Promise.resolve();
  if (loading && loading.want === want) return loading.promise;
  const q = new URLSearchParams({ from_ms: from, to_ms: to, limit: 5000, bucket_ms: bucket });
  q.set("kinds", key || "none");
  const promise = getJSON(`${api}/events?${q}`).then((page) => {
    if (!loading || loading.want !== want) return;  // a newer window was asked for
    loading = null;
    ticks = page.events.map(([seq, t, direction, type, kind, size]) => ({ seq, t, direction, type, kind, size }));
    const reached = page.more ? (ticks.at(-1)?.t ?? to) : to;
    ticksWindow = { from, reached, key, bucket };
    drawTicks();
  });
  loading = { want, promise };
  return promise;
}

let ticksWindow = null;
function ticksCover(from, to, key, bucket) {
  const w = ticksWindow;
  return w !== null && w.key === key && w.bucket === bucket && w.from <= from && w.reached >= to;
}

function drawTicks() {
  const lane = $("lane-events");
  const nodes = [];
  const w = width();
  for (const tick of ticks) {
    const left = x(tick.t);
    if (left < -4 || left > w + 4) continue;
    const node = el("div", { class: `tick ${tick.direction} k-${tick.kind}${selected === tick.seq ? " selected" : ""}`,
      "data-seq": tick.seq, "data-kind": tick.kind, title: `#${tick.seq} ${clock(tick.t)} ${tick.direction} ${tick.type ?? "(unknown frame)"}` });
    node.style.left = `${left}px`;
    node.addEventListener("click", (event) => { event.stopPropagation(); selectEvent(tick); });
    nodes.push(node);
  }
  lane.replaceChildren(lane.querySelector(".name") ?? el("span", { class: "name", text: "events" }), ...nodes);
  document.body.dataset.ticks = String(nodes.length);
}

// -- waveforms: peaks from the server, one bucket per pixel or so ----------------------------------

function levelFor() {
  const perPixel = view.span / width();
  return Math.max(0, Math.min(MAX_LEVEL, Math.floor(Math.log2(Math.max(perPixel / BASE_BUCKET_MS, 1)))));
}

async function drawWaves() {
  if (!data.has_audio) return;
  const level = levelFor();
  const bucket = BASE_BUCKET_MS * 2 ** level;
  const from = Math.max(0, view.start - view.span);
  const to = view.start + view.span * 2;
  for (const side of ["user", "assistant"]) {
    let p = peaks[side];
    if (!p || p.level !== level || p.from_ms > view.start || p.from_ms + p.min.length * p.bucket_ms < Math.min(view.start + view.span, view.end)) {
      const q = new URLSearchParams({ side, level, from_ms: from, to_ms: Math.min(to, from + bucket * 19000) });
      p = await getJSON(`${api}/peaks?${q}`);
      peaks[side] = p;
    }
    paint(side, p);
  }
}

function paint(side, p) {
  const canvas = $(`lane-${side}`).querySelector("canvas");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  g.fillStyle = side === "user" ? "rgba(47,111,179,0.75)" : "rgba(181,83,44,0.75)";
  const mid = h / 2 + 6, half = (h - 18) / 2;
  for (let i = 0; i < p.min.length; i++) {
    const t = p.from_ms + i * p.bucket_ms;
    const left = x(t), right = x(t + p.bucket_ms);
    if (right < 0 || left > w) continue;
    const top = mid - (p.max[i] / 32768) * half, bottom = mid - (p.min[i] / 32768) * half;
    g.fillRect(left, top, Math.max(right - left, 1), Math.max(bottom - top, 1));
  }
  canvas.dataset.buckets = String(p.min.length);
}

// -- the player ------------------------------------------------------------------------------------

function nowMs() { return audio.src && !Number.isNaN(audio.currentTime) ? audio.currentTime * 1000 : cursorMs; }

function movePlayhead() {
  const ms = audio.paused ? cursorMs : nowMs();
  if (!audio.paused) cursorMs = ms;
  const left = x(ms);
  const head = $("playhead");
  head.style.left = `${left}px`;
  head.hidden = left < 0 || left > width();
  head.dataset.ms = String(Math.round(ms));
  $("time").textContent = `${clock(ms)} / ${clock(view.end)}`;
  highlight(ms);
}

function highlight(ms) {
  for (const t of [...data.lanes.user, ...data.lanes.assistant]) {
    const on = ms >= t.start_ms && ms <= (t.heard_end_ms ?? t.end_ms);
    t.node.classList.toggle("current", on);
    if (t.line) t.line.classList.toggle("current", on);
  }
}

function tick() {
  if (!audio.paused) {
    const ms = nowMs();
    if (ms > view.start + view.span * 0.95 || ms < view.start) { view.start = ms - view.span * 0.1; layout(); }
    else movePlayhead();
    requestAnimationFrame(tick);
  }
}

function setSide(side) {
  const at = nowMs();
  const playing = !audio.paused;
  audio.src = `${api}/audio/${side}.wav`;
  audio.addEventListener("loadedmetadata", () => { audio.currentTime = at / 1000; if (playing) audio.play(); }, { once: true });
}

async function togglePlay() {
  if (audio.paused) {
    try { await audio.play(); } catch (error) { note(`cannot play: ${error.message}`); return; }
    $("play").textContent = "pause";
    document.body.dataset.playing = "1";
    requestAnimationFrame(tick);
  } else {
    audio.pause();
    cursorMs = audio.currentTime * 1000;
    $("play").textContent = "play";
    delete document.body.dataset.playing;
    movePlayhead();
  }
}

function seek(ms) {
  cursorMs = Math.max(0, Math.min(ms, view.end));
  if (audio.readyState > 0) audio.currentTime = cursorMs / 1000;
  if (cursorMs < view.start || cursorMs > view.start + view.span) { view.start = cursorMs - view.span * 0.1; layout(); }
  else movePlayhead();
  share();
}

function share() {
  const q = new URLSearchParams();
  q.set("t", String(Math.round(cursorMs)));
  if (selected !== null) q.set("seq", String(selected));
  history.replaceState(null, "", `${location.pathname}?${q}`);
}

// -- frames -----------------------------------------------------------------------------------------

async function selectEvent(tickInfo) {
  selected = tickInfo.seq;
  for (const node of document.querySelectorAll(".tick.selected")) node.classList.remove("selected");
  document.querySelector(`.tick[data-seq="${tickInfo.seq}"]`)?.classList.add("selected");
  seek(tickInfo.t);
  await showFrame(tickInfo.seq);
}

async function showFrame(seq) {
  let frame;
  try { frame = await getJSON(`${api}/frames/${seq}`); } catch (error) { note(error.message); return; }
  $("frame-hint").hidden = true;
  $("frame").hidden = false;
  $("frame").dataset.seq = String(seq);
  $("state").hidden = true;
  $("frame-head").replaceChildren(...[el("strong", { text: `#${frame.seq} ${frame.type ?? "(unknown frame)"}` }),
    el("span", { class: "muted", text: ` · ${frame.direction} · ${clock(frame.t_ms)} · ${frame.raw_bytes} bytes` }),
    frame.unknown ? el("span", { class: "badge failed", text: "unknown" }) : null].filter(Boolean));
  $("frame-note").textContent = frame.note ?? "";
  $("frame-raw").textContent = frame.raw ?? `(${frame.raw_bytes} bytes) ${frame.raw_hex}`;
  $("frame-decoded").textContent = frame.decoded ? JSON.stringify(frame.decoded, null, 2) : "(not decoded)";
  const play = $("frame-play");
  play.hidden = !frame.audio_bytes;
  play.onclick = () => new Audio(`${api}/frames/${seq}.wav`).play();
  $("state-here").onclick = () => showState(seq);
}

async function showState(seq) {
  const state = await getJSON(`${api}/state?seq=${seq}`);
  $("state-seq").textContent = String(seq);
  $("state-text").textContent = state.text;
  $("state").hidden = false;
}

async function step(direction) {
  const from = selected !== null ? (ticks.find((t) => t.seq === selected)?.t ?? cursorMs) : cursorMs;
  const key = [...kinds].join(",") || "none";
  let found = null;
  if (direction > 0) {
    const page = await getJSON(`${api}/events?${new URLSearchParams({ from_ms: from, limit: 50, kinds: key })}`);
    found = page.events.map(([seq, t, d, type, kind]) => ({ seq, t, direction: d, type, kind }))
      .find((t) => t.seq !== selected && (t.t > from || (t.t === from && t.seq > (selected ?? -1))));
  } else {
    const page = await getJSON(`${api}/events?${new URLSearchParams({ from_ms: Math.max(0, from - Math.max(view.span, 1000)), to_ms: from + 0.001, limit: 20000, kinds: key })}`);
    const before = page.events.map(([seq, t, d, type, kind]) => ({ seq, t, direction: d, type, kind }))
      .filter((t) => t.t < from || (t.t === from && t.seq < (selected ?? Infinity)));
    found = before.at(-1) ?? null;
  }
  if (found) {
    if (found.t < view.start || found.t > view.start + view.span) { view.start = found.t - view.span / 2; layout(); await loadWindow(); }
    await selectEvent(found);
  }
}

// -- transcript and notes -------------------------------------------------------------------------

function buildTranscript() {
  const lines = [
    ...data.lanes.user.map((t) => ({ who: "user", t })),
    ...data.lanes.assistant.map((t) => ({ who: "assistant", t })),
    ...data.lanes.tools.map((t) => ({ who: "tool", t })),
  ].sort((a, b) => a.t.start_ms - b.t.start_ms);
  $("transcript").replaceChildren(...lines.map(({ who, t }) => {
    const text = who === "tool" ? `${call(t)} -> ${t.output ?? "(no output)"}` : (t.text ?? t.note ?? "");
    const badge = who === "assistant" && t.status && t.status !== "completed" ? el("span", { class: `badge ${t.status}`, text: t.status }) : null;
    const cut = who === "assistant" && t.truncated ? el("span", { class: "badge", text: `heard ${duration(t.heard_ms)} of ${duration(t.audio_ms)}` }) : null;
    t.line = el("p", { onclick: () => seek(t.start_ms) }, el("span", { class: "muted", text: `${clock(t.start_ms)} ` }),
      el("span", { class: `who ${who}`, text: who }), text, badge, cut);
    return t.line;
  }));
  $("figures-note").textContent = data.figures_note ?? "";
}

function note(text, action) {
  $("notes").append(el("li", {}, text, action ?? null));
}

function buildKinds() {
  const wanted = params.get("kinds");
  kinds = new Set(wanted ? wanted.split(",") : data.kinds);
  $("kinds").replaceChildren(...data.kinds.map((kind) => el("label", {},
    el("input", { type: "checkbox", value: kind, ...(kinds.has(kind) ? { checked: "" } : {}),
      onchange: (event) => { if (event.target.checked) kinds.add(kind); else kinds.delete(kind); ticksWindow = null; loadWindow(); } }),
    el("span", { class: `swatch k-${kind}` }), kind)));
}

// -- interaction --------------------------------------------------------------------------------

function zoom(factor, aroundMs) {
  const around = aroundMs ?? view.start + view.span / 2;
  const ratio = (around - view.start) / view.span;
  view.span *= factor;
  clampView();
  view.start = around - ratio * view.span;
  layout();
}

function wire() {
  $("play").addEventListener("click", togglePlay);
  $("side").addEventListener("change", (event) => setSide(event.target.value));
  $("zoom-in").addEventListener("click", () => zoom(0.5));
  $("zoom-out").addEventListener("click", () => zoom(2));
  $("zoom-fit").addEventListener("click", () => { view.start = 0; view.span = view.end * 1.02 + 100; layout(); });
  audio.addEventListener("ended", () => { $("play").textContent = "play"; delete document.body.dataset.playing; });
  timeline.addEventListener("wheel", (event) => {
    event.preventDefault();
    if (Math.abs(event.deltaX) > Math.abs(event.deltaY) || event.shiftKey) {
      view.start += ((event.shiftKey ? event.deltaY : event.deltaX) / width()) * view.span; layout();
    } else {
      const rect = timeline.getBoundingClientRect();
      zoom(event.deltaY > 0 ? 1.25 : 0.8, msAt(event.clientX - rect.left));
    }
  }, { passive: false });
  let drag = null;
  timeline.addEventListener("pointerdown", (event) => {
    if (event.target.closest(".tick, .turn, .tool-span")) return;
    drag = { x: event.clientX, start: view.start, moved: false };
    timeline.setPointerCapture(event.pointerId);
  });
  timeline.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    if (Math.abs(dx) > 3) drag.moved = true;
    if (drag.moved) { view.start = drag.start - (dx / width()) * view.span; layout(); }
  });
  timeline.addEventListener("pointerup", (event) => {
    if (drag && !drag.moved) {
      const rect = timeline.getBoundingClientRect();
      seek(msAt(event.clientX - rect.left));
    }
    drag = null;
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest && event.target.closest("input, select, textarea")) return;
    if (event.key === " ") { event.preventDefault(); togglePlay(); }
    else if (event.key === "ArrowRight") { event.preventDefault(); step(1); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); step(-1); }
    else if (event.key === "+" || event.key === "=") zoom(0.5);
    else if (event.key === "-") zoom(2);
  });
  window.addEventListener("resize", () => layout());
  for (const name of ["replay", "serve"]) {
    $(`copy-${name}`).addEventListener("click", async () => {
      const text = data.commands[name];
      try { await navigator.clipboard.writeText(text); $("copied").textContent = `copied: ${text}`; }
      catch { $("copied").textContent = text; }
    });
  }
}

async function main() {
  try {
    data = await getJSON(api);
  } catch (error) {
    $("title").textContent = "";
    note(error.message);
    document.body.dataset.ready = "error";
    return;
  }
  const s = data.session;
  document.title = `rtrec view: ${s.id}`;
  $("title").replaceChildren(el("strong", { text: s.id }),
    ` · ${s.model ?? "model unknown"} · ${s.protocol ?? ""} · ${duration(s.duration_ms)} · ${s.frames} frames`,
    el("span", { class: `badge ${s.status}`, text: s.status }));
  for (const text of data.notes) {
    note(text, s.status === "recording" && text.includes("still being recorded") ? el("button", { text: "refresh", onclick: () => location.reload() }) : null);
  }
  view.end = Math.max(data.end_ms, 1);
  view.span = view.end * 1.02 + 100;
  buildKinds();
  buildLanes();
  buildTranscript();
  wire();
  audio.src = `${api}/audio/stereo.wav`;
  $("export").href = `${api}/export.zip`;
  const t = Number(params.get("t"));
  if (params.has("t") && Number.isFinite(t)) cursorMs = t;
  layout();
  await loadWindow();
  if (params.has("t")) seek(cursorMs);
  const seq = Number(params.get("seq"));
  if (params.has("seq") && Number.isInteger(seq)) { selected = seq; drawTicks(); await showFrame(seq); }
  document.body.dataset.ready = "1";
}

window.rtrecView = { view, nowMs: () => nowMs(), seek, zoom };
main();
