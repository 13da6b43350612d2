"""The event log: sessions and their frames on SQLite or PostgreSQL (see log.EventLog)."""

from recorder.store.log import EventLog, SessionInfo, StoredFrame, open_log

__all__ = ["EventLog", "SessionInfo", "StoredFrame", "open_log"]
