"""A session's viewer index and waveform peaks kept in the store (view_index, view_peaks), so a
server started again, or another one, draws a session it has seen without reading its frames.

The index is kept as one msgpack blob: its columns (ticks, each side's chunks) as raw
little-endian arrays, its lanes, event types, audio formats and warnings; not the conversation
fold (the server does not need it once the lanes are made). The peaks: each side's finest level
(min and max per BASE_BUCKET_MS bucket, int16), every zoom level reduced from them on request.
Both are derived (recorder.view.derived): stale when the session changed, rebuilt from frames.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from recorder.audio import AudioFormat
from recorder.store import EventLog, SessionInfo
from recorder.view import derived
from recorder.view.index import SessionIndex, SideAudio
from recorder.view.sound import Peaks

INDEX_TABLE, PEAKS_TABLE = "view_index", "view_peaks"
# what encode() writes and SessionIndex holds: a change to either makes every kept row stale
INDEX_VERSION = 2  # 2: Live sessions indexed by recorder.view.live_index

# seqs, sizes and bucket offsets fit 32 bits (the seq column is 32-bit): 20 bytes a frame
_TICKS = {"t_ms": "<f8", "seq": "<i4", "direction": "<i1", "type": "<i2", "kind": "<i1",
          "size": "<i4"}
_SIDE = {"seq": "<i4", "start_ms": "<f8", "length": "<i4", "format": "<i1", "peak_at": "<i4"}


def _raw(array: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def encode(index: SessionIndex) -> bytes:
    """The index as kept in view_index.data."""
    ticks = {"t_ms": index.tick_t, "seq": index.tick_seq, "direction": index.tick_direction,
             "type": index.tick_type, "kind": index.tick_kind, "size": index.tick_size}
    sides = {name: {"seq": side.seq, "start_ms": side.start_ms, "length": side.length,
                    "format": side.format_id, "peak_at": side.peak_at}
             for name, side in index.audio.items()}
    formats = next(iter(index.audio.values())).formats if index.audio else []
    return msgspec.msgpack.encode({
        "ticks": {name: _raw(ticks[name], dtype) for name, dtype in _TICKS.items()},
        "sides": {name: {column: _raw(columns[column], dtype)
                         for column, dtype in _SIDE.items()} for name, columns in sides.items()},
        "types": index.types, "formats": [[f.name, f.sample_rate] for f in formats],
        "lanes": index.lanes, "warnings": index.warnings,
    })


def decode(data: bytes) -> SessionIndex:
    """An index from view_index.data: the lanes and columns as encode() kept them, with no
    chunk peaks (the side peaks come from view_peaks) and no conversation."""
    parts: dict[str, Any] = msgspec.msgpack.decode(data)
    formats = [AudioFormat(name, rate) for name, rate in parts["formats"]]
    ticks = {name: np.frombuffer(parts["ticks"][name], dtype=dtype)
             for name, dtype in _TICKS.items()}
    audio = {name: SideAudio({column: np.frombuffer(columns[column], dtype=dtype)
                              for column, dtype in _SIDE.items()}, formats)
             for name, columns in parts["sides"].items()}
    empty = np.zeros(0, np.int16)
    return SessionIndex(None, ticks, parts["types"], audio, parts["lanes"], parts["warnings"],
                        empty, empty)


async def load(log: EventLog, info: SessionInfo
               ) -> tuple[SessionIndex, dict[str, Peaks]] | None:
    """The session's kept index and peaks, if both are fresh."""
    index = await derived.fresh(log, INDEX_TABLE, INDEX_VERSION, info, ["data"])
    if not index:
        return None
    sides = await derived.fresh(log, PEAKS_TABLE, INDEX_VERSION, info, ["side", "mins", "maxs"])
    if sides is None:
        return None
    peaks = {}
    for side, mins, maxs in sides:
        peaks[str(side)] = Peaks.of(np.frombuffer(bytes(mins), "<i2"),
                                    np.frombuffer(bytes(maxs), "<i2"))
    return decode(bytes(index[0][0])), peaks


async def store(log: EventLog, info: SessionInfo, index: SessionIndex,
                peaks: dict[str, Peaks]) -> bool:
    """Keep the session's index and its sides' peaks, in one transaction (not for a session
    being recorded)."""
    return await derived.store_all(log, INDEX_VERSION, info, {
        INDEX_TABLE: [{"data": encode(index)}],
        PEAKS_TABLE: [{"side": side, "mins": _raw(p.mins, "<i2"), "maxs": _raw(p.maxs, "<i2")}
                      for side, p in peaks.items()],
    })
