"""rtrec view's web server: the pages (package data) and a small JSON API over one event log.

Everything is read from the log when asked: the session index (recorder.view.index, one pass,
kept in memory per session while the session does not change), frames by seq, WAV audio by
byte range and peaks (recorder.view.sound). Who may connect is recorder.access's rule, as for
record and serve; with a token, the first request carries it in the URL (rtrec_token=...) and
gets it back as a cookie (HttpOnly, SameSite=Strict), then a redirect to the same URL without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib.resources
import io
import json
import logging
import os
import re
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import msgspec
from aiohttp import web

from recorder.access import TOKEN_QUERY, check_exposure, refusal
from recorder.conversation import fold_log
from recorder.errors import CannotListen, RtrecError
from recorder.events import UnknownEvent
from recorder.localserver import LocalServer, connect_host
from recorder.recording import is_live
from recorder.store import EventLog, SessionInfo, open_log
from recorder.stream import AudioChunk, LiveAudioChunk, Step, log_steps, step_class
from recorder.view import derived, search, stored
from recorder.view.index import REALTIME_KINDS, SessionIndex, lanes
from recorder.view.listing import SORTS, list_sessions
from recorder.view.live_index import LIVE_KINDS, index_builder
from recorder.view.sound import (
    SIDES,
    Peaks,
    side_peaks,
    wav_bytes,
    wav_size,
)
from recorder.wire import Direction, Opcode

log = logging.getLogger("recorder.view")

COOKIE = "rtrec_token"
PER_PAGE = 50
MAX_PER_PAGE = 500
# The sessions page asks for the counts of sessions up to this many frames by itself (about 5
# minutes of audio); a longer one is counted when its page is opened.
SUMMARY_FRAMES_MAX = 20_000
# A search indexes the transcripts not indexed yet up to this many frames of sessions before
# it answers (the smallest first); the rest are indexed in the background meanwhile.
SEARCH_NOW_FRAMES = 100_000
# source (what `rtrec view` was given), session id -> the session's figures (SessionFigures)
FiguresFn = Callable[[str, str], Awaitable[Any]]


def default_figures() -> FiguresFn | None:
    """The stats fold's session_figures, if this rtrec has it (imported when first needed)."""
    import importlib

    try:
        module = importlib.import_module("recorder.stats.fold")
    except ImportError:
        return None
    return cast(FiguresFn, module.session_figures)


@dataclass
class _Cached:
    frames: int
    status: str
    index: SessionIndex
    figures: Any = None
    figures_note: str | None = None
    peaks: dict[str, Peaks] | None = None


