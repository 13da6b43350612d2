"""Does a client event match the one recorded? Field paths that differ, and a readable message.

Used by serve (a live client against a recording) and replay (a receiver's outbound events
against the recording). Comparison is on the decoded JSON, not on bytes: key order, whitespace
and number spelling do not matter, values do.

Volatile fields, ignored because a client legitimately sends new values on every run:
- `event_id` at any depth: client events carry an optional client-generated id, and
  `error.event_id` echoes one back.
- the id of an item the client creates itself: `item.id` in `conversation.item.create`, and
  `id` of inline items in `response.create`'s `response.input[*]` (but not of
  `{"type": "item_reference", "id": ...}`, which names an item the server created and the
  recording replays).

Later references to such a client-chosen id (`previous_item_id`, `item_id` of truncate, delete
or retrieve, `item_reference` ids) can only match if the caller knows which live id stands for
which recorded one: `client_item_ids(expected, actual)` gives that pairing from a matched create,
and `diff_events(..., aliases=...)` treats a live id as equal to the recorded id it stands for.

A key that is absent on one side and null on the other counts as equal: SDKs differ on whether
they serialize unset optional fields as null or leave them out, and the server treats both alike.

Measured fields, compared within a tolerance: a client computes some values from its own clock
(a barge-in client sends `conversation.item.truncate` with `audio_end_ms` = what it played), so
they differ by a few ms on every run. MEASURED_FIELDS lists the protocol's timing fields (those
the Realtime protocol defines as millisecond offsets measured on an audio stream, not chosen by
the caller: `audio_start_ms`, `audio_end_ms`, `elapsed_ms`); each is accepted within
DEFAULT_TOLERANCE_MS (50 ms: less than one typical audio chunk, far below what a listener
hears). Configuration fields such as `silence_duration_ms` are chosen, and compared exactly.

MatchRules is the list the user changes (vcrpy's match_on, on rtrec's field paths): fields to
ignore, fields to compare exactly, and fields with a tolerance of their own. A field is named by
its key (`audio_end_ms`: at any depth), by its dotted path (`item.content[0].text`) or by a path
with `[*]` for any list index (`response.input[*].id`), each optionally for one event type only
(`input_audio_buffer.append:audio`); ignoring a field ignores what is inside it. Ignore wins
over exact, exact over tolerance, a tolerance the user gave over a default one; everything else
is compared exactly.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from recorder import jsontext
from recorder.errors import RtrecError

ROOT = "$"  # the path of the whole frame, when it is not a JSON object
MAX_FIELDS_SHOWN = 8
MAX_VALUE_CHARS = 60
MAX_FRAME_CHARS = 400
LOOKAHEAD = 8  # a mismatch of type names the nearest of the next LOOKAHEAD recorded frames

_MISSING = object()

# The protocol's measured timing fields (CATALOG.md: audio_start_ms / audio_end_ms are offsets
# into the input audio stream; a client's truncate audio_end_ms is what it played;
# session.output_audio.delta's elapsed_ms). Written here: the package does not read the catalog.
MEASURED_FIELDS: tuple[str, ...] = ("audio_start_ms", "audio_end_ms", "elapsed_ms")
DEFAULT_TOLERANCE_MS = 50.0
_ANY_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class MatchRules:
    """Which fields are ignored, compared exactly, or compared within a tolerance.

    Build one with MatchRules.build(ignore=..., exact=..., tolerance=...): the defaults
    (MEASURED_FIELDS within DEFAULT_TOLERANCE_MS) are kept unless named otherwise.
    """

    ignore: frozenset[str] = frozenset()
    exact: frozenset[str] = frozenset()
    tolerance: Mapping[str, float] = field(
        default_factory=lambda: dict.fromkeys(MEASURED_FIELDS, DEFAULT_TOLERANCE_MS)
    )

    @classmethod
    def build(
        cls,
        *,
        ignore: Iterable[str] = (),
        exact: Iterable[str] = (),
        tolerance: Mapping[str, float] | None = None,
    ) -> MatchRules:
        ignored, exacts = frozenset(ignore), frozenset(exact)
        # the user's first: a default is looked at only for a field the user did not name
        tolerances = {
            name: check_tolerance(name, limit) for name, limit in (tolerance or {}).items()
        }
        for name, limit in cls().tolerance.items():
            if name not in exacts | ignored:
                tolerances.setdefault(name, limit)
        return cls(ignored, exacts, tolerances)

    def is_ignored(self, path: str, kind: Any = None) -> bool:
        """Is the field at path of an event of type kind left out of the comparison?"""
        return bool(self.ignore) and any(_names(pattern, path, kind) for pattern in self.ignore)

    def tolerance_for(self, path: str, kind: Any = None) -> float | None:
        """The tolerance of the field at path of an event of type kind; None: exact."""
        if any(_names(pattern, path, kind) for pattern in self.exact):
            return None
        for pattern, limit in self.tolerance.items():
            if _names(pattern, path, kind):
                return limit
        return None

    def describe(self) -> str:
        """The rules in one phrase (for `rtrec serve`'s start line)."""
        parts = [f"{name} within {_number(limit)}" for name, limit in self.tolerance.items()]
        if self.ignore:
            parts.append("ignoring " + ", ".join(sorted(self.ignore)))
        return "; ".join(parts) if parts else "every field exactly"


DEFAULT_RULES = MatchRules()


def check_tolerance(name: str, limit: Any) -> float:
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit) \
            or limit < 0:
        raise RtrecError(
            f"tolerance {limit!r} for {name} is not valid: give a number >= 0 "
            "(in the field's own unit, ms for *_ms fields)"
        )
    return float(limit)


