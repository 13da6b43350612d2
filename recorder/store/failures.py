"""Database exceptions turned into one line that names the database and says what to do."""

from __future__ import annotations

from recorder.errors import (
    NotAnEventLog,
    RtrecError,
    StoreFull,
    StoreLocked,
    StoreUnreachable,
)

# (substring of the driver's message, what to tell the user, the error's type); first match
# wins.
_SQLITE_MESSAGES: list[tuple[str, str, type[RtrecError]]] = [
    ("file is not a database", "is not an rtrec database (not SQLite, or corrupt): check the "
     "path, or move the file away to start a new log", NotAnEventLog),
    ("malformed", "is corrupt (database disk image is malformed): restore it from a backup, or "
     "move it away to start a new log", NotAnEventLog),
    ("readonly", "is read-only: fix its permissions or give a writable path", RtrecError),
    ("unable to open database file", "cannot be opened: check that its directory exists and is "
     "writable", RtrecError),
    ("locked", "is locked by another process: wait for it to finish (or stop it) and retry",
     StoreLocked),
    ("disk is full", "is full (no space left for it): free some space and retry; what was "
     "already stored is kept", StoreFull),
    ("disk i/o error", "could not be written (disk I/O error): check the disk and retry; what "
     "was already stored is kept", RtrecError),
]


def explain(error: BaseException, display: str, *, sqlite: bool) -> RtrecError:
    """One RtrecError line for a database failure on `display` (a path or a password-free URL).

    The line is typed (StoreLocked, StoreFull, NotAnEventLog, StoreUnreachable, else RtrecError)
    and keeps `error` as its __cause__; an RtrecError is returned as it is."""
    if isinstance(error, RtrecError):
        return error
    explained = _explained(error, display, sqlite=sqlite)
    explained.__cause__ = error
    return explained


def _explained(error: BaseException, display: str, *, sqlite: bool) -> RtrecError:
    message = _driver_message(error)
    if sqlite:
        lowered = message.lower()
        for needle, advice, kind in _SQLITE_MESSAGES:
            if needle in lowered:
                return kind(f"{display} {advice}")
        return RtrecError(f"database error on {display}: {message}")
    if _is_lost_connection(error):
        return StoreUnreachable(
            f"lost the connection to {display} ({message}): the server closed it (it restarted, "
            "or the connection was terminated); check that the server is running"
        )
    if _is_connection_failure(error):
        return StoreUnreachable(
            f"cannot connect to {display}: {message}; check that the server is running and the "
            "URL (host, port, user, database) is right"
        )
    return RtrecError(f"database error on {display}: {message}")


def _driver_message(error: BaseException) -> str:
    """The driver's own first line, without SQLAlchemy's SQL echo and parameters."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip() or type(original).__name__
    line = text.splitlines()[0]
    # asyncpg errors reach us wrapped as "<class '...'>: message" by SQLAlchemy's adapter.
    if line.startswith("<class '") and ">: " in line:
        line = line.split(">: ", 1)[1]
    return line


# A connection that was open and is gone: pg_terminate_backend, a server restart or crash.
_LOST_CONNECTION = {
    "AdminShutdownError",  # 57P01 terminating connection due to administrator command
    "CrashShutdownError",
    "ConnectionDoesNotExistError",  # closed in the middle of an operation
    "ConnectionFailureError",
}


def _is_lost_connection(error: BaseException) -> bool:
    if getattr(error, "connection_invalidated", False):  # SQLAlchemy saw a disconnect
        return True
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            break
        if type(seen).__name__ in _LOST_CONNECTION or "connection is closed" in str(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _is_connection_failure(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError | TimeoutError):
            return True
        name = type(seen).__name__
        if name in {
            "InvalidPasswordError",
            "InvalidCatalogNameError",
            "InvalidAuthorizationSpecificationError",
            "CannotConnectNowError",
            "TooManyConnectionsError",
        }:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
        if seen is error:
            break
    return False


def is_transient(error: BaseException) -> bool:
    """Whether a failed write may succeed when retried (the store is down, locked, full) or
    never will (the data itself is refused, or a bug): those are not retried."""
    from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

    if isinstance(error, IntegrityError | DataError):
        return False
    if isinstance(error, DBAPIError | OSError | TimeoutError | RtrecError):
        return True
    module = type(error).__module__
    return module.startswith(("asyncpg", "sqlite3", "aiosqlite"))
