"""Export one recorded session as WAV files and transcripts.

Two passes over the log, so memory stays bounded however long the session:

1. replay the session into the conversation (recorder.conversation: items, transcripts, audio
   byte counts, truncation points, recorded times; no audio bytes) and plan the timeline:
   where each assistant utterance starts on conversation.wav and how much of it was heard;
2. stream the audio frames from the log, decode only those, and write every WAV file as the
   frames go by: user.wav and assistant.wav end to end, assistant-heard.wav cut at each
   truncation, conversation.wav by placing each chunk on its channel (user left, assistant
   right) at its timeline position, and with per_item one file per audio content part.

The timeline is the session's recorded time. The user's audio is a live stream: each chunk is
placed where it was captured (see audio.StreamPlacement), and a turn's audio_start_ms /
audio_end_ms are mapped through that placement. An assistant utterance starts when its first
audio delta was recorded, or when the previous one ends if that is later (each utterance
whole), and lasts as long as it was heard. conversation.wav uses the higher of the input and
output rates; the other side is resampled (audio.resample: sample repetition for 8 -> 24 kHz).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from recorder.audio import (
    AudioFormat,
    StreamPlacement,
    WavWriter,
    pcm16_samples,
    place_utterances,
    resample,
)
from recorder.conversation import ConversationBuilder
from recorder.conversation_model import AudioTurn, ContentPart, Conversation, Item
from recorder.errors import RtrecError
from recorder.replay import replay_session
from recorder.store import EventLog, SessionInfo, StoredFrame, open_log
from recorder.transcripts import Entry, markdown, srt, to_json, vtt
from recorder.wire import Direction

Progress = Callable[[int, int], None]  # (frames done, frames in total), once per batch
Warn = Callable[[str], None]

INPUT_AUDIO_TYPES = frozenset({"input_audio_buffer.append"})
OUTPUT_AUDIO_TYPES = frozenset({"response.audio.delta", "response.output_audio.delta"})
USER, ASSISTANT = 0, 1  # conversation.wav channels
WARNINGS_PER_KIND = 5  # individual corrupt-frame warnings before only the count is reported


@dataclass
class ExportReport:
    """What an export wrote and what it met on the way."""

    session_id: str
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    had_audio: bool = False
    corrupt_frames: int = 0
    warnings: list[str] = field(default_factory=list)
    durations_ms: dict[str, float] = field(default_factory=dict)  # file name -> duration
    sample_rate: int = 0  # conversation.wav
    resampled: str | None = None  # which side of conversation.wav was resampled, and how


# --- checks before any work -------------------------------------------------------------------


def check_output_dir(out_dir: Path) -> None:
    """Create out_dir if needed and prove it is writable, or raise one clear line."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir, prefix=".rtrec-probe-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise RtrecError(
            f"cannot write to output directory {out_dir}: {reason}; "
            "choose another --out or fix its permissions"
        ) from None


# --- pass 1: the conversation and the timeline plan -------------------------------------------


@dataclass(slots=True)
class PartPlan:
    """Where one assistant audio content part goes, and how much of it was heard."""

    item: Item
    part: ContentPart
    audio_format: AudioFormat
    start_ms: float
    heard_bytes: int
    written_bytes: int = 0  # decoded wire bytes seen so far in pass 2

    @property
    def heard_ms(self) -> float:
        return self.audio_format.duration_ms(self.heard_bytes)


@dataclass
class TimelinePlan:
    sample_rate: int
    input_format: AudioFormat
    output_format: AudioFormat
    parts: dict[tuple[str, int], PartPlan]
    turns: list[AudioTurn]

    @property
    def end_ms(self) -> float:
        return max((p.start_ms + p.heard_ms for p in self.parts.values()), default=0.0)


def has_audio(conversation: Conversation) -> bool:
    return conversation.input_audio_bytes > 0 or any(
        part.audio_bytes > 0 for item in conversation.items.values() for part in item.content
    )