def parse_tolerance(text: str) -> tuple[str, float]:
    """`FIELD=N` (the --tolerance flag) -> (FIELD, N)."""
    name, sep, value = text.partition("=")
    try:
        limit = float(value)
    except ValueError:
        limit = math.nan
    if not sep or not name.strip() or not math.isfinite(limit) or limit < 0:
        raise RtrecError(
            f"--tolerance {text!r} is not FIELD=N: e.g. --tolerance audio_end_ms=100"
        )
    return name.strip(), limit


def _names(pattern: str, path: str, kind: Any = None) -> bool:
    """Does pattern (a key, a dotted path, or a path with [*], optionally after `TYPE:`) name
    the field at path of an event of type kind?"""
    event_type, colon, field_pattern = pattern.rpartition(":")
    if colon:
        if event_type != kind:
            return False
        pattern = field_pattern
    if pattern in (path, _ANY_INDEX.sub("[*]", path)):
        return True
    if "." in pattern or "[" in pattern:
        return False
    last = path.rsplit(".", 1)[-1]
    return _ANY_INDEX.sub("", last) == pattern


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


EventInput = bytes | str | dict[str, Any]


def diff_events(
    expected: EventInput,
    actual: EventInput,
    *,
    aliases: Mapping[str, str] | None = None,
    rules: MatchRules = DEFAULT_RULES,
) -> list[str]:
    """Dotted paths of the fields that differ (e.g. "item.content[0].text"); [] means a match.

    rules says which fields are ignored and which are accepted within a tolerance.

    aliases maps live client-chosen ids to the recorded ids they stand for (see
    client_item_ids): an actual string value equal to an alias of the expected value matches.
    Input that is not a JSON object (a binary frame, broken JSON) is compared as bytes and
    reported as the single path "$" when it differs.
    """
    left, right = _as_event(expected), _as_event(actual)
    if not isinstance(left, dict) or not isinstance(right, dict):
        return [] if left == right else [ROOT]
    volatile = _volatile_paths(left) | _volatile_paths(right)
    kind = left.get("type")
    differing = [path for path in _diff(left, right, "", rules, kind) if path not in volatile]
    if aliases:
        differing = [
            path
            for path in differing
            if not _aliased(_lookup(left, path), _lookup(right, path), aliases)
        ]
    return differing


