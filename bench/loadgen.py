"""The load generator of bench/load.py: WebSocket clients and a scripted upstream that cost
little per frame, in processes of their own, and that say how late they themselves ran.

At 200 sessions x 50 frames/s each way the generator handles 40,000 frames a second (the
clients send and receive 20,000, so does the upstream) on the same 2 cores as the hop under
test. An aiohttp client or server with a task per session sleeping until its next frame cost
more than the hop itself, and its own lateness (hundreds of ms at p99 with no hop at all) hid
what the hop added. Here:

  - frames are built from a pre-built header and tail around the send stamp (the client's
    are masked with the all-zero key, which RFC 6455 allows: no masking work), written
    straight to the transport (asyncio Protocols, no per-session task, no flow control:
    a slow hop's frames wait in its socket's buffer, not in the generator's schedule);
  - one timer wheel per process (1 ms slots, one turn per frame interval) sends every due
    frame of every session it holds: a session sends one frame each turn, in its own slot,
    so the sessions' frames are spread over the interval instead of all due at once;
  - received frames are parsed in place: only the 19-digit send stamp is read (unmasked
    where the hop masked it);
  - the clients run in CLIENT_PROCS processes, the upstream in UPSTREAM_PROCS processes
    sharing one port (SO_REUSEPORT), each with its own event loop and GIL;
  - every frame's lateness (sent minus due) is kept, so a figure prints the generator's own
    p99 beside the hop's: a goal below that floor shows as such.

Every frame carries its send time (perf_counter_ns: CLOCK_MONOTONIC, one clock for all
processes of the machine), so one-way latency is measured across processes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import multiprocessing
import os
import time
from array import array
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qs, urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SLOT = 0.001  # s: the wheel's resolution
STAMP_DIGITS = 19
_CLOSE_CODE = (1000).to_bytes(2, "big")
_PHI = 0.6180339887498949
AUTHORIZATION = b"Bearer sk-bench-not-a-real-key"


def header(length: int, *, masked: bool, opcode: int = 1) -> bytes:
    """A final frame's header for a payload of `length` (masked: with the all-zero key)."""
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head = bytes([0x80 | opcode, mask_bit | length])
    elif length < 2**16:
        head = bytes([0x80 | opcode, mask_bit | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, mask_bit | 127]) + length.to_bytes(8, "big")
    return head + (b"\0\0\0\0" if masked else b"")


def phase_slot(index: int, slots: int) -> int:
    """Where in the wheel's turn session `index` sends: spread evenly over the interval."""
    return int((index * _PHI) % 1.0 * slots)


# -- the wheel ---------------------------------------------------------------------------------


class Sender:
    """One direction of one socket: `count` frames, one per turn of the wheel."""

    __slots__ = ("count", "done", "first_tick", "head", "prefix", "sent", "tail", "transport")

    def __init__(self, transport: asyncio.Transport, head: bytes, prefix: bytes, tail: bytes,
                 count: int, done: Callable[[], None]) -> None:
        self.transport, self.head, self.prefix, self.tail = transport, head, prefix, tail
        self.count, self.sent, self.first_tick, self.done = count, 0, 0, done


class Wheel:
    """Every frame due in this process, sent by one task: slot by slot, a turn per interval."""

    def __init__(self, rate: float, lateness: array) -> None:
        interval = 1.0 / rate
        self.slots = max(1, round(interval / SLOT))
        self.slot = interval / self.slots
        self.base = time.perf_counter()
        self.buckets: list[list[Sender]] = [[] for _ in range(self.slots)]
        self.held = 0
        self.lateness = lateness  # ns per frame sent: when sent minus when due
        self.task: asyncio.Task[None] | None = None

    def add(self, sender: Sender, phase: int) -> None:
        """Send from the next tick of this phase on."""
        now_tick = int((time.perf_counter() - self.base) / self.slot) + 1
        ahead = (phase - now_tick) % self.slots
        sender.first_tick = now_tick + ahead
        self.buckets[phase % self.slots].append(sender)
        self.held += 1
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._turn(now_tick))

    def remove(self, sender: Sender) -> None:
        for bucket in self.buckets:
            if sender in bucket:
                bucket.remove(sender)
                self.held -= 1
                return

    async def _turn(self, tick: int) -> None:
        perf_counter, perf_counter_ns, sleep = (
            time.perf_counter, time.perf_counter_ns, asyncio.sleep)
        base, slot, slots, buckets = self.base, self.slot, self.slots, self.buckets
        lateness = self.lateness
        digits = b"%019d_%06d"
        try:
            while self.held:
                for _ in range(slots):  # no wake-up for a slot no session sends in
                    if buckets[tick % slots]:
                        break
                    tick += 1
                due = base + tick * slot
                delay = due - perf_counter()
                if delay > 0:
                    await sleep(delay)
                bucket = buckets[tick % slots]
                if bucket:
                    finished = []
                    for sender in bucket:
                        if sender.first_tick > tick:
                            continue
                        now_ns = perf_counter_ns()
                        sender.transport.write(b"".join((
                            sender.head, sender.prefix, digits % (now_ns, sender.sent),
                            sender.tail)))
                        lateness.append(max(0, now_ns - int(due * 1e9)))
                        sender.sent += 1
                        if sender.sent >= sender.count:
                            finished.append(sender)
                    for sender in finished:
                        bucket.remove(sender)
                        self.held -= 1
                        sender.done()
                tick += 1
        finally:
            self.task = None