class ViewState:
    """The open log and what has been computed of its sessions."""

    def __init__(self, log: EventLog, source: str, figures: FiguresFn | None,
                 keep: int = 4) -> None:
        self.log = log
        self.source = source
        self.figures = figures
        self.keep = keep
        self._cache: dict[str, _Cached] = {}
        # session id -> ((frames, status) when counted, its counts): small, kept for all
        self.summaries: dict[str, tuple[tuple[int, str], dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._texts: asyncio.Task[int] | None = None  # indexing transcripts in the background
        self._keeping: set[asyncio.Task[None]] = set()  # built indexes being written

    async def texts_for_search(self) -> int:
        """Keep the text of the sessions whose text is stale: up to SEARCH_NOW_FRAMES frames
        of them now, the rest in the background; how many are left to the background."""
        budget, now, later = SEARCH_NOW_FRAMES, [], []
        for info in sorted(await search.stale(self.log), key=lambda info: info.frames):
            if info.frames <= budget:
                budget -= info.frames
                now.append(info)
            else:
                later.append(info)
        await search.ensure(self.log, now, self._lanes_of)
        if later and (self._texts is None or self._texts.done()):
            self._texts = asyncio.create_task(self._texts_later(later))
        return len(later)

    async def _texts_later(self, infos: list[SessionInfo]) -> int:
        try:
            return await search.ensure(self.log, infos, self._lanes_of)
        except RtrecError as error:  # the next search tries again
            log.warning("rtrec view could not index the transcripts for search: %s", error)
            return 0

    async def _lanes_of(self, info: SessionInfo) -> dict[str, Any]:
        entry = self._cache.get(info.id)
        if entry is not None and (entry.frames, entry.status) == (info.frames, info.status):
            return entry.index.lanes
        if is_live(info):
            return (await self._index(info)).lanes
        return lanes((await fold_log(self.log, info)).conversation)

    async def close(self) -> None:
        await self.kept()
        if self._texts is not None:
            self._texts.cancel()
            with contextlib.suppress(BaseException):
                await self._texts

    async def info(self, sid: str) -> SessionInfo:
        return await self.log.get_session(sid)

    async def cached(self, info: SessionInfo) -> _Cached:
        lock = self._locks.setdefault(info.id, asyncio.Lock())
        async with lock:
            entry = self._cache.get(info.id)
            if entry is not None and entry.frames == info.frames and entry.status == info.status:
                self._cache[info.id] = self._cache.pop(info.id)  # most recently used last
                return entry
            kept = await stored.load(self.log, info) if info.status != "recording" else None
            if kept is not None:  # built before (by this server or another): no frame read
                entry = _Cached(info.frames, info.status, kept[0], peaks=kept[1])
            else:
                entry = await self._build(info)
            await self._figures(info, entry)
            self._cache[info.id] = entry
            while len(self._cache) > self.keep:
                self._cache.pop(next(iter(self._cache)))
            return entry

    async def _build(self, info: SessionInfo) -> _Cached:
        """The session's index from its frames, and its sides' peaks, kept in the store's
        derived tables with its text (a store that cannot take them is said in the log)."""
        index = await self._index(info)
        peaks = {side: side_peaks(index, side) for side in SIDES[:2]}
        index.drop_chunk_peaks()  # the sides' peaks have them now
        entry = _Cached(info.frames, info.status, index, peaks=peaks)
        if info.status != "recording":  # kept while the page is answered
            task = asyncio.create_task(self._keep(info, index, peaks))
            self._keeping.add(task)
            task.add_done_callback(self._keeping.discard)
        return entry

    async def _index(self, info: SessionInfo) -> SessionIndex:
        """The session's index from its frames (its protocol's builder)."""
        builder = index_builder(info.protocol)
        async for batch in self.log.read_parts(info.id, step_class(info.protocol),
                                               batch_size=5000):
            builder.feed(batch)
        return builder.finish()

    async def _keep(self, info: SessionInfo, index: SessionIndex, peaks: dict[str, Peaks]
                    ) -> None:
        try:
            await stored.store(self.log, info, index, peaks)
            await search.store(self.log, info, index.lanes)
        except RtrecError as error:  # still shown; built again next time
            log.warning("rtrec view could not keep session %s's index: %s", info.id, error)

    async def kept(self) -> None:
        """Wait for the indexes being kept (written to the derived tables) to be written."""
        while self._keeping:
            await asyncio.gather(*self._keeping, return_exceptions=True)

    async def _figures(self, info: SessionInfo, entry: _Cached) -> None:
        if self.figures is None:
            entry.figures_note = "turn figures are not available in this rtrec (no stats fold)"
            return
        try:
            entry.figures = msgspec.to_builtins(await self.figures(self.source, info.id))
        except Exception as error:  # the page still shows the lanes
            entry.figures_note = f"turn figures could not be computed: {error}"

    def read_audio(self, info: SessionInfo) -> Callable[[list[int]], Awaitable[dict[int, bytes]]]:
        make = step_class(info.protocol)

        async def read(seqs: list[int]) -> dict[int, bytes]:
            wanted = set(seqs)
            out: dict[int, bytes] = {}
            async for batch in self.log.read_parts(info.id, make, after_seq=seqs[0] - 1,
                                                   until_seq=seqs[-1], batch_size=2000):
                for step in batch:
                    if step.seq in wanted and step.audio is not None:
                        out[step.seq] = step.audio
            return out
        return read

    async def peaks(self, info: SessionInfo, side: str) -> Peaks:
        entry = await self.cached(info)
        if entry.peaks is None:
            entry.peaks = {}
        peaks = entry.peaks.get(side)
        if peaks is None:
            peaks = side_peaks(entry.index, side)
            entry.peaks[side] = peaks
        return peaks

    async def step(self, info: SessionInfo, seq: int) -> Step | None:
        async for batch in self.log.read_parts(info.id, step_class(info.protocol),
                                               after_seq=seq - 1, until_seq=seq, batch_size=1):
            for step in batch:
                return step
        return None


# -- pages and assets -----------------------------------------------------------------------------

_ASSET_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript",
                ".svg": "image/svg+xml"}
_ASSET_NAME = re.compile(r"^[a-z0-9_-]+\.(html|css|js|svg)$")


def asset(name: str) -> bytes:
    return importlib.resources.files("recorder.view").joinpath("static", name).read_bytes()


def _asset_response(name: str) -> web.Response:
    extension = os.path.splitext(name)[1]
    return web.Response(body=asset(name), content_type=_ASSET_TYPES[extension],
                        charset="utf-8", headers={"Cache-Control": "no-cache"})


async def sessions_page(request: web.Request) -> web.Response:
    return _asset_response("sessions.html")


async def session_page(request: web.Request) -> web.Response:
    return _asset_response("session.html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if not _ASSET_NAME.match(name):
        raise web.HTTPNotFound(text="rtrec view: no such file\n")
    try:
        return _asset_response(name)
    except (FileNotFoundError, IsADirectoryError):
        raise web.HTTPNotFound(text="rtrec view: no such file\n") from None


# -- the API -----------------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(data), status=status,
                        content_type="application/json")


def _bad(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status)


def _state(request: web.Request) -> ViewState:
    return request.app[STATE]


def _int(request: web.Request, name: str, default: int, lo: int = 0,
         hi: int | None = None) -> int:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name}={text!r} is not a whole number"}),
            content_type="application/json") from None
    if value < lo or (hi is not None and value > hi):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name}={value} is out of range {lo}..{hi}"}),
            content_type="application/json")
    return value


