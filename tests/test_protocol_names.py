"""recorder.protocol.names: the events GA renamed (CATALOG.md §6), and that every reader of
event names (events, the fold, receivers, the fake server) treats both spellings alike."""

from __future__ import annotations

import pytest

from recorder import events as ev
from recorder.conversation import FOLDED
from recorder.driver import QUIET_SERVER_TYPES
from recorder.fake.dialect import BETA, GA, Dialect
from recorder.protocol import names
from recorder.receiver import SERVER_EVENT_METHODS

# CATALOG.md §6 "Renamed (same fields)".
CATALOG_RENAMES = {
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
}


def test_the_renames_are_the_catalogs_and_go_both_ways() -> None:
    assert names.GA_NAME == CATALOG_RENAMES
    assert {ga: beta for beta, ga in CATALOG_RENAMES.items()} == names.BETA_NAME


def test_spellings_and_family() -> None:
    assert names.spellings("audio", "delta") == (
        "response.output_audio.delta", "response.audio.delta")
    assert names.family("audio_transcript", ga=True) == "response.output_audio_transcript"
    assert names.family("text", ga=False) == "response.text"
    with pytest.raises(KeyError):
        names.family("image", ga=True)


@pytest.mark.parametrize(("beta", "ga"), list(CATALOG_RENAMES.items()))
def test_a_ga_event_is_its_beta_event_under_the_new_name(beta: str, ga: str) -> None:
    ga_class, beta_class = ev.EVENT_CLASS_BY_TYPE[ga], ev.EVENT_CLASS_BY_TYPE[beta]
    assert issubclass(ga_class, beta_class)
    assert ga in ev.GA_ONLY_TYPES and ga not in ev.BETA_SERVER_TYPES
    assert beta in ev.BETA_ONLY_TYPES and beta not in ev.GA_SERVER_TYPES


@pytest.mark.parametrize(("beta", "ga"), list(CATALOG_RENAMES.items()))
def test_both_spellings_reach_the_same_fold_and_receiver_method(beta: str, ga: str) -> None:
    assert FOLDED[ga] == FOLDED[beta]
    assert SERVER_EVENT_METHODS[ga] is SERVER_EVENT_METHODS[beta]
    if beta.endswith(".delta"):
        assert QUIET_SERVER_TYPES[ga] == QUIET_SERVER_TYPES[beta]


@pytest.mark.parametrize("kind", list(names.RENAMED_FAMILIES))
def test_the_fake_server_sends_each_protocol_its_own_spelling(kind: str) -> None:
    assert f"{Dialect(GA).delta_type(kind)}.delta" in ev.GA_SERVER_TYPES
    assert f"{Dialect(BETA).delta_type(kind)}.delta" in ev.BETA_SERVER_TYPES
    assert Dialect(GA).delta_type(kind) != Dialect(BETA).delta_type(kind)


def test_each_live_name_is_a_live_event_type() -> None:
    from recorder.live import events as lev

    live_names = {value for key, value in vars(names).items()
                  if key.startswith("LIVE_") and isinstance(value, str)
                  and key != "LIVE_PROTOCOL"}  # the session tag, not an event name
    assert len(live_names) == 12
    assert live_names <= lev.CLIENT_TYPES | lev.SERVER_TYPES
    assert names.LIVE_SESSION_START in lev.CLIENT_TYPES - lev.SERVER_TYPES
    assert names.LIVE_SESSION_STARTED in lev.SERVER_TYPES - lev.CLIENT_TYPES
    assert names.LIVE_BOTH_DIRECTIONS == lev.CLIENT_TYPES & lev.SERVER_TYPES
    # the names both APIs use, with other shapes: a frame is decoded by its session's
    # protocol (recorder.decode or recorder.live.decode), never by its name alone
    shared = (lev.CLIENT_TYPES | lev.SERVER_TYPES) & (ev.CLIENT_TYPES | ev.SERVER_TYPES)
    assert shared == {"session.update", "session.updated", "error", "response.create"}
