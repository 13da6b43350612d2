"""diff_events: which fields differ, which are volatile; describe_mismatch: the readable message."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recorder.errors import RtrecError
from recorder.matching import (
    DEFAULT_TOLERANCE_MS,
    MEASURED_FIELDS,
    MatchRules,
    client_item_ids,
    describe_mismatch,
    diff_events,
    nearest_frame,
    parse_tolerance,
)

# ../shared beside the checkout (or beside the folder of worktrees holding it)
SHARED = next(
    (found for parent in Path(__file__).resolve().parents[1:4]
     if (found := parent / "shared" / "protocol").exists()),
    Path("/nonexistent/shared/protocol"),
)
EXAMPLES = SHARED / "examples"


def text_item(text: str, *, item_id: str | None = None, event_id: str | None = None) -> dict:
    event: dict = {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }
    if item_id is not None:
        event["item"]["id"] = item_id
    if event_id is not None:
        event["event_id"] = event_id
    return event


def test_identical_events_match() -> None:
    assert diff_events(text_item("hi"), text_item("hi")) == []


def test_a_changed_text_is_named_by_its_dotted_path() -> None:
    assert diff_events(text_item("hi"), text_item("hello")) == ["item.content[0].text"]


def test_bytes_and_dicts_compare_by_value_not_by_spelling() -> None:
    spaced = json.dumps(text_item("hi"), indent=2).encode()
    compact = json.dumps(text_item("hi"), separators=(",", ":"))
    assert diff_events(spaced, compact) == []
    assert diff_events(spaced, text_item("ho")) == ["item.content[0].text"]


def test_event_id_is_ignored_at_any_depth() -> None:
    left = {"type": "response.cancel", "event_id": "evt_1", "x": {"event_id": "a"}}
    right = {"type": "response.cancel", "event_id": "evt_2", "x": {"event_id": "b"}}
    assert diff_events(left, right) == []


def test_client_chosen_item_id_is_ignored_on_create() -> None:
    assert diff_events(text_item("hi", item_id="item_a"), text_item("hi", item_id="item_b")) == []
    assert diff_events(text_item("hi", item_id="item_a"), text_item("hi")) == []


def test_item_id_that_names_a_server_item_is_compared() -> None:
    left = {"type": "conversation.item.truncate", "item_id": "item_1", "audio_end_ms": 10}
    right = {"type": "conversation.item.truncate", "item_id": "item_2", "audio_end_ms": 10}
    assert diff_events(left, right) == ["item_id"]


def test_inline_input_ids_are_volatile_but_item_references_are_not() -> None:
    def create(ref: str, inline: str) -> dict:
        return {
            "type": "response.create",
            "response": {
                "input": [
                    {"type": "item_reference", "id": ref},
                    {"type": "message", "id": inline, "role": "user", "content": []},
                ]
            },
        }

    assert diff_events(create("item_1", "mine_a"), create("item_1", "mine_b")) == []
    assert diff_events(create("item_1", "mine_a"), create("item_9", "mine_a")) == [
        "response.input[0].id"
    ]


def test_absent_and_null_are_equal_but_absent_and_value_are_not() -> None:
    base = {"type": "conversation.item.create", "item": {"type": "message"}}
    with_null = {**base, "previous_item_id": None}
    with_value = {**base, "previous_item_id": "item_1"}
    assert diff_events(base, with_null) == []
    assert diff_events(base, with_value) == ["previous_item_id"]


def test_list_length_differences_name_the_extra_elements() -> None:
    left = {"type": "session.update", "session": {"tools": [{"name": "a"}]}}
    right = {"type": "session.update", "session": {"tools": [{"name": "a"}, {"name": "b"}]}}
    assert diff_events(left, right) == ["session.tools[1]"]


def test_a_boolean_is_not_a_number() -> None:
    assert diff_events({"type": "t", "v": True}, {"type": "t", "v": 1}) == ["v"]
    assert diff_events({"type": "t", "v": 1}, {"type": "t", "v": 1.0}) == []


def test_type_change_is_reported() -> None:
    assert "type" in diff_events({"type": "response.create"}, {"type": "response.cancel"})


def test_non_json_frames_compare_as_bytes() -> None:
    assert diff_events(b"\x00\x01", b"\x00\x01") == []
    assert diff_events(b"\x00\x01", b"\x00\x02") == ["$"]
    assert diff_events(b"not json", text_item("hi")) == ["$"]


def test_describe_mismatch_names_types_fields_and_both_values() -> None:
    expected, actual = text_item("hi"), text_item("hello")
    message = describe_mismatch(expected, actual, diff_events(expected, actual))
    assert message == (
        'expected client event "conversation.item.create", received "conversation.item.create"; '
        '1 field differs: item.content[0].text: expected "hi", received "hello".'
    )
    assert "\n" not in message


def test_describe_mismatch_abbreviates_audio_and_marks_absent_fields() -> None:
    audio = "QUJD" * 5000
    expected = {"type": "input_audio_buffer.append", "audio": audio}
    actual = {"type": "input_audio_buffer.commit"}
    message = describe_mismatch(expected, actual, diff_events(expected, actual))
    assert '"input_audio_buffer.append"' in message and '"input_audio_buffer.commit"' in message
    assert "audio: expected" in message and "received (absent)" in message
    assert f"({len(audio) + 2} chars)" in message
    assert len(message) < 400


def test_describe_mismatch_limits_the_number_of_fields_shown() -> None:
    expected = {"type": "t", **{f"f{i}": i for i in range(12)}}
    actual = {"type": "t", **{f"f{i}": -i - 1 for i in range(12)}}
    paths = diff_events(expected, actual)
    assert len(paths) == 12
    message = describe_mismatch(expected, actual, paths)
    assert "and 4 more field(s)" in message


@pytest.mark.skipif(not EXAMPLES.exists(), reason="needs /work/shared protocol examples")
@pytest.mark.parametrize("protocol", ["beta", "ga"])
def test_every_official_client_example_matches_itself_with_a_new_event_id(protocol: str) -> None:
    checked = 0
    for path in sorted((EXAMPLES / protocol).glob("client.*.json")):
        try:
            example = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue  # a few official examples are not strict JSON
        renamed = {**example, "event_id": "event_from_another_run"}
        assert diff_events(path.read_bytes(), renamed) == [], path.name
        checked += 1
    assert checked >= 8


def test_client_item_ids_pairs_live_ids_with_recorded_ones() -> None:
    recorded, live = text_item("hi", item_id="rec_1"), text_item("hi", item_id="live_1")
    assert client_item_ids(recorded, live) == {"live_1": "rec_1"}
    assert client_item_ids(recorded, recorded) == {}
    assert client_item_ids({"type": "response.cancel"}, {"type": "response.cancel"}) == {}


def test_aliases_let_a_live_id_stand_for_the_recorded_one() -> None:
    recorded = {"type": "conversation.item.delete", "item_id": "rec_1"}
    live = {"type": "conversation.item.delete", "item_id": "live_1"}
    assert diff_events(recorded, live) == ["item_id"]
    assert diff_events(recorded, live, aliases={"live_1": "rec_1"}) == []
    assert diff_events(recorded, live, aliases={"live_1": "rec_2"}) == ["item_id"]
    other = {"type": "conversation.item.delete", "item_id": "live_9"}
    assert diff_events(recorded, other, aliases={"live_1": "rec_1"}) == ["item_id"]


# -- measured fields, tolerances, the user's list -------------------------------------------

CATALOG = SHARED / "CATALOG.md"


def truncate(audio_end_ms: int, item_id: str = "item_1") -> dict:
    return {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
            "audio_end_ms": audio_end_ms}


def test_a_measured_field_a_few_ms_off_matches_one_beyond_the_tolerance_does_not() -> None:
    assert diff_events(truncate(430), truncate(435)) == []
    assert diff_events(truncate(430), truncate(380)) == []  # 50 ms is within
    assert diff_events(truncate(430), truncate(481)) == ["audio_end_ms"]
    assert diff_events(truncate(430), truncate(430, "item_2")) == ["item_id"]  # ids stay exact


def test_a_mismatch_beyond_the_tolerance_says_so() -> None:
    message = describe_mismatch(truncate(430), truncate(520), ["audio_end_ms"])
    assert message == (
        'expected client event "conversation.item.truncate", received '
        '"conversation.item.truncate"; 1 field differs: audio_end_ms: expected 430, received '
        "520 (more than the tolerance of 50)."
    )


def test_measured_fields_have_the_default_tolerance_and_chosen_ms_fields_are_exact() -> None:
    assert MEASURED_FIELDS == ("audio_start_ms", "audio_end_ms", "elapsed_ms")
    assert DEFAULT_TOLERANCE_MS == 50
    update = {"type": "session.update",
              "session": {"turn_detection": {"silence_duration_ms": 500}}}
    changed = {"type": "session.update",
               "session": {"turn_detection": {"silence_duration_ms": 501}}}
    assert diff_events(update, changed) == ["session.turn_detection.silence_duration_ms"]


@pytest.mark.skipif(not CATALOG.exists(), reason="needs /work/shared/protocol/CATALOG.md")
def test_the_measured_fields_are_the_catalogs_timing_fields() -> None:
    text = CATALOG.read_text()
    for name in MEASURED_FIELDS:
        assert f"`{name}`" in text or f"{name}" in text, name
    # the catalog's *_ms settings (turn detection) are chosen by the client, not measured
    settings = {"prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"}
    assert settings <= set(re.findall(r"\b[a-z_]+_ms\b", text))
    assert not settings & set(MEASURED_FIELDS)


def test_the_user_can_compare_a_measured_field_exactly_or_set_its_tolerance() -> None:
    exact = MatchRules.build(exact=["audio_end_ms"])
    assert diff_events(truncate(430), truncate(431), rules=exact) == ["audio_end_ms"]
    wide = MatchRules.build(tolerance={"audio_end_ms": 100})
    assert diff_events(truncate(430), truncate(520), rules=wide) == []
    assert diff_events(truncate(430), truncate(531), rules=wide) == ["audio_end_ms"]
    assert describe_mismatch(truncate(430), truncate(531), ["audio_end_ms"], wide).endswith(
        "received 531 (more than the tolerance of 100)."
    )


def test_the_user_can_give_any_field_a_tolerance_or_ignore_it() -> None:
    left = {"type": "response.create", "response": {"temperature": 0.8, "metadata": {"a": 1}}}
    right = {"type": "response.create", "response": {"temperature": 0.75, "metadata": {"a": 2}}}
    assert diff_events(left, right) == ["response.metadata.a", "response.temperature"]
    rules = MatchRules.build(ignore=["metadata"], tolerance={"response.temperature": 0.1})
    assert diff_events(left, right, rules=rules) == []
    ignored = MatchRules.build(ignore=["audio_end_ms"])
    assert diff_events(truncate(1), truncate(9999), rules=ignored) == []


def test_fields_are_named_by_key_dotted_path_or_any_index() -> None:
    def create(*texts: str) -> dict:
        return {"type": "response.create", "response": {"input": [
            {"type": "message", "content": [{"type": "input_text", "text": t}]} for t in texts]}}

    left, right = create("a", "b"), create("x", "y")
    both = ["response.input[0].content[0].text", "response.input[1].content[0].text"]
    assert diff_events(left, right) == both
    assert diff_events(left, right, rules=MatchRules.build(ignore=["text"])) == []
    by_path = MatchRules.build(ignore=["response.input[0].content[0].text"])
    assert diff_events(left, right, rules=by_path) == both[1:]
    any_index = MatchRules.build(ignore=["response.input[*].content[*].text"])
    assert diff_events(left, right, rules=any_index) == []
    # a key names that key, not one that merely ends the same way
    assert diff_events(left, right, rules=MatchRules.build(ignore=["ext"])) == both


def test_a_tolerance_compares_numbers_only() -> None:
    rules = MatchRules.build(tolerance={"v": 5})
    assert diff_events({"type": "t", "v": "10"}, {"type": "t", "v": "11"}, rules=rules) == ["v"]
    assert diff_events({"type": "t", "v": True}, {"type": "t", "v": 1}, rules=rules) == ["v"]
    assert diff_events({"type": "t", "v": 10}, {"type": "t", "v": None}, rules=rules) == ["v"]


@pytest.mark.parametrize("limit", [-1, "50", float("nan"), True])
def test_a_bad_tolerance_is_refused_with_one_line(limit: object) -> None:
    with pytest.raises(RtrecError) as caught:
        MatchRules.build(tolerance={"audio_end_ms": limit})  # type: ignore[dict-item]
    assert str(caught.value) == (
        f"tolerance {limit!r} for audio_end_ms is not valid: give a number >= 0 "
        "(in the field's own unit, ms for *_ms fields)"
    )


def test_parse_tolerance_reads_field_equals_number() -> None:
    assert parse_tolerance("audio_end_ms=100") == ("audio_end_ms", 100.0)
    assert parse_tolerance(" response.temperature = 0.1") == ("response.temperature", 0.1)
    for bad in ("audio_end_ms", "audio_end_ms=", "=5", "audio_end_ms=-1", "a=inf", "a=x"):
        with pytest.raises(RtrecError) as caught:
            parse_tolerance(bad)
        assert str(caught.value) == (
            f"--tolerance {bad!r} is not FIELD=N: e.g. --tolerance audio_end_ms=100"
        )


def test_nearest_frame_finds_the_closest_recorded_frame_of_the_received_type() -> None:
    ahead = [
        (5, json.dumps({"type": "response.cancel"}).encode()),
        (7, json.dumps(truncate(600, "item_9")).encode()),
        (9, json.dumps(truncate(430)).encode()),
    ]
    assert nearest_frame(ahead, truncate(433)) == (9, [])
    assert nearest_frame(ahead, truncate(900)) == (9, ["audio_end_ms"])
    assert nearest_frame(ahead, truncate(600, "item_9")) == (7, [])
    assert nearest_frame(ahead, {"type": "input_audio_buffer.clear"}) is None


def test_a_field_can_be_named_for_one_event_type_only() -> None:
    append = {"type": "input_audio_buffer.append", "audio": "AAAA"}
    update = {"type": "session.update", "audio": {"input": {"format": "pcm16"}}}
    rules = MatchRules.build(ignore=["input_audio_buffer.append:audio"])
    assert diff_events(append, {**append, "audio": "BBBB"}, rules=rules) == []
    changed = {"type": "session.update", "audio": {"input": {"format": "g711_ulaw"}}}
    assert diff_events(update, changed, rules=rules) == ["audio.input.format"]
    wide = MatchRules.build(tolerance={"conversation.item.truncate:audio_end_ms": 200})
    assert diff_events(truncate(430), truncate(620), rules=wide) == []
    speech = {"type": "x.speech", "audio_end_ms": 430}
    assert diff_events(speech, {**speech, "audio_end_ms": 620}, rules=wide) == ["audio_end_ms"]
