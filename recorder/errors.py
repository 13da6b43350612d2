"""The exception types a user can act on.

Library code raises RtrecError (or one of the subclasses below) with a message that names the
thing that is wrong (a file, a session, a flag) and says what to do. The CLI prints it as one
line and exits non-zero; it never prints a traceback for it. A failure that has a cause (the
driver's exception, an OSError, a JSON error) keeps it as `__cause__`.

    RtrecError
      StoreLocked         the SQLite file (or the journal) is locked by another process
      StoreFull           the database's disk is full (or the journal reached its size)
      StoreUnreachable    the database server refused, is down, or dropped the connection
      NotAnEventLog       the file or database is not an rtrec event log (or is missing)
      NewerSchema         the event log was written by a newer rtrec
      UnknownSession      no session has the id (or unique prefix) given
        NoSessions        the event log has no sessions at all
        AmbiguousSession  the prefix given matches more than one session
      NotAnImportFile     the file given to import/replay is not an event file we can read
      CannotListen        the proxy, cassette or serve server cannot listen on HOST:PORT
      NoCassette          --record-mode=none and the cassette is missing or holds no session
      OutputNotWritable   export cannot write its output directory (permissions, disk full)
      BadReceiver         --receiver module:Class cannot be imported or made
      ReceiverError       (recorder.driver) a receiver raised while fed a session
"""


class RtrecError(Exception):
    """A failure the user can fix; str(error) is the whole message, one line."""


class StoreLocked(RtrecError):
    """The database is locked by another process (SQLite's busy timeout ran out)."""


class StoreFull(RtrecError):
    """The database's disk is full (or the journal reached its --journal-size)."""


class StoreUnreachable(RtrecError):
    """The database server cannot be used: the connection was refused or timed out, or an open
    connection was lost (the server restarted, or the connection was terminated). Retrying once
    the server is back may succeed."""


class NotAnEventLog(RtrecError):
    """The file or database is not an rtrec event log (missing when it must exist, a directory,
    not SQLite, corrupt, or someone else's)."""


class NewerSchema(RtrecError):
    """The event log's schema revision is one this rtrec does not know: a newer rtrec wrote
    it; upgrade rtrec to open it."""


class UnknownSession(RtrecError):
    """No session of the event log has the id (or unique prefix) given."""


class NoSessions(UnknownSession):
    """The newest session was asked for, and the event log has none."""


class AmbiguousSession(UnknownSession):
    """The id prefix given matches more than one session."""


class CannotListen(RtrecError):
    """A local server (proxy, cassette, serve) cannot listen on the host and port given: the
    port is taken, or the address is not this machine's."""


class NoCassette(RtrecError):
    """A cassette is to be served as it is (--record-mode=none) but is missing or holds no
    session: record it once with --record-mode=once."""


class OutputNotWritable(RtrecError):
    """An output directory or a file in it cannot be written (permissions, a full disk)."""


class NotAnImportFile(RtrecError):
    """A file to import (or replay from) cannot be read, or is not JSONL, a JSON array of
    events, or an `rtrec dump` file; the message names the file and line."""


class BadReceiver(RtrecError):
    """A receiver named as module:Class cannot be imported, is not a RealtimeEventReceiver, or
    cannot be made with no arguments (its exception is the cause)."""
