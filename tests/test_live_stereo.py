"""recorder.live.stereo: conversation.wav paired during the pass, byte for byte the file that
audio.write_timeline reads back from the two tracks, and the cases where the pass gives up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_live_export_bytes import DIGESTS, digests_of_case

import recorder.live.export
import recorder.live.stereo
from recorder.audio import Stretch, WavWriter, write_timeline
from recorder.live.stereo import StereoPass


def _pcm(values: range) -> bytes:
    return np.array(list(values), dtype="<i2").tobytes()


def _tracks(tmp_path: Path, blocks: list[tuple[int, bytes]], rate: int) -> list[WavWriter]:
    writers = [WavWriter(tmp_path / f"{n}.wav", rate) for n in (0, 1)]
    for channel, pcm in blocks:
        writers[channel].append_pcm(pcm)
    return writers


def _read_back(tmp_path: Path, writers: list[WavWriter], total: int) -> bytes:
    channels = [[Stretch(0, w, 0, w.frames)] for w in writers]
    stereo = write_timeline(tmp_path / "read-back.wav", writers[0].sample_rate, channels, total)
    stereo.close()
    return stereo.path.read_bytes()


# user ahead, assistant ahead, one side silent at the end, blocks of uneven sizes
BLOCKS = [
    [(0, _pcm(range(1, 6))), (1, _pcm(range(-1, -3, -1))), (1, _pcm(range(100, 110))),
     (0, _pcm(range(6, 9)))],
    [(1, _pcm(range(50, 60))), (0, _pcm(range(7))), (0, _pcm(range(-4, 0)))],
    [(0, _pcm(range(3)))],
]


@pytest.mark.parametrize("blocks", BLOCKS)
def test_the_pass_writes_the_bytes_the_read_back_writes(tmp_path: Path,
                                                         blocks: list[tuple[int, bytes]]) -> None:
    stereo = StereoPass(tmp_path / "conversation.wav")
    for channel, pcm in blocks:
        stereo.feed(channel, 8000, pcm)
    writers = _tracks(tmp_path, blocks, 8000)
    total = max(w.frames for w in writers) + 2  # ceil() of the durations can add a frame
    written = stereo.finish(8000, total)
    assert written is not None
    written.close()
    assert written.path.read_bytes() == _read_back(tmp_path, writers, total)


def test_a_track_at_another_rate_gives_up_and_removes_the_file(tmp_path: Path) -> None:
    stereo = StereoPass(tmp_path / "conversation.wav")
    stereo.feed(0, 8000, _pcm(range(4)))
    stereo.feed(1, 8000, _pcm(range(4)))
    assert (tmp_path / "conversation.wav").exists()
    stereo.feed(1, 16000, _pcm(range(4)))
    assert stereo.failed and not (tmp_path / "conversation.wav").exists()
    stereo.feed(0, 8000, _pcm(range(4)))  # ignored from now on
    assert stereo.finish(8000, 8) is None


def test_a_track_lagging_past_the_bound_gives_up(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder.live.stereo, "LAG_BYTES", 16)
    stereo = StereoPass(tmp_path / "conversation.wav")
    stereo.feed(0, 8000, _pcm(range(8)))  # 16 bytes ahead: still kept
    assert not stereo.failed
    stereo.feed(0, 8000, _pcm(range(1)))
    assert stereo.failed and stereo.finish(8000, 9) is None


def test_finish_at_a_rate_no_track_wrote_gives_up(tmp_path: Path) -> None:
    stereo = StereoPass(tmp_path / "conversation.wav")
    stereo.feed(0, 8000, _pcm(range(4)))
    assert stereo.finish(16000, 8) is None
    assert StereoPass(tmp_path / "none.wav").finish(8000, 0) is None  # nothing was written


@pytest.mark.parametrize("name", ["weather", "pcm16k", "sideband", "pause", "mute_and_fixture"])
@pytest.mark.parametrize("paired", [True, False])
def test_an_export_writes_the_pinned_bytes_paired_or_read_back(
    name: str, paired: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_backs: list[int] = []

    def read_back(*args: object, **kwargs: object) -> WavWriter:
        read_backs.append(1)
        return write_timeline(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recorder.live.export, "write_timeline", read_back)
    if not paired:
        monkeypatch.setattr(recorder.live.stereo, "LAG_BYTES", -1)  # gives up at once
    assert digests_of_case(name) == json.loads(DIGESTS.read_text())[name]
    assert read_backs == ([] if paired else [1])