def client_item_ids(expected: EventInput, actual: EventInput) -> dict[str, str]:
    """{live id: recorded id} for the items a matched client event creates with ids of its own
    choosing (conversation.item.create item.id, response.create inline input ids)."""
    left, right = _as_event(expected), _as_event(actual)
    if not isinstance(left, dict) or not isinstance(right, dict):
        return {}
    pairs: dict[str, str] = {}
    for path in _volatile_paths(left) & _volatile_paths(right):
        if path.endswith("event_id"):
            continue
        recorded, live = _lookup(left, path), _lookup(right, path)
        if isinstance(recorded, str) and isinstance(live, str) and recorded != live:
            pairs[live] = recorded
    return pairs


def _aliased(recorded: Any, live: Any, aliases: Mapping[str, str]) -> bool:
    return isinstance(live, str) and isinstance(recorded, str) and aliases.get(live) == recorded


def describe_mismatch(
    expected: EventInput,
    actual: EventInput,
    paths: list[str],
    rules: MatchRules = DEFAULT_RULES,
) -> str:
    """One paragraph: the expected and received event types and each differing field's values.

    Long strings (base64 audio, instructions) are abbreviated to their start and length; a
    field that has a tolerance says so.
    """
    left, right = _as_event(expected), _as_event(actual)
    kind = left.get("type") if isinstance(left, dict) else None
    head = f"expected client event {_type_of(left)}, received {_type_of(right)}"
    if not paths:
        return f"{head}; no fields differ."
    shown = [
        f"{path}: expected {_show(_lookup(left, path))}, received {_show(_lookup(right, path))}"
        + _beyond(_lookup(left, path), _lookup(right, path), rules.tolerance_for(path, kind))
        for path in paths[:MAX_FIELDS_SHOWN]
    ]
    more = len(paths) - MAX_FIELDS_SHOWN
    tail = f"; and {more} more field(s): {', '.join(paths[MAX_FIELDS_SHOWN:])}" if more > 0 else ""
    noun = "field differs" if len(paths) == 1 else "fields differ"
    return f"{head}; {len(paths)} {noun}: " + "; ".join(shown) + tail + "."


def _beyond(recorded: Any, received: Any, limit: float | None) -> str:
    """Why two numbers with a tolerance differ; nothing for other values."""
    if not (_is_number(recorded) and _is_number(received)) or limit is None:
        return ""
    return f" (more than the tolerance of {_number(limit)})"


def _as_event(value: EventInput) -> Any:
    """The decoded JSON value, or the raw bytes when the input is not JSON."""
    if isinstance(value, dict):
        return value
    raw = value.encode() if isinstance(value, str) else bytes(value)
    try:
        return jsontext.parse(raw)
    except jsontext.NotJson:
        return raw


def _volatile_paths(event: dict[str, Any]) -> set[str]:
    paths = set(_event_id_paths(event, ""))
    kind = event.get("type")
    if kind == "conversation.item.create":
        paths.add("item.id")
    elif kind == "response.create":
        response = event.get("response")
        inputs = response.get("input") if isinstance(response, dict) else None
        for index, item in enumerate(inputs if isinstance(inputs, list) else []):
            if isinstance(item, dict) and item.get("type") != "item_reference":
                paths.add(f"response.input[{index}].id")
    return paths


def _event_id_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            child_path = _join(path, key)
            if key == "event_id":
                yield child_path
            else:
                yield from _event_id_paths(child, child_path)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _event_id_paths(child, f"{path}[{index}]")


def _diff(left: Any, right: Any, path: str, rules: MatchRules, kind: Any) -> Iterator[str]:
    if path and rules.is_ignored(path, kind):
        return
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(left.keys() | right.keys()):
            a, b = left.get(key), right.get(key)  # absent == null, see module docstring
            yield from _diff(a, b, _join(path, key), rules, kind)
    elif isinstance(left, list) and isinstance(right, list):
        for index in range(max(len(left), len(right))):
            a = left[index] if index < len(left) else _MISSING
            b = right[index] if index < len(right) else _MISSING
            yield from _diff(a, b, f"{path}[{index}]", rules, kind)
    elif not _same_scalar(left, right) and not _within(left, right, path, rules, kind):
        yield path or ROOT