def _float(request: web.Request, name: str, default: float) -> float:
    text = request.query.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name}={text!r} is not a number"}),
            content_type="application/json") from None


def session_dict(info: SessionInfo) -> dict[str, Any]:
    started, ended = info.started_at, info.ended_at
    duration = (ended - started).total_seconds() * 1000 if started and ended else None
    return {
        "id": info.id, "started_at": started.isoformat() if started else None,
        "ended_at": ended.isoformat() if ended else None, "duration_ms": duration,
        "protocol": info.protocol, "model": info.model, "status": info.status,
        "close_code": info.close_code, "close_reason": info.close_reason,
        "frames": info.frames, "client_frames": info.client_frames,
        "server_frames": info.server_frames, "gaps": info.gaps, "frames_lost": info.frames_lost,
    }


async def api_sessions(request: web.Request) -> web.Response:
    """?page=1&per_page=50&sort=started&order=desc&status=complete&model=gpt-realtime&q=words
    (q: the sessions whose transcripts have every word; sorted, filtered and paged in SQL)"""
    state = _state(request)
    page = _int(request, "page", 1, lo=1)
    per_page = _int(request, "per_page", PER_PAGE, lo=1, hi=MAX_PER_PAGE)
    sort = request.query.get("sort", "started")
    if sort not in SORTS:
        return _bad(f"sort={sort!r} is not one of {', '.join(SORTS)}")
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        return _bad(f"order={order!r} is not asc or desc")
    query = request.query.get("q", "")
    words = search.terms(query)
    if query.strip() and not words:
        return _bad(f"q={query!r} has no words to search for")
    matching, unindexed, notes = None, 0, []
    if words:
        try:
            unindexed = await state.texts_for_search()
        except RtrecError as error:  # a store that takes no writes: what is indexed is searched
            notes.append(f"the transcripts of new sessions could not be indexed: {error}")
        matching = search.match_sql(state.log.database.is_sqlite, words)
    found = await list_sessions(
        state.log, sort=sort, order=order, status=request.query.get("status") or None,
        model=request.query.get("model") or None, matching=matching, page=page,
        per_page=per_page)
    shown = [session_dict(info) for info in found.sessions]
    for row in shown:  # counts already made cost nothing; the page asks for the rest
        known = state.summaries.get(row["id"])
        if known is not None and known[0] == (row["frames"], row["status"]):
            row.update(known[1])
        row["summary_frames_max"] = SUMMARY_FRAMES_MAX
    if unindexed:
        notes.append(f"{unindexed} sessions are not searchable yet (their text is being "
                     "indexed): search again in a moment")
    return _json({"sessions": shown, "total": found.total, "page": page, "per_page": per_page,
                  "sort": sort, "order": order, "statuses": found.statuses,
                  "models": found.models, "q": " ".join(words), "notes": notes})