def plan_timeline(conversation: Conversation) -> TimelinePlan:
    """Start times of the assistant's utterances on conversation.wav, in the order spoken."""
    spoken: list[tuple[float, Item, ContentPart]] = []
    for item in conversation.items.values():
        if item.role == "user":
            continue  # the user side is the input stream, placed as it streams
        for part in item.content:
            if part.audio_bytes > 0 and part.first_audio_t_ns is not None:
                spoken.append((part.first_audio_t_ns / 1e6, item, part))
    spoken.sort(key=lambda entry: entry[0])
    spans = [
        (earliest, item.format.duration_ms(part.heard_bytes)) for earliest, item, part in spoken
    ]
    starts = place_utterances(spans)
    parts = {
        (item.id, part.index): PartPlan(item, part, item.format, start, part.heard_bytes)
        for start, (_, item, part) in zip(starts, spoken, strict=True)
    }
    rate = max(conversation.input_format.sample_rate, conversation.output_format.sample_rate)
    turns = sorted(
        (t for t in conversation.turns if t.audio_start_ms is not None and t.item_id),
        key=lambda t: t.audio_start_ms or 0,
    )
    return TimelinePlan(rate, conversation.input_format, conversation.output_format, parts, turns)


# --- pass 2: audio frames into the files ------------------------------------------------------


class _InputAudio(msgspec.Struct):
    audio: bytes = b""  # msgspec decodes the base64 and rejects a corrupt one


class _OutputAudio(msgspec.Struct):
    item_id: str | None = None
    content_index: int = 0
    delta: bytes = b""


_decode_input = msgspec.json.Decoder(_InputAudio).decode
_decode_output = msgspec.json.Decoder(_OutputAudio).decode


