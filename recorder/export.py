"""Export one recorded session as WAV files and transcripts.

One pass over the log, then a copy step from the files just written, so memory stays bounded
however long the session (an hour: 90-145 MB resident, see bench/export.py):

1. fold the session's steps (recorder.stream) into the conversation (recorder.conversation:
   items, transcripts, audio byte counts, truncation points, recorded times; no audio bytes
   kept). Beside the fold, every audio chunk (bytes already) is appended to user.wav (the
   input stream) or assistant.wav (audio the client sends inside conversation.item.create
   waits in a side file). The sink
   remembers where the user's stream landed on the timeline (it is a live stream, placed as
   it was captured: see audio.StreamPlacement) and where each assistant part sits in
   assistant.wav;
2. once the conversation is known (truncations arrive after the audio they cut), plan where
   each assistant utterance goes, then write conversation.wav in one sequential sweep, block
   by block (user left, assistant right, read back from user.wav and assistant.wav), copy the
   heard part of each utterance into assistant-heard.wav, and with per_item copy each user
   turn and each assistant part into a file of its own.

Where each turn goes is recorder.timeline's (the one definition replay and every transcript
use): an assistant utterance starts when its first audio delta was recorded, or when the
previous one ends if that is later (each utterance whole), and lasts as long as it was heard. A user
turn's audio_start_ms / audio_end_ms are offsets into the input stream, mapped through the
stream's placement. conversation.wav uses the higher of the input and output rates; the
other side is resampled (sample repetition for a whole ratio such as 8 -> 24 kHz, linear
interpolation otherwise).
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec

from recorder.audio import (
    PCM_BLOCK_BYTES,
    AudioFormat,
    PcmBlocks,
    Stretch,
    WavWriter,
    copy_frames,
    pcm16_samples,
    place_utterances,
    resample,
    resampled_note,
    write_timeline,
)
from recorder.conversation import ConversationFold, InputRun
from recorder.conversation_model import Conversation, Item
from recorder.errors import OutputNotWritable, RtrecError
from recorder.events import Event, UnknownEvent
from recorder.output_dir import check_output_dir, staged_output
from recorder.protocol import audio_fields, b64
from recorder.store import EventLog, SessionInfo, open_log
from recorder.stream import AudioChunk, Step, log_steps
from recorder.timeline import TimelinePlan, plan_timeline, turns
from recorder.transcripts import Entry, write_files
from recorder.wire import Direction

Progress = Callable[[int, int], None]  # (frames done, frames in total), once per batch
Warn = Callable[[str], None]

OUTPUT_AUDIO_TYPES = audio_fields.OUTPUT_AUDIO_TYPES
AUDIO_TYPES = audio_fields.AUDIO_TYPES
BASE64_REASON = "corrupt base64 audio"
USER, ASSISTANT = 0, 1  # conversation.wav channels
CLIENT_AUDIO_FILE = ".client-items.rtrec-tmp.wav"  # removed when the export ends
WARNINGS_PER_KIND = 5  # individual corrupt-frame warnings before only the count is reported
PROGRESS_EVERY = 2000  # frames between progress reports
PENDING_INPUT_BYTES = PCM_BLOCK_BYTES  # gathered before it is written to user.wav, assistant.wav


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
    notes: list[str] = field(default_factory=list)  # what the export chose not to write, and why


# --- pass 1: replay, writing what can be written as it streams ----------------------------


@dataclass
class CorruptFrame:
    seq: int
    type: str | None
    reason: str = BASE64_REASON


class AudioSink:
    """Decodes each audio chunk once and appends it to user.wav or assistant.wav.

    Files open at the first audio, when the session has said what its formats are. For step 2
    it remembers where the user's stream landed on the timeline (runs of user.wav frames) and
    where each assistant part's audio sits in assistant.wav.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.input_end_ms = 0.0  # where on the timeline the input audio written so far ends
        self.corrupt: list[CorruptFrame] = []
        self.user: WavWriter | None = None
        self.assistant: WavWriter | None = None
        self.conversation: WavWriter | None = None  # composed in step 2
        self.input_format: AudioFormat | None = None
        self.output_rate = 0
        self.rate = 0  # conversation.wav: the higher of the two rates
        # [first frame in user.wav, first frame on the timeline (at self.rate), frame count]
        self.user_runs: list[list[int]] = []
        # (item_id, content_index) -> [(first frame in assistant.wav, frame count), ...]
        self.segments: dict[tuple[str, int], list[tuple[int, int]]] = {}
        # Audio the client sent inside conversation.item.create: not part of the input stream
        # (user.wav), so it waits in a side file until step 2 places it.
        self.client_audio: WavWriter | None = None
        # (item_id, content_index) -> (recorded ms, first frame in the side file, frame count)
        self.client_parts: dict[tuple[str, int], tuple[float, int, int]] = {}
        # The input stream comes in ~200k small chunks an hour: those that go to user.wav as
        # they are (pcm16 at its rate) are gathered and written in large blocks.
        self._pending = PcmBlocks(PENDING_INPUT_BYTES)
        self._input_format: AudioFormat | None = None  # the format the next three are for
        self._input_as_is = False
        self._input_bytes_per_s = 1
        # ... and so are the response audio chunks bound for assistant.wav (~17k an hour)
        self._output_pending = PcmBlocks(PENDING_INPUT_BYTES)

    @property
    def started(self) -> bool:
        return self.user is not None

    def _open(self, conversation: Conversation) -> None:
        input_format, output_format = conversation.input_format, conversation.output_format
        self.input_format = input_format
        self.output_rate = output_format.sample_rate
        self.rate = max(input_format.sample_rate, output_format.sample_rate)
        self.user = WavWriter(self.out_dir / "user.wav", input_format.sample_rate)
        self.assistant = WavWriter(self.out_dir / "assistant.wav", self.output_rate)

    def input(self, conversation: Conversation, start_ms: float, audio: bytes) -> None:
        """A chunk of the input stream, which the conversation placed at start_ms."""
        size = len(audio)
        if (  # the bulk of a session: pcm16 at user.wav's rate, right after the last chunk
            start_ms == self.input_end_ms and self._input_as_is and not size & 1
            and conversation.input_format is self._input_format and self.user_runs
        ):
            self.user_runs[-1][2] += size >> 1
            self.input_end_ms = start_ms + size * 1000 / self._input_bytes_per_s
            self._pending.add(audio, self.user)
            return
        self._input(conversation, start_ms, audio)

    def inputs(self, conversation: Conversation, run: InputRun) -> None:
        """input() for each chunk of a run the fold placed, in order (nothing else happened in
        between): the bulk of a session, one stretch of pcm16 at user.wav's rate, gathered
        at once."""
        if (
            run.contiguous and run.starts[0] == self.input_end_ms and self._input_as_is
            and conversation.input_format is self._input_format and self.user_runs
            and run.bytes_per_s == self._input_bytes_per_s
            and not any(map((1).__and__, run.sizes))  # every chunk whole samples
        ):
            size = sum(run.sizes)
            self.user_runs[-1][2] += size >> 1
            self.input_end_ms = run.end_ms
            self._pending.extend(run.audio, size, self.user)
            return
        for start_ms, audio in zip(run.starts, run.audio, strict=True):
            self.input(conversation, start_ms, audio)

    def _input(self, conversation: Conversation, start_ms: float, audio: bytes) -> None:
        """input(), any chunk."""
        if self.user is None:
            self._open(conversation)
        user = self.user
        assert user is not None
        fmt = conversation.input_format  # the format in force when this chunk was sent
        if fmt is not self._input_format:
            self._input_format = fmt
            self._input_as_is = not fmt.is_g711 and fmt.sample_rate == user.sample_rate
            self._input_bytes_per_s = fmt.sample_rate * fmt.sample_width
        size = len(audio)
        first = user.frames + self._pending.size // 2
        if self._input_as_is and not size % 2:  # the bulk of a session
            count = size // 2
            self._pending.add(audio, user)
        else:
            self._pending.write(user)
            if fmt.sample_rate == user.sample_rate:
                user.append_pcm(fmt.to_pcm16(audio))
            else:  # the session changed formats midway: user.wav keeps the rate it started with
                user.append(resample(pcm16_samples(fmt.to_pcm16(audio)), fmt.sample_rate,
                                     user.sample_rate))
            count = user.frames - first
        contiguous = self.input_end_ms
        # as fmt.duration_ms(size), without the call
        self.input_end_ms = start_ms + size * 1000 / self._input_bytes_per_s
        runs = self.user_runs
        if runs and start_ms == contiguous:
            runs[-1][2] += count
        else:
            runs.append([first, round(start_ms * self.rate / 1000), count])

    def flush(self) -> None:
        """Write the audio chunks still gathered (user.wav and assistant.wav are complete after
        this)."""
        self._pending.write(self.user)
        self._output_pending.write(self.assistant)

    def client_item(self, conversation: Conversation, key: tuple[str, int], t_ns: int,
                    audio: bytes) -> None:
        """Audio of an input_audio part the client created, in the session's input format."""
        if self.user is None:
            self._open(conversation)
        assert self.user is not None
        if self.client_audio is None:
            self.client_audio = WavWriter(self.out_dir / CLIENT_AUDIO_FILE, self.user.sample_rate)
        side = self.client_audio
        fmt = conversation.input_format
        first = side.frames
        side.append(resample(pcm16_samples(fmt.to_pcm16(audio)), fmt.sample_rate,
                             side.sample_rate))
        self.client_parts[key] = (t_ns / 1e6, first, side.frames - first)

    def output(self, conversation: Conversation, key: tuple[str, int], fmt: AudioFormat,
               audio: bytes) -> None:
        """A chunk of a response's audio for one part (key), in fmt: appended to assistant.wav
        (the bulk, PCM at its rate, gathered and written in large blocks)."""
        if self.assistant is None:
            self._open(conversation)
        assistant = self.assistant
        assert assistant is not None
        if fmt.sample_rate == self.output_rate:
            pcm = fmt.to_pcm16(audio)  # whole samples
            first = assistant.frames + self._output_pending.size // 2
            count = len(pcm) // 2
            self._output_pending.add(pcm, assistant)
        else:
            self._output_pending.write(assistant)
            first = assistant.frames
            samples = pcm16_samples(fmt.to_pcm16(audio))
            assistant.append(resample(samples, fmt.sample_rate, self.output_rate))
            count = assistant.frames - first
        spans = self.segments.setdefault(key, [])
        if spans and spans[-1][0] + spans[-1][1] == first:
            spans[-1] = (spans[-1][0], spans[-1][1] + count)  # one run while contiguous
        else:
            spans.append((first, count))

    def writers(self) -> list[WavWriter]:
        files = (self.user, self.assistant, self.conversation, self.client_audio)
        return [w for w in files if w is not None]

    def client_spans(self) -> dict[tuple[str, int], tuple[float, float]]:
        """Where each client-created audio part goes on the timeline (ms): at its recorded
        time, or after the previous one if that is still playing (each utterance whole)."""
        rate = self.user.sample_rate if self.user is not None else 1
        parts = sorted(self.client_parts.items(), key=lambda entry: entry[1][0])
        durations = [count * 1000 / rate for _, (_, _, count) in parts]
        starts = place_utterances(
            [(t_ms, d) for (_, (t_ms, _, _)), d in zip(parts, durations, strict=True)]
        )
        return {
            key: (start, start + d)
            for (key, _), start, d in zip(parts, starts, durations, strict=True)
        }


