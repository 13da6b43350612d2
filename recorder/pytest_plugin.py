"""pytest plugin: Realtime cassettes for a test's own client code (registered as pytest11 "rtrec").

    def test_voice_agent(realtime_url):
        client = AsyncOpenAI(api_key="test", websocket_base_url=realtime_url)
        ...   # the client talks to the recorded session (or, when recording, to the real API)

The same URL serves Live clients (`client.live.connect()`): a cassette's Live sessions are
played by recorder.live.playback, and recording goes through the Live path beside the
upstream's Realtime path.

Fixtures:
    realtime_replay         recorder.testing.replay: replay(db, receiver) drives a receiver
                            offline from a recorded session, raising on the first divergence
    realtime_url            websocket_base_url for the OpenAI SDKs (ws://127.0.0.1:PORT/v1)
    realtime_cassette       the recorder.cassette.Cassette behind it (.results, .wait_for_results)
    realtime_record_mode    none | once | new_episodes | all
    realtime_cassette_path  cassettes/{module}/{test}.db beside the test file

Options: --record-mode (default none: CI never touches the network; the same option and modes
as pytest-recording, whose option is reused when both plugins are installed; its "rewrite"
means "all" here), --realtime-upstream URL (where recording goes; default the OpenAI API; env
RTREC_UPSTREAM). The API key for recording comes from the client's own handshake, else
OPENAI_API_KEY. Per test: @pytest.mark.realtime_cassette(path=..., record_mode=...,
match="strict"|"lenient", speed=None|1.0, upstream=..., ignore=[FIELD, ...],
exact=[FIELD, ...], tolerance={FIELD: N}) (the last three: recorder.matching.MatchRules).

In strict mode (the default) a client frame that does not match the cassette, or a connection
the cassette has no session for, fails the test once, with the mismatch message as the whole
report: it replaces the client's own connection error (which only says the socket closed), and
it fails a test whose client code swallowed the `error` event it got.

The cassette server runs on its own thread and event loop, so the fixtures are plain (sync)
fixtures that work in sync tests, pytest-asyncio tests and anyio tests alike. An `async def`
test that uses them and that no async plugin runs (pytest-asyncio in strict mode without
@pytest.mark.asyncio, or no async plugin at all) is run here, on a fresh event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from recorder.cassette import Cassette, RecordMode

MARKER = "realtime_cassette"
CASSETTE_FIXTURES = frozenset({"realtime_url", "realtime_cassette"})
ASYNC_MARKERS = ("asyncio", "anyio", "trio")  # tests another plugin runs
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.\-\[\]]+")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rtrec", "rtrec Realtime cassettes")
    # pytest-recording defines the same option with the same meanings: then theirs is used
    with contextlib.suppress(ValueError):
        group.addoption(
            "--record-mode",
            action="store",
            default=None,
            choices=("none", "once", "new_episodes", "all"),
            help="Realtime cassettes: none (default) serves recordings only; once records a "
            "missing cassette; new_episodes records connections beyond the recorded ones; "
            "all re-records everything.",
        )
    group.addoption(
        "--realtime-upstream",
        action="store",
        default=None,
        metavar="URL",
        help="Where Realtime cassettes record from (default: $RTREC_UPSTREAM or "
        "wss://api.openai.com/v1/realtime).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(path=None, record_mode=None, match='strict', speed=None, upstream=None, "
        "ignore=(), exact=(), tolerance=None): options for this test's Realtime cassette (rtrec)",
    )


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    return dict(marker.kwargs) if marker is not None else {}


@pytest.fixture
def realtime_record_mode(request: pytest.FixtureRequest) -> RecordMode:
    from recorder.cassette import DEFAULT_RECORD_MODE, check_record_mode

    mode = _marker_options(request).get("record_mode") or request.config.getoption(
        "--record-mode", default=None
    )
    if mode == "rewrite":  # pytest-recording's name for "delete and record again"
        mode = "all"
    return check_record_mode(mode) if mode else DEFAULT_RECORD_MODE


@pytest.fixture
def realtime_cassette_path(request: pytest.FixtureRequest) -> Path:
    chosen = _marker_options(request).get("path")
    if chosen is not None:
        return Path(chosen)
    test_file = Path(request.node.path)
    name = _UNSAFE_FILENAME.sub("_", request.node.name)
    return test_file.parent / "cassettes" / test_file.stem / f"{name}.db"


@pytest.fixture
def realtime_cassette(
    request: pytest.FixtureRequest,
    realtime_record_mode: RecordMode,
    realtime_cassette_path: Path,
) -> Iterator[Cassette]:
    from recorder.cassette import DEFAULT_UPSTREAM, Cassette
    from recorder.errors import RtrecError
    from recorder.matching import MatchRules

    options = _marker_options(request)
    upstream = (
        options.get("upstream")
        or request.config.getoption("--realtime-upstream", default=None)
        or os.environ.get("RTREC_UPSTREAM")
        or DEFAULT_UPSTREAM
    )
    failure: str | None = None
    try:
        rules = MatchRules.build(
            ignore=_names(options.get("ignore", ())),
            exact=_names(options.get("exact", ())),
            tolerance=options.get("tolerance"),
        )
        cassette = Cassette(
            realtime_cassette_path,
            realtime_record_mode,
            upstream=upstream,
            match=options.get("match", "strict"),
            speed=options.get("speed"),
            api_key=os.environ.get("OPENAI_API_KEY") or None,
            rules=rules,
        )
    except RtrecError as error:
        failure = f"@pytest.mark.{MARKER}: {error}"
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(cassette.running())
        except RtrecError as error:
            failure = str(error)  # failed outside the except: reported once, not chained
        if failure is not None:
            pytest.fail(failure, pytrace=False)
        yield cassette
    # a problem the call's report did not carry yet (see pytest_runtest_makereport)
    unreported = _unreported(cassette)
    if unreported:
        pytest.fail(unreported, pytrace=False)


def _names(value: Any) -> tuple[str, ...]:
    """A marker's ignore= / exact=: one field name or a list of them."""
    return (value,) if isinstance(value, str) else tuple(value)


def _unreported(cassette: Cassette) -> str | None:
    """What went against the cassette and has not failed the test yet, as one message."""
    problems = cassette.problems()
    fresh = problems[cassette.reported :]
    cassette.reported = len(problems)
    if not fresh:
        return None
    return f"realtime cassette {cassette.path}: " + "\n".join(fresh)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A strict mismatch is the test's failure: its message replaces the client's error (a
    closed socket, which says nothing of why) and fails a test that swallowed the error event."""
    report = yield
    cassette = getattr(item, "funcargs", {}).get("realtime_cassette")
    if call.when == "call" and cassette is not None:
        message = _unreported(cassette)
        if message is not None:
            report.outcome = "failed"
            report.longrepr = message
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an `async def` cassette test that no async plugin takes, on a fresh event loop."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    if not CASSETTE_FIXTURES & set(pyfuncitem.fixturenames):
        return None
    if any(pyfuncitem.get_closest_marker(name) for name in ASYNC_MARKERS):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(function(**arguments))
    return True


@pytest.fixture
def realtime_url(realtime_cassette: Cassette) -> str:
    """websocket_base_url for the OpenAI SDKs: the recorded session, or the recording proxy."""
    return realtime_cassette.url


@pytest.fixture
def realtime_replay() -> Any:
    """recorder.testing.replay, for tests that drive their own receiver from a recording."""
    from recorder.testing import replay

    return replay

