"""conversation.wav of a Live export, written during the pass over the steps.

Each track (recorder.live.export.Track) hands over every block of PCM16 it writes to its own
file; while both tracks are at one rate, the frames both have are interleaved (user left,
assistant right) and appended to conversation.wav at once, so the export does not read the two
files back. The tail of the longer track is paired with silence at the end. When the rates
differ, or one track lags the other by more than LAG_BYTES (a sideband whose user track starts
late), the pass gives up and the export falls back to audio.write_timeline, which reads both
files back: the bytes are the same either way.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from recorder.audio import WavWriter, interleave

LAG_BYTES = 8 << 20  # PCM kept for the side that is ahead before the pass gives up


class StereoPass:
    """Pairs the two tracks' PCM as it is written; finish() gives conversation.wav or None."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: WavWriter | None = None
        self.rate = 0  # the tracks' rate, once one has written
        self.failed = False
        self._pending: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        self._frames = [0, 0]  # pending frames per channel

    def feed(self, channel: int, rate: int, pcm: bytes) -> None:
        """Track `channel` (0 user, 1 assistant) wrote pcm (PCM16 at rate) to its file's end."""
        if self.failed:
            return
        if self.rate and rate != self.rate:
            self.give_up()
            return
        self.rate = rate
        samples = np.frombuffer(pcm, dtype="<i2", count=len(pcm) >> 1)
        self._pending[channel].append(samples)
        self._frames[channel] += samples.size
        self._pair(min(self._frames))
        if 2 * (self._frames[0] + self._frames[1]) > LAG_BYTES:
            self.give_up()

    def _take(self, channel: int, count: int) -> np.ndarray:
        pending = self._pending[channel]
        joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
        pending[:] = [joined[count:]] if joined.size > count else []
        self._frames[channel] -= count
        return joined[:count]

    def _pair(self, count: int) -> None:
        if count <= 0:
            return
        if self.writer is None:
            self.writer = WavWriter(self.path, self.rate, channels=2)
        self.writer.append(interleave(self._take(0, count), self._take(1, count)))

    def finish(self, rate: int, total: int) -> WavWriter | None:
        """conversation.wav at rate, total frames long, open; None: the pass gave up (or the
        file is at another rate), so the caller writes it from the track files."""
        if self.failed or rate != self.rate:
            self.give_up()
            return None
        for channel in (0, 1):  # the longer track's tail, against silence
            count = self._frames[channel]
            if count:
                other = 1 - channel
                self._pending[other].append(np.zeros(count, dtype="<i2"))
                self._frames[other] += count
                self._pair(count)
        if self.writer is None:
            self.writer = WavWriter(self.path, self.rate, channels=2)
        self.writer.extend_to(total)
        return self.writer

    def give_up(self) -> None:
        """Stop pairing and remove what was written (the fallback writes the file anew)."""
        self.failed = True
        self._pending = ([], [])
        self._frames = [0, 0]
        if self.writer is not None:
            self.close()
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.writer = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