class _ExportPass:
    """Pass 1: the conversation fold, and beside it the audio of each step to the sink.

    Audio chunks come as bytes (recorder.stream); audio the log kept as text (non-canonical
    or broken base64) is decoded here, strictly, and counted as corrupt if it does not decode.
    """

    def __init__(self, sink: AudioSink, progress: Progress | None, total: int) -> None:
        self.sink = sink
        self.fold = ConversationFold(on_client_item=self._client_audio)
        self.conversation = self.fold.conversation
        self._progress = progress
        self._total = total
        self._next_report = PROGRESS_EVERY if progress is not None else 1 << 62
        self._step: Step | None = None  # the step being applied (an error names it)

    def _report(self, seq: int) -> None:
        """Progress by the frame's seq, from the audio steps: they are most of a session, and
        no per-event counting slows the pass down."""
        if self._progress is not None:
            self._progress(min(seq, self._total), self._total)
        self._next_report = seq + PROGRESS_EVERY

    def apply_batch(self, steps: list[Step]) -> None:
        """apply() each step, the input stream's chunks (the bulk of a session) through the
        fold's inline path and to the sink in runs, nothing decoded. An exception but an
        RtrecError or an OSError comes as _StepFailed, naming the step."""
        if not steps:
            return
        self._step = None
        try:
            self.fold.apply_batch(steps, self._inputs, self.apply)
        except (RtrecError, OSError, _StepFailed):
            raise
        except Exception as error:
            raise _StepFailed(self._step or steps[0], error) from error
        seq = steps[-1].seq
        if seq >= self._next_report:
            self._report(seq)

    def _inputs(self, run: InputRun) -> None:
        self._step = run.last
        self.sink.inputs(self.conversation, run)

    def apply(self, step: Step) -> None:
        """Fold a step that is not an input chunk as bytes (apply_batch folds those), and
        write its audio."""
        self._step = step
        event = self.fold.apply(step)
        audio = step.audio
        if audio is not None:  # an AudioChunk (the fold returns its outline): the bulk
            if step.seq >= self._next_report:
                self._report(step.seq)
            if step.type == "input_audio_buffer.append":
                if audio:
                    self.sink.input(self.conversation, self.fold.input_chunk_ms, audio)
            elif type(event) is AudioChunk:  # a response's audio the client sent: not written
                pass
            elif isinstance(event, UnknownEvent) or (isinstance(event, Event) and event.untyped):
                # the outline did not decode, or its own fields hold raw values
                self._count_if_audio(event, step.seq)
            else:  # a server delta: its outline names the part
                self._output(getattr(event, "item_id", None),
                             getattr(event, "content_index", None), audio)
            return
        if isinstance(event, UnknownEvent) or (isinstance(event, Event) and event.untyped):
            self._count_if_audio(event, step.seq)
            return
        kind = event.type
        if kind == "input_audio_buffer.append":
            self._text_audio(step.seq, kind, getattr(event, "audio", None), None, None)
        elif kind in OUTPUT_AUDIO_TYPES and step.direction is Direction.SERVER:
            self._text_audio(step.seq, "response audio delta", getattr(event, "delta", None),
                             getattr(event, "item_id", None), getattr(event, "content_index", 0))

    def _text_audio(self, seq: int, what: str, text: str | None, item_id: str | None,
                    content_index: int | None) -> None:
        """Audio as base64 text (the log kept it whole): input if item_id is None."""
        if seq >= self._next_report:
            self._report(seq)
        audio = b64.decode(text or "")
        if audio is None:
            self.sink.corrupt.append(CorruptFrame(seq, what))
            return
        if what == "input_audio_buffer.append":
            if audio:
                self.sink.input(self.conversation, self.fold.input_chunk_ms, audio)
        else:
            self._output(item_id, content_index, audio)

    def _output(self, item_id: str | None, content_index: int | None, audio: bytes) -> None:
        if audio and item_id:
            item = self.conversation.items[item_id]
            self.sink.output(self.conversation, (item_id, content_index or 0), item.format, audio)

    def _client_audio(self, item_id: str, item: Any, seq: int, t_ns: int) -> None:
        """Audio inside an item the client created (its id given, or named by the echo)."""
        for index, part in enumerate(getattr(item, "content", None) or []):
            text = getattr(part, "audio", None)
            if not text:
                continue
            audio = b64.decode(text)
            if audio is None:
                self.sink.corrupt.append(CorruptFrame(seq, "conversation.item.create"))
                continue
            self.sink.client_item(self.conversation, (item_id, index), t_ns, audio)

    def _count_if_audio(self, event: UnknownEvent | Event, seq: int) -> None:
        """An audio event that did not decode (broken JSON around its audio), or decoded with
        raw values in its own fields (event.untyped), is corrupt.

        decode reads the type of a frame that is not JSON from its "type" key, so an audio
        event cut short still names itself.
        """
        if event.type in AUDIO_TYPES:
            reason = event.reason if isinstance(event, UnknownEvent) else _odd_note(event)
            self.sink.corrupt.append(CorruptFrame(seq, event.type, reason))


