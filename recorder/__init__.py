"""rtrec: record, replay, test and export OpenAI Realtime API sessions."""

__version__ = "0.1.0"
