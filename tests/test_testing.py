"""recorder.testing: one-line replay into a user's receiver, with divergence reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_conversation import ga_session

from recorder.receiver import RealtimeEventReceiver
from recorder.testing import DivergenceError, areplay, record_frames, replay


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "ga.db")
    record_frames(path, ga_session(), protocol="ga")
    return path


class WeatherAgent(RealtimeEventReceiver):
    """Answers get_weather calls the way the recorded client did (or with another reading)."""

    def __init__(self, temp: int = 21, extra: bool = False) -> None:
        super().__init__()
        self.temp = temp
        self.extra = extra
        self.calls: list[str] = []

    def on_response_function_call_arguments_done(
        self, event_id: Any, response_id: Any, item_id: Any, item_index: Any, call_id: Any,
        arguments: Any, *, name: Any = None,
    ) -> None:
        self.calls.append(arguments)
        # a fresh client event id and item id each run: volatile, must not matter
        self.send({"type": "conversation.item.create", "event_id": "evt_local_1",
                   "item": {"id": "item_local", "type": "function_call_output",
                            "call_id": call_id, "output": f'{{"temp":{self.temp}}}'}})
        self.send({"type": "response.create"})
        if self.extra:
            self.send({"type": "response.cancel"})


def test_matching_sends_pass_in_one_line(db: str) -> None:
    agent = WeatherAgent()
    result = replay(db, agent)
    assert agent.calls == ['{"city":"Paris"}']
    assert result.matched_sends == 2
    assert result.frames == len(ga_session())


def test_first_divergence_shows_expected_actual_and_fields(db: str) -> None:
    with pytest.raises(DivergenceError) as caught:
        replay(db, WeatherAgent(temp=22))
    error = caught.value
    recorded_seq = next(
        i for i, f in enumerate(ga_session(), 1) if b'"conversation.item.create"' in f.data
    )
    assert error.seq == recorded_seq
    assert error.paths == ["item.output"]
    message = str(error)
    assert f"recorded client event at seq {recorded_seq}" in message
    assert 'temp\\":21' in message and 'temp\\":22' in message
    assert "fields:   item.output" in message
    assert isinstance(error, AssertionError)


def test_a_send_beyond_the_recording_is_a_divergence(db: str) -> None:
    # replay up to the recorded response.create: nothing recorded matches the extra cancel
    until = next(i for i, f in enumerate(ga_session(), 1) if b'"response.create"' in f.data)
    with pytest.raises(DivergenceError, match="no further client event") as caught:
        replay(db, WeatherAgent(extra=True), until=until)
    assert caught.value.expected is None
    assert b"response.cancel" in caught.value.actual


class Truncator(RealtimeEventReceiver):
    """Truncates the interrupted answer at what was played, as agents-js does."""

    def on_response_done(self, event_id: Any, response: Any) -> None:
        if response.status == "cancelled":
            self.send({"type": "conversation.item.truncate", "item_id": response.output[0].id,
                       "content_index": 0, "audio_end_ms": 1500})


def test_mic_audio_appends_are_skipped_when_matching(db: str) -> None:
    assert replay(db, Truncator()).matched_sends == 1


async def test_replay_from_inside_a_running_event_loop(db: str) -> None:
    assert replay(db, WeatherAgent()).matched_sends == 2
    assert (await areplay(db, WeatherAgent())).matched_sends == 2


class Asserting(RealtimeEventReceiver):
    def on_session_created(self, event_id: Any, session: Any) -> None:
        assert session.model == "another-model", "wrong model"


def test_the_receivers_own_assertions_reach_pytest_unchanged(db: str) -> None:
    with pytest.raises(AssertionError, match="wrong model"):
        replay(db, Asserting())


def test_sender_is_detached_after_the_replay(db: str) -> None:
    agent = WeatherAgent()
    replay(db, agent)
    with pytest.raises(Exception, match="no connection attached"):
        agent.send({"type": "response.create"})


class StreamingTruncator(Truncator):
    """Streams microphone audio as a live agent does, in every form a send may take."""

    def on_session_created(self, event_id: Any, session: Any) -> None:
        self.send({"type": "input_audio_buffer.append", "audio": "AAAA"})
        self.send(b'{"type":"input_audio_buffer.append","audio":"AAAA"}')
        self.send('{"type": "input_audio_buffer.append", "audio": "AAAA"}')


def test_sent_events_of_an_ignored_type_are_not_compared(db: str) -> None:
    assert replay(db, StreamingTruncator()).matched_sends == 1


def test_sent_events_of_a_type_not_ignored_still_are(db: str) -> None:
    with pytest.raises(DivergenceError, match="differs from the recorded client event"):
        replay(db, StreamingTruncator(), ignore_types=())


# -- a barge-in receiver: measured fields within the tolerance, the user's matching list ------


class BargeInAgent(RealtimeEventReceiver):
    """Truncates the reply it was playing when the user speaks, at `heard_ms`."""

    def __init__(self, heard_ms: int) -> None:
        super().__init__()
        self.heard_ms = heard_ms

    def on_input_audio_buffer_speech_started(
        self, event_id: Any, audio_start_ms: Any, item_id: Any
    ) -> None:
        self.send({"type": "conversation.item.truncate", "item_id": "item_assistant_1",
                   "content_index": 0, "audio_end_ms": self.heard_ms})


@pytest.fixture
def barge_in_db(tmp_path: Path) -> str:
    from test_serve_matching import barge_in_frames

    path = str(tmp_path / "barge_in.db")
    record_frames(path, barge_in_frames(played_ms=617))
    return path


@pytest.mark.parametrize("heard_ms", [617, 620, 611, 667])
def test_a_receiver_whose_measured_audio_end_is_a_few_ms_off_replays(
    barge_in_db: str, heard_ms: int
) -> None:
    assert replay(barge_in_db, BargeInAgent(heard_ms)).matched_sends == 1


def test_one_beyond_the_tolerance_fails_naming_the_field_and_the_tolerance(
    barge_in_db: str,
) -> None:
    with pytest.raises(DivergenceError) as caught:
        replay(barge_in_db, BargeInAgent(734))
    assert str(caught.value).splitlines()[1:3] == [
        '  expected client event "conversation.item.truncate", received '
        '"conversation.item.truncate"; 1 field differs: audio_end_ms: expected 617, received 734 '
        "(more than the tolerance of 50).",
        "  fields:   audio_end_ms",
    ]


def test_replay_takes_the_users_matching_list(barge_in_db: str) -> None:
    assert replay(barge_in_db, BargeInAgent(734), tolerance={"audio_end_ms": 150}).matched_sends
    assert replay(barge_in_db, BargeInAgent(9999), ignore=["audio_end_ms"]).matched_sends == 1
    with pytest.raises(DivergenceError) as caught:
        replay(barge_in_db, BargeInAgent(618), exact=["audio_end_ms"])
    assert caught.value.paths == ["audio_end_ms"]


class CancelFirstAgent(RealtimeEventReceiver):
    """Sends its truncate before the response.cancel the recorded client sent first."""

    def on_input_audio_buffer_speech_started(
        self, event_id: Any, audio_start_ms: Any, item_id: Any
    ) -> None:
        self.send({"type": "conversation.item.truncate", "item_id": "item_assistant_1",
                   "content_index": 0, "audio_end_ms": 433})
        self.send({"type": "response.cancel"})


def test_events_sent_in_another_order_name_the_nearest_recorded_frame(tmp_path: Path) -> None:
    from test_serve_matching import barge_in_frames

    path = str(tmp_path / "cancel_first.db")
    record_frames(path, barge_in_frames(cancel_first=True))
    with pytest.raises(DivergenceError) as caught:
        replay(path, CancelFirstAgent())
    lines = str(caught.value).splitlines()
    assert lines[0].endswith(
        "the event the receiver sent while handling seq 3 differs from the recorded client "
        "event at seq 4"
    )
    assert lines[1].endswith(
        'type: expected "response.cancel", received "conversation.item.truncate". The order '
        'differs: the nearest recorded "conversation.item.truncate" is client frame seq 5, '
        "1 client frame(s) later, and matches it."
    )
    assert caught.value.seq == 4


class CancelFirstThenFails(CancelFirstAgent):
    def on_conversation_item_truncated(self, *args: Any) -> None:
        raise AssertionError("the agent's own check, after it already diverged")


def test_the_first_divergence_is_reported_even_if_the_receiver_fails_later(
    tmp_path: Path,
) -> None:
    from test_serve_matching import barge_in_frames

    path = str(tmp_path / "cancel_first.db")
    record_frames(path, barge_in_frames(cancel_first=True))
    with pytest.raises(DivergenceError) as caught:
        replay(path, CancelFirstThenFails())
    assert caught.value.seq == 4 and "The order differs" in str(caught.value)
