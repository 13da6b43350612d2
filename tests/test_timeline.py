"""One timeline everywhere: rtrec replay, every transcript file and conversation.wav place and
mark the same turns (recorder.timeline.turns)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_export import SRT_CUE, VTT_CUE, at, parse, read_wav

from recorder.cli import cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REPLAY_LINE = re.compile(r"^ *\[(\d\d):(\d\d)\.(\d\d\d)\] ", re.M)


def replay_text(db: Path) -> str:
    result = CliRunner().invoke(cli, ["replay", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def export(db: Path, out: Path) -> Path:
    result = CliRunner().invoke(cli, ["export", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def replay_starts(text: str) -> list[int]:
    return [(int(m) * 60 + int(s)) * 1000 + int(ms) for m, s, ms in REPLAY_LINE.findall(text)]


def test_replay_puts_a_user_turn_where_the_transcripts_do(tmp_path: Path) -> None:
    """The user's "Wait, stop." starts at speech start placed on the session clock (3.134 s),
    not at its commit (4.915 s), in replay and in every transcript file."""
    db = FIXTURES / "barge_in.db"
    lines = replay_text(db).splitlines()
    assert lines[5] == '[00:03.134] user (audio 1.4 s): "Wait, stop."'
    assert lines[3] == '[00:00.666] user (audio 1.7 s): "Tell me about the moon."'
    out = export(db, tmp_path / "out")
    assert "`00:00:03.134` **User:** Wait, stop." in (out / "transcript.md").read_text()
    srt = parse((out / "transcript.srt").read_text(), SRT_CUE)
    assert srt[2] == ("3", 3134, 4788, "User: Wait, stop.")
    vtt = parse((out / "transcript.vtt").read_text(), VTT_CUE)
    assert vtt[2][1:] == (3134, 4788, "<v User>Wait, stop.")
    items = json.loads((out / "transcript.json").read_text())["items"]
    assert [round(i["start_ms"]) for i in items] == replay_starts("\n".join(lines))
    # conversation.wav: the user's voice is on the left channel from that moment
    rate, stereo = read_wav(out / "conversation.wav")
    assert np.any(stereo[at(rate, 3134) : at(rate, 3200), 0])


def test_a_cut_off_reply_is_marked_in_every_format(tmp_path: Path) -> None:
    out = export(FIXTURES / "barge_in.db", tmp_path / "out")
    text = "The moon is our only natural satellite and it is slowly drifting away from us."
    mark = "[interrupted: heard 0.6 s of 2.5 s]"
    srt = parse((out / "transcript.srt").read_text(), SRT_CUE)
    assert srt[1] == ("2", 2797, 3414, f"Assistant: {text} {mark}")
    vtt = parse((out / "transcript.vtt").read_text(), VTT_CUE)
    assert vtt[1][1:] == (2797, 3414, f"<v Assistant>{text} {mark}")
    items = json.loads((out / "transcript.json").read_text())["items"]
    assert items[1]["marks"] == ["interrupted: heard 0.6 s of 2.5 s"]
    assert "> _interrupted: heard 0.6 s of 2.5 s_" in (out / "transcript.md").read_text()


def test_a_failed_transcription_is_a_marked_turn_in_every_format(tmp_path: Path) -> None:
    db = FIXTURES / "transcription_failed.db"
    assert replay_text(db).splitlines()[3] == (
        "[00:00.649] user (audio 1.6 s): [transcription failed: Audio could not be transcribed.]"
    )
    out = export(db, tmp_path / "out")
    srt = parse((out / "transcript.srt").read_text(), SRT_CUE)
    assert srt[0] == (
        "1", 649, 2287, "User: [transcription failed: Audio could not be transcribed.]"
    )
    vtt = parse((out / "transcript.vtt").read_text(), VTT_CUE)
    assert vtt[0][3] == "<v User>[transcription failed: Audio could not be transcribed.]"
    assert (
        "`00:00:00.649` **User:** _(transcription failed: Audio could not be transcribed.)_"
        in (out / "transcript.md").read_text()
    )


def test_out_of_band_replies_are_in_every_format_as_replay_shows_them(tmp_path: Path) -> None:
    db = FIXTURES / "out_of_band.db"
    lines = replay_text(db).splitlines()
    assert lines[6:8] == [
        "Out-of-band (not in the conversation):",
        "  [00:04.129] assistant: The user asked to be reminded to buy bread.",
    ]
    out = export(db, tmp_path / "out")
    srt = parse((out / "transcript.srt").read_text(), SRT_CUE)
    assert srt[-1] == (
        "3", 4129, 4307, "Assistant: The user asked to be reminded to buy bread. [out of band]"
    )
    md = (out / "transcript.md").read_text()
    assert (
        "## Out-of-band (not in the conversation)\n\n`00:00:04.129` **Assistant:** The user"
    ) in md
    items = json.loads((out / "transcript.json").read_text())["items"]
    assert [(i["section"], i["out_of_band"]) for i in items][-1] == ("out_of_band", True)


@pytest.mark.parametrize("name", ["barge_in", "function_call", "g711", "out_of_band",
                                  "transcription_failed", "voice_turns", "voice_turns_beta"])
def test_every_format_holds_the_turns_replay_shows_at_the_same_times(
    tmp_path: Path, name: str
) -> None:
    db = FIXTURES / f"{name}.db"
    starts = replay_starts(replay_text(db))
    out = export(db, tmp_path / "out")
    items = json.loads((out / "transcript.json").read_text())["items"]
    assert [round(i["start_ms"]) for i in items] == starts
    srt = parse((out / "transcript.srt").read_text(), SRT_CUE)
    vtt = parse((out / "transcript.vtt").read_text(), VTT_CUE)
    assert sorted(c[1] for c in srt) == sorted(c[1] for c in vtt) == sorted(starts)
    md = (out / "transcript.md").read_text()
    md_starts = re.findall(r"^`(\d\d):(\d\d):(\d\d)\.(\d\d\d)`", md, re.M)
    assert [((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)
            for h, m, s, ms in md_starts] == starts
