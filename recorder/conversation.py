"""Reconstruct the conversation of a session: a fold over its steps (recorder.stream).

ConversationFold takes the steps of a recording one by one (`apply(step)`, or `fold_steps` /
`fold_log` for a whole session) and keeps the result in `fold.conversation`
(recorder.conversation_model.Conversation). It is not a receiver: it dispatches on the event
type itself, to a method that takes the typed event, and reads audio chunks as bytes (no
base64). It follows CATALOG.md §2:

- order is the previous_item_id linked list ("root" or null = first), never arrival order;
- an event that names an item before the item itself arrives (an input transcription that
  beats its item, a delta before conversation.item.added) creates the item's entry early, and
  the item payload fills in the rest when it comes: nothing pending is lost;
- item payloads are authoritative for text, but never erase what deltas built (the server
  drops a truncated part's transcript, and payloads never carry audio except retrieved ones);
- audio is counted, never kept: a chunk's length (or base64 length, for audio the log kept as
  text) gives the size;
- an audio format rtrec cannot read (a new codec, an impossible rate) does not stop the
  reconstruction: the default format (pcm16 at 24 kHz) stands in and `fold.warnings` says so,
  so the text of such a session still replays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from recorder.audio import PCM16_24K, AudioFormat
from recorder.conversation_model import (
    SOURCE_CLIENT,
    SOURCE_INPUT_AUDIO,
    SOURCE_RESPONSE,
    AudioTurn,
    ContentPart,
    Conversation,
    Item,
    Response,
)
from recorder.errors import RtrecError
from recorder.events import CLIENT_TYPES, Event, UnknownEvent
from recorder.ordering import ROOT, Ordering
from recorder.protocol import names
from recorder.protocol.audio_fields import AUDIO_FIELDS, INPUT_AUDIO, OUTPUT_AUDIO_TYPES
from recorder.receiver import SERVER_EVENT_METHODS
from recorder.stream import AudioChunk, Step, StepEvent, log_steps
from recorder.wire import Direction

if TYPE_CHECKING:
    from recorder.store import EventLog, SessionInfo

__all__ = ["ROOT", "ClientItem", "ConversationFold", "UnnamedCreate", "base64_size", "fold_log",
           "fold_steps"]

# An item the client created with its audio (or not): (item id, the create's item payload, seq
# and t_ns of the create). Export writes the audio of such items.
ClientItem = Callable[[str, Any, int, int], None]
_RUN = 1000  # input chunks apply_batch folds at once, at most
# Server types whose folding neither reads nor changes the input stream's state (its format,
# bytes, placement, buffer marks) and always moves the last time (a handler of its own), nor
# does export's for them (a response's audio goes to assistant.wav; none of them names an item
# the client created): apply_batch applies them while a run of input chunks before them waits,
# so a run is not cut by what the server streams meanwhile (the response, the transcription of
# what the user says, speech marks, rate limits). The result is the same as in seq order. Not
# among them: commits and clears (they read the bytes appended), session events (the format),
# item added/created (they may name a client's item), errors, and client events.
_BESIDE_INPUT: frozenset[str] = OUTPUT_AUDIO_TYPES | frozenset([
    *(name for kind in ("audio", "audio_transcript", "text") for end in ("delta", "done")
      for name in names.spellings(kind, end)),
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.failed",
    "conversation.item.input_audio_transcription.segment",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "rate_limits.updated",
    "response.created",
    "response.done",
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "conversation.item.done",
    "conversation.item.truncated",
])


@dataclass(slots=True)
class InputRun:
    """Input chunks apply_batch folded at once (those with audio), for export's sink."""

    starts: list[float]  # where each starts on the timeline (ms)
    audio: list[bytes]
    sizes: list[int]  # len() of each
    bytes_per_s: int  # of the input format they are in
    # each starts where the one before it ended (the first: where the stream's last chunk
    # ended), so they are one stretch of the timeline, as StreamPlacement placed them
    contiguous: bool
    end_ms: float  # where the last one ends
    last: Step  # the run's last step (an error names it)


# What hears of each InputRun (export's pass).
OnInput = Callable[[InputRun], None]



def base64_size(data: str | bytes | None) -> int:
    """Decoded size of base64 text, without decoding it (audio is counted, not held)."""
    if not data:
        return 0
    n = len(data)
    tail = data[-2:]
    pad = 2 if tail in ("==", b"==") else 1 if tail[-1:] in ("=", b"=") else 0
    return n * 3 // 4 - pad


