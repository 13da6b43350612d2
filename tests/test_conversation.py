"""Conversation reconstruction: the rules of CATALOG.md §2 on GA and beta sessions built here.

The sessions are small hand-made event sequences (see ga_session / beta_session), folded by
ConversationFold from their steps (recorder.stream.frame_steps, the real decoder), without a
database or a receiver: the fold is a pure core.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from recorder.audio import G711_ALAW_8K, G711_ULAW_8K, PCM16_24K
from recorder.conversation import base64_size, fold_steps
from recorder.conversation_model import Conversation
from recorder.render import render_text
from recorder.stream import frame_steps
from recorder.testing import client_frame, server_frame
from recorder.wire import Direction, Frame


def b64(n: int) -> str:
    return base64.b64encode(bytes(n)).decode()


def fold(frames: list[Frame]) -> Conversation:
    return fold_steps(frame_steps(frames)).conversation


class Session:
    """Builds a session frame by frame, 10 ms apart; S/C add server/client events."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.t_ms = 0.0
        self.n = 0

    def S(self, type_: str, **fields: Any) -> None:
        self.t_ms += 10
        self.n += 1
        self.frames.append(server_frame(self.t_ms, {"type": type_, "event_id": f"ev_{self.n}",
                                                    **fields}))

    def C(self, type_: str, **fields: Any) -> None:
        self.t_ms += 10
        self.frames.append(client_frame(self.t_ms, {"type": type_, **fields}))


def assistant(item_id: str, status: str = "in_progress", content: Any = ()) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "assistant", "status": status,
            "content": list(content)}


def user_audio(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}]}


