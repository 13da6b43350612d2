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
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from recorder import jsontext

ROOT = "$"  # the path of the whole frame, when it is not a JSON object
MAX_FIELDS_SHOWN = 8
MAX_VALUE_CHARS = 60

_MISSING = object()


EventInput = bytes | str | dict[str, Any]


def diff_events(
    expected: EventInput, actual: EventInput, *, aliases: Mapping[str, str] | None = None
) -> list[str]:
    """Dotted paths of the fields that differ (e.g. "item.content[0].text"); [] means a match.

    aliases maps live client-chosen ids to the recorded ids they stand for (see
    client_item_ids): an actual string value equal to an alias of the expected value matches.
    Input that is not a JSON object (a binary frame, broken JSON) is compared as bytes and
    reported as the single path "$" when it differs.
    """
    left, right = _as_event(expected), _as_event(actual)
    if not isinstance(left, dict) or not isinstance(right, dict):
        return [] if left == right else [ROOT]
    volatile = _volatile_paths(left) | _volatile_paths(right)
    differing = [path for path in _diff(left, right, "") if path not in volatile]
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


def describe_mismatch(expected: EventInput, actual: EventInput, paths: list[str]) -> str:
    """One paragraph: the expected and received event types and each differing field's values.

    Long strings (base64 audio, instructions) are abbreviated to their start and length.
    """
    left, right = _as_event(expected), _as_event(actual)
    head = f"expected client event {_type_of(left)}, received {_type_of(right)}"
    if not paths:
        return f"{head}; no fields differ."
    shown = [
        f"{path}: expected {_show(_lookup(left, path))}, received {_show(_lookup(right, path))}"
        for path in paths[:MAX_FIELDS_SHOWN]
    ]
    more = len(paths) - MAX_FIELDS_SHOWN
    tail = f"; and {more} more field(s): {', '.join(paths[MAX_FIELDS_SHOWN:])}" if more > 0 else ""
    noun = "field differs" if len(paths) == 1 else "fields differ"
    return f"{head}; {len(paths)} {noun}: " + "; ".join(shown) + tail + "."


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


def _diff(left: Any, right: Any, path: str) -> Iterator[str]:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(left.keys() | right.keys()):
            a, b = left.get(key), right.get(key)  # absent == null, see module docstring
            yield from _diff(a, b, _join(path, key))
    elif isinstance(left, list) and isinstance(right, list):
        for index in range(max(len(left), len(right))):
            a = left[index] if index < len(left) else _MISSING
            b = right[index] if index < len(right) else _MISSING
            yield from _diff(a, b, f"{path}[{index}]")
    elif not _same_scalar(left, right):
        yield path or ROOT


def _same_scalar(left: Any, right: Any) -> bool:
    # True == 1 in Python, but a JSON boolean is not a number
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


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
