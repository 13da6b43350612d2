"""Which events carry audio, and in which field (CATALOG.md §1, LIVE.md §2e: base64 text in a
JSON string).

Realtime: the client appends microphone audio in input_audio_buffer.append's `audio`; the server
sends a response's audio in the `delta` of response.output_audio.delta (GA) or
response.audio.delta (beta: the same event before GA renamed it, recorder.protocol.names).

Live: session.input_audio.append's `audio` (the client's microphone on a primary socket; the
caller's audio the server reflects to a sideband, under the same name and key),
session.output_audio.delta's `delta` (a continuous track), and the client's
session.output_audio.fixture.play `audio` (PCM16 24 kHz whatever the session's format).

The store cuts exactly these fields out as bytes (STORED_AUDIO_FIELDS), and export, the
conversation fold and replay read them here.
"""

from __future__ import annotations

from recorder.protocol import names

INPUT_AUDIO = "input_audio_buffer.append"
# (GA, beta) names of the output audio delta.
OUTPUT_AUDIO = names.spellings("audio", "delta")
OUTPUT_AUDIO_TYPES: frozenset[str] = frozenset(OUTPUT_AUDIO)

# Realtime: event type -> the field holding its base64 audio.
AUDIO_FIELDS: dict[str, str] = {INPUT_AUDIO: "audio", **dict.fromkeys(OUTPUT_AUDIO, "delta")}
AUDIO_TYPES: frozenset[str] = frozenset(AUDIO_FIELDS)

# Live (LIVE.md §2e). The field is the same whichever side sends session.input_audio.append,
# so the type alone gives it, as for Realtime.
LIVE_INPUT_AUDIO = names.LIVE_INPUT_AUDIO_APPEND
LIVE_OUTPUT_AUDIO = names.LIVE_OUTPUT_AUDIO_DELTA
LIVE_FIXTURE_AUDIO = names.LIVE_OUTPUT_AUDIO_FIXTURE_PLAY
LIVE_AUDIO_FIELDS: dict[str, str] = {
    LIVE_INPUT_AUDIO: "audio", LIVE_OUTPUT_AUDIO: "delta", LIVE_FIXTURE_AUDIO: "audio",
}
LIVE_AUDIO_TYPES: frozenset[str] = frozenset(LIVE_AUDIO_FIELDS)
# Audio that is PCM16 mono 24 kHz whatever format the session announced (LIVE.md §2c, §2e):
# fixtures, and on a sideband the reflected input and the timed output.
LIVE_FIXED_RATE = 24000

# What the store keeps as binary: every protocol's audio events (no name is in both).
STORED_AUDIO_FIELDS: dict[str, str] = {**AUDIO_FIELDS, **LIVE_AUDIO_FIELDS}