class AudioRouter:
    """Takes the session's frames in order and writes each audio chunk where it belongs."""

    def __init__(
        self,
        out_dir: Path,
        plan: TimelinePlan,
        conversation: Conversation,
        *,
        per_item: bool = False,
    ) -> None:
        self.out_dir = out_dir
        self.plan = plan
        self.per_item = per_item
        self.placement = StreamPlacement()
        self.corrupt: list[StoredFrame] = []
        self.input_bytes = 0
        rate = plan.sample_rate
        self.user = WavWriter(out_dir / "user.wav", plan.input_format.sample_rate)
        self.assistant = WavWriter(out_dir / "assistant.wav", plan.output_format.sample_rate)
        self.heard = WavWriter(out_dir / "assistant-heard.wav", plan.output_format.sample_rate)
        self.conversation = WavWriter(out_dir / "conversation.wav", rate, channels=2)
        self.writers = [self.user, self.assistant, self.heard, self.conversation]
        self._item_files: dict[tuple[str, int], WavWriter] = {}
        self._item_names = _item_file_names(conversation) if per_item else {}
        self._turns = plan.turns
        self._next_turn = 0

    def handle(self, frame: StoredFrame) -> None:
        kind = frame.type
        try:
            if frame.direction is Direction.CLIENT:
                if kind in INPUT_AUDIO_TYPES:
                    self._input(frame, _decode_input(frame.data).audio)
            elif kind in OUTPUT_AUDIO_TYPES:
                event = _decode_output(frame.data)
                self._output(event.item_id, event.content_index, event.delta)
        except (msgspec.ValidationError, msgspec.DecodeError):
            self.corrupt.append(frame)

    def _input(self, frame: StoredFrame, audio: bytes) -> None:
        fmt = self.plan.input_format
        if not audio:
            return
        samples = pcm16_samples(fmt.to_pcm16(audio))
        self.user.append(samples)
        start_ms = self.placement.place(frame.t_ns / 1e6, fmt.duration_ms(len(audio)))
        self._place(USER, start_ms, samples, fmt.sample_rate)
        if self.per_item:
            self._input_turns(audio)
        self.input_bytes += len(audio)

    def _input_turns(self, audio: bytes) -> None:
        """Copy the part of this chunk that falls inside a user turn to that turn's file."""
        fmt = self.plan.input_format
        chunk_start, chunk_end = self.input_bytes, self.input_bytes + len(audio)
        turns = self._turns
        while self._next_turn < len(turns) and _turn_bytes(turns[self._next_turn], fmt)[1] <= (
            chunk_start
        ):
            self._close_item_file((turns[self._next_turn].item_id or "", 0))
            self._next_turn += 1
        for turn in turns[self._next_turn :]:
            begin, end = _turn_bytes(turn, fmt)
            if begin >= chunk_end:
                break
            low, high = max(begin, chunk_start), min(end, chunk_end)
            if high > low:
                writer = self._item_file((turn.item_id or "", 0), fmt)
                if writer is not None:
                    piece = audio[low - chunk_start : high - chunk_start]
                    writer.append(pcm16_samples(fmt.to_pcm16(piece)))

    def _output(self, item_id: str | None, content_index: int, audio: bytes) -> None:
        if not audio:
            return
        plan = self.plan.parts.get((item_id or "", content_index))
        fmt = plan.audio_format if plan else self.plan.output_format
        samples = pcm16_samples(fmt.to_pcm16(audio))
        out_rate = self.plan.output_format.sample_rate
        self.assistant.append(resample(samples, fmt.sample_rate, out_rate))
        if plan is None:
            return  # audio of an item the conversation never saw: kept in assistant.wav only
        if self.per_item:
            writer = self._item_file((plan.item.id, content_index), fmt)
            if writer is not None:
                writer.append(samples)
        done, plan.written_bytes = plan.written_bytes, plan.written_bytes + len(audio)
        heard = max(min(len(audio), plan.heard_bytes - done), 0)
        heard -= heard % fmt.sample_width
        if heard:
            heard_samples = samples[: heard // fmt.sample_width]
            self.heard.append(resample(heard_samples, fmt.sample_rate, out_rate))
            offset_ms = plan.start_ms + fmt.duration_ms(done)
            self._place(ASSISTANT, offset_ms, heard_samples, fmt.sample_rate)

    def _place(self, channel: int, start_ms: float, samples: np.ndarray, rate: int) -> None:
        target = self.plan.sample_rate
        frame = round(start_ms * target / 1000)
        self.conversation.place(frame, channel, resample(samples, rate, target))

    def _item_file(self, key: tuple[str, int], fmt: AudioFormat) -> WavWriter | None:
        writer = self._item_files.get(key)
        if writer is None:
            name = self._item_names.get(key)
            if name is None:
                return None
            writer = WavWriter(self.out_dir / "items" / name, fmt.sample_rate)
            self._item_files[key] = writer
            self.writers.append(writer)
        return writer

    def _close_item_file(self, key: tuple[str, int]) -> None:
        writer = self._item_files.pop(key, None)
        if writer is not None:
            writer.close()

    def finish(self) -> None:
        end_ms = max(self.plan.end_ms, self.placement.end_ms)
        # round up: the file covers every utterance's end, even a fraction of a sample
        self.conversation.extend_to(math.ceil(end_ms * self.plan.sample_rate / 1000))
        for writer in self.writers:
            writer.close()

    def abort(self) -> None:
        for writer in self.writers:
            writer.close()


def _turn_bytes(turn: AudioTurn, fmt: AudioFormat) -> tuple[int, int]:
    start = fmt.bytes_for_ms(turn.audio_start_ms or 0)
    end = fmt.bytes_for_ms(turn.audio_end_ms) if turn.audio_end_ms is not None else 1 << 62
    return start, end


def _item_file_names(conversation: Conversation) -> dict[tuple[str, int], str]:
    """items/NNN-role-itemid-partK.wav, NNN the item's place in the conversation."""
    names: dict[tuple[str, int], str] = {}
    ordered = conversation.ordered_items() + conversation.unplaced_items()
    for number, item in enumerate(ordered, start=1):
        role = item.role or item.type or "item"
        stem = f"{number:03d}-{role}-{_safe(item.id)}"
        if item.role == "user" and item.turn is not None:
            names[(item.id, 0)] = f"{stem}-part0.wav"
        for part in item.content:
            if part.audio_bytes > 0:
                names[(item.id, part.index)] = f"{stem}-part{part.index}.wav"
    return names


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:64]


