"""Which events carry audio, and in which field (CATALOG.md §1: base64 text in a JSON string).

The client appends microphone audio in input_audio_buffer.append's `audio`; the server sends a
response's audio in the `delta` of response.output_audio.delta (GA) or response.audio.delta
(beta: the same event before GA renamed it, recorder.protocol.names). The store cuts exactly
these fields out as bytes, and export, the conversation fold and replay read them here.
"""

from __future__ import annotations

from recorder.protocol import names

INPUT_AUDIO = "input_audio_buffer.append"
# (GA, beta) names of the output audio delta.
OUTPUT_AUDIO = names.spellings("audio", "delta")
OUTPUT_AUDIO_TYPES: frozenset[str] = frozenset(OUTPUT_AUDIO)

# Event type -> the field holding its base64 audio.
AUDIO_FIELDS: dict[str, str] = {INPUT_AUDIO: "audio", **dict.fromkeys(OUTPUT_AUDIO, "delta")}
AUDIO_TYPES: frozenset[str] = frozenset(AUDIO_FIELDS)
