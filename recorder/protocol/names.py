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