def _odd_note(event: Event) -> str:
    return f"fields of unexpected shape: {event.odd.note}" if event.odd is not None else ""


# --- step 2: the timeline plan, and copying the assistant's heard audio -----------------------


def user_stretches(sink: AudioSink) -> list[Stretch]:
    """The input stream by runs, and the audio of client-created items at their places."""
    assert sink.user is not None
    placed = [Stretch(at, sink.user, first, count) for first, at, count in sink.user_runs]
    if sink.client_audio is not None:
        for key, (start_ms, _) in sink.client_spans().items():
            _, first, count = sink.client_parts[key]
            at = round(start_ms * sink.rate / 1000)
            placed.append(Stretch(at, sink.client_audio, first, count))
    placed.sort(key=lambda stretch: stretch.at)
    return placed


def assistant_stretches(sink: AudioSink, plan: TimelinePlan) -> list[Stretch]:
    """The heard part of each planned assistant utterance, where it goes on the timeline."""
    assert sink.assistant is not None
    source, target = sink.assistant, sink.rate
    placed = []
    for key, part in plan.parts.items():
        remaining = round(part.heard_ms * source.sample_rate / 1000)
        at = round(part.start_ms * target / 1000)
        for first, count in sink.segments.get(key, []):
            count = min(count, remaining)
            if count <= 0:
                break
            stretch = Stretch(at, source, first, count)
            placed.append(stretch)
            at += stretch.length(target)
            remaining -= count
    placed.sort(key=lambda stretch: stretch.at)
    return placed