class Wheels:
    """A wheel per frame rate (every session of a run has the same one)."""

    def __init__(self) -> None:
        self.by_rate: dict[float, Wheel] = {}
        self.lateness = array("q")

    def of(self, rate: float) -> Wheel:
        wheel = self.by_rate.get(rate)
        if wheel is None:
            wheel = self.by_rate[rate] = Wheel(rate, self.lateness)
        return wheel

    def take_lateness(self) -> bytes:
        data = self.lateness.tobytes()
        del self.lateness[:]
        return data


# -- framing -----------------------------------------------------------------------------------


class Peer(asyncio.Protocol):
    """A WebSocket peer after its handshake: reads frames, keeps each data frame's latency."""

    def __init__(self, prefix_length: int, latencies: array) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.stamp_at = prefix_length  # where the send stamp starts in a data frame's payload
        self.latencies = latencies
        self.seen = 0
        self.closed = asyncio.get_running_loop().create_future()
        self.sender: Sender | None = None
        self.wheel: Wheel | None = None
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.open:
            self.frames(data)
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head, rest = bytes(self.buffer[:end]), bytes(self.buffer[end + 4:])
        self.buffer.clear()
        self.open = self.opened(head)
        if self.open and rest:
            self.frames(rest)

    def opened(self, head: bytes) -> bool:
        """The handshake's HTTP head (without its blank line) arrived: True if it opened."""
        raise NotImplementedError

    def frames(self, data: bytes | bytearray) -> None:
        buffer = self.buffer
        buffer += data
        end, at = len(buffer), 0
        stamp_at, latencies = self.stamp_at, self.latencies
        while end - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if end - at < 4:
                    break
                length, head = int.from_bytes(buffer[at + 2:at + 4], "big"), 4
            elif length == 127:
                if end - at < 10:
                    break
                length, head = int.from_bytes(buffer[at + 2:at + 10], "big"), 10
            mask = None
            if second & 0x80:
                mask = bytes(buffer[at + head:at + head + 4])
                head += 4
            payload = at + head
            if payload + length > end:
                break
            opcode = first & 0x0F
            if opcode == 1 or opcode == 2:
                start = payload + stamp_at
                stamp = bytes(buffer[start:start + STAMP_DIGITS])
                if mask is not None and mask != b"\0\0\0\0":
                    stamp = _unmask(stamp, mask, stamp_at)
                latencies.append(time.perf_counter_ns() - int(stamp))
                self.seen += 1
                self.received()
            elif opcode == 8:
                self.close_received()
            elif opcode == 9:  # ping: pong with its payload
                body = bytes(buffer[payload:payload + length])
                if mask is not None:
                    body = _unmask(body, mask, 0)
                self.send_control(10, body)
            at = payload + length
        del buffer[:at]

    def received(self) -> None:
        """A data frame arrived (self.seen counts them)."""

    def close_received(self) -> None:
        """The other side's close frame."""

    def send_control(self, opcode: int, body: bytes) -> None:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        if self.wheel is not None and self.sender is not None and \
                self.sender.sent < self.sender.count:
            self.wheel.remove(self.sender)
        if not self.closed.done():
            self.closed.set_result(None)


