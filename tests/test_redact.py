"""recorder.redact: secrets out of frames, headers, subprotocols and URLs; nothing else touched."""

from __future__ import annotations

import base64
import json
import random
import re

import pytest

from recorder.redact import (
    REDACTED,
    REDACTED_UNPARSED,
    FrameRedactor,
    Redaction,
    is_secret_param,
    redact_frame,
    redact_headers,
    redact_protocols,
    redact_url,
    secrets_in_handshake,
)

KEY = "sk-proj-abcdefghijklmnop0123"


def test_client_secret_object_value_is_replaced_and_the_rest_kept_byte_for_byte() -> None:
    frame = (b'{"type":"session.created","session":{"id":"s","client_secret":'
             b'{"expires_at":17,"value":"ek_68a1b2c3d4"},"voice":"alloy"}}')
    out = redact_frame(frame)
    assert out == frame.replace(b"ek_68a1b2c3d4", REDACTED.encode())
    assert json.loads(out)["session"]["client_secret"] == {"expires_at": 17, "value": REDACTED}


def test_client_secret_as_a_plain_string_and_with_spaces() -> None:
    frame = b'{"type": "x", "client_secret" : "ek_abc\\"def_123", "n": 1}'
    out = redact_frame(frame)
    assert json.loads(out) == {"type": "x", "client_secret": REDACTED, "n": 1}


def test_every_client_secret_in_a_frame_is_replaced() -> None:
    frame = json.dumps({"a": {"client_secret": {"value": "ek_one_11111"}},
                        "b": [{"client_secret": {"value": "ek_two_22222", "expires_at": 1}}]})
    out = redact_frame(frame.encode()).decode()
    assert "ek_one" not in out and "ek_two" not in out
    assert out.count(REDACTED) == 2


def test_known_secrets_are_replaced_anywhere_in_a_frame() -> None:
    frame = f'{{"type":"conversation.item.create","text":"my key is {KEY}!"}}'.encode()
    assert redact_frame(frame, [KEY]) == frame.replace(KEY.encode(), REDACTED.encode())


def test_frames_without_secrets_come_back_as_the_same_object() -> None:
    redactor = FrameRedactor([KEY])
    frame = b'{"type":"response.output_audio.delta","delta":"AAAA"}'
    assert redactor(frame) is frame


def test_short_values_are_never_treated_as_secrets() -> None:
    # A 1-character "key" would otherwise wipe that character from every frame.
    assert FrameRedactor(["a"])(b'{"type":"a"}') == b'{"type":"a"}'
    assert secrets_in_handshake({"Authorization": "Bearer x"}, []) == set()


def test_secrets_in_handshake_collects_every_form() -> None:
    found = secrets_in_handshake(
        {"Authorization": f"Bearer {KEY}", "api-key": "azure-key-123456789", "X-Other": "v"},
        ["realtime", "openai-insecure-api-key.ek_browser_key_1234"],
        env_key="sk-env-key-00000000",
    )
    assert found == {KEY, "azure-key-123456789", "ek_browser_key_1234", "sk-env-key-00000000"}


def test_headers_protocols_and_urls_are_safe_to_print() -> None:
    assert redact_headers({"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "realtime=v1"}) == {
        "Authorization": REDACTED, "OpenAI-Beta": "realtime=v1"}
    assert redact_protocols(["realtime", f"openai-insecure-api-key.{KEY}"]) == [
        "realtime", f"openai-insecure-api-key.{REDACTED}"]
    url = redact_url(f"wss://user:pw@example.net/openai/realtime?deployment=d&api-key={KEY}")
    assert url == "wss://example.net/openai/realtime?deployment=d&api-key=[REDACTED]"
    assert redact_url("wss://api.openai.com/v1/realtime") == "wss://api.openai.com/v1/realtime"


@pytest.mark.parametrize(
    "name",
    ["api-key", "API-Key", "api_key", "apikey", "key", "token", "access_token", "rtrec_token",
     "client_secret", "sig", "signature", "authorization", "password", "secret", "x-credential"],
)
def test_a_secret_like_parameter_name_is_secret_whatever_its_value(name: str) -> None:
    assert is_secret_param(name, "v")


@pytest.mark.parametrize(
    "value", [KEY, "ek_68a1b2c3d4e5", "Bearer abc", "bearer eyJhbGciOi", "Basic dXNlcjpwdw=="]
)
def test_a_credential_shaped_value_is_secret_whatever_its_name(value: str) -> None:
    assert is_secret_param("x", value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("model", "gpt-realtime"), ("deployment", "gpt-4o-realtime"), ("api-version", "2025-04-01"),
     ("intent", "transcription"), ("task", "ask-me")],
)
def test_harmless_parameters_are_not_secret(name: str, value: str) -> None:
    assert not is_secret_param(name, value)


