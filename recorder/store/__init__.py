"""The event log: sessions and their frames on SQLite or PostgreSQL (see log.EventLog)."""

from recorder.store.log import EventLog, GapInfo, SessionInfo, StoredFrame, gaps_line, open_log

__all__ = ["EventLog", "GapInfo", "SessionInfo", "StoredFrame", "gaps_line", "open_log"]
