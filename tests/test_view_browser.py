"""rtrec view in a real browser: Debian's Chromium, driven by Selenium through chromedriver.

`rtrec view` runs as its own process on copies of the bundled fixtures; the pages are checked
for what they draw (turns, tool spans, truncation shading), what they do (play moves the
playhead, clicking an event shows its frame, filters filter) and photographed at 1280x800 and
on a narrow window (the paths are printed). Without Chromium the tests fail and say how to
install it: CI installs it (apt-get install -y chromium chromium-driver; pip install selenium).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ROOT = FIXTURES.parent
CHROMIUM = os.environ.get("RTREC_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RTREC_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL = ("install Debian's Chromium and its driver: apt-get install -y chromium "
           "chromium-driver, and Selenium: pip install selenium (or set RTREC_CHROMIUM and "
           "RTREC_CHROMEDRIVER)")
WIDE, NARROW = (1280, 800), (420, 800)

pytestmark = pytest.mark.slow


def _need_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: {INSTALL}", pytrace=False)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail(f"selenium is not installed: {INSTALL}", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", f"--window-size={WIDE[0]},{WIDE[1]}",
                     "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(*WIDE)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("view-screenshots")


@contextlib.contextmanager
def rtrec_view(db: str, *args: str) -> Iterator[str]:
    """`rtrec view DB` as a process; yields the URL it prints."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from recorder.cli import main; main()", "view", db, "--listen",
         "127.0.0.1:0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"at (http://\S+)", line)
        if match is None:
            process.kill()
            raise AssertionError(f"rtrec view printed {line!r}; stderr: {process.stderr.read()}")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _copy(tmp_path: Path, name: str) -> str:
    target = tmp_path / f"{name}.db"
    shutil.copyfile(FIXTURES / f"{name}.db", target)
    return str(target)


def _wait(driver: Any, condition: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:  # the page replaced what it was reading: again
            value = None
        if value:
            return value
        time.sleep(0.1)
    logs = [entry["message"] for entry in driver.get_log("browser")]
    raise AssertionError(f"timed out waiting for {what}; browser console: {logs}")


def _open_session(driver: Any, url: str) -> None:
    driver.get(url)
    _wait(driver, lambda: driver.execute_script("return document.body.dataset.ready"),
          "the session page")
    assert driver.execute_script("return document.body.dataset.ready") == "1"


def _count(driver: Any, css: str) -> int:
    from selenium.webdriver.common.by import By

    return len(driver.find_elements(By.CSS_SELECTOR, css))


def _shoot(driver: Any, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 5000  # a page, not a blank
    print(f"\nscreenshot: {path}")
    return path


def _box(driver: Any, css: str) -> dict[str, float]:
    return dict(driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {left: r.left, right: r.right, width: r.width};", css))


def _wave_buckets(driver: Any) -> list[int]:
    """How many peak buckets each audio lane's waveform drew."""
    return list(driver.execute_script(
        "return [...document.querySelectorAll('.lane.audio canvas')]"
        ".map(c => Number(c.dataset.buckets || 0))"))


def test_lanes_turns_and_the_unheard_part(browser: Any, tmp_path: Path, shots: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(*WIDE)
    with rtrec_view(_copy(tmp_path, "barge_in"), "--session", "01a1") as url:
        assert url.endswith("/s/01a1fc8bd58a1df8aa01910d")
        _open_session(browser, url)
        assert _count(browser, ".turn.user") == 2
        assert _count(browser, ".turn.assistant") == 2
        assert _count(browser, ".unheard") == 1  # the barged-in reply, cut at 617 ms of 2.5 s
        assert _count(browser, ".tool-span") == 0
        heard = _box(browser, ".turn.assistant")
        unheard = _box(browser, ".unheard")
        assert abs(unheard["left"] - heard["right"]) < 2
        assert unheard["width"] / heard["width"] == pytest.approx((2480 - 617) / 617, rel=0.05)
        # every frame, but one per kind and direction per pixel or so (283 frames in all)
        assert 200 < int(browser.execute_script("return document.body.dataset.ticks")) <= 283
        assert browser.find_element(By.ID, "export").get_attribute("href").endswith(
            "/api/sessions/01a1fc8bd58a1df8aa01910d/export.zip")
        assert all(count > 0 for count in _wave_buckets(browser))
        with capsys.disabled():
            _shoot(browser, shots, "session-barge_in-1280x800")


def test_a_tool_call_is_a_span(browser: Any, tmp_path: Path, shots: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(*WIDE)
    with rtrec_view(_copy(tmp_path, "function_call"), "--session", "01a1") as url:
        _open_session(browser, url)
        assert _count(browser, ".tool-span") == 1
        tool = browser.find_element(By.CSS_SELECTOR, ".tool-span")
        assert tool.text.startswith("get_weather · ")
        assert 'get_weather({"city":"Lisbon"})' in tool.get_attribute("title")
        assert _box(browser, ".tool-span")["width"] > 3
        assert _count(browser, ".turn.user") == 1 and _count(browser, ".unheard") == 0
        with capsys.disabled():
            _shoot(browser, shots, "session-function_call-1280x800")


def test_play_moves_the_playhead_and_space_pauses(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.set_window_size(*WIDE)
    with rtrec_view(_copy(tmp_path, "voice_turns")) as url:
        _open_session(browser, url.rstrip("/") + "/s/01a1")
        head = browser.find_element(By.ID, "playhead")
        before = float(head.get_attribute("data-ms"))
        left = _box(browser, "#playhead")["left"]
        browser.find_element(By.ID, "play").click()
        _wait(browser, lambda: float(head.get_attribute("data-ms")) > before + 500,
              "the playhead to move")
        assert _box(browser, "#playhead")["left"] > left
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.SPACE)
        _wait(browser, lambda: browser.execute_script("return !document.body.dataset.playing"),
              "pause")
        stopped = float(head.get_attribute("data-ms"))
        time.sleep(0.5)
        assert float(head.get_attribute("data-ms")) == stopped


def test_clicking_an_event_shows_its_frame_and_state(browser: Any, tmp_path: Path,
                                                     shots: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.set_window_size(*WIDE)
    with rtrec_view(_copy(tmp_path, "barge_in"), "--session", "01a1") as url:
        _open_session(browser, url)
        browser.find_element(By.CSS_SELECTOR, '.tick[data-seq="1"]').click()
        raw = browser.find_element(By.ID, "frame-raw")
        _wait(browser, lambda: raw.text.startswith('{"type":"session.created"'), "frame 1")
        assert browser.find_element(By.ID, "frame-head").text.startswith("#1 session.created")
        decoded = json.loads(browser.find_element(By.ID, "frame-decoded").text)
        assert decoded["type"] == "session.created"
        assert "seq=1" in browser.current_url  # the view's own URL
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        _wait(browser, lambda: browser.find_element(By.ID, "frame-head").text.startswith(
            "#2 session.update"), "the next event")
        browser.find_element(By.CSS_SELECTOR, '.tick[data-seq="4"]').click()
        _wait(browser, lambda: "960 bytes of audio" in browser.find_element(
            By.ID, "frame-note").text, "an audio frame")
        assert raw.text == '{"type":"input_audio_buffer.append","audio":""}'
        assert browser.find_element(By.ID, "frame-play").is_displayed()
        browser.find_element(By.ID, "state-here").click()
        state = browser.find_element(By.ID, "state-text")
        _wait(browser, lambda: "Stopped at seq 4 (--until 4)" in state.text, "state here")
        with capsys.disabled():
            _shoot(browser, shots, "session-frame-1280x800")
        shared = browser.current_url
        _open_session(browser, shared)  # the same view from its URL
        _wait(browser, lambda: browser.find_element(By.ID, "frame-head").text.startswith(
            "#4 input_audio_buffer.append"), "the shared view's frame")


def test_the_kind_filter_hides_ticks(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(*WIDE)
    with rtrec_view(_copy(tmp_path, "barge_in"), "--session", "01a1") as url:
        _open_session(browser, url)
        assert _count(browser, '.tick[data-kind="input"]') > 100
        browser.find_element(By.CSS_SELECTOR, '#kinds input[value="input"]').click()
        _wait(browser, lambda: _count(browser, '.tick[data-kind="input"]') == 0, "the filter")
        assert _count(browser, '.tick[data-kind="response"]') > 0


def _store(tmp_path: Path) -> str:
    from click.testing import CliRunner

    from recorder.cli import cli

    path = str(tmp_path / "many.db")
    names = ("barge_in", "function_call", "voice_turns")
    result = CliRunner().invoke(cli, ["import", path, *(str(FIXTURES / f"{n}.jsonl")
                                                        for n in names)])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(path) as db:
        [first, *_] = db.execute("SELECT id FROM sessions ORDER BY pk").fetchall()
        db.execute("UPDATE sessions SET status = 'incomplete', model = 'gpt-other' WHERE id = ?",
                   first)
    return path


def test_the_sessions_page_lists_sorts_and_filters(browser: Any, tmp_path: Path, shots: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.set_window_size(*WIDE)
    with rtrec_view(_store(tmp_path)) as url:
        browser.get(url)
        _wait(browser, lambda: _count(browser, "#sessions tbody tr") == 3, "three sessions")
        _wait(browser, lambda: "…" not in browser.find_element(By.ID, "sessions").text,
              "the counts")
        turns = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td.turns")]
        assert sorted(turns) == ["1", "2", "2"]
        with capsys.disabled():
            _shoot(browser, shots, "sessions-1280x800")
        browser.find_element(By.CSS_SELECTOR, 'th[data-sort="frames"]').click()
        _wait(browser, lambda: "sort=frames" in browser.current_url, "sorting")
        _wait(browser, lambda: [row.get_attribute("data-id") for row in browser.find_elements(
            By.CSS_SELECTOR, "#sessions tbody tr")] and [cell.text for cell in
            browser.find_elements(By.CSS_SELECTOR, "#sessions tbody tr td:nth-child(6)")] == [
            "183", "283", "293"], "frames ascending")
        Select(browser.find_element(By.ID, "status")).select_by_value("incomplete")
        _wait(browser, lambda: _count(browser, "#sessions tbody tr") == 1, "the status filter")
        row = browser.find_element(By.CSS_SELECTOR, "#sessions tbody tr")
        assert row.get_attribute("data-status") == "incomplete"
        assert "status=incomplete" in browser.current_url
        Select(browser.find_element(By.ID, "status")).select_by_value("")
        Select(browser.find_element(By.ID, "model")).select_by_value("gpt-realtime-2025-08-28")
        _wait(browser, lambda: _count(browser, "#sessions tbody tr") == 2, "the model filter")
        browser.find_element(By.CSS_SELECTOR, "#sessions tbody tr td.id a").click()
        _wait(browser, lambda: browser.execute_script("return document.body.dataset.ready"),
              "a session page from the list")


def test_pages_fit_a_narrow_window(browser: Any, tmp_path: Path, shots: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    browser.set_window_size(*NARROW)
    try:
        with rtrec_view(_copy(tmp_path, "barge_in")) as url:
            _open_session(browser, url.rstrip("/") + "/s/01a1")
            assert _count(browser, ".turn.user") == 2 and _count(browser, ".unheard") == 1
            inner = browser.execute_script("return window.innerWidth")
            assert _box(browser, "#timeline")["right"] <= inner
            assert _box(browser, "#frame-panel")["right"] <= inner
            with capsys.disabled():
                _shoot(browser, shots, f"session-barge_in-{NARROW[0]}x{NARROW[1]}")
            browser.get(url)
            _wait(browser, lambda: _count(browser, "#sessions tbody tr") == 1, "the list")
            with capsys.disabled():
                _shoot(browser, shots, f"sessions-{NARROW[0]}x{NARROW[1]}")
    finally:
        browser.set_window_size(*WIDE)


def test_a_token_url_is_carried_once_then_kept_in_a_cookie(browser: Any, tmp_path: Path) -> None:
    browser.set_window_size(*WIDE)
    with rtrec_view(_copy(tmp_path, "barge_in"), "--token", "tok-123") as url:
        assert url.endswith("/?rtrec_token=tok-123")
        browser.get(url)
        _wait(browser, lambda: _count(browser, "#sessions tbody tr") == 1, "the list")
        assert "rtrec_token" not in browser.current_url
        browser.get(url.split("?")[0] + "s/01a1")  # no token in this URL: the cookie has it
        _open_session(browser, browser.current_url)
        assert _count(browser, ".turn.user") == 2
        browser.delete_all_cookies()


def test_no_audio_and_an_unknown_frame_are_said_so(browser: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from selenium.webdriver.common.by import By

    from recorder.cli import cli

    lines = (FIXTURES / "voice_turns.jsonl").read_text().splitlines()
    kept = [json.loads(line) for line in lines if "audio.delta" not in line
            and "input_audio_buffer.append" not in line]
    odd = dict(kept[5], frame='{"type":"brand.new_event","event_id":"e1"}',
               type="brand.new_event", direction="server")
    kept.insert(6, odd)
    for seq, line in enumerate(kept, 1):
        line["seq"] = seq
    events = tmp_path / "silent.jsonl"
    events.write_text("".join(json.dumps(line) + "\n" for line in kept))
    db = str(tmp_path / "silent.db")
    result = CliRunner().invoke(cli, ["import", db, str(events)])
    assert result.exit_code == 0, result.output
    browser.set_window_size(*WIDE)
    with rtrec_view(db) as url:
        _open_session(browser, url.rstrip("/") + "/s/" + result.output.split()[0])
        notes = browser.find_element(By.ID, "notes").text
        assert "this session has no audio: the lanes show its turns without waveforms" in notes
        assert "1 frames could not be decoded: shown as unknown events" in notes
        assert [n.text for n in browser.find_elements(By.CSS_SELECTOR, ".nowave")] == [
            "no audio recorded"] * 2
        assert _count(browser, ".turn.user") == 2  # the turns are still there
        tick = browser.find_element(By.CSS_SELECTOR, '.tick[data-seq="7"]')
        browser.execute_script("arguments[0].click()", tick)  # its neighbour shares its pixel
        head = browser.find_element(By.ID, "frame-head")
        _wait(browser, lambda: head.text.startswith("#7 brand.new_event"), "the unknown frame")
        assert "unknown" in head.text
        assert browser.find_element(By.ID, "frame-raw").text == (
            '{"type":"brand.new_event","event_id":"e1"}')


_WITH_FIGURES = r"""
import asyncio, sys
from recorder.stats.figures import SessionFigures, TurnFigures
from recorder.view.server import ViewServer

async def figures(source, session):
    return SessionFigures(turns=[
        TurnFigures(index=1, item_id="a", speech_end_wire_ms=2400.0, voice_to_voice_ms=700.0),
        TurnFigures(index=2, item_id="b", speech_end_wire_ms=None, voice_to_voice_ms=None)])

async def main():
    server = ViewServer(sys.argv[1], port=0, figures=figures)
    print("rtrec: viewing at", await server.start("01a1"), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()

asyncio.run(main())
"""


def test_a_turns_latency_marker_from_the_turn_figures(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", _WITH_FIGURES, _copy(tmp_path, "barge_in")],
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        browser.set_window_size(*WIDE)
        _open_session(browser, url)
        [marker] = browser.find_elements(By.CSS_SELECTOR, ".latency")
        assert marker.text == "v2v 700 ms"
        assert marker.get_attribute("title") == "turn 1: voice to voice 700 ms"
        timeline = _box(browser, "#timeline")
        span = browser.execute_script("return window.rtrecView.view.span")
        assert _box(browser, ".latency")["width"] == pytest.approx(
            700 / span * timeline["width"], abs=2)
        assert browser.find_element(By.ID, "figures-note").text == ""
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_sessions_page_searches_the_transcripts(browser: Any, tmp_path: Path,
                                                    shots: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(*WIDE)
    with rtrec_view(_store(tmp_path)) as url:
        browser.get(url)
        _wait(browser, lambda: _count(browser, "#sessions tbody tr") == 3, "three sessions")
        box = browser.find_element(By.ID, "q")
        box.send_keys("lisbon")
        _wait(browser, lambda: _count(browser, "#sessions tbody tr") == 2, "two about Lisbon")
        assert "q=lisbon" in browser.current_url
        frames = sorted(cell.text for cell in browser.find_elements(
            By.CSS_SELECTOR, "#sessions tbody tr td:nth-child(6)"))
        assert frames == ["183", "293"]  # function_call, voice_turns
        box.send_keys(" capit")  # every word, each as a word's start
        _wait(browser, lambda: [cell.text for cell in browser.find_elements(
            By.CSS_SELECTOR, "#sessions tbody tr td:nth-child(6)")] == ["293"], "one capital")
        with capsys.disabled():
            _shoot(browser, shots, "sessions-search")
        box.clear()
        box.send_keys("zebra")
        _wait(browser, lambda: _count(browser, "#sessions tbody tr") == 0, "nothing found")
        assert "no session's transcripts have all these words" in browser.find_element(
            By.ID, "notes").text


def test_a_live_session_shows_its_segments_and_tool_calls(
        browser: Any, tmp_path: Path, shots: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from selenium.webdriver.common.by import By

    from recorder.live.fold import LiveFold
    from recorder.replay import fold_recording

    source = _copy(tmp_path, "live_tool_call")
    _, fold, _ = asyncio.run(fold_recording(source))
    assert isinstance(fold, LiveFold)
    speakers = [segment.speaker for segment in fold.segments]
    calls = [call for delegation in fold.delegations for call in delegation.tool_calls]
    browser.set_window_size(*WIDE)
    with rtrec_view(source) as url:
        with contextlib.closing(sqlite3.connect(source)) as db:
            sid = db.execute("SELECT id FROM sessions").fetchone()[0]
        browser.get(url)
        _wait(browser, lambda: _count(browser, "#sessions tbody tr") == 1, "the Live session")
        row = browser.find_element(By.CSS_SELECTOR, "#sessions tbody tr")
        assert row.get_attribute("data-id") == sid
        assert row.find_element(By.CSS_SELECTOR, "td.protocol").text == "live"
        _wait(browser, lambda: row.find_element(By.CSS_SELECTOR, "td.turns").text ==
              str(speakers.count("user")), "the Live session's turns")
        _open_session(browser, url.rstrip("/") + f"/s/{sid}")
        assert _count(browser, ".turn.user") == speakers.count("user") > 0
        assert _count(browser, ".turn.assistant") == speakers.count("assistant") > 0
        assert _count(browser, '.tool-span[data-kind="tool_call"]') == len(calls) > 0
        assert _count(browser, ".tool-span.delegation") == len(fold.delegations)
        assert _count(browser, ".unheard") == 0
        note = browser.find_element(By.CSS_SELECTOR, '.lane-note[data-lane="assistant"]')
        assert "says nothing about what the listener heard" in note.text
        tool = browser.find_element(By.CSS_SELECTOR, '.tool-span[data-kind="tool_call"]')
        assert tool.text.startswith(f"{calls[0].name} · ")
        assert _count(browser, '.tick[data-kind="unknown"]') == 0
        assert _count(browser, '.tick[data-kind="delegation"]') == 1
        assert all(count > 0 for count in _wave_buckets(browser))
        with capsys.disabled():
            _shoot(browser, shots, "session-live_tool_call-1280x800")