# --- transcripts ------------------------------------------------------------------------------


def transcript_entries(
    conversation: Conversation, plan: TimelinePlan, placement: StreamPlacement
) -> list[Entry]:
    """One Entry per item in conversation order, with its span on the conversation timeline."""
    entries = []
    answered = set()
    for item in conversation.ordered_items():
        if item.type == "function_call_output" and item.call_id:
            answered.add(item.call_id)
    for item in conversation.ordered_items():
        start, end = _span(item, plan, placement)
        kind = item.type or "message"
        if kind in ("function_call", "function_call_output"):
            speaker = "tool"
        else:
            speaker = item.role or "system"
        output = item.output
        if kind == "function_call" and item.call_id and item.call_id not in answered:
            answer = conversation.output_for(item.call_id)
            output = answer.output if answer else None
        entries.append(
            Entry(
                item_id=item.id,
                kind=kind,
                speaker=speaker,
                start_ms=start,
                end_ms=end,
                text=item.transcript or item.text,
                truncated=item.truncated,
                audio_ms=item.audio_ms,
                heard_ms=item.heard_ms,
                name=item.name,
                arguments=item.arguments,
                output=output,
                call_id=item.call_id,
                details=item.to_dict(),
            )
        )
    return entries


def _span(item: Item, plan: TimelinePlan, placement: StreamPlacement) -> tuple[float, float]:
    turn = item.turn
    if item.role == "user" and turn is not None and turn.audio_start_ms is not None:
        start = placement.to_timeline(turn.audio_start_ms)
        end_offset = turn.audio_end_ms if turn.audio_end_ms is not None else turn.audio_start_ms
        return start, max(placement.to_timeline(end_offset), start)
    keys = [(item.id, part.index) for part in item.content]
    parts = [plan.parts[key] for key in keys if key in plan.parts]
    if parts:
        return min(p.start_ms for p in parts), max(p.start_ms + p.heard_ms for p in parts)
    at = max((item.t_ns or 0) / 1e6, 0.0)
    return at, at


def _session_facts(info: SessionInfo, conversation: Conversation) -> dict[str, Any]:
    return {
        "id": info.id,
        "server_session_id": conversation.session_id,
        "model": conversation.model or info.model,
        "protocol": info.protocol,
        "started_at": info.started_at.isoformat() if info.started_at else None,
        "ended_at": info.ended_at.isoformat() if info.ended_at else None,
        "status": info.status,
        "input_format": conversation.input_format.name,
        "input_sample_rate": conversation.input_format.sample_rate,
        "output_format": conversation.output_format.name,
        "output_sample_rate": conversation.output_format.sample_rate,
    }


def write_transcripts(
    out_dir: Path, info: SessionInfo, conversation: Conversation, entries: list[Entry]
) -> list[Path]:
    facts = _session_facts(info, conversation)
    lines = [f"{key.replace('_', ' ')}: {value}" for key, value in facts.items() if value]
    files = {
        "transcript.md": markdown(entries, f"Session {info.id}", lines),
        "transcript.json": to_json(entries, facts),
        "transcript.srt": srt(entries),
        "transcript.vtt": vtt(entries),
    }
    written = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# --- the whole export -------------------------------------------------------------------------


