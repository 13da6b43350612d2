"""The event names beta and GA spell differently (CATALOG.md §6 "Renamed", same fields).

GA renamed three families of response deltas, each a `.delta` and a `.done`:
response.text.* -> response.output_text.*, response.audio.* -> response.output_audio.*,
response.audio_transcript.* -> response.output_audio_transcript.*. Every other name is the same
in both, or belongs to one protocol only (recorder.events has those lists).
"""

from __future__ import annotations

# Each renamed family by its content kind: (GA prefix, beta prefix).
RENAMED_FAMILIES: dict[str, tuple[str, str]] = {
    kind: (f"response.output_{kind}", f"response.{kind}")
    for kind in ("text", "audio", "audio_transcript")
}
_ENDS = ("delta", "done")

# beta name -> GA name, for the six renamed events.
GA_NAME: dict[str, str] = {
    f"{beta}.{end}": f"{ga}.{end}" for ga, beta in RENAMED_FAMILIES.values() for end in _ENDS
}
# GA name -> beta name.
BETA_NAME: dict[str, str] = {ga: beta for beta, ga in GA_NAME.items()}


def family(kind: str, *, ga: bool) -> str:
    """The prefix of a renamed family's events ('audio', ga=True -> 'response.output_audio')."""
    ga_prefix, beta_prefix = RENAMED_FAMILIES[kind]
    return ga_prefix if ga else beta_prefix


def spellings(kind: str, end: str) -> tuple[str, str]:
    """(GA name, beta name) of one renamed event: ('audio', 'delta') ->
    ('response.output_audio.delta', 'response.audio.delta')."""
    ga_prefix, beta_prefix = RENAMED_FAMILIES[kind]
    return f"{ga_prefix}.{end}", f"{beta_prefix}.{end}"


# --------------------------------------------------------------------------- Live (LIVE.md §2)
# The Live API names its events on its own (LIVE.md §2c, §2d); recorder.live.events has one
# class per name. These are the names the rest of rtrec keys on without decoding a frame.

# The session protocol of a Live session (a session row's `protocol`, beside "ga" and "beta").
LIVE_PROTOCOL = "live"
LIVE_SESSION_START = "session.start"  # the client's first frame on a primary or fork socket
LIVE_SESSION_STARTED = "session.started"  # the server's answer: the session id and format
LIVE_SESSION_CLOSE = "session.close"
LIVE_SESSION_CLOSED = "session.closed"  # terminal: a log without it did not end cleanly
LIVE_INPUT_AUDIO_APPEND = "session.input_audio.append"
LIVE_OUTPUT_AUDIO_DELTA = "session.output_audio.delta"
LIVE_OUTPUT_AUDIO_FIXTURE_PLAY = "session.output_audio.fixture.play"
LIVE_INPUT_TRANSCRIPT_DELTA = "session.input_transcript.delta"
LIVE_OUTPUT_TRANSCRIPT_DELTA = "session.output_transcript.delta"
LIVE_DELEGATION_CREATED = "session.delegation.created"
LIVE_RESPONSE_EVENT = "response.event"  # wraps a Responses stream event in its `event`
LIVE_TRANSPORT_DTMF_SEND = "transport.dtmf.send"

# The names both sides send, with different meanings (LIVE.md §5 "sideband"): the sideband's
# server reflects the caller's audio as session.input_audio.append, and the legacy server
# notice transport.dtmf.send has the name of the sideband's client command. Decoding a Live
# frame keys on (direction, type), never on the type alone.
LIVE_BOTH_DIRECTIONS: frozenset[str] = frozenset(
    {LIVE_INPUT_AUDIO_APPEND, LIVE_TRANSPORT_DTMF_SEND}
)
