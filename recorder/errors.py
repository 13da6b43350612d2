"""The one exception type a user can act on.

Library code raises RtrecError with a message that names the thing that is wrong (a file, a
session, a flag) and says what to do. The CLI prints it as one line and exits non-zero; it never
prints a traceback for it.
"""


class RtrecError(Exception):
    """A failure the user can fix; str(error) is the whole message, one line."""


class StoreLocked(RtrecError):
    """The database is locked by another process (SQLite's busy timeout ran out)."""


class StoreFull(RtrecError):
    """The database's disk is full."""


class NotAnEventLog(RtrecError):
    """The file or database is not an rtrec event log (not SQLite, corrupt, or someone else's)."""


class UnknownSession(RtrecError):
    """No session of the event log has the id (or unique prefix) given."""