def _same_scalar(left: Any, right: Any) -> bool:
    # True == 1 in Python, but a JSON boolean is not a number
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


def _within(left: Any, right: Any, path: str, rules: MatchRules, kind: Any) -> bool:
    """Two different numbers that the field's tolerance accepts (looked up only then: most
    frames match, and their fields are never looked up)."""
    if not (_is_number(left) and _is_number(right) and path):
        return False
    limit = rules.tolerance_for(path, kind)
    return limit is not None and abs(left - right) <= limit


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _lookup(event: Any, path: str) -> Any:
    """The value at a dotted path as produced by _diff; _MISSING when it is not there."""
    if path == ROOT:
        return event
    value = event
    for part in _split(path):
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return _MISSING
            value = value[part]
        else:
            if not isinstance(value, dict) or part not in value:
                return _MISSING
            value = value[part]
    return value


def _split(path: str) -> Iterator[str | int]:
    for dotted in path.split("."):
        name, *indexes = dotted.split("[")
        if name:
            yield name
        for index in indexes:
            yield int(index.rstrip("]"))


def _type_of(event: Any) -> str:
    if isinstance(event, dict):
        kind = event.get("type")
        return f'"{kind}"' if isinstance(kind, str) else "(an event without a type)"
    return f"(a non-JSON frame of {len(event)} bytes)"


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, bytes):
        return f"(binary, {len(value)} bytes)"
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= MAX_VALUE_CHARS:
        return text
    return f"{text[:24]}...{text[-8:]} ({len(text)} chars)"


def nearest_frame(
    candidates: Iterable[tuple[int, bytes]],
    actual: EventInput,
    *,
    rules: MatchRules = DEFAULT_RULES,
    aliases: Mapping[str, str] | None = None,
) -> tuple[int, list[str]] | None:
    """Among recorded client frames (seq, data), the one of the received frame's type that
    differs from it in the fewest fields: (its seq, those fields); None when no frame has the
    type. Tells a client that sent the right event out of order from one that sent a wrong one.
    """
    kind = _type_of(_as_event(actual))
    best: tuple[int, list[str]] | None = None
    for seq, data in candidates:
        if _type_of(_as_event(data)) != kind:
            continue
        paths = diff_events(data, actual, aliases=aliases, rules=rules)
        if best is None or len(paths) < len(best[1]):
            best = (seq, paths)
    return best


def show_frame(data: bytes) -> str:
    """A frame as text for a report: long frames (audio) cut to their start and length."""
    text = data.decode("utf-8", "replace")
    if len(text) > MAX_FRAME_CHARS:
        return f"{text[:MAX_FRAME_CHARS]}... ({len(text)} chars)"
    return text


def order_hint(
    actual: EventInput,
    ahead: list[tuple[int, bytes]],
    *,
    rules: MatchRules = DEFAULT_RULES,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """One sentence for a mismatch of type: the recorded client frame among `ahead` (the next
    few, (seq, data) in order) that the client most likely sent out of order, or that none is."""
    kind = _type_of(_as_event(actual))
    if not ahead:
        return " The recording has no later client frame."
    found = nearest_frame(ahead, actual, rules=rules, aliases=aliases)
    if found is None:
        return f" No {kind} among the next {len(ahead)} recorded client frame(s)."
    seq, paths = found
    later = next(i for i, (s, _) in enumerate(ahead, start=1) if s == seq)
    same = "matches it" if not paths else f"differs in {', '.join(paths)}"
    return (
        f" The order differs: the nearest recorded {kind} is client frame seq {seq}, "
        f"{later} client frame(s) later, and {same}."
    )
