"""LiveEventReceiver: a receiver for Live sessions, driven like RealtimeEventReceiver.

Subclass it and override the `on_...` methods you care about; every one does nothing by
default and takes the typed event (recorder.live.events) as its one argument. The methods are
derived from the Live event table, one per type and direction (LIVE.md §2c, §2d):

- a server event `a.b.c` reaches `on_a_b_c(event)`: `on_session_output_audio_delta`,
  `on_session_input_transcript_delta`, `on_response_event`, `on_error`, ...;
- a client event `a.b.c` reaches `on_client_a_b_c(event)`: `on_client_session_start`,
  `on_client_response_item_create`, ... (two names are sent by both sides: the sideband's
  reflected audio is `on_session_input_audio_append`, the microphone's
  `on_client_session_input_audio_append`).

`method_name(direction, type)` gives the name; SERVER_METHODS / CLIENT_METHODS list them.
Beside them, as for the Realtime receiver: `on_live_event_received(event)` routes a server
event, `on_client_event(event)` a client event, `on_unknown_event` what did not decode or has
no method, `on_session_state_changed` ('connected', 'started' on session.started, 'closed'),
`position` (set by the driver before each call: the recorded seq, time and direction), and
`send` through an attached sender (replay checks what a receiver sends against the recording).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recorder.events import UnknownEvent
from recorder.live.events import CLIENT_EVENT_CLASSES, SERVER_EVENT_CLASSES, LiveEvent
from recorder.protocol import names
from recorder.receiver import DrivenReceiver, SessionState
from recorder.wire import Direction

STARTED = "started"  # on_session_state_changed after session.started


def method_name(direction: Direction, event_type: str) -> str:
    """The receiver method for an event type sent by direction."""
    stem = event_type.replace(".", "_")
    return f"on_{stem}" if direction is Direction.SERVER else f"on_client_{stem}"


SERVER_METHODS: dict[str, str] = {
    cls.type: method_name(Direction.SERVER, cls.type) for cls in SERVER_EVENT_CLASSES
}
CLIENT_METHODS: dict[str, str] = {
    cls.type: method_name(Direction.CLIENT, cls.type) for cls in CLIENT_EVENT_CLASSES
}


class LiveEventReceiver(DrivenReceiver):
    """Extend this class to handle Live events; override only the methods you need."""

    # -- driving -----------------------------------------------------------------------------

    def on_live_event_received(self, event: Any) -> None:
        """Route one decoded server event to its method."""
        if isinstance(event, UnknownEvent):
            self.on_unknown_event(event)
            return
        name = SERVER_METHODS.get(event.type)
        if name is None or getattr(event, "direction", Direction.SERVER) is not Direction.SERVER:
            self.on_unknown_event(event)
            return
        if event.type == names.LIVE_SESSION_STARTED:
            self.on_session_state_changed(STARTED)
        getattr(self, name)(event)

    def on_client_event(self, event: Any) -> None:
        """An outbound client event (sent by the app, seen by the proxy or replay): routed to
        its on_client_... method. Override to see every client event at once."""
        if isinstance(event, UnknownEvent):
            self.on_unknown_event(event)
            return
        name = CLIENT_METHODS.get(event.type)
        if name is None or getattr(event, "direction", Direction.CLIENT) is not Direction.CLIENT:
            self.on_unknown_event(event)
            return
        getattr(self, name)(event)

    # -- hooks ---------------------------------------------------------------------------------

    def on_session_state_changed(self, state: str) -> None:
        """'connected', 'started' (session.started), 'closed' (the socket or the replay)."""

    def on_unknown_event(self, event: Any) -> None:
        """An event that did not decode (recorder.UnknownEvent) or has no Live method."""


def _no_op(event_type: str, direction: Direction, doc: str | None) -> Callable[..., None]:
    def method(self: LiveEventReceiver, event: LiveEvent) -> None:
        pass

    method.__name__ = method.__qualname__ = method_name(direction, event_type)
    summary = (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""
    sender = "server" if direction is Direction.SERVER else "client"
    method.__doc__ = f"{event_type} ({sender}). {summary}".rstrip()
    return method


for _cls in SERVER_EVENT_CLASSES:
    setattr(LiveEventReceiver, SERVER_METHODS[_cls.type],
            _no_op(_cls.type, Direction.SERVER, _cls.__doc__))
for _client in CLIENT_EVENT_CLASSES:
    setattr(LiveEventReceiver, CLIENT_METHODS[_client.type],
            _no_op(_client.type, Direction.CLIENT, _client.__doc__))

__all__ = ["CLIENT_METHODS", "SERVER_METHODS", "STARTED", "LiveEventReceiver", "SessionState",
           "method_name"]
