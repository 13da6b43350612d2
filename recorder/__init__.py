"""rtrec: record, replay, test and export OpenAI Realtime API sessions."""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recorder.decode import decode
    from recorder.events import UnknownEvent
    from recorder.live.receiver import LiveEventReceiver
    from recorder.receiver import Position, RealtimeEventReceiver, SessionState

__version__ = "0.1.0"

# What `recorder` exports, imported on first use: `import recorder.cli` (the command line)
# then costs neither the decoder nor the event types.
_EXPORTS = {
    "LiveEventReceiver": "recorder.live.receiver",
    "Position": "recorder.receiver",
    "RealtimeEventReceiver": "recorder.receiver",
    "SessionState": "recorder.receiver",
    "UnknownEvent": "recorder.events",
    "decode": "recorder.decode",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recorder' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


class _Package(types.ModuleType):
    """recorder's module class: `recorder.decode` is the function, as `from recorder import
    decode` promises, even after the submodule of that name was imported (the import system
    sets the package's attribute to the submodule; the submodule stays in sys.modules)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "LiveEventReceiver",
    "Position",
    "RealtimeEventReceiver",
    "SessionState",
    "UnknownEvent",
    "__version__",
    "decode",
]