def _plain(value: Any) -> Any:
    """A decoded resource (msgspec Struct, list, dict) as JSON-able builtins."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return msgspec.to_builtins(value)


@dataclass(slots=True)
class UnnamedCreate:
    """A conversation.item.create the client sent without an item id, and where it was sent."""

    payload: Any
    event_id: str | None
    seq: int
    t_ns: int


def _item_shape(payload: Any) -> tuple[Any, ...]:
    """What an item's echo keeps of the client's create: type, role and content types."""
    content = getattr(payload, "content", None) or ()
    return (
        getattr(payload, "type", None) or "message",
        getattr(payload, "role", None),
        tuple(getattr(part, "type", None) for part in content),
    )




class ConversationFold:
    """Folds the steps of a session into `self.conversation`, in seq order.

    `on_client_item(item_id, payload, seq, t_ns)`, if given, hears of every item the client
    created, once its id is known (at once, or when the server's echo names an id-less create).
    """

    def __init__(self, *, on_client_item: ClientItem | None = None) -> None:
        self.conversation = Conversation()
        self.warnings: list[str] = []  # one line each: what was met and what was done instead
        self.input_chunk_ms = 0.0  # where the last input audio chunk starts on the timeline
        self.frames = 0  # steps applied
        self.last_seq: int | None = None
        self.on_client_item = on_client_item
        self._seq = 0  # where the step being applied sits: seq and recorded time
        self._t_ns = 0
        # Input buffer bookkeeping, in bytes of the input stream (client appends).
        self._buffer_start_bytes = 0
        self._input_rate_of: AudioFormat | None = None  # the format _input_bytes_per_s is of
        self._input_bytes_per_s = 1
        self._commit_end_bytes: int | None = None  # buffer end at the client's last commit
        self._turns_by_item: dict[str, AudioTurn] = {}
        # the order by previous_item_id, parking items whose predecessor has not come yet
        self._ordering = Ordering(self.conversation.order)
        # conversation.item.create without an item id, oldest first, with where it was sent:
        # the server names the item when it echoes it (created/added), see _name_client_item.
        self._unnamed_creates: list[UnnamedCreate] = []
        # the part the last audio delta went to: (item id, response id, content index, item,
        # part), see _add_output_audio
        self._audio_part: tuple[str | None, str | None, int | None, Item, ContentPart] | None = None
        # server type -> this fold's method for its typed event (None: not needed here)
        self._handlers: dict[str, Callable[[Any], None] | None] = {
            kind: None if name is None else getattr(self, name) for kind, name in _SERVER.items()
        }

    # -- the fold --------------------------------------------------------------------------------

    def apply(self, step: Step) -> StepEvent:
        """Fold one step. Returns the event folded: the step's event, but for a server audio
        chunk of a response, its outline (the delta without its audio, decoded once here)."""
        if step.audio is not None and step.type == INPUT_AUDIO:
            self.apply_input_audio(step, step.audio)
            return step.event
        self.frames += 1
        self.last_seq = step.seq
        self._t_ns = step.t_ns
        self._seq = step.seq
        event = step.event
        if type(event) is AudioChunk:
            self.conversation.last_t_ns = step.t_ns
            if step.direction is Direction.CLIENT:  # a response's audio the client sent: seen
                return event
            outline = event.outline_event()
            if isinstance(outline, UnknownEvent) or outline.untyped:  # as replaying it whole
                self._unknown(outline)
            else:
                self._add_output_audio(getattr(outline, "response_id", None),
                                       getattr(outline, "item_id", None),
                                       getattr(outline, "content_index", None), len(event.audio))
            return outline
        if isinstance(event, Event) and event.untyped:
            # a known type with raw values where its own fields' types belong: nothing here can
            # rely on it, so it counts as unknown (a client one is not counted, as before)
            handler: Callable[[Any], None] | None = (
                None if step.direction is Direction.CLIENT else self._unknown
            )
        elif step.direction is Direction.CLIENT:
            handler = self._client
        elif type(event) is UnknownEvent:
            handler = self._unknown
        else:
            handler = self._handlers.get(event.type or "", self._unknown)
        if handler is not None:
            self.conversation.last_t_ns = step.t_ns
            handler(event)
        return event

    def apply_batch(
        self,
        steps: Iterable[Step],
        on_input: OnInput | None = None,
        apply: Callable[[Step], object] | None = None,
    ) -> None:
        """apply() each step, with the result of applying them in order. The input stream's
        chunks that came as bytes (the bulk of a session) are folded inline, decoding nothing,
        in runs (steps of _BESIDE_INPUT types between them are applied meanwhile: they cannot
        see the input stream); with on_input, each run with audio is handed over as
        [(timeline start ms, audio), ...] with its last step, before the next other step is
        applied (and at the end): export's sink takes runs in bulk. apply: what applies the
        other steps (export's pass, which calls apply() itself); apply() when None."""
        if apply is None:
            apply = self.apply
        beside, server, input_type, most = _BESIDE_INPUT, Direction.SERVER, INPUT_AUDIO, _RUN
        run: list[Step] = []  # input chunks as bytes, not folded yet (emptied once folded)
        append = run.append
        for step in steps:  # the bulk of a session: a comparison and an append per chunk
            if step.type == input_type and step.audio is not None:
                append(step)
                if len(run) >= most:  # steps from an iterator of any length: memory bounded
                    self._fold_inputs(run, on_input)
                    run.clear()
                continue
            if run and not (step.type in beside and step.direction is server):
                self._fold_inputs(run, on_input)
                run.clear()
            apply(step)
        if run:
            self._fold_inputs(run, on_input)

    def _fold_inputs(self, run: list[Step], on_input: OnInput | None) -> None:
        """Fold consecutive input chunks as bytes, as apply_input_audio does each (nothing else
        happens in between, so the input format holds for all of them)."""
        conversation = self.conversation
        fmt = conversation.input_format
        if fmt is not self._input_rate_of:
            self._input_rate_of = fmt
            self._input_bytes_per_s = fmt.sample_rate * fmt.sample_width
        audio: list[bytes] = [step.audio for step in run]  # type: ignore[misc]  # run: audio steps
        times = [step.t_ns for step in run]
        if not all(audio):  # an empty chunk is counted, not placed
            times = [t_ns for t_ns, chunk in zip(times, audio, strict=True) if chunk]
            audio = [chunk for chunk in audio if chunk]
        if audio:
            sizes = list(map(len, audio))
            per_s = self._input_bytes_per_s
            placement = conversation.input_placement
            stretches = len(placement.runs)
            # as _add_input_audio: recorded ms, and the duration (bytes * 1000 / rate)
            starts = placement.place_sized(times, sizes, per_s)
            conversation.input_audio_bytes += sum(sizes)
            self.input_chunk_ms = starts[-1]
            if on_input is not None:
                on_input(InputRun(starts, audio, sizes, per_s, len(placement.runs) == stretches,
                                  placement.end_ms, run[-1]))
        last = run[-1]
        self.frames += len(run)
        seq, t_ns = last.seq, last.t_ns
        if self.last_seq is None or seq > self.last_seq:  # else a step beside them came later
            self.last_seq = self._seq = seq
            self._t_ns = t_ns
            conversation.last_t_ns = t_ns

    def apply_input_audio(self, step: Step, audio: bytes) -> float:
        """Fold an input_audio_buffer.append step whose audio came as bytes (step.audio: the
        bulk of a session) as apply() does, decoding nothing. Returns where the chunk starts on
        the timeline (ms; input_chunk_ms)."""
        self.frames += 1
        seq, t_ns = step.seq, step.t_ns
        self.last_seq = self._seq = seq
        self._t_ns = t_ns
        self.conversation.last_t_ns = t_ns
        self._add_input_audio(len(audio))
        return self.input_chunk_ms

    # -- helpers -------------------------------------------------------------------------------

    def _item(self, item_id: str) -> Item:
        """The item with this id, created on first mention (payload or not)."""
        item = self.conversation.items.get(item_id)
        if item is None:
            item = Item(item_id, t_ns=self._t_ns)
            self.conversation.items[item_id] = item
        return item

    def _place(self, item: Item, previous_item_id: str | None) -> None:
        """Insert item after previous_item_id in the conversation order (null/root: first)."""
        if self._ordering.place(item.id, previous_item_id):
            item.previous_item_id = previous_item_id
            item.placed = True
            item.deleted = False

    def _merge(self, payload: Any, item_id: str | None = None) -> Item | None:
        """Fold an item payload (created/added/done/retrieved/output) into its Item (the
        payload's own id unless item_id names it)."""
        item_id = item_id or getattr(payload, "id", None)
        if not item_id:
            return None
        item = self._item(item_id)
        for name in ("type", "role", "status", "call_id", "name"):
            value = getattr(payload, name, None)
            if value is not None:
                setattr(item, name, value)
        arguments = getattr(payload, "arguments", None)
        if arguments:
            item.arguments = arguments
        output = getattr(payload, "output", None)
        if output is not None:
            item.output = output if isinstance(output, str) else msgspec.json.encode(
                _plain(output)
            ).decode()
        content = getattr(payload, "content", None)
        if content:
            for index, wire_part in enumerate(content):
                self._merge_part(item, item.part(index), wire_part)
        if item.audio_format is None and item.role == "user" and any(
            p.type == "input_audio" for p in item.content
        ):
            item.audio_format = self.conversation.input_format
        return item

    def _merge_part(
        self, item: Item, part: ContentPart, wire_part: Any, *, from_item: bool = True
    ) -> None:
        wire_type = getattr(wire_part, "type", None)
        # Items say output_audio/output_text (GA) or audio/text (beta); content_part events say
        # audio/text in both: the item's own word wins.
        if wire_type is not None and (from_item or part.type is None):
            part.type = wire_type
        text = getattr(wire_part, "text", None)
        if text:
            part.text = text
        transcript = getattr(wire_part, "transcript", None)
        # After a truncation the server drops its transcript; ours (the full one) stays.
        if transcript and (not part.transcript_truncated or not part.transcript):
            part.transcript = transcript
        audio = getattr(wire_part, "audio", None)
        if audio and part.audio_bytes == 0:  # retrieved items and client-created input audio
            part.audio_bytes = base64_size(audio)
            part.heard_bytes = self._heard(item, part)
        if wire_type in ("input_audio",) and item.audio_format is None:
            item.audio_format = self.conversation.input_format

    def _heard(self, item: Item, part: ContentPart) -> int:
        if part.audio_end_ms is None:
            return part.audio_bytes
        return min(part.audio_bytes, item.format.bytes_for_ms(part.audio_end_ms))

    def _output_format(self, response_id: str | None) -> AudioFormat:
        response = self.conversation.responses.get(response_id) if response_id else None
        if response is not None and response.output_format is not None:
            return response.output_format
        return self.conversation.output_format

    def _response(self, response_id: str) -> Response:
        response = self.conversation.responses.get(response_id)
        if response is None:
            response = Response(response_id, created_t_ns=self._t_ns)
            self.conversation.responses[response_id] = response
        return response

    def _response_item(self, response_id: str | None, item_id: str | None) -> Item | None:
        """The output item a streamed delta belongs to."""
        if not item_id:
            return None
        item = self._item(item_id)
        if item.response_id is None and response_id:
            item.response_id = response_id
            item.source = SOURCE_RESPONSE
        if item.audio_format is None:
            item.audio_format = self._output_format(response_id)
        return item

    def _response_part(
        self, response_id: str | None, item_id: str | None, content_index: int | None
    ) -> ContentPart | None:
        """The content part a streamed text, transcript or audio event belongs to."""
        item = self._response_item(response_id, item_id)
        return None if item is None else item.part(content_index or 0)

    def _turn(self, item_id: str | None) -> AudioTurn:
        key = item_id or ""
        turn = self._turns_by_item.get(key)
        if turn is None:
            turn = AudioTurn(item_id)
            self._turns_by_item[key] = turn
            self.conversation.turns.append(turn)
        return turn

    def _format(self, wire_format: Any, what: str) -> AudioFormat | None:
        """The format a setting names; None, and a warning, if rtrec cannot read it."""
        try:
            return AudioFormat.from_wire(wire_format)
        except RtrecError as error:
            self.warnings.append(
                f"seq {self._seq}: {error} (the {what}); its audio is taken as pcm16 at 24 kHz"
            )
            return None

    def _ms_to_bytes(self, ms: int) -> int:
        return self.conversation.input_format.bytes_for_ms(ms)

    def _bytes_to_ms(self, byte_count: int) -> int:
        return int(self.conversation.input_format.duration_ms(byte_count))

    # -- session -------------------------------------------------------------------------------

    def _session_created(self, e: Any) -> None:
        session = e.session
        conversation = self.conversation
        conversation.session_id = getattr(session, "id", None) or conversation.session_id
        self._session(session)

    def _session_updated(self, e: Any) -> None:
        self._session(e.session)

    def _session(self, session: Any) -> None:
        conversation = self.conversation
        model = getattr(session, "model", None)
        if model:
            conversation.model = model
        audio = getattr(session, "audio", None)
        if audio is not None:  # GA: session.audio.{input,output}.format
            input_format = getattr(getattr(audio, "input", None), "format", None)
            output_format = getattr(getattr(audio, "output", None), "format", None)
        else:  # beta: flat *_audio_format strings
            input_format = getattr(session, "input_audio_format", None)
            output_format = getattr(session, "output_audio_format", None)
        if input_format is not None:
            fmt = self._format(input_format, "session's input format")
            conversation.input_format = fmt or PCM16_24K
            conversation.formats_from_session |= fmt is not None
        if output_format is not None:
            fmt = self._format(output_format, "session's output format")
            conversation.output_format = fmt or PCM16_24K
            conversation.formats_from_session |= fmt is not None

    def _client(self, event: Any) -> None:
        """The client's side: appended input audio, commits and clears of the buffer."""
        kind = event.type
        if kind == INPUT_AUDIO:
            self._add_input_audio(base64_size(getattr(event, AUDIO_FIELDS[INPUT_AUDIO], None)))
        elif kind == "input_audio_buffer.commit":
            self._commit_end_bytes = self.conversation.input_audio_bytes
        elif kind == "input_audio_buffer.clear":
            self._buffer_start_bytes = self.conversation.input_audio_bytes
            self._commit_end_bytes = None
        elif kind == "conversation.item.create":
            # Only the client's copy carries the audio of an input_audio part it creates; the
            # server's echo (created/added) places the item.
            payload = getattr(event, "item", None)
            item_id = getattr(payload, "id", None) if payload is not None else None
            if item_id:
                item = self._merge(payload)
                if item is not None and item.source is None:
                    item.source = SOURCE_CLIENT
                if self.on_client_item is not None:
                    self.on_client_item(item_id, payload, self._seq, self._t_ns)
            elif payload is not None:
                self._unnamed_creates.append(UnnamedCreate(
                    payload, getattr(event, "event_id", None), self._seq, self._t_ns,
                ))

    def _unknown(self, event: Any) -> None:
        self.conversation.unknown_events += 1

    def _error(self, e: Any) -> None:
        error = e.error
        self.conversation.errors.append(_plain(error))
        refused = getattr(error, "event_id", None)  # the client event the error answers
        if refused:
            self._unnamed_creates = [
                c for c in self._unnamed_creates if c.event_id != refused
            ]

    def _name_client_item(self, payload: Any) -> None:
        """Give an id-less client create the id of the server's echo of it.

        The server handles client events in order and echoes each created item with the id
        it chose; an echo of an item not heard of before (not committed input, not a response's
        output) that has the shape of the oldest unnamed create (type, role, content types) is
        taken to be that create.
        """
        item_id = getattr(payload, "id", None)
        if not self._unnamed_creates or not item_id or item_id in self.conversation.items:
            return
        shape = _item_shape(payload)
        for index, create in enumerate(self._unnamed_creates):
            if _item_shape(create.payload) == shape:
                del self._unnamed_creates[index]
                item = self._merge(create.payload, item_id)
                if item is not None:
                    item.source = SOURCE_CLIENT
                    if self.on_client_item is not None:
                        self.on_client_item(item_id, create.payload, create.seq, create.t_ns)
                return

    def _rate_limits(self, e: Any) -> None:
        self.conversation.rate_limits = _plain(e.rate_limits) or []

    # -- items ---------------------------------------------------------------------------------

    def _inserted(self, e: Any) -> None:
        payload = e.item
        self._name_client_item(payload)
        item = self._merge(payload)
        if item is None:
            return
        if item.source is None:
            item.source = SOURCE_CLIENT  # neither a commit nor a response announced it
        self._place(item, e.previous_item_id)

    def _item_done(self, e: Any) -> None:
        merged = self._merge(e.item)
        if merged is not None and not merged.placed and not merged.deleted:
            self._place(merged, e.previous_item_id)

    def _item_retrieved(self, e: Any) -> None:
        self._merge(e.item)  # the server's copy; it never moves the item

    def _item_deleted(self, e: Any) -> None:
        item_id = e.item_id
        if not item_id:
            return
        item = self._item(item_id)
        self._ordering.remove(item_id)
        item.placed = False
        item.deleted = True
        item.deleted_t_ns = self._t_ns

    def _item_truncated(self, e: Any) -> None:
        item_id, audio_end_ms = e.item_id, e.audio_end_ms
        if not item_id or audio_end_ms is None:
            return
        item = self._item(item_id)
        part = item.part(e.content_index or 0)
        part.audio_end_ms = audio_end_ms
        part.heard_bytes = self._heard(item, part)
        part.transcript_truncated = True

    # -- input transcription (may come before or long after its item) ---------------------------

    def _transcription_delta(self, e: Any) -> None:
        if not e.item_id:
            return
        part = self._item(e.item_id).part(e.content_index or 0)
        if part.transcription_status != "completed":
            part.transcription_status = "in_progress"
            if e.delta:
                part.transcript = (part.transcript or "") + e.delta

    def _transcription_completed(self, e: Any) -> None:
        if not e.item_id:
            return
        part = self._item(e.item_id).part(e.content_index or 0)
        part.transcript = e.transcript
        part.transcription_status = "completed"
        part.transcription_error = None

    def _transcription_failed(self, e: Any) -> None:
        if not e.item_id:
            return
        part = self._item(e.item_id).part(e.content_index or 0)
        part.transcription_status = "failed"
        part.transcription_error = _plain(e.error)

    def _transcription_segment(self, e: Any) -> None:
        if not e.item_id:
            return
        part = self._item(e.item_id).part(e.content_index or 0)
        part.segments.append(
            {"id": e.id, "text": e.text, "speaker": e.speaker, "start": e.start, "end": e.end}
        )

    # -- input audio buffer: user turns ----------------------------------------------------------

    def _speech_started(self, e: Any) -> None:
        turn = self._turn(e.item_id)
        turn.audio_start_ms = e.audio_start_ms
        turn.speech_started_t_ns = self._t_ns

    def _speech_stopped(self, e: Any) -> None:
        turn = self._turn(e.item_id)
        turn.audio_end_ms = e.audio_end_ms
        turn.speech_stopped_t_ns = self._t_ns

    def _timeout_triggered(self, e: Any) -> None:
        turn = self._turn(e.item_id)
        turn.audio_start_ms = e.audio_start_ms
        turn.audio_end_ms = e.audio_end_ms
        turn.speech_stopped_t_ns = self._t_ns
        turn.timed_out = True

    def _committed(self, e: Any) -> None:
        item_id = e.item_id
        if not item_id:
            return
        item = self._item(item_id)
        item.source = SOURCE_INPUT_AUDIO
        if item.type is None:  # the item itself follows; this is what a commit always makes
            item.type, item.role = "message", "user"
        if item.audio_format is None:
            item.audio_format = self.conversation.input_format
        if not item.content:
            item.part(0).type = "input_audio"
        self._place(item, e.previous_item_id)

        turn = self._turn(item_id)
        turn.committed_t_ns = self._t_ns
        if turn.audio_start_ms is None:  # manual commit: the buffer since the last commit/clear
            turn.audio_start_ms = self._bytes_to_ms(self._buffer_start_bytes)
        if turn.audio_end_ms is None:
            end = self._commit_end_bytes
            if end is None:
                end = self.conversation.input_audio_bytes
            turn.audio_end_ms = self._bytes_to_ms(end)
        item.turn = turn
        self._buffer_start_bytes = self._ms_to_bytes(turn.audio_end_ms)
        self._commit_end_bytes = None

    def _cleared(self, e: Any) -> None:
        self._buffer_start_bytes = self.conversation.input_audio_bytes
        self._commit_end_bytes = None

    # -- responses -------------------------------------------------------------------------------

    def _response_created(self, e: Any) -> None:
        self._fold_response(e.response)

    def _response_done(self, e: Any) -> None:
        response = e.response
        folded = self._fold_response(response)
        if folded is None:
            return
        folded.done_t_ns = self._t_ns
        for payload in getattr(response, "output", None) or ():
            item = self._merge(payload)
            if item is not None:
                item.response_id = item.response_id or folded.id
                item.source = SOURCE_RESPONSE
                if item.id not in folded.output_item_ids:
                    folded.output_item_ids.append(item.id)

    def _fold_response(self, payload: Any) -> Response | None:
        response_id = getattr(payload, "id", None)
        if not response_id:
            return None
        response = self._response(response_id)
        status = getattr(payload, "status", None)
        if status is not None:
            response.status = status
        details = getattr(payload, "status_details", None)
        if details is not None:
            response.status_details = _plain(details)
        usage = getattr(payload, "usage", None)
        if usage is not None:
            response.usage = _plain(usage)
        conversation_id = getattr(payload, "conversation_id", None)
        if conversation_id is not None:
            response.conversation_id = conversation_id
        metadata = getattr(payload, "metadata", None)
        if metadata is not None:
            response.metadata = _plain(metadata)
        wire_format = getattr(payload, "output_audio_format", None)  # beta
        audio = getattr(payload, "audio", None)  # GA: response.audio.output.format
        if audio is not None:
            wire_format = getattr(getattr(audio, "output", None), "format", None) or wire_format
        if wire_format is not None:  # None if unreadable: the session's output format stands
            response.output_format = self._format(wire_format, f"output format of {response.id}")
        return response

    def _output_item(self, e: Any) -> None:
        item = self._merge(e.item)
        if item is None:
            return
        response_id, output_index = e.response_id, e.output_index
        item.source = SOURCE_RESPONSE  # even if conversation.item.added came first
        if response_id:
            item.response_id = response_id
            ids = self._response(response_id).output_item_ids
            if item.id not in ids:
                if output_index is not None and output_index <= len(ids):
                    ids.insert(output_index, item.id)
                else:
                    ids.append(item.id)
        if item.audio_format is None:
            item.audio_format = self._output_format(response_id)

    def _content_part(self, e: Any) -> None:
        item = self._response_item(e.response_id, e.item_id)
        if item is not None:
            self._merge_part(item, item.part(e.content_index or 0), e.part, from_item=False)

    def _text_delta(self, e: Any) -> None:
        part = self._response_part(e.response_id, e.item_id, e.content_index)
        if part is not None and e.delta:
            part.text = (part.text or "") + e.delta
            _text_delta_at(part, self._t_ns)

    def _text_done(self, e: Any) -> None:
        part = self._response_part(e.response_id, e.item_id, e.content_index)
        if part is not None and e.text is not None:
            part.text = e.text

    def _audio_delta(self, e: Any) -> None:
        """A response's audio the log kept as text (non-canonical base64): measured by it."""
        self._add_output_audio(e.response_id, e.item_id, e.content_index, base64_size(e.delta))

    def _add_input_audio(self, byte_count: int) -> None:
        """byte_count bytes appended to the input stream (input_audio_buffer.append)."""
        conversation = self.conversation
        conversation.input_audio_bytes += byte_count
        if byte_count > 0:  # placed as it was captured: one timeline (recorder.timeline)
            fmt = conversation.input_format  # as fmt.duration_ms(byte_count), without the call
            if fmt is not self._input_rate_of:
                self._input_rate_of = fmt
                self._input_bytes_per_s = fmt.sample_rate * fmt.sample_width
            duration = byte_count * 1000 / self._input_bytes_per_s
            self.input_chunk_ms = conversation.input_placement.place(self._t_ns / 1e6, duration)

    def _add_output_audio(
        self,
        response_id: str | None,
        item_id: str | None,
        content_index: int | None,
        byte_count: int,
    ) -> None:
        """byte_count bytes of a response's audio for one content part (an audio delta)."""
        last = self._audio_part  # a response streams its audio in many deltas of one part
        if (last is not None and last[0] == item_id and last[1] == response_id
                and last[2] == content_index):
            item, part = last[3], last[4]
        else:
            found = self._response_item(response_id, item_id)
            if found is None:
                return
            item, part = found, found.part(content_index or 0)
            # _response_item again would change nothing: an item, its parts, its response id
            # and its audio format, once set, stay
            self._audio_part = (item_id, response_id, content_index, item, part)
        part.audio_bytes += byte_count
        part.heard_bytes = (
            part.audio_bytes if part.audio_end_ms is None else self._heard(item, part)
        )
        t_ns = self._t_ns
        if part.first_audio_t_ns is None:
            part.first_audio_t_ns = t_ns
        part.last_audio_t_ns = t_ns

    def _audio_done(self, e: Any) -> None:
        part = self._response_part(e.response_id, e.item_id, e.content_index)
        if part is not None and part.type is None:
            part.type = "audio"

    def _transcript_delta(self, e: Any) -> None:
        part = self._response_part(e.response_id, e.item_id, e.content_index)
        if part is not None and e.delta:
            part.transcript = (part.transcript or "") + e.delta
            _text_delta_at(part, self._t_ns)

    def _transcript_done(self, e: Any) -> None:
        part = self._response_part(e.response_id, e.item_id, e.content_index)
        if part is not None and e.transcript:
            part.transcript = e.transcript

    def _arguments_delta(self, e: Any) -> None:
        item = self._response_item(e.response_id, e.item_id)
        if item is None:
            return
        item.type = item.type or "function_call"
        item.call_id = item.call_id or e.call_id
        if e.delta:
            item.arguments = (item.arguments or "") + e.delta

    def _arguments_done(self, e: Any) -> None:
        item = self._response_item(e.response_id, e.item_id)
        if item is None:
            return
        item.type = item.type or "function_call"
        item.call_id = item.call_id or e.call_id
        if e.arguments is not None:
            item.arguments = e.arguments
        name = getattr(e, "name", None)
        if name:
            item.name = name


def _text_delta_at(part: ContentPart, t_ns: int | None) -> None:
    """Record when a text or transcript delta of a response part was received."""
    if part.first_text_t_ns is None:
        part.first_text_t_ns = t_ns
    part.last_text_t_ns = t_ns


def _content(kind: str, delta: str, done: str) -> dict[str, str]:
    """A renamed family's events (both spellings) to the fold's delta and done methods."""
    return dict.fromkeys(names.spellings(kind, "delta"), delta) | dict.fromkeys(
        names.spellings(kind, "done"), done
    )


# The server event types the fold reads, each to the method that takes its typed event.
FOLDED: dict[str, str] = {
    "session.created": "_session_created",
    "session.updated": "_session_updated",
    "transcription_session.created": "_session_updated",
    "transcription_session.updated": "_session_updated",
    "conversation.item.created": "_inserted",
    "conversation.item.added": "_inserted",
    "conversation.item.done": "_item_done",
    "conversation.item.retrieved": "_item_retrieved",
    "conversation.item.deleted": "_item_deleted",
    "conversation.item.truncated": "_item_truncated",
    "conversation.item.input_audio_transcription.delta": "_transcription_delta",
    "conversation.item.input_audio_transcription.completed": "_transcription_completed",
    "conversation.item.input_audio_transcription.failed": "_transcription_failed",
    "conversation.item.input_audio_transcription.segment": "_transcription_segment",
    "input_audio_buffer.speech_started": "_speech_started",
    "input_audio_buffer.speech_stopped": "_speech_stopped",
    "input_audio_buffer.timeout_triggered": "_timeout_triggered",
    "input_audio_buffer.committed": "_committed",
    "input_audio_buffer.cleared": "_cleared",
    "response.created": "_response_created",
    "response.done": "_response_done",
    "response.output_item.added": "_output_item",
    "response.output_item.done": "_output_item",
    "response.content_part.added": "_content_part",
    "response.content_part.done": "_content_part",
    "response.function_call_arguments.delta": "_arguments_delta",
    "response.function_call_arguments.done": "_arguments_done",
    "rate_limits.updated": "_rate_limits",
    "error": "_error",
    **_content("text", "_text_delta", "_text_done"),
    **_content("audio", "_audio_delta", "_audio_done"),
    **_content("audio_transcript", "_transcript_delta", "_transcript_done"),
}

# Every server type: its method's name; None for a known event the conversation does not need
# (MCP, output_audio_buffer.*: not even the last time moves); client types sent by the server go
# to the client side. Anything else is an unknown event (the .get default in apply).
_SERVER: dict[str, str | None] = {
    **{kind: None for kind in SERVER_EVENT_METHODS},
    **{kind: "_client" for kind in CLIENT_TYPES},
    **FOLDED,
}


def fold_steps(steps: Iterable[Step]) -> ConversationFold:
    """The fold of steps (e.g. recorder.stream.frame_steps of frames in memory)."""
    fold = ConversationFold()
    fold.apply_batch(steps)
    return fold


async def fold_log(
    log: EventLog, session: SessionInfo, *, until: int | None = None, batch_size: int = 5000
) -> ConversationFold:
    """The fold of a session of the log (up to and including seq `until`)."""
    fold = ConversationFold()
    apply_batch = fold.apply_batch
    async for batch in log_steps(log, session, until=until, batch_size=batch_size):
        apply_batch(batch)
    return fold
