"""Export a Live session: user.wav and assistant.wav from the two continuous tracks,
conversation.wav in stereo (user left, assistant right), transcripts from the fold's segments.

One pass over the steps: the Live fold (recorder.live.fold) takes each step, and beside it each
audio chunk is appended to its track. Each track file is its own timeline from the first frame
of the recording: a chunk is placed at its arrival time (on a sideband, at its start_ms), or
right after the previous chunk if that is later (the tracks are continuous), with silence where
the stream paused. conversation.wav is interleaved in the same pass from the blocks both tracks
write (recorder.live.stereo) while they share a rate; otherwise it reads both files back block
by block (audio.write_timeline) at the higher of the two rates, the other side resampled.

No assistant-heard.wav: a Live session has no truncation and no event says what the listener
heard, so there is nothing to cut assistant.wav at.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.audio import (
    PCM_BLOCK_BYTES,
    AudioFormat,
    PcmBlocks,
    Stretch,
    WavWriter,
    pcm16_samples,
    resample,
    resampled_note,
    write_timeline,
)
from recorder.live.fold import LiveFold
from recorder.live.stereo import StereoPass
from recorder.protocol import names
from recorder.stream import LiveAudioChunk, Step, log_steps
from recorder.transcripts import Entry, write_files
from recorder.wire import Direction

if TYPE_CHECKING:
    from recorder.export import ExportReport, Progress, Warn
    from recorder.store import EventLog, SessionInfo

PCM24 = AudioFormat.from_wire({"type": "audio/pcm", "rate": 24000})
PENDING_BYTES = PCM_BLOCK_BYTES  # audio gathered before it is written
NO_HEARD = ("assistant-heard.wav not written: a Live session says nothing about what the "
            "listener heard (no truncation events), so assistant.wav is all there is")


class Track:
    """One continuous track, written as it arrives; frame 0 is the recording's first frame.
    Chunks of PCM16 at the file's rate (the bulk of a session) are gathered and written in
    large blocks."""

    def __init__(self, path: Path, on_write: Callable[[int, bytes], None] | None = None) -> None:
        self.path = path
        self.writer: WavWriter | None = None
        self.rate: int | None = None  # the file's rate: the first chunk's
        self.frames = 0  # written and gathered
        self.same: AudioFormat | None = None  # a format add_pcm takes: PCM16 at the file's rate
        self._on_write = on_write  # (rate, PCM) of each block written to the file
        self._pending = PcmBlocks(PENDING_BYTES, self._written if on_write else None)

    def _written(self, pcm: bytes) -> None:
        assert self._on_write is not None and self.rate is not None
        self._on_write(self.rate, pcm[: len(pcm) & ~1])

    def add(self, fmt: AudioFormat, at_ms: float, audio: bytes) -> None:
        if self.rate is None:
            self._open(fmt.sample_rate)
        rate = self.rate or fmt.sample_rate
        self._silence_to(round(at_ms * rate / 1000))
        if fmt.sample_rate == rate and not fmt.is_g711:
            self.same = fmt
            self._gather(audio)
            return
        pcm = fmt.to_pcm16(audio)
        if fmt.sample_rate != rate:
            pcm = resample(pcm16_samples(pcm), fmt.sample_rate, rate).astype("<i2").tobytes()
        self._gather(pcm)

    def add_pcm(self, at_ms: float, audio: bytes) -> None:
        """add() of a chunk in the `same` format (PCM16 at the file's rate, whole samples), with
        LiveExport's rule that the track never goes over itself: the bulk of a session, with
        nothing to convert."""
        rate = self.rate or 1
        frames = self.frames
        end = frames * 1000 / rate
        at = round((end if at_ms < end else at_ms) * rate / 1000)
        if at > frames:
            self._silence_to(at)
        self.frames += len(audio) >> 1
        self._pending.add(audio, self.writer)

    def _open(self, rate: int) -> None:
        """The file, at the first chunk's rate (a track that only places its chunks, the
        viewer's, opens none)."""
        self.rate = rate
        self.writer = WavWriter(self.path, rate)

    def _silence_to(self, at: int) -> None:
        while at > self.frames:  # the stream paused: silence up to frame at, block by block
            self._gather(bytes(2 * min(at - self.frames, PENDING_BYTES >> 1)))

    def end_ms(self) -> float:
        rate = self.rate or 1
        return self.frames * 1000 / rate

    def _gather(self, pcm: bytes) -> None:
        self.frames += len(pcm) >> 1
        self._pending.add(pcm, self.writer)

    def flush(self) -> None:
        self._pending.write(self.writer)


class LiveExport:
    """The pass over a Live session's steps: the fold, and the two tracks."""

    track = Track  # what places (and writes) each side's chunks

    def __init__(self, out_dir: Path) -> None:
        self.fold = LiveFold()
        self.stereo = StereoPass(out_dir / "conversation.wav")
        self.user = self.track(out_dir / "user.wav", functools.partial(self.stereo.feed, 0))
        self.assistant = self.track(out_dir / "assistant.wav",
                                    functools.partial(self.stereo.feed, 1))
        self.first_ns: int | None = None
        self.skipped = 0  # audio frames that could not be decoded in the session's format

    def apply_batch(self, steps: list[Step]) -> None:
        """The steps in seq order: the fold takes each, and each audio chunk goes to its
        track as the fold passes it (LiveFold.apply_batch's on_audio)."""
        if self.first_ns is None and steps:
            self.first_ns = steps[0].t_ns
        self.fold.apply_batch(steps, self._audio)

    def _audio(self, step: Step) -> None:
        audio, kind = step.audio, step.type
        assert audio is not None and self.first_ns is not None
        at_ms = (step.t_ns - self.first_ns) / 1e6
        server = step.direction is Direction.SERVER
        if kind == names.LIVE_INPUT_AUDIO_APPEND:
            # the client's microphone, or on a sideband the server's reflection (24 kHz PCM16)
            self._add(self.user, PCM24 if server else self._format(), at_ms, audio)
        elif kind == names.LIVE_OUTPUT_AUDIO_DELTA and server:
            fmt = self._format()
            if self.fold.start_seq is None:  # a sideband: timed, PCM16 24 kHz
                fmt = PCM24
                chunk = step.event
                start = (getattr(chunk.outline_event(), "start_ms", None)
                         if isinstance(chunk, LiveAudioChunk) else None)
                if isinstance(start, int | float):
                    at_ms = float(start)
            self._add(self.assistant, fmt, at_ms, audio)

    def _format(self) -> AudioFormat:
        return self.fold.audio_format or PCM24

    def _add(self, track: Track, fmt: AudioFormat, at_ms: float, audio: bytes) -> None:
        if fmt is track.same and not len(audio) & 1:
            track.add_pcm(at_ms, audio)
            return
        if not fmt.is_g711 and len(audio) & 1:
            self.skipped += 1  # not PCM16: the fold notes it (not in the announced format)
            return
        if track.rate is not None:
            at_ms = max(at_ms, track.end_ms())  # continuous: never over itself
        track.add(fmt, at_ms, audio)


def resampled(tracks: tuple[Track, Track], rate: int) -> str | None:
    """Which side of conversation.wav was resampled to its rate, and how (None: neither)."""
    return resampled_note(
        ((name, t.writer.sample_rate if t.writer is not None else rate)
         for name, t in zip(("user", "assistant"), tracks, strict=True)), rate)


def entries(fold: LiveFold) -> list[Entry]:
    """The fold's speaker segments as transcript entries, on the session timeline."""
    return [
        Entry(item_id=f"segment-{number}", kind="message", speaker=segment.speaker,
              start_ms=float(segment.start_ms), end_ms=float(segment.end_ms),
              text=" ".join(segment.text.split()),
              details={"close_reason": segment.close_reason, "first_seq": segment.first_seq,
                       "last_seq": segment.last_seq})
        for number, segment in enumerate(fold.segments, start=1)
    ]


async def export_live(log: EventLog, info: SessionInfo, out_dir: Path, report: ExportReport,
                      progress: Progress | None, warn: Warn | None,
                      batch_size: int) -> ExportReport:
    """Write a Live session's files into out_dir (export_session's stage: all or nothing)."""
    builder = LiveExport(out_dir)
    tracks = (builder.user, builder.assistant)
    try:
        async for batch in log_steps(log, info, batch_size=batch_size):
            builder.apply_batch(batch)
            if progress is not None and batch:
                progress(min(batch[-1].seq, info.frames), info.frames)
        fold = builder.fold
        fold.finish()
        for track in tracks:
            track.flush()
        writers = [t.writer for t in tracks if t.writer is not None]
        if writers:
            rate = max(w.sample_rate for w in writers)
            total = max(math.ceil(w.duration_ms * rate / 1000) for w in writers)
            channels = [
                [Stretch(0, t.writer, 0, t.writer.frames)] if t.writer is not None else []
                for t in tracks
            ]
            stereo = builder.stereo.finish(rate, total)
            if stereo is None:  # the tracks' rates differ, or one lagged: read them back
                stereo = write_timeline(out_dir / "conversation.wav", rate, channels, total)
            writers.append(stereo)
            for writer in writers:
                writer.close()
                report.files.append(writer.path)
                report.durations_ms[writer.path.name] = writer.duration_ms
            report.had_audio = True
            report.sample_rate = rate
            report.resampled = resampled(tracks, rate)
    finally:
        builder.stereo.close()
        for track in tracks:
            if track.writer is not None:
                track.writer.close()
    for note in fold.notes:
        report.warnings.append(f"session {info.id}: {note}")
        if warn is not None:
            warn(report.warnings[-1])
    if report.had_audio:
        report.notes.append(NO_HEARD)
    else:
        report.warnings.append(f"session {info.id} has no audio: wrote the transcripts only")
    report.files += write_transcripts(out_dir, info, fold)
    return report


def write_transcripts(out_dir: Path, info: SessionInfo, fold: LiveFold) -> list[Path]:
    fmt = fold.audio_format or PCM24
    facts = {
        "id": info.id, "server_session_id": fold.session_id, "model": fold.model or info.model,
        "protocol": info.protocol, "status": fold.status,
        "audio_format": fmt.name, "sample_rate": fmt.sample_rate,
        "started_at": info.started_at.isoformat() if info.started_at else None,
    }
    errors = [": ".join(x for x in (e.type, e.code, e.message) if x) for e in fold.errors]
    return write_files(out_dir, entries(fold), info.id, facts, errors)