def compose_conversation(sink: AudioSink, plan: TimelinePlan, out_dir: Path) -> WavWriter:
    """conversation.wav in one sequential sweep: user left, assistant right."""
    target = sink.rate
    channels = (user_stretches(sink), assistant_stretches(sink, plan))
    client_end = max((end for _, end in sink.client_spans().values()), default=0.0)
    end_ms = max(plan.end_ms, sink.input_end_ms, client_end)
    # round up: the file covers every utterance's end, even a fraction of a sample
    total = math.ceil(end_ms * target / 1000)
    stereo = write_timeline(out_dir / "conversation.wav", target, channels, total)
    sink.conversation = stereo
    return stereo


def copy_heard_audio(sink: AudioSink, plan: TimelinePlan, out_dir: Path) -> WavWriter:
    """assistant-heard.wav: each utterance as far as it was heard, from assistant.wav."""
    assert sink.assistant is not None
    source = sink.assistant
    rate = source.sample_rate
    heard = WavWriter(out_dir / "assistant-heard.wav", rate)
    for key, part in plan.parts.items():
        limit = round(part.heard_ms * rate / 1000)
        copy_frames(source, sink.segments.get(key, []), limit, lambda _, b: heard.append(b))
    return heard


def item_file_name(number: int, item: Item, index: int) -> str:
    """items/<name> of one audio part: conversation position, speaker, item id, part index."""
    speaker = _safe(item.role or item.type or "item")
    return f"{number:03d}-{speaker}-{_safe(item.id)}-part{index}.wav"