def ga_session() -> list[Frame]:
    """A GA voice session: VAD turns, a barge-in with truncation, tool calls, a deletion."""
    s = Session()
    s.S("session.created", session={
        "type": "realtime", "object": "realtime.session", "id": "sess_1",
        "model": "gpt-realtime",
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                  "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}}})
    s.C("input_audio_buffer.append", audio=b64(48000))  # 1000 ms of pcm16
    s.S("input_audio_buffer.speech_started", item_id="item_u1", audio_start_ms=100)
    s.C("input_audio_buffer.append", audio=b64(48000))
    s.S("input_audio_buffer.speech_stopped", item_id="item_u1", audio_end_ms=1800)
    s.S("input_audio_buffer.committed", item_id="item_u1", previous_item_id=None)
    s.S("conversation.item.added", previous_item_id=None, item=user_audio("item_u1"))
    s.S("conversation.item.done", previous_item_id=None, item=user_audio("item_u1"))
    # response 1: audio, interrupted by the user, then truncated by the client
    s.S("response.created", response={"id": "resp_1", "object": "realtime.response",
                                      "status": "in_progress", "output": [],
                                      "conversation_id": "conv_1"})
    s.S("response.output_item.added", response_id="resp_1", output_index=0,
        item=assistant("item_a1"))
    s.S("conversation.item.added", previous_item_id="item_u1", item=assistant("item_a1"))
    rioc = {"response_id": "resp_1", "item_id": "item_a1", "output_index": 0, "content_index": 0}
    s.S("response.content_part.added", **rioc, part={"type": "audio", "transcript": ""})
    s.S("response.output_audio_transcript.delta", **rioc, delta="Hello there, ")
    s.S("response.output_audio.delta", **rioc, delta=b64(8000))  # 1000 ms of mu-law
    s.S("response.output_audio_transcript.delta", **rioc, delta="how can I help?")
    s.S("response.output_audio.delta", **rioc, delta=b64(8000))
    # the user's transcription arrives long after its item, in the middle of the response
    s.S("conversation.item.input_audio_transcription.completed", item_id="item_u1",
        content_index=0, transcript="Hi",
        usage={"type": "duration", "seconds": 1.7})
    s.S("input_audio_buffer.speech_started", item_id="item_u2", audio_start_ms=2500)
    full = "Hello there, how can I help?"
    s.S("response.output_audio.done", **rioc)
    s.S("response.output_audio_transcript.done", **rioc, transcript=full)
    s.S("response.content_part.done", **rioc, part={"type": "audio", "transcript": full})
    done_item = assistant("item_a1", "incomplete", [{"type": "output_audio", "transcript": full}])
    s.S("response.output_item.done", response_id="resp_1", output_index=0, item=done_item)
    s.S("conversation.item.done", previous_item_id="item_u1", item=done_item)
    s.S("response.done", response={
        "id": "resp_1", "object": "realtime.response", "status": "cancelled",
        "status_details": {"type": "cancelled", "reason": "turn_detected"},
        "output": [done_item], "conversation_id": "conv_1",
        "usage": {"total_tokens": 50, "input_tokens": 20, "output_tokens": 30}})
    s.C("conversation.item.truncate", item_id="item_a1", content_index=0, audio_end_ms=1500)
    s.S("conversation.item.truncated", item_id="item_a1", content_index=0, audio_end_ms=1500)
    # the server resends the item without the transcript it dropped
    s.S("conversation.item.retrieved", item=assistant(
        "item_a1", "incomplete", [{"type": "output_audio", "transcript": None}]))
    # an input transcription delta before its item exists
    s.S("conversation.item.input_audio_transcription.delta", item_id="item_u2",
        content_index=0, delta="What's the")
    s.C("input_audio_buffer.append", audio=b64(96000))
    s.S("input_audio_buffer.speech_stopped", item_id="item_u2", audio_end_ms=3900)
    s.S("input_audio_buffer.committed", item_id="item_u2", previous_item_id="item_a1")
    s.S("conversation.item.added", previous_item_id="item_a1", item=user_audio("item_u2"))
    s.S("conversation.item.input_audio_transcription.completed", item_id="item_u2",
        content_index=0, transcript="What's the weather in Paris?")
    # response 2: a function call, answered by the client
    s.S("response.created", response={"id": "resp_2", "status": "in_progress", "output": []})
    call = {"id": "item_f1", "type": "function_call", "status": "in_progress",
            "call_id": "call_1", "name": "get_weather", "arguments": ""}
    s.S("response.output_item.added", response_id="resp_2", output_index=0, item=call)
    s.S("conversation.item.added", previous_item_id="item_u2", item=call)
    args = {"response_id": "resp_2", "item_id": "item_f1", "output_index": 0,
            "call_id": "call_1"}
    s.S("response.function_call_arguments.delta", **args, delta='{"city":')
    s.S("response.function_call_arguments.delta", **args, delta='"Paris"}')
    s.S("response.function_call_arguments.done", **args, arguments='{"city":"Paris"}',
        name="get_weather")
    s.S("response.done", response={"id": "resp_2", "status": "completed",
                                   "output": [{**call, "status": "completed",
                                               "arguments": '{"city":"Paris"}'}],
                                   "usage": {"total_tokens": 12}})
    answer = {"type": "function_call_output", "call_id": "call_1", "output": '{"temp":21}'}
    s.C("conversation.item.create", item=answer)
    s.S("conversation.item.added", previous_item_id="item_f1", item={"id": "item_o1", **answer})
    s.C("response.create")
    # response 3: two output items (text, then a second call); the text item is deleted later
    s.S("response.created", response={"id": "resp_3", "status": "in_progress", "output": []})
    s.S("response.output_item.added", response_id="resp_3", output_index=0,
        item=assistant("item_a2"))
    s.S("conversation.item.added", previous_item_id="item_o1", item=assistant("item_a2"))
    text = {"response_id": "resp_3", "item_id": "item_a2", "output_index": 0, "content_index": 0}
    s.S("response.content_part.added", **text, part={"type": "text", "text": ""})
    s.S("response.output_text.delta", **text, delta="21 degrees")
    s.S("response.output_text.delta", **text, delta=" in Paris.")
    s.S("response.output_text.done", **text, text="21 degrees in Paris.")
    call2 = {"id": "item_f2", "type": "function_call", "status": "completed",
             "call_id": "call_2", "name": "log_call", "arguments": "{}"}
    s.S("response.output_item.added", response_id="resp_3", output_index=1, item=call2)
    s.S("conversation.item.added", previous_item_id="item_a2", item=call2)
    said = [{"type": "output_text", "text": "21 degrees in Paris."}]
    s.S("response.done", response={"id": "resp_3", "status": "completed",
                                   "output": [assistant("item_a2", "completed", said), call2]})
    # the client inserts items out of arrival order: one first, one after item_u1
    system = {"id": "item_sys", "type": "message", "role": "system",
              "content": [{"type": "input_text", "text": "Be brief."}]}
    s.C("conversation.item.create", previous_item_id="root", item=system)
    s.S("conversation.item.added", previous_item_id=None, item=system)
    note = {"id": "item_x", "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "(typed note)"}]}
    s.C("conversation.item.create", previous_item_id="item_u1", item=note)
    s.S("conversation.item.added", previous_item_id="item_u1", item=note)
    s.C("conversation.item.delete", item_id="item_a2")
    s.S("conversation.item.deleted", item_id="item_a2")
    return s.frames


def beta_session() -> list[Frame]:
    """A beta session in G.711 A-law with manual commits, a clear and a failed transcription."""
    s = Session()
    s.S("session.created", session={"id": "sess_b", "object": "realtime.session",
                                    "model": "gpt-4o-realtime-preview",
                                    "modalities": ["text", "audio"],
                                    "input_audio_format": "g711_alaw",
                                    "output_audio_format": "g711_alaw"})
    s.C("input_audio_buffer.append", audio=b64(8000))  # 1000 ms of A-law
    s.C("input_audio_buffer.commit")
    s.S("input_audio_buffer.committed", item_id="msg_1", previous_item_id=None)
    s.S("conversation.item.created", previous_item_id=None, item={
        "id": "msg_1", "object": "realtime.item", "type": "message", "role": "user",
        "status": "completed", "content": [{"type": "input_audio", "transcript": None}]})
    s.C("input_audio_buffer.append", audio=b64(4000))  # 500 ms, then thrown away
    s.C("input_audio_buffer.clear")
    s.S("input_audio_buffer.cleared")
    s.C("input_audio_buffer.append", audio=b64(8000))
    s.C("input_audio_buffer.commit")
    s.S("input_audio_buffer.committed", item_id="msg_2", previous_item_id="msg_1")
    s.S("conversation.item.created", previous_item_id="msg_1", item={
        "id": "msg_2", "object": "realtime.item", "type": "message", "role": "user",
        "status": "completed", "content": [{"type": "input_audio", "transcript": None}]})
    s.C("response.create")
    s.S("response.created", response={"id": "resp_b1", "object": "realtime.response",
                                      "status": "in_progress", "output": []})
    s.S("response.output_item.added", response_id="resp_b1", output_index=0,
        item={"id": "msg_3", "object": "realtime.item", "type": "message",
              "role": "assistant", "status": "in_progress", "content": []})
    s.S("conversation.item.created", previous_item_id="msg_2",
        item={"id": "msg_3", "object": "realtime.item", "type": "message",
              "role": "assistant", "status": "in_progress", "content": []})
    rioc = {"response_id": "resp_b1", "item_id": "msg_3", "output_index": 0, "content_index": 0}
    s.S("response.content_part.added", **rioc, part={"type": "audio", "transcript": ""})
    s.S("response.audio.delta", **rioc, delta=b64(800))
    s.S("response.audio_transcript.delta", **rioc, delta="Sure")
    s.S("response.audio.delta", **rioc, delta=b64(800))
    s.S("response.audio_transcript.delta", **rioc, delta=".")
    s.S("response.audio.done", **rioc)
    s.S("response.audio_transcript.done", **rioc, transcript="Sure.")
    s.S("conversation.item.input_audio_transcription.failed", item_id="msg_2", content_index=0,
        error={"type": "transcription_error", "code": "audio_unintelligible",
               "message": "Audio was unintelligible."})
    s.S("response.done", response={
        "id": "resp_b1", "object": "realtime.response", "status": "completed",
        "output": [{"id": "msg_3", "object": "realtime.item", "type": "message",
                    "role": "assistant", "status": "completed",
                    "content": [{"type": "audio", "transcript": "Sure."}]}],
        "usage": {"total_tokens": 7}})
    return s.frames


@pytest.fixture(scope="module")
def ga() -> Conversation:
    return fold(ga_session())


@pytest.fixture(scope="module")
def beta() -> Conversation:
    return fold(beta_session())


def test_order_follows_previous_item_id_not_arrival(ga: Conversation) -> None:
    assert ga.order == ["item_sys", "item_u1", "item_x", "item_a1", "item_u2", "item_f1",
                        "item_o1", "item_f2"]


def test_item_sources(ga: Conversation) -> None:
    sources = {item.id: item.source for item in ga.ordered_items()}
    assert sources["item_u1"] == "input_audio"
    assert sources["item_a1"] == "response"
    assert sources["item_o1"] == "client"
    assert sources["item_sys"] == "client"


def test_deleted_item_leaves_the_order_and_is_kept_aside(ga: Conversation) -> None:
    deleted = ga.deleted_items()
    assert [i.id for i in deleted] == ["item_a2"]
    assert deleted[0].text == "21 degrees in Paris."
    assert "item_a2" not in ga.order


def test_formats_come_from_the_session(ga: Conversation, beta: Conversation) -> None:
    assert (ga.input_format, ga.output_format) == (PCM16_24K, G711_ULAW_8K)
    assert (beta.input_format, beta.output_format) == (G711_ALAW_8K, G711_ALAW_8K)
    assert ga.formats_from_session and beta.formats_from_session


def test_default_format_only_when_the_session_says_nothing() -> None:
    s = Session()
    s.S("session.created", session={"id": "sess_0", "model": "m"})
    conversation = fold(s.frames)
    assert conversation.output_format == PCM16_24K
    assert not conversation.formats_from_session


def test_truncation_keeps_generated_and_heard_audio_and_full_transcript(
    ga: Conversation,
) -> None:
    item = ga.items["item_a1"]
    part = item.content[0]
    assert part.type == "output_audio"
    assert part.audio_bytes == 16000  # two deltas of 8000 mu-law bytes
    assert part.heard_bytes == 1500 * 8  # cut at audio_end_ms, 8 bytes/ms for G.711
    assert (item.audio_ms, item.heard_ms) == (2000.0, 1500.0)
    assert part.audio_end_ms == 1500
    assert part.transcript == "Hello there, how can I help?"
    assert part.transcript_truncated
    assert part.first_audio_t_ns is not None and part.last_audio_t_ns is not None
    assert part.first_audio_t_ns < part.last_audio_t_ns


def test_transcripts_arriving_after_or_before_their_item(ga: Conversation) -> None:
    assert ga.items["item_u1"].transcript == "Hi"
    assert ga.items["item_u1"].content[0].transcription_status == "completed"
    assert ga.items["item_u2"].transcript == "What's the weather in Paris?"


def test_transcription_failure_is_kept(beta: Conversation) -> None:
    part = beta.items["msg_2"].content[0]
    assert part.transcription_status == "failed"
    assert part.transcription_error is not None
    assert part.transcription_error["code"] == "audio_unintelligible"
    assert beta.items["msg_2"].transcript is None


def test_responses_status_details_usage_and_outputs(ga: Conversation) -> None:
    r1, r2, r3 = (ga.responses[k] for k in ("resp_1", "resp_2", "resp_3"))
    assert r1.status == "cancelled"
    assert r1.status_details == {"type": "cancelled", "reason": "turn_detected"}
    assert r1.usage is not None and r1.usage["total_tokens"] == 50
    assert r1.output_item_ids == ["item_a1"]
    assert r2.status == "completed"
    assert r3.output_item_ids == ["item_a2", "item_f2"]
    assert ga.items["item_a1"].response_id == "resp_1"


def test_function_call_matched_to_output_by_call_id(ga: Conversation) -> None:
    call = ga.items["item_f1"]
    assert (call.name, call.arguments, call.call_id) == (
        "get_weather", '{"city":"Paris"}', "call_1")
    answer = ga.output_for("call_1")
    assert answer is not None and answer.id == "item_o1"
    entry = next(e for e in ga.to_dict()["items"] if e["id"] == "item_f1")
    assert entry["output"] == '{"temp":21}'
    assert entry["output_item_id"] == "item_o1"


def test_vad_turns_split_the_input_audio(ga: Conversation) -> None:
    first, second = ga.items["item_u1"].turn, ga.items["item_u2"].turn
    assert first is not None and second is not None
    assert (first.audio_start_ms, first.audio_end_ms) == (100, 1800)
    assert (second.audio_start_ms, second.audio_end_ms) == (2500, 3900)
    assert first.speech_started_t_ns is not None and first.committed_t_ns is not None
    assert ga.items["item_u1"].audio_ms == 1700.0
    assert ga.input_audio_bytes == 192000
    assert ga.input_audio_ms == 4000.0


def test_manual_commits_and_clear_split_the_input_audio(beta: Conversation) -> None:
    first, second = beta.items["msg_1"].turn, beta.items["msg_2"].turn
    assert first is not None and second is not None
    assert (first.audio_start_ms, first.audio_end_ms) == (0, 1000)
    # 500 ms appended then cleared: the second turn starts after it
    assert (second.audio_start_ms, second.audio_end_ms) == (1500, 2500)
    assert beta.items["msg_1"].audio_format == G711_ALAW_8K


def test_beta_audio_counts_and_transcript(beta: Conversation) -> None:
    item = beta.items["msg_3"]
    assert item.content[0].type == "audio"
    assert item.audio_bytes == 1600
    assert item.audio_ms == 200.0
    assert item.transcript == "Sure."
    assert beta.order == ["msg_1", "msg_2", "msg_3"]


def test_json_form_has_the_promised_fields(ga: Conversation) -> None:
    data = json.loads(json.dumps(ga.to_dict()))
    required = {"id", "type", "role", "status", "text", "transcript", "audio_ms", "heard_ms",
                "call_id", "name", "arguments", "output"}
    assert [e["id"] for e in data["items"]] == ga.order
    for entry in data["items"]:
        assert required <= entry.keys()
    a1 = next(e for e in data["items"] if e["id"] == "item_a1")
    assert (a1["audio_ms"], a1["heard_ms"], a1["truncated"]) == (2000.0, 1500.0, True)


def test_rendered_text_reads_like_a_conversation(ga: Conversation) -> None:
    text = render_text(ga)
    assert 'user (audio 1.7 s): "Hi"' in text
    assert "interrupted: heard 1.5 s" in text
    assert "<response cancelled: turn_detected>" in text
    assert 'assistant calls get_weather({"city":"Paris"}) [call call_1]' in text
    assert 'get_weather result [call call_1]: {"temp":21}' in text
    assert "Deleted:" in text
    lines = text.splitlines()
    assert lines.index(next(x for x in lines if "system" in x)) < lines.index(
        next(x for x in lines if '"Hi"' in x))


def test_out_of_band_response_items_are_not_in_the_conversation() -> None:
    s = Session()
    s.S("session.created", session={"id": "s", "model": "m"})
    s.S("response.created", response={"id": "resp_oob", "status": "in_progress",
                                      "conversation_id": None, "output": []})
    s.S("response.output_item.added", response_id="resp_oob", output_index=0,
        item=assistant("item_oob"))
    s.S("response.output_text.delta", response_id="resp_oob", item_id="item_oob",
        output_index=0, content_index=0, delta="classified: billing")
    conversation = fold(s.frames)
    assert conversation.order == []
    assert [i.id for i in conversation.unplaced_items()] == ["item_oob"]
    assert conversation.items["item_oob"].text == "classified: billing"


def test_unknown_and_broken_frames_are_counted_not_fatal() -> None:
    s = Session()
    s.S("session.created", session={"id": "s"})
    s.frames.append(Frame(Direction.SERVER, 10**9, s.frames[0].opcode, b"{not json"))
    s.S("brand_new.event", thing=1)
    conversation = fold(s.frames)
    assert conversation.unknown_events == 2


@pytest.mark.parametrize(("text", "size"), [("", 0), (b64(1), 1), (b64(2), 2), (b64(3), 3),
                                            (b64(4800), 4800)])
def test_base64_size_without_decoding(text: str, size: int) -> None:
    assert base64_size(text) == size


# ------------------------------------------------- sessions from recorder.fake.scenarios


def _shape(conversation: Conversation) -> list[tuple[Any, ...]]:
    return [(i.type, i.role, i.transcript, i.text, i.name, i.arguments, i.output)
            for i in conversation.ordered_items()]


def test_ga_and_beta_recordings_of_the_same_story_agree() -> None:
    from recorder.fake.scenarios import build

    ga, beta = fold(build("everything", "ga")), fold(build("everything", "beta"))
    assert _shape(ga)[:5] == _shape(beta)[:5]
    assert [i.type for i in ga.ordered_items()] == [i.type for i in beta.ordered_items()]
    assert len(ga.order) > 15
    assert sorted(r.status or "" for r in ga.responses.values()) == sorted(
        r.status or "" for r in beta.responses.values())


@pytest.mark.parametrize("protocol", ["ga", "beta"])
def test_barge_in_heard_audio_is_what_the_client_truncated(protocol: str) -> None:
    from recorder.fake.scenarios import build

    frames = build("barge_in", protocol)
    truncate = next(json.loads(f.data) for f in frames
                    if b'"conversation.item.truncate"' in f.data)
    item = fold(frames).items[truncate["item_id"]]
    assert item.heard_ms == truncate["audio_end_ms"]
    assert item.audio_ms > item.heard_ms
    assert item.content[0].transcript_truncated and item.transcript


@pytest.mark.parametrize("protocol", ["ga", "beta"])
def test_g711_durations_use_8_bytes_per_ms(protocol: str) -> None:
    from recorder.fake.scenarios import build

    pcm, ulaw = fold(build("voice_turns", protocol)), fold(build("g711", protocol))
    assert ulaw.output_format == G711_ULAW_8K and pcm.output_format == PCM16_24K
    pairs = list(zip(pcm.ordered_items(), ulaw.ordered_items(), strict=True))
    assistants = [(a, b) for a, b in pairs if a.role == "assistant"]
    assert assistants
    for a, b in assistants:
        assert a.audio_ms == b.audio_ms > 0
        assert a.audio_bytes == 6 * b.audio_bytes  # 48 vs 8 bytes per ms


@pytest.mark.parametrize("protocol", ["ga", "beta"])
def test_two_output_items_and_the_call_answered_by_call_id(protocol: str) -> None:
    from recorder.fake.scenarios import build

    conversation = fold(build("two_items", protocol))
    call = next(i for i in conversation.ordered_items() if i.type == "function_call")
    assert call.call_id and call.name == "get_weather"
    response = conversation.responses[call.response_id or ""]
    assert len(response.output_item_ids) == 2 and response.output_item_ids[1] == call.id
    answer = conversation.output_for(call.call_id)
    assert answer is not None and "light rain" in (answer.output or "")
    assert conversation.order.index(answer.id) == conversation.order.index(call.id) + 1


def test_response_item_announced_before_its_output_item_is_still_the_responses() -> None:
    s = Session()
    s.S("session.created", session={"id": "s"})
    s.S("response.created", response={"id": "resp_x", "status": "in_progress", "output": []})
    s.S("conversation.item.added", previous_item_id=None, item=assistant("item_y"))
    s.S("response.output_item.added", response_id="resp_x", output_index=0,
        item=assistant("item_y"))
    conversation = fold(s.frames)
    item = conversation.items["item_y"]
    assert (item.source, item.response_id) == ("response", "resp_x")
    assert conversation.responses["resp_x"].output_item_ids == ["item_y"]


def test_client_created_input_audio_is_counted_from_the_clients_copy() -> None:
    s = Session()
    s.S("session.created", session={"id": "s", "audio": {
        "input": {"format": {"type": "audio/pcma"}}, "output": {"format": {"type": "audio/pcma"}}}})
    item = {"id": "item_c", "type": "message", "role": "user",
            "content": [{"type": "input_audio", "audio": b64(4000)}]}
    s.C("conversation.item.create", item=item)
    echo = {**item, "content": [{"type": "input_audio", "transcript": None}]}
    s.S("conversation.item.added", previous_item_id=None, item=echo)
    conversation = fold(s.frames)
    created = conversation.items["item_c"]
    assert (created.source, created.audio_bytes, created.audio_ms) == ("client", 4000, 500.0)
    assert conversation.order == ["item_c"]


@pytest.mark.parametrize(
    "wire_format",
    [{"type": "audio/opus"}, {"type": "audio/pcm", "rate": -24000},
     {"type": "audio/pcm", "rate": 10**9}],
)
def test_an_unreadable_audio_format_is_a_warning_and_the_default_stands(
    wire_format: dict[str, Any],
) -> None:
    s = Session()
    s.S("session.created", session={"type": "realtime", "id": "sess_1", "audio": {
        "input": {"format": {"type": "audio/pcmu"}}, "output": {"format": wire_format}}})
    s.S("response.created", response={"id": "resp_1", "status": "in_progress", "output": [],
                                      "audio": {"output": {"format": wire_format}}})
    s.S("response.output_text.delta", response_id="resp_1", item_id="item_1", output_index=0,
        content_index=0, delta="Still readable.")
    builder = fold_steps(frame_steps(s.frames))
    conversation = builder.conversation
    assert conversation.output_format == PCM16_24K
    assert conversation.input_format == G711_ULAW_8K  # the readable one is kept
    assert conversation.responses["resp_1"].output_format is None  # the session's stands
    assert conversation.items["item_1"].content[0].text == "Still readable."
    shown = json.dumps(wire_format, separators=(",", ":"))
    assert len(builder.warnings) == 2
    first, second = builder.warnings
    assert first.startswith("seq 1: ") and shown in first
    assert first.endswith("(the session's output format); its audio is taken as pcm16 at 24 kHz")
    assert second.startswith("seq 2: ") and "(the output format of resp_1)" in second


def _added(s: Session, item_id: str, previous: str | None) -> None:
    s.S("conversation.item.added", previous_item_id=previous, item={
        "id": item_id, "type": "message", "role": "user", "status": "completed",
        "content": [{"type": "input_text", "text": item_id}]})


@pytest.mark.parametrize(
    ("arrivals", "order"),
    [
        # C names B before B arrives: C waits at the end, and joins B when it comes
        ([("X", None), ("Y", "X"), ("C", "B"), ("B", "X")], ["X", "B", "C", "Y"]),
        # D follows the waiting C: both move behind B
        ([("X", None), ("Y", "X"), ("C", "B"), ("D", "C"), ("B", "X")],
         ["X", "B", "C", "D", "Y"]),
        # B itself waits for A; when A arrives the whole chain moves
        ([("X", None), ("C", "B"), ("Y", "X"), ("B", "A"), ("A", "X")],
         ["X", "A", "B", "C", "Y"]),
        # ... and before A arrives, B waits at the end with C already behind it
        ([("X", None), ("C", "B"), ("Y", "X"), ("B", "A")], ["X", "Y", "B", "C"]),
        # a predecessor that never arrives (the recording started late): they stay at the end
        ([("C", "B"), ("X", None), ("Y", "X")], ["X", "Y", "C"]),
    ],
)
def test_an_item_placed_before_its_predecessor_moves_behind_it_when_it_arrives(
    arrivals: list[tuple[str, str | None]], order: list[str]
) -> None:
    s = Session()
    for item_id, previous in arrivals:
        _added(s, item_id, previous)
    assert fold(s.frames).order == order


@pytest.mark.parametrize("scenario", ["long", "everything", "barge_in"])
def test_apply_batch_folds_as_applying_each_step_in_order(scenario: str) -> None:
    """apply_batch folds the input chunks inline, in runs, with response deltas applied beside
    them: the result is the fold of each step applied in seq order."""
    from recorder.conversation import ConversationFold, InputRun
    from recorder.fake.scenarios import build, long_session

    frames = list(long_session(2)) if scenario == "long" else build(scenario, "ga", seed=1)
    one_by_one = ConversationFold()
    for step in frame_steps(frames):
        one_by_one.apply(step)
    runs: list[InputRun] = []
    batched = ConversationFold()
    steps = list(frame_steps(frames))
    for start in range(0, len(steps), 700):  # batches that cut runs
        batched.apply_batch(steps[start:start + 700], runs.append)
    assert batched.conversation.to_dict() == one_by_one.conversation.to_dict()
    for name in ("frames", "last_seq", "input_chunk_ms", "warnings", "_t_ns", "_seq"):
        assert getattr(batched, name) == getattr(one_by_one, name), name
    a, b = batched.conversation, one_by_one.conversation
    assert (a.last_t_ns, a.input_audio_bytes) == (b.last_t_ns, b.input_audio_bytes)
    assert a.input_placement.runs == b.input_placement.runs
    # every input chunk with audio reached on_input once, in order, where the fold placed it
    chunks = [(s, audio) for run in runs for s, audio in zip(run.starts, run.audio, strict=True)]
    inputs = [step for step in steps if step.type == "input_audio_buffer.append" and step.audio]
    assert [audio for _, audio in chunks] == [step.audio for step in inputs]
    assert any(len(run.audio) > 1 and run.contiguous for run in runs) or scenario != "long"


def test_what_is_applied_beside_a_run_of_input_cannot_see_the_input_stream() -> None:
    """apply_batch lets a run of input chunks wait past steps of _BESIDE_INPUT types: each has
    a handler of its own (so it moves the last time as the run would), and none of them is one
    that reads the input stream or the session's formats, or may name a client's item."""
    from recorder.conversation import _BESIDE_INPUT, FOLDED

    assert all(FOLDED.get(kind) for kind in _BESIDE_INPUT)
    readers = {"input_audio_buffer.committed", "input_audio_buffer.cleared", "session.created",
               "session.updated", "transcription_session.updated", "conversation.item.added",
               "conversation.item.created", "error"}
    assert not readers & _BESIDE_INPUT
    # the stream of a session: its runs are cut by commits, not by what the server streams
    assert {"conversation.item.input_audio_transcription.delta", "response.created",
            "input_audio_buffer.speech_started", "rate_limits.updated"} <= _BESIDE_INPUT
