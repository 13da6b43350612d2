"""rtrec: record, replay, test and export OpenAI Realtime API sessions."""

from recorder.decode import decode
from recorder.events import UnknownEvent

__version__ = "0.1.0"

__all__ = ["UnknownEvent", "__version__", "decode"]