def _unmask(data: bytes, mask: bytes, offset: int) -> bytes:
    """data, which starts `offset` bytes into a payload masked with `mask`, unmasked."""
    key = (mask * (len(data) // 4 + 2))[offset % 4:offset % 4 + len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(len(data), "big")


# -- the clients -------------------------------------------------------------------------------


class Client(Peer):
    """One session from the client's side: handshake, `count` frames sent and received, close."""

    def __init__(self, request: bytes, frame: tuple[bytes, bytes], server_prefix: int,
                 count: int, wheel: Wheel, phase: int, latencies: array) -> None:
        super().__init__(server_prefix, latencies)
        self.request, (self.prefix, self.tail) = request, frame
        self.count, self.wheel, self.phase = count, wheel, phase
        self.sending_done = False
        self.close_sent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.write(self.request)

    def opened(self, head: bytes) -> bool:
        assert self.transport is not None and self.wheel is not None
        if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
            self.transport.close()
            return False
        payload = len(self.prefix) + STAMP_DIGITS + 7 + len(self.tail)
        self.sender = Sender(self.transport, header(payload, masked=True), self.prefix,
                             self.tail, self.count, self.sent_all)
        self.wheel.add(self.sender, self.phase)
        return True

    def sent_all(self) -> None:
        self.sending_done = True
        self.maybe_close()

    def received(self) -> None:
        if self.seen >= self.count:
            self.maybe_close()

    def maybe_close(self) -> None:
        if self.sending_done and self.seen >= self.count and not self.close_sent:
            self.close_sent = True
            self.send_control(8, _CLOSE_CODE)

    def close_received(self) -> None:
        assert self.transport is not None
        if not self.close_sent:
            self.close_sent = True
            self.send_control(8, _CLOSE_CODE)
        self.transport.close()

    def send_control(self, opcode: int, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(header(len(body), masked=True, opcode=opcode) + body)


def handshake(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: %s\r\n\r\n"
            % (path.encode(), host.encode(), port, key, AUTHORIZATION))


async def run_clients(job: dict[str, Any], wheels: Wheels) -> dict[str, Any]:
    """The sessions of `job` (their indices), each started at its time; what they saw."""
    loop = asyncio.get_running_loop()
    latencies = array("q")
    wheel = wheels.of(job["rate"])
    clients: list[Client] = []
    host, port = job["host"], job["port"]

    async def one(index: int) -> None:
        delay = job["t0"] + index * job["stagger"] - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        phase = phase_slot(index, wheel.slots)
        path = (f"/v1/realtime?model=bench&tag={job['tag']}-{index}&count={job['count']}"
                f"&rate={job['rate']}&phase={(phase + wheel.slots // 2) % wheel.slots}")
        client = Client(handshake(host, port, path), job["frame"], job["server_prefix"],
                        job["count"], wheel, phase, latencies)
        clients.append(client)
        try:
            await loop.create_connection(lambda: client, host, port)
        except OSError:
            client.closed.set_result(None)  # the hop is gone (killed)
            return
        await client.closed

    tasks = [asyncio.ensure_future(one(index)) for index in job["indices"]]
    _, pending = await asyncio.wait(tasks, timeout=job["timeout"])
    for task in pending:
        task.cancel()
    for client in clients:
        if client.transport is not None and not client.closed.done():
            client.transport.abort()
    return {"latencies": latencies.tobytes(), "seen": sum(c.seen for c in clients),
            "lateness": wheels.take_lateness(), "unfinished": len(pending)}


# -- the upstream ------------------------------------------------------------------------------


class Inbound:
    """What arrived from the clients of one session (tag)."""

    def __init__(self) -> None:
        self.latencies = array("q")
        self.session: Upstream | None = None


class Upstream(Peer):
    """A scripted Realtime server: after the handshake it streams `count` frames at `rate`
    (from the query) and takes the client's; answers a close with a close."""

    def __init__(self, frame: tuple[bytes, bytes], client_prefix: int, wheels: Wheels,
                 inbound: dict[str, Inbound]) -> None:
        super().__init__(client_prefix, array("q"))
        self.frame, self.wheels, self.inbound = frame, wheels, inbound
        self.into: Inbound | None = None

    def opened(self, head: bytes) -> bool:
        assert self.transport is not None
        request = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(": ", 1) for line in request[1:] if ": " in line)
        key = next((v for k, v in fields.items() if k.lower() == "sec-websocket-key"), "")
        query = {k: v[0] for k, v in parse_qs(urlsplit(request[0].split(" ")[1]).query).items()}
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest())
        self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept)
        into = self.into = self.inbound.setdefault(query["tag"], Inbound())
        into.session = self
        self.latencies = into.latencies
        count, rate = int(query["count"]), float(query["rate"])
        prefix, tail = self.frame
        self.wheel = self.wheels.of(rate)
        payload = len(prefix) + STAMP_DIGITS + 7 + len(tail)
        self.sender = Sender(self.transport, header(payload, masked=False), prefix, tail,
                             count, lambda: None)
        self.wheel.add(self.sender, int(query.get("phase", "0")))
        return True

    def close_received(self) -> None:
        assert self.transport is not None
        self.send_control(8, _CLOSE_CODE)
        self.transport.close()

    def send_control(self, opcode: int, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(header(len(body), masked=False, opcode=opcode) + body)


async def report(inbound: dict[str, Inbound], prefix: str, wait: float,
                 wheels: Wheels) -> dict[str, Any]:
    """What arrived for the sessions tagged `prefix`... once they closed (at most `wait` s)."""
    mine = {tag: into for tag, into in inbound.items() if tag.startswith(prefix)}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not all(
        into.session is None or into.session.closed.done() for into in mine.values()
    ):
        await asyncio.sleep(0.05)
    for tag in mine:
        del inbound[tag]
    latencies = array("q")
    seen = 0
    for into in mine.values():
        latencies.extend(into.latencies)
        seen += into.session.seen if into.session is not None else 0
    return {"latencies": latencies.tobytes(), "seen": seen, "lateness": wheels.take_lateness()}


# -- the processes -----------------------------------------------------------------------------


def worker(conn: Connection, role: str, setup: dict[str, Any]) -> None:
    """A generator process (role "clients" or "upstream"): jobs from conn, answers to it."""
    asyncio.run(_work(conn, role, setup))


async def _work(conn: Connection, role: str, setup: dict[str, Any]) -> None:
    wheels = Wheels()
    inbound: dict[str, Inbound] = {}
    server = None
    if role == "upstream":
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: Upstream(setup["frame"], setup["client_prefix"], wheels, inbound),
            "127.0.0.1", setup["port"], reuse_port=True, backlog=1024,
        )
        conn.send(server.sockets[0].getsockname()[1])
    else:
        conn.send(0)
    while True:
        job = await asyncio.to_thread(conn.recv)
        if job is None:
            break
        if job["do"] == "run":
            conn.send(await run_clients(job, wheels))
        elif job["do"] == "report":
            conn.send(await report(inbound, job["prefix"], job["wait"], wheels))
    if server is not None:
        server.close()


