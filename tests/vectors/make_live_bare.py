"""Write bare Live JSONL logs: one Live event a line, both directions, no rtrec envelope (what a
Live mock server or the SDK's debug log writes), from the fake Live scenarios (recorder.fake.live,
seed 0), at G.711 8 kHz to keep them small.

Usage: python tests/vectors/make_live_bare.py OUT_DIR [SCENARIO ...]   (default: tool_call sideband)
The tests call write_bare() into a temporary folder: nothing is committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from recorder.fake.live import build_live
from recorder.wire import Frame


def bare_frames(scenario: str) -> list[Frame]:
    """The scenario's frames (seed 0, G.711 mu-law 8 kHz), in time order."""
    return build_live(scenario, 0, rate=8000, audio_type="audio/pcmu")


def write_bare(path: Path, scenario: str) -> list[Frame]:
    """The scenario as a bare JSONL log at path; its frames, as written."""
    frames = bare_frames(scenario)
    path.write_bytes(b"".join(frame.data + b"\n" for frame in frames))
    return frames


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name in sys.argv[2:] or ["tool_call", "sideband"]:
        write_bare(out / f"{name}.jsonl", name)
        print(out / f"{name}.jsonl")