ITEM_FILE = re.compile(r"\d{3,}-[\w-]+-part\d+\.wav")  # what item_file_name makes


def remove_item_files(out_dir: Path) -> None:
    """Remove the items/ files an earlier export wrote into out_dir (by their names only), so
    a new export never leaves another session's parts among its own."""
    folder = out_dir / "items"
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if ITEM_FILE.fullmatch(path.name) and path.is_file():
            path.unlink()
    with contextlib.suppress(OSError):  # not empty: files of the user's own stay
        folder.rmdir()


def copy_item_files(sink: AudioSink, conversation: Conversation, out_dir: Path) -> list[WavWriter]:
    """One WAV per audio content part: user turns from user.wav, assistant parts as generated."""
    folder = out_dir / "items"
    folder.mkdir(exist_ok=True)
    written = []
    ordered = conversation.ordered_items() + conversation.unplaced_items()
    for number, item in enumerate(ordered, start=1):
        for index, source, spans in _item_audio(sink, item):
            path = folder / item_file_name(number, item, index)
            with WavWriter(path, source.sample_rate) as writer:
                copy_frames(source, spans, 1 << 62, lambda _, block: writer.append(block))
            written.append(writer)
    return written


def _item_audio(sink: AudioSink, item: Item) -> list[tuple[int, WavWriter, list[tuple[int, int]]]]:
    """(content index, source file, spans of frames in it) for each audio part of item."""
    if item.role == "user":
        turn, user = item.turn, sink.user
        if turn is None or turn.audio_start_ms is None or user is None:
            side = sink.client_audio
            if side is None:
                return []
            return [
                (index, side, [(first, count)])
                for (item_id, index), (_, first, count) in sink.client_parts.items()
                if item_id == item.id
            ]
        rate = user.sample_rate
        first = round(turn.audio_start_ms * rate / 1000)
        end = user.frames if turn.audio_end_ms is None else round(turn.audio_end_ms * rate / 1000)
        return [(0, user, [(first, end - first)])] if end > first else []
    if sink.assistant is None:
        return []
    return [
        (part.index, sink.assistant, sink.segments[(item.id, part.index)])
        for part in item.content
        if (item.id, part.index) in sink.segments
    ]


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:64]