class Process:
    """One generator process and its end of the pipe."""

    def __init__(self, role: str, setup: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker, args=(child, role, setup), daemon=True)
        self.process.start()
        child.close()

    async def ask(self, job: dict[str, Any] | None) -> Any:
        self.conn.send(job)
        return None if job is None else await asyncio.to_thread(self.conn.recv)

    async def answer(self) -> Any:
        return await asyncio.to_thread(self.conn.recv)

    def stop(self) -> None:
        self.conn.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


class Seen:
    """What the generator saw of one load run, both ends together."""

    def __init__(self) -> None:
        self.latencies = array("q")  # ns, one-way, every data frame that arrived
        self.seen = 0  # data frames that arrived (at the clients and at the upstream)
        self.lateness = array("q")  # ns, per frame sent: sent minus due
        self.unfinished = 0  # sessions still open at the run's timeout

    def add(self, answer: dict[str, Any]) -> None:
        self.latencies.frombytes(answer["latencies"])
        self.seen += answer["seen"]
        self.lateness.frombytes(answer["lateness"])
        self.unfinished += answer.get("unfinished", 0)


class Generator:
    """The clients and the upstream, in processes of their own, for any number of runs."""

    def __init__(self, client_frame: tuple[bytes, bytes], server_frame: tuple[bytes, bytes],
                 *, client_procs: int = 2, upstream_procs: int = 1) -> None:
        self.client_frame, self.server_frame = client_frame, server_frame
        self.client_procs, self.upstream_procs = client_procs, upstream_procs
        self.clients: list[Process] = []
        self.upstreams: list[Process] = []
        self.url = ""

    async def __aenter__(self) -> Generator:
        setup = {"frame": self.server_frame, "client_prefix": len(self.client_frame[0]),
                 "port": 0}
        self.upstreams = [Process("upstream", setup)]
        port = await self.upstreams[0].answer()
        self.upstreams += [Process("upstream", {**setup, "port": port})
                           for _ in range(self.upstream_procs - 1)]
        self.clients = [Process("clients", {}) for _ in range(self.client_procs)]
        for process in [*self.upstreams[1:], *self.clients]:
            await process.answer()
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for process in [*self.clients, *self.upstreams]:
            process.stop()

    async def run(self, base: str, sessions: int, rate: float, duration: float, tag: str,
                  stagger: float) -> Seen:
        """`sessions` sessions of `duration` s at `rate` frames/s each way through `base`
        (ws://127.0.0.1:PORT), session i starting i * stagger s after the first."""
        where = urlsplit(base)
        assert where.hostname is not None and where.port is not None
        count = int(rate * duration)
        t0 = time.perf_counter() + 0.3  # every process has the job by then
        job = {"do": "run", "host": where.hostname, "port": where.port, "tag": tag,
               "count": count, "rate": rate, "t0": t0, "stagger": stagger,
               "frame": self.client_frame, "server_prefix": len(self.server_frame[0]),
               "timeout": duration + sessions * stagger + 30}
        answers = await asyncio.gather(*(
            client.ask({**job, "indices": list(range(k, sessions, len(self.clients)))})
            for k, client in enumerate(self.clients)
        ))
        answers += await asyncio.gather(*(
            upstream.ask({"do": "report", "prefix": f"{tag}-", "wait": 10.0})
            for upstream in self.upstreams
        ))
        seen = Seen()
        for answer in answers:
            seen.add(answer)
        return seen