def test_redact_url_marks_or_drops_secrets_and_keeps_the_rest_as_written() -> None:
    url = (f"wss://me:pw@host.test:8443/openai/realtime?api-version=2025-04-01&deployment=a%20b"
           f"&API_KEY={KEY}&x=Bearer%20{KEY}&sig=s&model=gpt-realtime#access_token=t")
    assert redact_url(url) == (
        "wss://host.test:8443/openai/realtime?api-version=2025-04-01&deployment=a%20b"
        f"&API_KEY={REDACTED}&x={REDACTED}&sig={REDACTED}&model=gpt-realtime"
    )
    assert redact_url(url, marked=False) == (
        "wss://host.test:8443/openai/realtime?api-version=2025-04-01&deployment=a%20b"
        "&model=gpt-realtime"
    )
    assert redact_url(f"wss://h.test/v1/realtime?token={KEY}", marked=False) == (
        "wss://h.test/v1/realtime"
    )


def test_a_url_too_broken_to_parse_keeps_no_user_info_query_or_fragment() -> None:
    broken = f"wss://user:{KEY}@[::1/v1/realtime?api-key={KEY}#t"
    assert redact_url(broken) == "wss://[::1/v1/realtime"


def _secret_free(value: object, under_secret: bool = False) -> bool:
    """True when every string under a client_secret key (any depth) is the marker."""
    if isinstance(value, dict):
        return all(_secret_free(v, under_secret or k == "client_secret") for k, v in value.items())
    if isinstance(value, list):
        return all(_secret_free(v, under_secret) for v in value)
    return not (under_secret and isinstance(value, str) and value != REDACTED)


def _with_secrets_marked(value: object, under_secret: bool = False,
                         learnt: frozenset[str] = frozenset()) -> object:
    """What the redacted frame must decode to: those strings replaced, and a secret value
    (a client_secret string or its "value") equal elsewhere in the frame too; nothing else."""
    if isinstance(value, dict):
        return {k: _with_secrets_marked(v, under_secret or k == "client_secret", learnt)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_with_secrets_marked(v, under_secret, learnt) for v in value]
    secret = isinstance(value, str) and (
        under_secret or value in learnt or re.fullmatch(r"(ek_|sk-)[A-Za-z0-9_-]{8,}", value))
    return REDACTED if secret else value