def counts(cached: _Cached) -> dict[str, Any]:
    """What the sessions page shows of a session beyond its row: turns, interruptions, errors
    and the p50 voice-to-voice latency (None without turn figures)."""
    lanes = cached.index.lanes
    figures = cached.figures or {}
    v2v = [t.get("voice_to_voice_ms") for t in figures.get("turns", [])]
    values = [v for v in v2v if v is not None]
    return {
        "turns": len(lanes["user"]),
        "interruptions": lanes.get("interruptions",  # Live's: inferred by its fold
                                   sum(1 for a in lanes["assistant"] if a["truncated"])),
        "errors": len(lanes["errors"]),
        "p50_voice_to_voice_ms": statistics.median(values) if values else None,
    }


def _add_counts(state: ViewState, info: SessionInfo, row: dict[str, Any],
                cached: _Cached) -> None:
    made = counts(cached)
    state.summaries[info.id] = ((info.frames, info.status), made)
    row.update(made)


async def api_summary(request: web.Request) -> web.Response:
    """A session's counts for the sessions page (its index made, if not yet)."""
    state = _state(request)
    info = await _session(request)
    cached = await state.cached(info)
    row = session_dict(info)
    _add_counts(state, info, row, cached)
    return _json(row)


async def _session(request: web.Request) -> SessionInfo:
    try:
        return await _state(request).info(request.match_info["sid"])
    except RtrecError as error:
        raise web.HTTPNotFound(text=json.dumps({"error": str(error)}),
                               content_type="application/json") from None


async def api_session(request: web.Request) -> web.Response:
    state = _state(request)
    info = await _session(request)
    cached = await state.cached(info)
    index = cached.index
    row = session_dict(info)
    _add_counts(state, info, row, cached)
    notes = list(index.warnings)
    if not index.has_audio:
        notes.append("this session has no audio: the lanes show its turns without waveforms")
    if info.status == "recording":
        notes.append("this session is still being recorded: refresh to see what came since")
    if info.gaps:
        notes.append(f"{info.frames_lost} frames were not recorded ({info.gaps} gaps)")
    unknown = index.count("unknown")
    if unknown:
        notes.append(f"{unknown} frames could not be decoded: shown as unknown events")
    return _json({
        "session": row, "end_ms": index.end_ms, "has_audio": index.has_audio,
        "sample_rate": index.sample_rate(), "lanes": index.lanes,
        "kinds": list(LIVE_KINDS if is_live(info) else REALTIME_KINDS),
        "figures": cached.figures, "figures_note": cached.figures_note, "notes": notes,
        "events": index.frames,
        "commands": {
            "replay": f"rtrec replay {_shell(state.source)} --session {info.id}",
            "serve": f"rtrec serve {_shell(state.source)} --session {info.id}",
            "export": f"rtrec export {_shell(state.source)} --session {info.id}",
        },
    })


def _shell(text: str) -> str:
    import shlex

    from recorder.store.urls import parse_db

    return shlex.quote(parse_db(text).display)


async def api_events(request: web.Request) -> web.Response:
    """?from_ms=0&to_ms=60000&kinds=response,item&limit=2000&bucket_ms=0 (bucket_ms: one tick
    of each kind and direction per bucket, for a zoomed-out page)"""
    state = _state(request)
    info = await _session(request)
    index = (await state.cached(info)).index
    from_ms = _float(request, "from_ms", 0.0)
    to_ms = _float(request, "to_ms", index.end_ms + 1)
    limit = _int(request, "limit", 2000, lo=1, hi=20000)
    kinds_text = request.query.get("kinds")
    kinds = set(kinds_text.split(",")) if kinds_text else None
    bucket_ms = max(_float(request, "bucket_ms", 0.0), 0.0)
    ticks, more = index.events(from_ms, to_ms, kinds, limit, bucket_ms)
    return _json({"events": [[t.seq, round(t.t_ms, 3), t.direction, t.type, t.kind, t.size]
                             for t in ticks],
                  "fields": ["seq", "t_ms", "direction", "type", "kind", "size"],
                  "more": more, "from_ms": from_ms, "to_ms": to_ms, "bucket_ms": bucket_ms})


