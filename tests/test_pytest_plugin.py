"""The realtime_replay fixture: a user's receiver tested offline against a recorded session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "barge_in.db"

USER_TESTS = '''
from recorder import RealtimeEventReceiver


class Counter(RealtimeEventReceiver):
    def __init__(self):
        super().__init__()
        self.statuses = []

    def on_response_done(self, event_id, response):
        self.statuses.append(response.status)


class WrongTruncate(RealtimeEventReceiver):
    def on_response_done(self, event_id, response):
        if response.status == "cancelled":
            self.send({"type": "response.create"})


def test_counts_responses(realtime_replay):
    counter = Counter()
    realtime_replay("session.db", counter)
    assert counter.statuses == ["cancelled", "completed"]


def test_divergence_fails_the_test(realtime_replay):
    realtime_replay("session.db", WrongTruncate())
'''


def test_realtime_replay_fixture_drives_a_receiver_and_reports_divergence(
    pytester: pytest.Pytester,
) -> None:
    shutil.copy(FIXTURE, pytester.path / "session.db")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*DivergenceError: session * the receiver sent an event while handling seq *"
        "but the recording has no further client event*",
    ])
