"""The one exception type a user can act on.

Library code raises RtrecError with a message that names the thing that is wrong (a file, a
session, a flag) and says what to do. The CLI prints it as one line and exits non-zero; it never
prints a traceback for it.
"""


class RtrecError(Exception):
    """A failure the user can fix; str(error) is the whole message, one line."""
