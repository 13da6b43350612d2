"""rtrec: record, replay, test and export OpenAI Realtime API sessions."""

from recorder.decode import decode
from recorder.events import UnknownEvent
from recorder.receiver import Position, RealtimeEventReceiver, SessionState

__version__ = "0.1.0"

__all__ = [
    "Position",
    "RealtimeEventReceiver",
    "SessionState",
    "UnknownEvent",
    "__version__",
    "decode",
]