async def export_session(
    log: EventLog,
    info: SessionInfo,
    out_dir: Path,
    *,
    per_item: bool = False,
    progress: Progress | None = None,
    warn: Warn | None = None,
    batch_size: int = 2000,
) -> ExportReport:
    """Write the WAV files and transcripts of one session into out_dir (see module doc)."""
    check_output_dir(out_dir)
    report = ExportReport(info.id, out_dir)
    total = info.frames * 2 if info.frames else 0  # two passes

    builder = ConversationBuilder()
    await replay_session(log, builder, info, batch_size=batch_size)
    if progress is not None:
        progress(info.frames, total)
    conversation = builder.conversation
    plan = plan_timeline(conversation)
    placement = StreamPlacement()

    if has_audio(conversation):
        report.had_audio = True
        if per_item:
            (out_dir / "items").mkdir(exist_ok=True)
        router = _open_router(out_dir, plan, conversation, per_item)
        try:
            done = info.frames
            async for batch in log.read(info.id, batch_size=batch_size):
                for frame in batch:
                    router.handle(frame)
                done += len(batch)
                if progress is not None:
                    progress(done, total)
        except BaseException:
            router.abort()
            raise
        _finish(router, report)
        placement = router.placement
        _report_corrupt(router.corrupt, info.id, report, warn)
        report.sample_rate = plan.sample_rate
        report.resampled = _resampled(plan)
    else:
        message = f"session {info.id} has no audio: wrote the transcripts only"
        report.warnings.append(message)

    entries = transcript_entries(conversation, plan, placement)
    report.files += _write(lambda: write_transcripts(out_dir, info, conversation, entries))
    return report


def _open_router(
    out_dir: Path, plan: TimelinePlan, conversation: Conversation, per_item: bool
) -> AudioRouter:
    return _write(lambda: AudioRouter(out_dir, plan, conversation, per_item=per_item))


def _finish(router: AudioRouter, report: ExportReport) -> None:
    _write(router.finish)
    for writer in router.writers:
        report.files.append(writer.path)
        report.durations_ms[str(writer.path.relative_to(router.out_dir))] = writer.duration_ms


def _write(action: Callable[[], Any]) -> Any:
    """Run a file-writing step; a full disk or a lost directory becomes one clear line."""
    try:
        return action()
    except OSError as error:
        where = error.filename or "the output directory"
        raise RtrecError(
            f"cannot write {where}: {error.strerror or error}; "
            "free some space or choose another --out"
        ) from None


def _report_corrupt(
    frames: list[StoredFrame], session_id: str, report: ExportReport, warn: Warn | None
) -> None:
    report.corrupt_frames = len(frames)
    lines = [
        f"skipped frame seq {f.seq} ({f.type}) of session {session_id}: corrupt base64 audio"
        for f in frames[:WARNINGS_PER_KIND]
    ]
    if frames:
        lines.append(
            f"skipped {len(frames)} frame(s) with corrupt base64 audio; the rest was exported"
        )
    report.warnings += lines
    if warn is not None:
        for line in lines:
            warn(line)


def _resampled(plan: TimelinePlan) -> str | None:
    sides = [
        (name, fmt.sample_rate)
        for name, fmt in (("user", plan.input_format), ("assistant", plan.output_format))
        if fmt.sample_rate != plan.sample_rate
    ]
    if not sides:
        return None
    name, rate = sides[0]
    how = "by repeating samples" if plan.sample_rate % rate == 0 else "by linear interpolation"
    return f"{name} audio {rate} Hz -> {plan.sample_rate} Hz {how} in conversation.wav"


async def export_db(
    db: str,
    out_dir: Path,
    *,
    session: str | None = None,
    per_item: bool = False,
    progress: Progress | None = None,
    warn: Warn | None = None,
) -> ExportReport:
    """Open db, export one session (default: the newest) into out_dir, close."""
    check_output_dir(out_dir)  # before opening anything: a bad --out costs nothing
    log = await open_log(db)
    try:
        info = await log.get_session(session)  # None: the newest
        return await export_session(
            log, info, out_dir, per_item=per_item, progress=progress, warn=warn
        )
    finally:
        await log.close()


__all__ = [
    "AudioRouter",
    "ExportReport",
    "check_output_dir",
    "export_db",
    "export_session",
    "plan_timeline",
    "transcript_entries",
]
