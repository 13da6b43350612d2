"""Rebuild a known event field by field when its strict typed decode failed: odd fields kept raw.

recorder.decode tries the strict typed decode first; only a frame that fails it comes here, as
the generic JSON value it was parsed to once. Each field of the event's class is converted on
its own (msgspec.convert). A field that does not fit is, in order:

- coerced, when it is a number sent as a string for an int (or float) field and the string is
  a plain JSON number ("12" -> 12): unambiguous, so the typed value is set and the note says so;
- rebuilt the same way, when it is an object for a nested resource (a Session, a Response, an
  Item, ...) or an array of objects for a list of them: only the nested field that is odd is lost;
- else kept raw: its JSON value goes to `event.odd.fields` under its path ("session.voice",
  "response.output[0].status"), and the typed slot gets the field's default (None). A required
  top-level field has no default, so its slot holds the raw value itself (named in
  `event.odd.untyped`; the conversation fold and export take such an event as unknown).

The event is an instance of a subclass of its class made here (same name, type and tag) that
adds `odd` as a field, so the strict classes, and with them the fast path, carry no extra field.

Only a missing required top-level field leaves nothing to build: rebuild() returns None and the
frame stays an UnknownEvent. Everything here is pure and works on values, never on bytes.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import msgspec

from recorder.events import Odd

E = TypeVar("E", bound=msgspec.Struct)  # an event class: a tagged Struct with `odd` on it

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_MISSING: Any = object()  # the converted value of a field that did not fit


@dataclass(frozen=True)
class _Field:
    name: str  # attribute
    key: str  # wire name
    box: Any  # a one-field Struct of the field's type (see _box)
    required: bool


@dataclass(frozen=True)
class _Shape:
    """What a field type accepts, for the fallbacks: numbers, nested Structs, lists of them."""

    numbers: tuple[type, ...]  # int and/or float, for coercing numeric strings
    struct: type[msgspec.Struct] | None  # the one nested Struct an object may be rebuilt into
    list_of: type[msgspec.Struct] | None  # the Struct a list's elements may be rebuilt into


class _Notes:
    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.reasons: dict[str, str] = {}
        self.coerced: dict[str, Any] = {}
        self.untyped: list[str] = []


class _Missing(Exception):
    """A required top-level field is absent: there is no event to build."""


def rebuild(
    cls: type[E], value: dict[str, Any], given: Mapping[str, Any] | None = None
) -> E | None:
    """The event of class `cls` from its JSON object, odd fields kept raw; None if one is missing.

    `cls` is a tagged event class (recorder.events, recorder.live.events). given: top-level
    fields the caller has already built, by wire name (a Live response.event's nested event),
    taken as they are. Never raises for any JSON value (callers still guard: a recorder never
    crashes on input).
    """
    notes = _Notes()
    try:
        kwargs = _kwargs(cls, value, "", notes, given or {})
    except _Missing:
        return None
    odd = Odd(fields=notes.fields, reasons=notes.reasons, coerced=notes.coerced,
              untyped=tuple(notes.untyped))
    event: E = _with_odd(cls)(**kwargs, odd=odd)
    return event


def _kwargs(
    cls: type[msgspec.Struct], value: dict[str, Any], prefix: str, notes: _Notes,
    given: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for field in _fields(cls):
        if given and field.key in given:
            kwargs[field.name] = given[field.key]
            continue
        if field.key not in value:
            if field.required:
                raise _Missing(field.key)
            continue
        raw = value[field.key]
        converted = _convert(raw, field.box, prefix + field.key, notes)
        if converted is _MISSING:
            if not field.required:
                continue  # the default stands in the typed slot; the raw value is in notes
            notes.untyped.append(field.name)  # only top-level fields are required
            converted = raw
        kwargs[field.name] = converted
    return kwargs


def _convert(raw: Any, box: Any, path: str, notes: _Notes) -> Any:
    try:
        return msgspec.convert({"v": raw}, box).v
    except msgspec.ValidationError as error:
        failure = error
    shape = _shape(box)
    if isinstance(raw, str) and shape.numbers:
        number = _number(raw, shape.numbers)
        if number is not None:
            notes.coerced[path] = raw
            return number
    if isinstance(raw, dict) and shape.struct is not None:
        return shape.struct(**_kwargs(shape.struct, raw, path + ".", notes))
    if isinstance(raw, list) and shape.list_of is not None and all(
        isinstance(element, dict) for element in raw
    ):
        element_cls = shape.list_of
        return [
            _element(element, element_cls, f"{path}[{index}]", notes)
            for index, element in enumerate(raw)
        ]
    notes.fields[path] = raw
    notes.reasons[path] = _reason(failure, path)
    return _MISSING


def _reason(failure: msgspec.ValidationError, path: str) -> str:
    """msgspec's message, its `$.v` (the box's field) made the field's path, or dropped when it
    is the field itself: "Expected `str | null`, got `object`"."""
    message = " ".join(str(failure).split())
    message = message.replace(" - at `$.v`", "")
    return message.replace("`$.v", f"`$.{path}")


def _element(raw: dict[str, Any], cls: type[msgspec.Struct], path: str, notes: _Notes) -> Any:
    try:
        return msgspec.convert(raw, cls)
    except msgspec.ValidationError:
        return cls(**_kwargs(cls, raw, path + ".", notes))


def _number(raw: str, numbers: tuple[type, ...]) -> int | float | None:
    if int in numbers and _INT.fullmatch(raw):
        return int(raw)
    if float in numbers and _FLOAT.fullmatch(raw):
        number = float(raw)
        return number if number not in (float("inf"), float("-inf")) else None
    return None


@cache
def _with_odd(cls: type[msgspec.Struct]) -> Any:
    """cls with `odd` as a field: the class of its rebuilt events (same name, type and tag).

    Only rebuilt events are made of it, never a decoder, so the wire cannot set `odd`; encoded,
    it is written under a key no service sends."""
    config = cls.__struct_config__
    return msgspec.defstruct(
        cls.__name__, [("odd", Odd | None, None)], bases=(cls,), module=__name__,
        tag=config.tag, rename={"odd": "rtrec:odd"}, kw_only=True, omit_defaults=True,
        gc=False,
    )


@cache
def _fields(cls: type[msgspec.Struct]) -> tuple[_Field, ...]:
    return tuple(
        _Field(info.name, info.encode_name, _box(info.type), info.required)
        for info in msgspec.structs.fields(cls)
    )


@cache
def _box(type_: Any) -> Any:
    """A one-field Struct of type_: msgspec caches how to convert into a Struct class, not into a
    bare annotation such as `str | None`, which it would analyse again on every call."""
    return msgspec.defstruct("Box", [("v", type_)], gc=False)


@cache
def _shape(box: Any) -> _Shape:
    members = _members(msgspec.structs.fields(box)[0].type)
    numbers = tuple(kind for kind in (int, float) if kind in members)
    structs = [m for m in members if isinstance(m, type) and issubclass(m, msgspec.Struct)]
    lists = [
        args[0]
        for m in members
        if typing.get_origin(m) is list
        and (args := typing.get_args(m))
        and isinstance(args[0], type)
        and issubclass(args[0], msgspec.Struct)
    ]
    return _Shape(
        numbers=numbers,
        struct=structs[0] if len(structs) == 1 else None,
        list_of=lists[0] if len(lists) == 1 else None,
    )


def _members(type_: Any) -> tuple[Any, ...]:
    if typing.get_origin(type_) in (typing.Union, types.UnionType):
        return tuple(member for arg in typing.get_args(type_) for member in _members(arg))
    return (type_,)
