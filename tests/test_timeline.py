"""One timeline everywhere: rtrec replay, every transcript file and conversation.wav place and
mark the same turns (recorder.timeline.turns)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from test_conversation import Session, b64, fold, user_audio
from test_export import SRT_CUE, VTT_CUE, at, parse, read_wav

from recorder.cli import cli
from recorder.conversation_model import AudioTurn, Conversation, Item
from recorder.render import render_text
from recorder.testing import record_frames
from recorder.timeline import turns
from recorder.transcripts import markdown, marks, srt, to_json, vtt

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
    replayed = json.loads(CliRunner().invoke(cli, ["replay", str(db), "--json"]).output)
    timeline = [{key: i[key] for key in replayed["timeline"][0]} for i in items]
    assert replayed["timeline"] == timeline  # rtrec replay --json: the same turns and marks
    srt = parse((out / "transcript.srt").read_text(), SRT_CUE)
    vtt = parse((out / "transcript.vtt").read_text(), VTT_CUE)
    assert sorted(c[1] for c in srt) == sorted(c[1] for c in vtt) == sorted(starts)
    md = (out / "transcript.md").read_text()
    md_starts = re.findall(r"^`(\d\d):(\d\d):(\d\d)\.(\d\d\d)`", md, re.M)
    assert [((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)
            for h, m, s, ms in md_starts] == starts


# --- output that tells where you are (rtrec replay) -------------------------------------------


def test_replay_until_says_where_the_view_stops() -> None:
    db = str(FIXTURES / "barge_in.db")
    result = CliRunner().invoke(cli, ["replay", db, "--until", "150"])
    assert result.exit_code == 0
    assert result.output.splitlines()[1] == (
        "Stopped at seq 150 (--until 150) of 283 frames: the state at that point, later frames "
        "not shown"
    )
    whole = CliRunner().invoke(cli, ["replay", db])
    assert "Stopped at" not in whole.output and "--until" not in whole.output
    past = CliRunner().invoke(cli, ["replay", db, "--until", "99999"])
    assert past.exit_code == 0
    lines = past.output.splitlines()
    assert lines[1] == (
        "--until 99999 is past the end of the session (last seq 283): showing all of it"
    )
    assert lines[:1] + lines[2:] == whole.output.splitlines()  # and all of it is there
    start = CliRunner().invoke(cli, ["replay", db, "--until", "0"])
    assert start.output.splitlines()[1] == (
        "Stopped at the start (--until 0) of 283 frames: the state at that point, later frames "
        "not shown"
    )
    as_json = json.loads(CliRunner().invoke(cli, ["replay", db, "--until", "150",
                                                  "--json"]).output)
    assert (as_json["until"], as_json["last_seq"]) == (150, 150)
    assert as_json["note"].startswith("Stopped at seq 150 ")


async def test_paced_lines_come_out_when_their_time_comes() -> None:
    from recorder.render import render_lines
    from recorder.replay import pace_lines
    from recorder.store import open_log

    fake_time = [0.0]
    written: list[tuple[float, str]] = []

    async def sleep(seconds: float) -> None:
        fake_time[0] += seconds

    def write(line: str) -> None:
        written.append((round(fake_time[0], 3), line))

    from recorder.conversation import fold_log

    log = await open_log(str(FIXTURES / "barge_in.db"), create=False)
    try:
        fold = await fold_log(log, await log.get_session(None))
    finally:
        await log.close()
    lines = render_lines(fold.conversation)
    await pace_lines(lines, 2.0, write, sleep=sleep, now=lambda: fake_time[0])
    assert [line for _, line in written] == [line for _, line in lines]
    turns = [(at, line[:11]) for at, line in written if line.startswith("[")]
    # at speed 2, each turn's line is written at half its start on the session timeline
    assert turns == [(0.333, "[00:00.666]"), (1.399, "[00:02.797]"), (1.567, "[00:03.134]"),
                     (2.611, "[00:05.222]")]
    assert written[-1] == (2.818, "Responses: 2 (1 cancelled, 1 completed); 450 tokens")


# --- the definitions, on a conversation built by hand (no sockets, no database) --------------


def hand_made() -> Conversation:
    """A user turn with no input audio recorded, a text reply, a tool call, a deleted reply."""
    conversation = Conversation()
    user = Item("item_u", t_ns=2_000_000_000, type="message", role="user", placed=True,
                turn=AudioTurn("item_u", 100, 900, speech_started_t_ns=1_200_000_000,
                               speech_stopped_t_ns=1_900_000_000,
                               committed_t_ns=2_000_000_000))
    user.part(0).type = "input_audio"
    user.part(0).transcript = "Hello?"
    reply = Item("item_a", t_ns=2_100_000_000, type="message", role="assistant", placed=True,
                 response_id="resp_1")
    reply.part(0).text = "Hi."
    reply.part(0).first_text_t_ns, reply.part(0).last_text_t_ns = 2_300_000_000, 2_450_000_000
    call = Item("item_c", t_ns=2_500_000_000, type="function_call", placed=True,
                name="lookup", arguments='{"q":1}', call_id="call_1", response_id="resp_1")
    gone = Item("item_d", t_ns=3_000_000_000, type="message", role="assistant",
                response_id="resp_2", deleted=True)
    gone.part(0).text = "Never mind."
    for item in (user, reply, call, gone):
        conversation.items[item.id] = item
    conversation.order = ["item_u", "item_a", "item_c"]
    return conversation


def test_turn_spans_follow_the_one_definition() -> None:
    entries = turns(hand_made())
    assert [(e.item_id, e.section, e.start_ms, e.end_ms) for e in entries] == [
        ("item_u", "conversation", 1200.0, 1900.0),  # no input audio: speech_started..stopped
        ("item_a", "conversation", 2300.0, 2450.0),  # a text reply: first to last text delta
        ("item_c", "conversation", 2500.0, 2500.0),  # a tool call: an instant
        ("item_d", "deleted", 3000.0, 3000.0),
    ]
    assert [marks(e) for e in entries] == [[], [], [], ["deleted"]]


def test_every_format_shows_the_deleted_turn_and_the_tool_call() -> None:
    conversation = hand_made()
    entries = turns(conversation)
    assert srt(entries).splitlines() == [
        "1", "00:00:01,200 --> 00:00:01,900", "User: Hello?", "",
        "2", "00:00:02,300 --> 00:00:02,450", "Assistant: Hi.", "",
        "3", "00:00:02,500 --> 00:00:03,500", 'Tool call: lookup({"q":1})', "",
        "4", "00:00:03,000 --> 00:00:04,000", "Assistant: Never mind. [deleted]",
    ]
    assert vtt(entries).splitlines()[-3:] == [
        "item_d", "00:00:03.000 --> 00:00:04.000", "<v Assistant>Never mind. [deleted]",
    ]
    md = markdown(entries, "T", [])
    assert "## Deleted\n\n`00:00:03.000` **Assistant:** Never mind." in md
    text = render_text(conversation).splitlines()
    assert text[2:] == [
        "[00:01.200] user (audio 0.8 s): \"Hello?\"",
        "[00:02.300] assistant: Hi.",
        '[00:02.500] assistant calls lookup({"q":1}) [call call_1]',
        "",
        "Deleted:",
        "  [00:03.000] assistant: Never mind.",
        "",
        "Responses: none",
    ]
    assert json.loads(to_json(entries, {}))["items"][-1]["deleted"] is True


# --- an empty transcript is a value: the turn is there, marked, in every format ---------------


def no_speech_session() -> list[Any]:
    """Two user turns: the first transcribed as "" (nothing was said, as after an idle
    timeout), the second never transcribed."""
    s = Session()
    s.S("session.created", session={
        "type": "realtime", "object": "realtime.session", "id": "sess_1", "model": "gpt-realtime",
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}},
                  "output": {"format": {"type": "audio/pcm", "rate": 24000}}}})
    s.C("input_audio_buffer.append", audio=b64(96000))  # 2000 ms of pcm16
    for n, (start, end) in enumerate(((100, 900), (1000, 1800)), start=1):
        s.S("input_audio_buffer.speech_started", item_id=f"item_u{n}", audio_start_ms=start)
        s.S("input_audio_buffer.speech_stopped", item_id=f"item_u{n}", audio_end_ms=end)
        s.S("input_audio_buffer.committed", item_id=f"item_u{n}", previous_item_id=None)
        s.S("conversation.item.added", previous_item_id=f"item_u{n - 1}" if n > 1 else None,
            item=user_audio(f"item_u{n}"))
    s.S("conversation.item.input_audio_transcription.completed", item_id="item_u1",
        content_index=0, transcript="")
    return s.frames


def test_an_empty_transcript_is_an_empty_turn_not_a_missing_one(tmp_path: Path) -> None:
    frames = no_speech_session()
    conversation = fold(frames)
    user1, user2 = conversation.ordered_items()
    assert (user1.transcript, user2.transcript) == ("", None)
    entries = turns(conversation)
    assert [(e.text, marks(e)) for e in entries] == [
        ("", ["no speech"]), (None, ["no transcript"]),
    ]
    assert srt(entries) == (
        "1\n00:00:00,100 --> 00:00:00,900\nUser: [no speech]\n\n"
        "2\n00:00:01,000 --> 00:00:01,800\nUser: [no transcript]\n"
    )
    assert vtt(entries) == (
        "WEBVTT\n\n"
        "item_u1\n00:00:00.100 --> 00:00:00.900\n<v User>[no speech]\n\n"
        "item_u2\n00:00:01.000 --> 00:00:01.800\n<v User>[no transcript]\n"
    )
    assert markdown(entries, "T", []) == (
        "# T\n\n"
        "`00:00:00.100` **User:** _(no speech)_\n\n"
        "`00:00:01.000` **User:** _(no transcript)_\n"
    )
    items = json.loads(to_json(entries, {}))["items"]
    assert [(i["text"], i["transcript"], i["marks"], i["content"][0]["transcript"])
            for i in items] == [
        ("", "", ["no speech"], ""), (None, None, ["no transcript"], None),
    ]
    # rtrec replay and replay --json, from the recorded session
    db = tmp_path / "s.db"
    record_frames(db, frames, protocol="ga", model="gpt-realtime")
    assert replay_text(db).splitlines()[3:5] == [
        '[00:00.100] user (audio 0.8 s): "" [no speech]',
        "[00:01.000] user (audio 0.8 s): [no transcript]",
    ]
    replayed = json.loads(CliRunner().invoke(cli, ["replay", str(db), "--json"]).output)
    assert [i["transcript"] for i in replayed["items"]] == ["", None]
    assert [(t["text"], t["marks"]) for t in replayed["timeline"]] == [
        ("", ["no speech"]), (None, ["no transcript"]),
    ]
    out = export(db, tmp_path / "out")
    assert (out / "transcript.srt").read_text() == srt(entries)
    assert (out / "transcript.vtt").read_text() == vtt(entries)
    assert "`00:00:00.100` **User:** _(no speech)_\n" in (out / "transcript.md").read_text()
    exported = json.loads((out / "transcript.json").read_text())["items"]
    assert [(i["text"], i["marks"]) for i in exported] == [
        ("", ["no speech"]), (None, ["no transcript"]),
    ]