def frame_dict(step: Step) -> dict[str, Any]:
    """A frame as the page shows it: its bytes as they crossed the wire (an audio event's audio
    as its length), and its decoded fields (None for a frame that does not decode)."""
    out: dict[str, Any] = {
        "seq": step.seq, "t_ms": step.t_ns / 1e6, "type": step.type,
        "direction": "client" if step.direction is Direction.CLIENT else "server",
        "opcode": step.opcode.name.lower(), "audio_bytes": None, "unknown": False,
    }
    if step.opcode is not Opcode.TEXT:
        data = step.frame_data()
        out.update(raw=None, raw_bytes=len(data), raw_hex=data[:256].hex(), unknown=True,
                   decoded=None, note=f"a {out['opcode']} frame of {len(data)} bytes")
        return out
    event: Any
    if step.audio is not None:
        out["audio_bytes"] = len(step.audio)
        raw = step._data  # the outline: the frame with its audio field empty
        event = (step.event.outline_event() if isinstance(step.event, AudioChunk | LiveAudioChunk)
                 else step.event)
        out["note"] = (f"the audio field holds {len(step.audio)} bytes of audio "
                       "(shown empty here; play it with the button)")
    else:
        raw = step.frame_data()
        try:
            event = step.event
        except Exception:
            event = None
    out["raw"] = raw.decode("utf-8", errors="replace")
    out["raw_bytes"] = len(step.frame_data())
    if event is None or isinstance(event, UnknownEvent):
        out.update(unknown=True, decoded=None,
                   note="rtrec could not decode this frame: shown as it was received")
    else:
        try:
            out["decoded"] = msgspec.to_builtins(event)
        except Exception:
            out["decoded"] = None
    return out


async def api_frame(request: web.Request) -> web.Response:
    state = _state(request)
    info = await _session(request)
    seq = _int(request, "seq", 0) if "seq" in request.query else _path_int(request, "seq")
    step = await state.step(info, seq)
    if step is None:
        return _bad(f"session {info.id} has no frame {seq}", 404)
    return _json(frame_dict(step))


def _path_int(request: web.Request, name: str) -> int:
    text = request.match_info[name]
    if not text.isdigit():
        raise web.HTTPNotFound()
    return int(text)


