"""The DB argument: a file path means SQLite, anything with '://' is a SQLAlchemy URL
(postgres:// and postgresql:// as libpq writes them included).

Only this module knows how a user-typed database argument becomes an engine URL, and how that
URL is shown back to the user (never with its password).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from recorder.errors import RtrecError
from recorder.redact import redact_url


@dataclass(frozen=True)
class Target:
    """Where the event log lives: the engine URL, and how to name it in messages."""

    url: URL
    path: Path | None  # the SQLite file, None for a server database

    @property
    def is_sqlite(self) -> bool:
        return self.path is not None

    @property
    def display(self) -> str:
        """The name shown to users: the file path, or the URL without its password."""
        if self.path is not None:
            return str(self.path)
        return self.url.render_as_string(hide_password=True)


def parse_db(db: str) -> Target:
    """Turn the DB argument into a Target; RtrecError for a URL we cannot use."""
    if "://" not in db:
        return _sqlite_target(Path(db).expanduser())
    try:
        url = make_url(db)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise RtrecError(
            f"cannot parse database URL {_scrub(db)}: "
            "give a file path or a URL like postgresql+asyncpg://user@host/db"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise RtrecError(
                f"database URL {_scrub(db)} names no file: give a file path for SQLite"
            )
        return _sqlite_target(Path(url.database).expanduser())
    if backend in _POSTGRESQL:  # whatever driver it names, rtrec's is asyncpg
        return Target(_for_asyncpg(url), None)
    raise RtrecError(
        f"unsupported database URL {url.render_as_string(hide_password=True)}: "
        "use a SQLite file path or postgresql+asyncpg://..."
    )


# postgres:// is what libpq, psql and most hosting providers give out; SQLAlchemy knows only
# postgresql://.
_POSTGRESQL = frozenset({"postgresql", "postgres"})


def _for_asyncpg(url: URL) -> URL:
    """The URL for the asyncpg driver: libpq's sslmode=... is asyncpg's ssl=... (same values)."""
    url = url.set(drivername="postgresql+asyncpg")
    if "sslmode" in url.query and "ssl" not in url.query:
        query = {("ssl" if name == "sslmode" else name): value for name, value in url.query.items()}
        url = url.set(query=query)
    return url


def _sqlite_target(path: Path) -> Target:
    return Target(URL.create("sqlite+aiosqlite", database=str(path)), path)


def _scrub(text: str) -> str:
    """A URL that did not parse, with anything between ':' and '@' of its netloc hidden, or,
    with no '@', anything after its first ':' (user:password/db parses as host:port, and a
    port is not worth the risk that it is a password)."""
    scheme, _, rest = text.partition("://")
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    elif ":" in netloc:
        netloc = netloc.split(":", 1)[0] + ":***"
    return f"{scheme}://{netloc}{slash}{tail}"


def scrub_endpoint(endpoint: str | None) -> str | None:
    """An upstream URL as a session stores it: recorder.redact.redact_url's rule, with each
    secret parameter left out rather than marked."""
    return redact_url(endpoint, marked=False) if endpoint else endpoint