# --- transcripts ------------------------------------------------------------------------------


def _error_lines(conversation: Conversation) -> list[str]:
    lines = []
    for error in conversation.errors:
        if isinstance(error, dict):
            fields = [str(error[key]) for key in ("type", "code", "message") if error.get(key)]
            lines.append(": ".join(fields) or str(error))
        else:
            lines.append(str(error))
    return lines


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
    return write_files(out_dir, entries, info.id, _session_facts(info, conversation),
                       _error_lines(conversation))


# --- the whole export -------------------------------------------------------------------------


P = ParamSpec("P")
ExportSession = Callable[Concatenate[EventLog, SessionInfo, Path, P], Awaitable[ExportReport]]


def _all_or_nothing(export: ExportSession[P]) -> ExportSession[P]:
    """The export written into a hidden folder inside out_dir, its files moved into place
    when all are complete: a failed export leaves out_dir as it was (see recorder.output_dir)."""

    @functools.wraps(export)
    async def staged(
        log: EventLog, info: SessionInfo, out_dir: Path, /, *args: P.args, **kwargs: P.kwargs
    ) -> ExportReport:
        check_output_dir(out_dir)
        try:
            with staged_output(out_dir) as stage:
                report = await export(log, info, stage, *args, **kwargs)
                remove_item_files(out_dir)  # the rest is replaced; these are named by item
        except OSError as error:
            raise _write_error(error) from error
        report.out_dir = out_dir
        report.files = [out_dir / path.relative_to(stage) for path in report.files]
        return report

    return staged


@_all_or_nothing
async def export_session(
    log: EventLog,
    info: SessionInfo,
    out_dir: Path,
    *,
    per_item: bool = False,
    progress: Progress | None = None,
    warn: Warn | None = None,
    batch_size: int = 1000,  # frames per log read: 1000 is as fast as 5000, ~25 MB less peak
) -> ExportReport:
    """Write the WAV files and transcripts of one session into out_dir (see module doc), all
    or nothing (see _all_or_nothing)."""
    check_output_dir(out_dir)
    _write(lambda: remove_item_files(out_dir))  # the rest is overwritten; these are by item
    report = ExportReport(info.id, out_dir)
    from recorder.recording import is_live

    if is_live(info):  # a Live session: its own steps, fold and tracks
        from recorder.live.export import export_live

        try:
            return await export_live(log, info, out_dir, report, progress, warn, batch_size)
        except OSError as error:
            raise _write_error(error) from error
    sink = AudioSink(out_dir)
    builder = _ExportPass(sink, progress, info.frames)
    try:
        await _read_session(log, info, builder, batch_size)
        sink.flush()
        conversation = builder.conversation
        plan = plan_timeline(conversation)
        if sink.started:
            _write(lambda: _finish_audio(sink, plan, conversation, out_dir, per_item, report))
    except OSError as error:
        raise _write_error(error) from error
    finally:
        for writer in sink.writers():
            with contextlib.suppress(OSError):  # already failing: the first error is the news
                writer.close()
        with contextlib.suppress(OSError):
            (out_dir / CLIENT_AUDIO_FILE).unlink(missing_ok=True)
    if progress is not None:
        progress(info.frames, info.frames)

    _report_corrupt(sink.corrupt, info.id, report, warn)
    for line in builder.fold.warnings:
        report.warnings.append(f"session {info.id} {line}")
        if warn is not None:
            warn(report.warnings[-1])
    if not report.had_audio:
        report.warnings.append(f"session {info.id} has no audio: wrote the transcripts only")
    entries = turns(conversation, plan, sink.client_spans())
    report.files += _write(lambda: write_transcripts(out_dir, info, conversation, entries))
    return report