async def api_frame_audio(request: web.Request) -> web.Response:
    """The audio of one audio event, as a WAV of its own format (pcm16)."""
    from recorder.audio import _wav_header

    state = _state(request)
    info = await _session(request)
    seq = _path_int(request, "seq")
    step = await state.step(info, seq)
    index = (await state.cached(info)).index
    segment = index.segment_of(seq)
    if step is None or step.audio is None or segment is None:
        return _bad(f"frame {seq} of session {info.id} holds no audio rtrec can play", 404)
    fmt = segment.format
    pcm = fmt.to_pcm16(step.audio)
    body = _wav_header(fmt.sample_rate, 1, len(pcm) // 2) + pcm
    return web.Response(body=body, content_type="audio/wav")


async def api_state(request: web.Request) -> web.Response:
    """The conversation as of a seq: what `rtrec replay --until SEQ` prints, and its items."""
    from recorder.render import render_text
    from recorder.replay import ReplayResult, until_note

    state = _state(request)
    info = await _session(request)
    seq = _int(request, "seq", info.frames, lo=0)
    if is_live(info):
        return _json(await _live_state(state.log, info, seq))
    fold = await fold_log(state.log, info, until=seq)
    result = ReplayResult(info, fold.frames, fold.last_seq)
    note = until_note(seq, result)
    conversation = fold.conversation
    return _json({"seq": seq, "last_seq": fold.last_seq, "note": note,
                  "text": render_text(conversation, info, note),
                  "conversation": conversation.to_dict()})


async def _live_state(log: EventLog, info: SessionInfo, seq: int) -> dict[str, Any]:
    """A Live session as of a seq: what `rtrec replay --until SEQ` prints for it (the Live
    fold, cut there), and the fold's timeline."""
    from recorder.live.fold import LiveFold
    from recorder.live.render import render_live_text
    from recorder.replay import ReplayResult, until_note

    fold = LiveFold()
    async for batch in log_steps(log, info, until=seq, batch_size=5000):
        fold.apply_batch(batch)
    fold.finish(cut=fold.frames < info.frames)  # stopped there: its end is not missing
    note = until_note(seq, ReplayResult(info, fold.frames, fold.last_seq))
    return {"seq": seq, "last_seq": fold.last_seq, "note": note,
            "text": render_live_text(fold, info, note), "conversation": fold.to_dict()}


class _ZipSink(io.RawIOBase):
    """What zipfile writes into: kept until taken (the response sends it), never seeked."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


async def api_export(request: web.Request) -> web.StreamResponse:
    """The session's `rtrec export` files as a zip, streamed as it is written. The export
    writes its files (as `rtrec export` does) into a folder removed once they are sent."""
    import tempfile
    import zipfile

    from recorder.export import export_session

    state = _state(request)
    info = await _session(request)
    with tempfile.TemporaryDirectory(prefix="rtrec-view-export-") as folder:
        out = Path(folder) / "export"
        await export_session(state.log, info, out)
        response = web.StreamResponse(headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="rtrec-{info.id}.zip"',
        })
        await response.prepare(request)
        sink = _ZipSink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                name = f"rtrec-{info.id}/{path.relative_to(out).as_posix()}"
                entry = zipfile.ZipInfo.from_file(path, name)
                # audio does not deflate: stored, and sent as fast as it is read
                entry.compress_type = (zipfile.ZIP_STORED if path.suffix == ".wav"
                                       else zipfile.ZIP_DEFLATED)
                with path.open("rb") as source, archive.open(entry, "w") as target:
                    while block := source.read(1 << 20):
                        target.write(block)
                        await response.write(sink.take())
                await response.write(sink.take())
        await response.write(sink.take())
        await response.write_eof()
        return response


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def api_audio(request: web.Request) -> web.StreamResponse:
    """The session's audio as a WAV (user, assistant or stereo), with HTTP range requests."""
    state = _state(request)
    info = await _session(request)
    side = request.match_info["side"]
    if side not in SIDES:
        return _bad(f"audio side {side!r} is not one of {', '.join(SIDES)}", 404)
    index = (await state.cached(info)).index
    size = wav_size(index, side)
    start, end, status = 0, size, 200
    header = request.headers.get("Range")
    if header:
        match = _RANGE.match(header.strip())
        if match is None or (not match.group(1) and not match.group(2)):
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        if match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)) + 1, size) if match.group(2) else size
        else:  # the last N bytes
            start, end = max(size - int(match.group(2)), 0), size
        if start >= size or end <= start:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        status = 206
    response = web.StreamResponse(status=status, headers={
        "Content-Type": "audio/wav", "Accept-Ranges": "bytes",
        "Content-Length": str(end - start), "Cache-Control": "no-cache",
    })
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    read_audio = state.read_audio(info)
    step = 1 << 20  # a MiB of WAV at a time: memory stays bounded however long the session
    at = start
    try:
        while at < end:
            upto = min(at + step, end)
            for piece in await wav_bytes(index, side, at, upto, read_audio):
                await response.write(piece)
            at = upto
    except (ConnectionResetError, asyncio.CancelledError):  # the player seeked elsewhere
        return response
    await response.write_eof()
    return response