def _secret_values(value: object) -> frozenset[str]:
    """The strings directly under a client_secret key, or in its object's "value"."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "client_secret" and isinstance(v, str):
                found.add(v)
            elif k == "client_secret" and isinstance(v, dict) and isinstance(v.get("value"), str):
                found.add(v["value"])
            found |= _secret_values(v)
    elif isinstance(value, list):
        for v in value:
            found |= _secret_values(v)
    return frozenset(found)


FORMS = {
    "flat": b'{"type":"s","client_secret":{"value":"ek_flat_0123456","expires_at":17}}',
    "nested": b'{"type":"session.created","session":{"client_secret":{"expires_at":'
              b'{"anchor":"created_at","seconds":600},"value":"ek_nested_0123456"},'
              b'"created_at":"created_at"}}',
    "string": b'{"type": "x", "client_secret" : "ek_string_0123456", "n": [1, "ek_other"]}',
    "escaped": b'{"type":"x","client_secret":{"value":"ek_\\u0065sc\\"aped\\\\_0123"},'
               b'"note":"a \\"client_secret\\" in text"}',
    "in arrays": b'{"type":"x","items":[{"client_secret":["ek_array_0123456",{"v":"ek_deep_01"}]},'
                 b'{"client_secret":{"value":"ek_second_0123"}},"ek_array_0123456"]}',
}


def test_every_string_under_client_secret_is_replaced_at_any_depth() -> None:
    for name, frame in FORMS.items():
        out = redact_frame(frame)
        decoded = json.loads(frame)
        assert json.loads(out) == _with_secrets_marked(
            decoded, learnt=_secret_values(decoded)), name
        assert _secret_free(json.loads(out)), name
        assert redact_frame(out) == out, f"{name}: an already redacted frame stays as it is"


def test_only_the_secret_strings_change_byte_for_byte() -> None:
    frame = FORMS["nested"]
    out = redact_frame(frame)
    assert b"ek_nested" not in out
    assert out == (frame.replace(b'"created_at","seconds"', b'"[REDACTED]","seconds"')
                   .replace(b'"ek_nested_0123456"', b'"[REDACTED]"'))
    # the same string outside client_secret (a value, and keys) is left alone
    assert json.loads(out)["session"]["created_at"] == "created_at"
    escaped = redact_frame(FORMS["escaped"])
    assert escaped.endswith(b'"note":"a \\"client_secret\\" in text"}')
    in_arrays = json.loads(redact_frame(FORMS["in arrays"]))
    # a key seen under client_secret is a secret of the session: outside it too
    assert in_arrays["items"][2] == REDACTED


def test_a_broken_frame_keeps_nothing_after_its_client_secret_key() -> None:
    frame = b'{"type":"x","client_secret": {"value": "ek_cut_0123456'
    assert redact_frame(frame) == b'{"type":"x","client_secret":"[REDACTED:unparsed]"'
    assert redact_frame(b'\x00\xff"client_secret"\x00ek_bin_0123') == (
        b'\x00\xff"client_secret":"[REDACTED:unparsed]"'
    )


# -- a session's secrets: learnt once, redacted everywhere after; never a raise ----------------

def test_a_key_spelled_with_json_escapes_is_recognised() -> None:
    for key in (b"client\\u005fsecret", b"\\u0063lient_secret", b"\\u0063\\u006C\\u0069ent_secret"):
        frame = b'{"type":"x","s":{"' + key + b'":{"value":"plain-secret-123"}}}'
        out = redact_frame(frame)
        assert out == frame.replace(b"plain-secret-123", REDACTED.encode()), key
    text = b'{"type":"x","t":"client\\u005fsecret: plain-secret-123"}'  # in text: not a key
    assert redact_frame(text) == text


def test_a_secret_seen_once_is_redacted_later_in_the_session_and_only_there() -> None:
    session, other = FrameRedactor([KEY]), FrameRedactor([KEY])
    assert session(b'{"client_secret":"first-secret-42"}') == b'{"client_secret":"[REDACTED]"}'
    assert session(b'{"client_secret":{"value":"second-secret-42","x":"not-learnt-1"}}') == (
        b'{"client_secret":{"value":"[REDACTED]","x":"[REDACTED]"}}')
    later = b'{"t":"first-secret-42 second-secret-42 not-learnt-1"}'
    assert session(later) == b'{"t":"[REDACTED] [REDACTED] not-learnt-1"}'
    assert session(b"\x00first-secret-42") == b"\x00[REDACTED]", "binary frames too"
    assert other(later) is later, "another session never saw them"
    ek = b'{"type":"x","e":"ek_abcdefgh12345678"}'
    assert session(ek) == b'{"type":"x","e":"[REDACTED]"}'
    assert session(b"ek_abc first-secret-4") == b"ek_abc first-secret-4", "too short, a prefix"
    assert session(b'"(ek_abcdefgh12345678)"') == b'"([REDACTED])"'
    assert session(b'{"t":"seek_position_12345 task-master-123456"}') == (
        b'{"t":"seek_position_12345 task-master-123456"}'), "words that only contain the shape"


def test_deep_frames_are_walked_without_recursion() -> None:
    deep = b'{"type":"x","a":' + b"[" * 100_000 + b'{"client_secret":"deep-secret-1"}' + (
        b"]" * 100_000) + b"}"
    assert redact_frame(deep) == deep.replace(b"deep-secret-1", REDACTED.encode())
    broken = b'{"a":' + b"[" * 100_000 + b'{"client_secret":"deep-secret-1'
    assert redact_frame(broken) == b'{"a":' + b"[" * 100_000 + (
        b'{"client_secret":"[REDACTED:unparsed]"')


def _random_value(rng: random.Random, depth: int, secrets: list[str]) -> object:
    roll = rng.random()
    if depth > 6 or roll < 0.3:
        return rng.choice([1, 2.5, None, True, "text", "é\u2028\"\\", "", "value"])
    if roll < 0.45:
        secret = f"sec-{rng.randrange(10**9):09d}"
        secrets.append(secret)
        return {"client_secret": secret} if rng.random() < 0.5 else {
            "client_secret": {"value": secret, "expires_at": rng.randrange(9)}}
    if roll < 0.7:
        return [_random_value(rng, depth + 1, secrets) for _ in range(rng.randrange(4))]
    return {rng.choice(["a", "value", "type", "client", "secret"]): _random_value(
        rng, depth + 1, secrets) for _ in range(rng.randrange(4))}


def test_redaction_never_raises_and_never_lets_a_secret_through() -> None:
    """A bounded, seeded property run: random JSON (escaped or not, spaced or not) with
    client_secrets anywhere, then the same bytes mutated; the secrets never survive, valid
    JSON stays valid, and nothing raises."""
    rng = random.Random(6)
    for _ in range(1500):
        secrets: list[str] = []
        value = {"type": "x", "v": _random_value(rng, 0, secrets)}
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5,
                          separators=rng.choice([(",", ":"), (", ", ": ")]))
        if rng.random() < 0.3:
            text = text.replace('"client_secret"', '"client\\u005fsecret"')
        frame = text.encode()
        redactor = FrameRedactor([KEY])
        out = redactor(frame)
        json.loads(out)
        assert not any(secret.encode() in out for secret in secrets), text
        mutated = bytearray(frame)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(mutated) + 1)
            mutated[at:at] = rng.choice([b"\xff", b"[", b'"', b"\\", b"}", KEY.encode()])
        out = redactor(bytes(mutated))
        assert KEY.encode() not in out
        assert not any(secret.encode() in out for secret in secrets), bytes(mutated)


def test_when_the_walk_itself_fails_the_byte_scan_still_redacts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import recorder.redact as redact_module

    def broken(_data: bytes) -> object:
        raise MemoryError

    monkeypatch.setattr(redact_module, "_walk", broken)
    redactor = FrameRedactor([KEY])
    frame = f'{{"k":"{KEY}","e":"ek_fallback_0123456789","client_secret":"x","n":1}}'.encode()
    assert redactor(frame) == (
        b'{"k":"[REDACTED]","e":"[REDACTED]","client_secret":"[REDACTED:unparsed]"')
    assert redactor(b"no secret here") == b"no secret here"


# -- the report: how each frame was redacted ----------------------------------------------------

def test_plain_frames_are_reported_untouched_and_come_back_as_the_same_object() -> None:
    redactor = FrameRedactor([KEY])
    for frame in (b'{"type":"response.output_audio.delta","delta":"AAAA"}', b"",
                  b"\x00\xffbinary", b'{"type":"x","broken', b'{"client_secret":17}',
                  b'{"type":"x","t":"client\\u005fsecret in text"}'):
        out, how = redactor.redact(frame)
        assert out is frame and how is Redaction.UNTOUCHED, frame


def test_secrets_removed_from_readable_json_are_reported_parsed() -> None:
    redactor = FrameRedactor([KEY])
    cases = {
        b'{"type":"s","client_secret":{"value":"ek_flat_0123456","expires_at":17}}':
            b'{"type":"s","client_secret":{"value":"[REDACTED]","expires_at":17}}',
        # the key name spelled with an escape still counts
        b'{"type":"x","s":{"client\\u005fsecret":{"value":"plain-secret-123"}}}':
            b'{"type":"x","s":{"client\\u005fsecret":{"value":"[REDACTED]"}}}',
        # an ek_ value anywhere, and the handshake's key, in JSON that parses
        b'{"type":"x","note":"use ek_live_0123456789abcdef now"}':
            b'{"type":"x","note":"use [REDACTED] now"}',
        f'{{"type":"x","t":"{KEY}"}}'.encode(): b'{"type":"x","t":"[REDACTED]"}',
    }
    for frame, stored in cases.items():
        assert redactor.redact(frame) == (stored, Redaction.PARSED), frame


def test_a_frame_nested_deeper_than_msgspec_reads_is_parsed_by_its_tokens() -> None:
    deep = b'{"type":"x","a":' + b"[" * 100_000 + b'{"client_secret":"deep-secret-1"}' + (
        b"]" * 100_000) + b"}"
    out, how = FrameRedactor().redact(deep)
    assert out == deep.replace(b"deep-secret-1", REDACTED.encode())
    assert how is Redaction.PARSED
    # the learnt secret, later, in a deep frame without a client_secret key: parsed too
    redactor = FrameRedactor(["deep-secret-1"])
    again = b"[" * 5000 + b'"deep-secret-1"' + b"]" * 5000
    assert redactor.redact(again) == (again.replace(b"deep-secret-1", REDACTED.encode()),
                                      Redaction.PARSED)


def test_frames_that_cannot_be_parsed_are_reported_scanned() -> None:
    redactor = FrameRedactor([KEY])
    unparsed = REDACTED_UNPARSED.encode()
    cases = {
        b'{"type":"x","client_secret": {"value": "ek_cut_0123456':
            b'{"type":"x","client_secret":"' + unparsed + b'"',
        b'{"a":' + b"[" * 100_000 + b'{"client_secret":"deep-secret-1':
            b'{"a":' + b"[" * 100_000 + b'{"client_secret":"' + unparsed + b'"',
        b'{"type":"x","s":{"client\\u005fsecret":{"value":"cut-secret-val':
            b'{"type":"x","s":{"client\\u005fsecret":"' + unparsed + b'"',
        b"\x00\x01ek_live_0123456789abcdef\xff": b"\x00\x01[REDACTED]\xff",
        b'{"type":"x","t":"' + KEY.encode() + b'" broken': b'{"type":"x","t":"[REDACTED]" broken',
    }
    for frame, stored in cases.items():
        assert redactor.redact(frame) == (stored, Redaction.SCANNED), frame
    # calling the redactor gives the same bytes, without the report
    frame = b"\x00ek_live_0123456789abcdef"
    assert FrameRedactor()(frame) == FrameRedactor().redact(frame)[0] == b"\x00[REDACTED]"


def test_a_failure_inside_the_redactor_is_reported_scanned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import recorder.redact as redact_module

    def broken(_data: bytes) -> object:
        raise MemoryError

    monkeypatch.setattr(redact_module, "_walk", broken)
    out, how = FrameRedactor().redact(b'{"client_secret":"never-stored-1"}')
    assert out == b'{"client_secret":"[REDACTED:unparsed]"' and how is Redaction.SCANNED


def test_redaction_words_name_each_kind_both_ways() -> None:
    assert [r.word for r in Redaction] == ["", "parsed", "scan"]
    assert Redaction.of_word("scan") is Redaction.SCANNED
    assert Redaction.of_word("parsed") is Redaction.PARSED
    with pytest.raises(ValueError, match="unknown redaction 'typo': use parsed or scan"):
        Redaction.of_word("typo")
    assert max(Redaction.PARSED, Redaction.SCANNED) is Redaction.SCANNED


def test_the_query_secrets_a_session_learns_are_the_ones_redact_url_hides() -> None:
    from multidict import MultiDict

    from recorder.upstream import secret_query_values

    query = MultiDict([("model", "gpt-realtime"), ("api-key", "azure-key-123456789"),
                       ("x", KEY), ("token", "short"), ("deployment", "dep-1234567890")])
    assert secret_query_values(query) == {"azure-key-123456789", KEY}  # "short": too short
    url = "wss://h.test/openai/realtime?" + "&".join(f"{k}={v}" for k, v in query.items())
    assert redact_url(url) == (
        "wss://h.test/openai/realtime?model=gpt-realtime&api-key=[REDACTED]&x=[REDACTED]"
        "&token=[REDACTED]&deployment=dep-1234567890"
    )


# -- audio events: the triggers are looked for around the audio, with the same answers --------

_AUDIO_B64 = base64.b64encode(bytes(range(256)) * 12).decode()  # ~4 KB, no "_", "-" or "\\"


def _audio_frame(before: str = "", after: str = "", audio: str = _AUDIO_B64) -> bytes:
    return (f'{{"type":"input_audio_buffer.append",{before}"audio":"{audio}"{after}}}').encode()


def test_audio_frame_without_secrets_is_the_same_object() -> None:
    frame = _audio_frame('"event_id":"evt_1",')
    assert FrameRedactor(["sk-handshake-0123456789"]).redact(frame) == (
        frame, Redaction.UNTOUCHED)
    assert FrameRedactor().redact(frame)[0] is frame


def test_audio_frame_key_before_the_audio_is_redacted_and_learnt() -> None:
    redactor = FrameRedactor()
    out, how = redactor.redact(_audio_frame('"event_id":"ek_abcdefghijkl",'))
    assert out == _audio_frame('"event_id":"[REDACTED]",') and how is Redaction.PARSED
    later = _audio_frame(after=',"note":"ek_abcdefghijkl"')  # learnt: redacted after the audio
    assert redactor.redact(later)[0] == _audio_frame(after=',"note":"[REDACTED]"')


def test_audio_frame_client_secret_after_the_audio_is_redacted() -> None:
    out, how = FrameRedactor().redact(
        _audio_frame(after=',"client_secret":{"value":"abcdef123456"}'))
    assert out == _audio_frame(after=',"client_secret":{"value":"[REDACTED]"}')
    assert how is Redaction.PARSED
    escaped = _audio_frame(after=r',"client\u005fsecret":"abcdef123456"')
    assert FrameRedactor().redact(escaped)[0] == _audio_frame(
        after=r',"client\u005fsecret":"[REDACTED]"')


def test_audio_frame_known_secret_inside_the_audio_is_still_replaced() -> None:
    secret = _AUDIO_B64[100:124]  # a secret of base64 letters only, inside the audio text
    out, how = FrameRedactor([secret]).redact(_audio_frame())
    assert out == _audio_frame(audio=_AUDIO_B64.replace(secret, "[REDACTED]"))
    assert how is Redaction.PARSED


def test_audio_value_with_a_key_inside_is_searched_whole() -> None:
    """An audio value that is not plain base64 (here: a key in it) gets the whole search."""
    audio = _AUDIO_B64[:2000] + "/sk-abcdefghijklmnop/" + _AUDIO_B64[2000:]
    out, _ = FrameRedactor().redact(_audio_frame(audio=audio))
    assert out == _audio_frame(audio=_AUDIO_B64[:2000] + "/[REDACTED]/" + _AUDIO_B64[2000:])


def _outline(frame: bytes) -> bytes:
    """The frame without its audio's base64 text, as the store's codec cuts it."""
    from recorder.store.codec import split_audio_event, type_prefix

    split = split_audio_event(frame)
    assert split is not None
    return type_prefix(split[0]) + split[1]


_HEX_KEY = "0123456789abcdef0123456789abcdef"  # an Azure key: every byte is base64 text too


@pytest.mark.parametrize(("secrets", "frame"), [
    ([KEY, _HEX_KEY], _audio_frame('"event_id":"evt_1",')),  # nothing to redact
    ([KEY], _audio_frame(f'"event_id":"{KEY}",')),  # a known secret beside the audio
    ([], _audio_frame('"event_id":"ek_abcdefghijkl",')),  # a key-shaped value, unknown yet
    ([], _audio_frame(after=',"client_secret":"abcdef123456"')),
    ([], _audio_frame(after=r',"client\u005fsecret":"abcdef123456"')),
    ([_AUDIO_B64[100:124]], _audio_frame()),  # a base64-only secret inside the audio
    ([_HEX_KEY], _audio_frame(audio=_AUDIO_B64[:96] + _HEX_KEY + _AUDIO_B64[96:])),
    ([_AUDIO_B64[-12:] + '"}'], _audio_frame()),  # a secret across the audio's end quote
    (['"audio":"' + _AUDIO_B64[:12]], _audio_frame()),  # ... and across its opening quote
])
def test_the_outline_of_an_audio_event_says_what_redacting_the_whole_frame_would(
    secrets: list[str], frame: bytes,
) -> None:
    """untouched_around_audio reads the ~100 bytes around the audio (and the whole frame only
    for secrets base64 could hold); it answers as redact() of the whole frame does."""
    whole = FrameRedactor(secrets).redact(frame)[0] is frame
    assert FrameRedactor(secrets).untouched_around_audio(_outline(frame), frame) is whole
    assert whole is (secrets == [KEY, _HEX_KEY])  # each other case has something to redact
