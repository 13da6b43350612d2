"""A Live export and fold, byte for byte, before and after they were made faster (issue 18).

tests/vectors/live_export_digests.json holds, for the Live fixtures and for small Live sessions
made here (one of each case the export's tracks handle: both tracks at 24 kHz with transcripts
and a delegation, PCM 16 kHz, G.711 8 kHz, an odd-sized chunk, a sideband placed by start_ms,
a long pause, a client that uploads faster than real time, a mute and a fixture), the SHA-256
of every file `export_db` writes (for a made session, of its WAV files: its transcripts name the
session's random id) and of the fold's `to_dict()` as JSON. They were written by the export and
fold as they were before apply_batch (one step at a time); a deliberate change of the output
regenerates the file:
    PYTHONPATH=$PWD python tests/test_live_export_bytes.py > tests/vectors/live_export_digests.json
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_examples import b64, tone
from live_sessions import AUDIO_100MS, SESSION_ID, Session, start, weather
from test_live_export import sideband_session
from test_live_replay import write_live_db

from recorder.audio import ulaw_encode
from recorder.wire import Frame

ROOT = Path(__file__).resolve().parent.parent
DIGESTS = Path(__file__).resolve().parent / "vectors" / "live_export_digests.json"
LIVE_FIXTURES = sorted(
    ROOT / "fixtures" / f"{name}.db"
    for name, spec in json.loads((ROOT / "fixtures" / "manifest.json").read_text()).items()
    if spec["protocol"] == "live"
)
WAV_FILES = ("user.wav", "assistant.wav", "conversation.wav")
CLOSED = {"type": "session.closed", "reason": "close_requested", "session": {"id": SESSION_ID}}


def _rate(fmt: dict[str, Any], rate: int, encode: Callable[[bytes], bytes] | None) -> Session:
    s = start(Session(), fmt)
    audio = b64(encode(tone(100, rate)) if encode is not None else tone(100, rate))
    for n in range(10):
        s.client(100 + n * 100, {"type": "session.input_audio.append", "audio": audio})
        s.server(130 + n * 100, {"type": "session.output_audio.delta", "delta": audio})
    s.transcript(700, "user", "Hi", 300, 500)
    return s.server(1200, CLOSED)


def _odd() -> Session:
    s = start(Session())
    s.client(100, {"type": "session.input_audio.append", "audio": b64(b"\x01\x02\x03")})
    s.client(200, {"type": "session.input_audio.append", "audio": AUDIO_100MS})
    s.server(250, {"type": "session.output_audio.delta", "delta": b64(b"\x01")})
    s.server(300, {"type": "session.output_audio.delta", "delta": AUDIO_100MS})
    return s.server(400, CLOSED)


def _pause() -> Session:
    s = start(Session())
    s.client(100, {"type": "session.input_audio.append", "audio": AUDIO_100MS})
    s.server(120, {"type": "session.output_audio.delta", "delta": AUDIO_100MS})
    s.client(5_200, {"type": "session.input_audio.append", "audio": AUDIO_100MS})
    s.server(5_300.4, {"type": "session.output_audio.delta", "delta": AUDIO_100MS})
    return s.server(5_500, CLOSED)


def _fast_client() -> Session:
    """The client sends 100 ms chunks every 37 ms (faster than real time), unevenly timed."""
    s = start(Session())
    for n in range(30):
        s.client(100 + n * 37.3, {"type": "session.input_audio.append", "audio": AUDIO_100MS})
        s.server(100 + n * 100.7, {"type": "session.output_audio.delta", "delta": AUDIO_100MS})
        if n % 4 == 0:
            s.transcript(101 + n * 100.7, "assistant", f"word{n} ", n * 100, n * 100 + 200)
    return s.server(3_300, CLOSED)


def _mute_and_fixture() -> Session:
    s = start(Session())
    for n in range(20):
        s.client(100 + n * 100, {"type": "session.input_audio.append", "audio": AUDIO_100MS})
        s.server(110 + n * 100, {"type": "session.output_audio.delta", "delta": AUDIO_100MS})
        if n == 5:
            s.client(601, {"type": "session.input_audio.mute"})
            s.server(605, {"type": "session.input_audio.muted"})
        if n == 8:
            s.client(901, {"type": "session.input_audio.unmute"})
            s.server(905, {"type": "session.input_audio.unmuted"})
        if n == 12:
            s.client(1301, {"type": "session.output_audio.fixture.play", "audio": AUDIO_100MS})
            s.server(1305, {"type": "session.output_audio.fixture.playing"})
            s.server(1410, {"type": "session.output_audio.fixture.played"})
        if n % 3 == 0:
            s.transcript(115 + n * 100, "user" if n < 10 else "assistant", "so ", n * 100,
                         n * 100 + 200)
    return s.server(2_200, CLOSED)


CASES: dict[str, Callable[[], Session]] = {
    "weather": weather,
    "pcm16k": lambda: _rate({"type": "audio/pcm", "rate": 16000}, 16000, None),
    "g711": lambda: _rate({"type": "audio/pcmu"}, 8000, ulaw_encode),
    "odd_chunks": _odd,
    "sideband": sideband_session,
    "pause": _pause,
    "fast_client": _fast_client,
    "mute_and_fixture": _mute_and_fixture,
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fold_digest(steps: list[Any], batch: bool) -> str:
    from recorder.live.fold import LiveFold

    fold = LiveFold()
    if batch:
        fold.apply_batch(steps)
    else:
        for step in steps:
            fold.apply(step)
    fold.finish()
    return _sha(json.dumps(fold.to_dict(), sort_keys=True).encode())


async def _steps(db: str) -> list[Any]:
    from recorder.store import open_log
    from recorder.stream import log_steps

    log = await open_log(db)
    try:
        info = (await log.list_sessions())[0]
        return [step async for batch in log_steps(log, info) for step in batch]
    finally:
        await log.close()


def digests_of_db(db: str, every_file: bool) -> dict[str, str]:
    """SHA-256 of what the export of db's one session writes (every file, or its WAV files)
    and of its fold (apply one step at a time where there is no apply_batch)."""
    from recorder.export import export_db
    from recorder.live.fold import LiveFold

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        asyncio.run(export_db(db, out))
        found = {path.name: _sha(path.read_bytes()) for path in sorted(out.iterdir())
                 if every_file or path.name in WAV_FILES}
    found["fold"] = _fold_digest(asyncio.run(_steps(db)), hasattr(LiveFold, "apply_batch"))
    return found


def digests_of_case(name: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "live.db"
        frames: list[Frame] = CASES[name]().frames
        asyncio.run(write_live_db(db, frames))
        return digests_of_db(str(db), every_file=False)


def all_digests() -> dict[str, dict[str, str]]:
    found = {db.stem: digests_of_db(str(db), every_file=True) for db in LIVE_FIXTURES}
    found.update({name: digests_of_case(name) for name in CASES})
    return found


def test_every_live_fixture_and_case_has_its_digests() -> None:
    assert sorted(json.loads(DIGESTS.read_text())) == sorted(
        [db.stem for db in LIVE_FIXTURES] + list(CASES))


@pytest.mark.parametrize("db", LIVE_FIXTURES, ids=[db.stem for db in LIVE_FIXTURES])
def test_a_live_fixture_exports_and_folds_the_same_bytes(db: Path) -> None:
    assert digests_of_db(str(db), every_file=True) == json.loads(DIGESTS.read_text())[db.stem]


@pytest.mark.parametrize("name", list(CASES))
def test_a_live_session_exports_and_folds_the_same_bytes(name: str) -> None:
    assert digests_of_case(name) == json.loads(DIGESTS.read_text())[name]


@pytest.mark.parametrize("name", list(CASES))
def test_apply_batch_folds_as_apply_does(name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "live.db"
        asyncio.run(write_live_db(db, CASES[name]().frames))
        steps = asyncio.run(_steps(str(db)))
    one_by_one = _fold_digest(steps, batch=False)
    for step in steps:
        step._event = None
    assert _fold_digest(steps, batch=True) == one_by_one


if __name__ == "__main__":
    json.dump(all_digests(), sys.stdout, indent=1, sort_keys=True)
    print()