def _finish_audio(sink: AudioSink, plan: TimelinePlan, conversation: Conversation,
                  out_dir: Path, per_item: bool, report: ExportReport) -> None:
    assert sink.user is not None and sink.assistant is not None
    stereo = compose_conversation(sink, plan, out_dir)
    heard = copy_heard_audio(sink, plan, out_dir)
    items = copy_item_files(sink, conversation, out_dir) if per_item else []
    heard.close()
    writers = [sink.user, sink.assistant, heard, stereo, *items]
    for writer in writers:
        writer.close()
        name = str(writer.path.relative_to(out_dir))
        report.files.append(writer.path)
        report.durations_ms[name] = writer.duration_ms
    report.had_audio = True
    report.sample_rate = stereo.sample_rate
    report.resampled = _resampled(sink)


async def _read_session(log: EventLog, info: SessionInfo, builder: _ExportPass,
                        batch_size: int) -> None:
    """Pass 1 over every step of the session; a failure of it names the frame."""
    async for batch in log_steps(log, info, batch_size=batch_size):
        try:
            builder.apply_batch(batch)
        except _StepFailed as failed:
            step, error = failed.step, failed.cause
            kind = step.type or getattr(step.event, "type", None)
            raise _builder_error(info.id, step.seq, kind, error) from error


class _StepFailed(Exception):
    """An exception from applying one step (not an RtrecError or OSError: those pass as
    they are), with the step: _read_session names the frame."""

    def __init__(self, step: Step, cause: Exception) -> None:
        super().__init__(step, cause)
        self.step = step
        self.cause = cause


def _builder_error(session_id: str, seq: int, event_type: str | None,
                   cause: Exception) -> RtrecError:
    """An exception from export's own pass over the session, as one line saying where."""
    what = " ".join(f"{type(cause).__name__}: {cause}".split())[:200]
    return RtrecError(
        f"cannot export session {session_id}: seq {seq} ({event_type}) stopped the export "
        f"with {what}; this is an rtrec bug, please report it with that frame (rtrec events "
        f"DB --session {session_id} shows it)"
    )


def _write(action: Callable[[], Any]) -> Any:
    """Run a file-writing step; a full disk or a lost directory becomes one clear line."""
    try:
        return action()
    except OSError as error:
        raise _write_error(error) from error


def _write_error(error: OSError) -> OutputNotWritable:
    where = error.filename or "the output directory"
    return OutputNotWritable(
        f"cannot write {where}: {error.strerror or error}; "
        "free some space or choose another --out"
    )


def _report_corrupt(
    frames: list[CorruptFrame], session_id: str, report: ExportReport, warn: Warn | None
) -> None:
    report.corrupt_frames = len(frames)
    lines = [
        f"skipped frame seq {f.seq} ({f.type}) of session {session_id}: {f.reason}"
        for f in frames[:WARNINGS_PER_KIND]
    ]
    if frames:
        what = (
            BASE64_REASON if all(f.reason == BASE64_REASON for f in frames) else "corrupt audio"
        )
        lines.append(f"skipped {len(frames)} frame(s) with {what}; the rest was exported")
    report.warnings += lines
    if warn is not None:
        for line in lines:
            warn(line)


def _resampled(sink: AudioSink) -> str | None:
    assert sink.input_format is not None
    sides = [("user", sink.input_format.sample_rate), ("assistant", sink.output_rate)]
    return resampled_note(sides, sink.rate)


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
    log = await open_log(db, create=False)  # a mistyped path is an error, not a new log
    try:
        info = await log.get_session(session)  # None: the newest
        return await export_session(
            log, info, out_dir, per_item=per_item, progress=progress, warn=warn
        )
    finally:
        await log.close()


__all__ = [
    "AudioSink",
    "ExportReport",
    "check_output_dir",
    "export_db",
    "export_session",
    "plan_timeline",
]