async def api_peaks(request: web.Request) -> web.Response:
    """?side=user&level=3&from_ms=0&to_ms=60000: min/max per bucket (10 ms * 2**level wide)."""
    from recorder.view.sound import BASE_BUCKET_MS, MAX_LEVEL

    state = _state(request)
    info = await _session(request)
    side = request.query.get("side", "user")
    if side not in SIDES[:2]:
        return _bad(f"side={side!r} is not user or assistant")
    level = _int(request, "level", 0, lo=0, hi=MAX_LEVEL)
    peaks = await state.peaks(info, side)
    width_ms = BASE_BUCKET_MS * (1 << level)
    from_ms = max(_float(request, "from_ms", 0.0), 0.0)
    first = int(from_ms // width_ms)
    to_ms = _float(request, "to_ms", float("inf"))
    count = None if to_ms == float("inf") else max(0, int(-(-(to_ms - first * width_ms)
                                                             // width_ms)))
    if count is not None and count > 20000:
        return _bad(f"{count} buckets asked for: choose a higher level or a shorter window")
    mins, maxs = peaks.level(level, first, count)
    return _json({"side": side, "level": level, "bucket_ms": width_ms,
                  "from_ms": first * width_ms, "min": mins.tolist(), "max": maxs.tolist()})


# -- the application -----------------------------------------------------------------------------

STATE: web.AppKey[ViewState] = web.AppKey("rtrec_view_state", ViewState)
TOKEN: web.AppKey[str | None] = web.AppKey("rtrec_view_token")


@web.middleware
async def guard(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                ) -> web.StreamResponse:
    """recorder.access's rule; with a token, its cookie stands for the header or query."""
    token = request.app[TOKEN]
    cookie = request.cookies.get(COOKIE)
    if token and cookie and hmac.compare_digest(cookie.encode(), token.encode()):
        origin = request.headers.get("Origin")
        from recorder.access import is_loopback_origin

        host = request.headers.get("Host", "")
        same = origin is None or is_loopback_origin(origin) or origin.endswith("//" + host)
        if not same:
            return web.Response(status=403, text="rtrec: refused a request from a web page "
                                "on another origin\n")
        return await handler(request)
    refused = refusal(request, token)
    if refused is not None:
        why, answer = refused
        log.info("refused %s %s: %s", request.method, request.path, why)
        return answer
    if token and request.query.get(TOKEN_QUERY):  # the URL carried it once: keep it in a cookie
        query = {k: v for k, v in request.query.items() if k != TOKEN_QUERY}
        target = request.rel_url.with_query(query)
        redirect = web.Response(status=302, headers={"Location": str(target)})
        redirect.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        return redirect
    return await handler(request)


async def _no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


def make_app(log: EventLog, source: str, *, token: str | None = None,
             figures: FiguresFn | None = None) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[STATE] = ViewState(log, source, figures)
    app[TOKEN] = token

    async def stop(app: web.Application) -> None:
        await app[STATE].close()

    app.on_cleanup.append(stop)
    app.router.add_get("/", sessions_page)
    app.router.add_get("/favicon.ico", _no_icon)
    app.router.add_get("/s/{sid}", session_page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/sessions", api_sessions)
    app.router.add_get("/api/sessions/{sid}", api_session)
    app.router.add_get("/api/sessions/{sid}/events", api_events)
    app.router.add_get("/api/sessions/{sid}/summary", api_summary)
    app.router.add_get("/api/sessions/{sid}/frames/{seq}.wav", api_frame_audio)
    app.router.add_get("/api/sessions/{sid}/frames/{seq}", api_frame)
    app.router.add_get("/api/sessions/{sid}/state", api_state)
    app.router.add_get("/api/sessions/{sid}/audio/{side}.wav", api_audio)
    app.router.add_get("/api/sessions/{sid}/peaks", api_peaks)
    app.router.add_get("/api/sessions/{sid}/export.zip", api_export)
    return app


class ViewServer:
    """`rtrec view` as a library: open the log (before anything listens), then serve it."""

    def __init__(self, source: str, *, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, figures: FiguresFn | str | None = "default") -> None:
        check_exposure(host, token)
        self.source, self.host, self.port, self.token = source, host, port, token
        self._figures = default_figures() if figures == "default" else figures
        self.log: EventLog | None = None
        self.server: LocalServer | None = None

    async def start(self, session: str | None = None, *, rebuild: bool = False) -> str:
        """Open the log and listen; the URL to open (a session's page when given one).
        rebuild: empty the view's derived tables first (recorder.view.derived.clear)."""
        self.log = await open_log(self.source, create=False)  # a mistyped path is an error
        try:
            if rebuild:
                await derived.clear(self.log)
            path = "/"
            if session is not None:
                path = f"/s/{(await self.log.get_session(session)).id}"
            app = make_app(self.log, self.source, token=self.token,
                           figures=self._figures)  # type: ignore[arg-type]
            self.server = LocalServer(app, self.host, self.port)
            try:
                await self.server.start()
            except OSError as error:
                raise CannotListen(f"cannot listen on {self.host}:{self.port} "
                                   f"({error.strerror}): choose another --listen") from error
        except BaseException:
            await self.log.close()
            self.log = None
            raise
        self.port = self.server.port
        return self.url(path)

    def url(self, path: str = "/") -> str:
        base = f"http://{connect_host(self.host)}:{self.port}{path}"
        if self.token:  # carried once; the page keeps it in a cookie
            from urllib.parse import quote

            base += f"?{TOKEN_QUERY}={quote(self.token)}"
        return base

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None
        if self.log is not None:
            await self.log.close()
            self.log = None


async def view(source: str, *, session: str | None = None, host: str = "127.0.0.1",
               port: int = 0, token: str | None = None,
               on_ready: Callable[[str], None] | None = None, rebuild: bool = False) -> None:
    """Serve until cancelled (Ctrl-C)."""
    server = ViewServer(source, host=host, port=port, token=token)
    url = await server.start(session, rebuild=rebuild)
    try:
        if on_ready is not None:
            on_ready(url)
        await asyncio.Event().wait()
    finally:
        await server.close()
