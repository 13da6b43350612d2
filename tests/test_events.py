"""The typed event catalog: every type of both protocol versions, both shapes, the seed's fields."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

from recorder import UnknownEvent, decode
from recorder import events as ev
from recorder.resources import AudioFormat, ClientSecret, Session
from recorder.wire import Direction

VECTORS = Path(__file__).resolve().parent / "vectors"
SHARED = Path(__file__).resolve().parents[2] / "shared"
EXAMPLES = SHARED / "protocol" / "examples"
SEED = SHARED / "seeds" / "RealtimeEvent.txt"

# The seed's RealtimeEvent properties (../shared/seeds/RealtimeEvent.txt), so this file's checks
# run without ../shared. Cts (a C# cancellation token) has no wire counterpart.
SEED_PROPERTIES = (
    "Arguments", "Audio", "AudioEndMs", "AudioStartMs", "CallId", "ContentIndex",
    "Conversation", "Cts", "Delta", "Error", "EventId", "Item", "ItemId", "Obfuscation",
    "OutputIndex", "Part", "PreviousItemId", "RateLimits", "ResponseId", "ResponseItem",
    "Session", "Text", "Transcript", "Type",
)
NO_WIRE_COUNTERPART = {"Cts"}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def vector_files(protocol: str) -> list[Path]:
    return sorted((VECTORS / protocol).glob("*.json"))


def type_from_file_name(path: Path) -> tuple[Direction, str]:
    """`server.response.done.json` -> (SERVER, "response.done"); `.2.json` variants too."""
    direction, _, rest = path.name.removesuffix(".json").partition(".")
    type_name = re.sub(r"\.\d+$", "", rest)
    return Direction(direction), type_name


# --------------------------------------------------------------------------- the catalog


def test_catalog_counts_match_the_protocol_versions() -> None:
    assert (len(ev.BETA_CLIENT_TYPES), len(ev.BETA_SERVER_TYPES)) == (12, 35)
    assert (len(ev.GA_CLIENT_TYPES), len(ev.GA_SERVER_TYPES)) == (11, 46)
    assert ev.CLIENT_TYPES == ev.BETA_CLIENT_TYPES | ev.GA_CLIENT_TYPES
    assert ev.SERVER_TYPES == ev.BETA_SERVER_TYPES | ev.GA_SERVER_TYPES


def test_client_and_server_type_names_never_overlap() -> None:
    assert not ev.CLIENT_TYPES & ev.SERVER_TYPES


def test_each_class_carries_its_wire_type_and_direction() -> None:
    assert len(ev.EVENT_CLASSES) == len(ev.EVENT_CLASS_BY_TYPE) == 66
    for cls in ev.EVENT_CLASSES:
        assert cls.type == cls.__struct_config__.tag
        expected = Direction.CLIENT if cls.type in ev.CLIENT_TYPES else Direction.SERVER
        assert cls.direction is expected
        assert issubclass(cls, ev.ClientEvent if expected is Direction.CLIENT else ev.ServerEvent)


@pytest.mark.parametrize(
    ("ga_class", "beta_class"),
    [
        (ev.ResponseOutputTextDelta, ev.ResponseTextDelta),
        (ev.ResponseOutputTextDone, ev.ResponseTextDone),
        (ev.ResponseOutputAudioDelta, ev.ResponseAudioDelta),
        (ev.ResponseOutputAudioDone, ev.ResponseAudioDone),
        (ev.ResponseOutputAudioTranscriptDelta, ev.ResponseAudioTranscriptDelta),
        (ev.ResponseOutputAudioTranscriptDone, ev.ResponseAudioTranscriptDone),
    ],
)
def test_ga_renames_are_their_beta_originals(ga_class: type, beta_class: type) -> None:
    assert issubclass(ga_class, beta_class)
    assert ga_class.type != beta_class.type
    assert ga_class.__struct_fields__ == beta_class.__struct_fields__


def test_encoding_writes_the_type_tag_and_decodes_back() -> None:
    event = ev.ResponseOutputAudioDelta(
        event_id="e1", response_id="r", item_id="i", output_index=0, content_index=0, delta="AAA="
    )
    wire = msgspec.json.encode(event)
    assert json.loads(wire)["type"] == "response.output_audio.delta"
    assert decode(wire) == event


# --------------------------------------------------------------------------- our own vectors


@pytest.mark.parametrize("protocol", ["beta", "ga"])
def test_vectors_cover_every_type_of_the_protocol(protocol: str) -> None:
    names = {type_from_file_name(path)[1] for path in vector_files(protocol)}
    client = ev.BETA_CLIENT_TYPES if protocol == "beta" else ev.GA_CLIENT_TYPES
    server = ev.BETA_SERVER_TYPES if protocol == "beta" else ev.GA_SERVER_TYPES
    assert names == client | server


@pytest.mark.parametrize(
    "path", vector_files("beta") + vector_files("ga"), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_vector_decodes_to_its_typed_event(path: Path) -> None:
    direction, type_name = type_from_file_name(path)
    event = decode(path.read_bytes())
    assert type(event) is ev.EVENT_CLASS_BY_TYPE[type_name]
    assert event.type == type_name
    assert event.direction is direction
    # Every field the payload carries (that the Struct declares) arrives with its value.
    payload = json.loads(path.read_bytes())
    for field in event.__struct_fields__:
        if field in payload and not isinstance(payload[field], dict | list):
            assert getattr(event, field) == payload[field], field


# --------------------------------------------------------------------------- both shapes


def load_vector(protocol: str, file_name: str) -> ev.Event:
    event = decode((VECTORS / protocol / file_name).read_bytes())
    assert isinstance(event, ev.Event), getattr(event, "reason", None)
    return event


def test_beta_session_decodes_flat() -> None:
    event = load_vector("beta", "server.session.created.json")
    assert isinstance(event, ev.SessionCreated)
    session = event.session
    assert (session.type, session.audio) == (None, None)
    assert session.voice == "verse"
    assert (session.input_audio_format, session.output_audio_format) == ("g711_ulaw", "pcm16")
    assert session.input_audio_transcription is not None
    assert session.input_audio_transcription.model == "whisper-1"
    assert session.turn_detection is not None and session.turn_detection.threshold == 0.6
    assert session.max_response_output_tokens == 512
    assert session.tools is not None and session.tools[0].name == "lookup_order"


def test_ga_session_decodes_nested_audio() -> None:
    event = load_vector("ga", "server.session.created.json")
    assert isinstance(event, ev.SessionCreated)
    session = event.session
    assert session.type == "realtime"
    assert session.voice is None
    assert session.audio is not None
    assert session.audio.input is not None and session.audio.output is not None
    assert session.audio.input.format == AudioFormat(type="audio/pcmu")
    assert session.audio.output.format == AudioFormat(type="audio/pcm", rate=24000)
    assert (session.audio.output.voice, session.audio.output.speed) == ("cedar", 1.25)
    assert session.audio.input.turn_detection is not None
    assert session.audio.input.turn_detection.idle_timeout_ms == 6000
    assert session.max_output_tokens == "inf"
    assert session.tool_choice == {"type": "function", "name": "lookup_order"}
    assert session.tools is not None and session.tools[1].server_label == "docs"


def test_ga_transcription_session_is_a_session_update() -> None:
    event = load_vector("ga", "server.session.updated.json")
    assert isinstance(event, ev.SessionUpdated)
    assert event.session.type == "transcription"
    assert event.session.audio is not None and event.session.audio.input is not None
    transcription = event.session.audio.input.transcription
    assert transcription is not None and transcription.model == "gpt-4o-transcribe"


def test_beta_and_ga_responses_decode_through_one_struct() -> None:
    beta = load_vector("beta", "server.response.done.json")
    ga = load_vector("ga", "server.response.done.json")
    assert isinstance(beta, ev.ResponseDone) and isinstance(ga, ev.ResponseDone)
    assert beta.response.voice == "alloy" and beta.response.max_response_output_tokens == "inf"
    assert ga.response.audio is not None and ga.response.audio.output is not None
    assert ga.response.audio.output.voice == {"id": "voice_custom_1"}
    for event in (beta, ga):
        assert event.response.status == "cancelled"
        assert event.response.status_details is not None
        assert event.response.status_details.reason == "turn_detected"
        assert event.response.usage is not None and event.response.usage.total_tokens == 180
        assert event.response.output is not None
        assert [item.type for item in event.response.output] == ["message", "function_call"]
    ga_usage = ga.response.usage
    assert ga_usage is not None and ga_usage.input_token_details is not None
    assert ga_usage.input_token_details.cached_tokens_details is not None


def test_assistant_content_accepts_both_spellings() -> None:
    beta = load_vector("beta", "server.conversation.item.retrieved.json")
    ga = load_vector("ga", "server.conversation.item.retrieved.json")
    assert isinstance(beta, ev.ConversationItemRetrieved)
    assert isinstance(ga, ev.ConversationItemRetrieved)
    for event, part_type in ((beta, "audio"), (ga, "output_audio")):
        assert event.item.content is not None
        part = event.item.content[0]
        assert part.type == part_type
        assert part.audio is not None and len(part.audio) > 1000
        assert part.transcript == "Your order ships tomorrow."


def test_transcription_usage_in_tokens_and_in_seconds() -> None:
    beta = load_vector("beta", "server.conversation.item.input_audio_transcription.completed.json")
    ga = load_vector("ga", "server.conversation.item.input_audio_transcription.completed.json")
    assert isinstance(beta, ev.ConversationItemInputAudioTranscriptionCompleted)
    assert isinstance(ga, ev.ConversationItemInputAudioTranscriptionCompleted)
    assert beta.usage is not None and (beta.usage.type, beta.usage.input_tokens) == ("tokens", 20)
    assert ga.usage is not None and (ga.usage.type, ga.usage.seconds) == ("duration", 1.75)
    assert ga.languages is not None and ga.languages[0].code == "en"
    assert beta.logprobs is not None and beta.logprobs[0].bytes == [87, 104, 101, 114, 101]


def test_response_create_in_both_shapes_and_its_response_item() -> None:
    beta = load_vector("beta", "client.response.create.json")
    ga = load_vector("ga", "client.response.create.json")
    assert isinstance(beta, ev.ResponseCreate) and isinstance(ga, ev.ResponseCreate)
    assert beta.response_item is beta.response is not None
    assert beta.response is not None and beta.response.output_audio_format == "g711_alaw"
    assert ga.response is not None and ga.response.input is not None
    assert (ga.response.input[0].type, ga.response.input[0].id) == ("item_reference", "item_U1")
    assert decode(b'{"type":"response.create"}') == ev.ResponseCreate()


def test_obfuscation_is_read_on_every_delta() -> None:
    deltas = [cls for cls in ev.EVENT_CLASSES if cls.type.endswith(".delta")]
    assert len(deltas) == 9
    for cls in deltas:
        assert "obfuscation" in cls.__struct_fields__, cls.type


def test_client_secret_value_never_shows_in_repr() -> None:
    session = msgspec.json.decode(
        b'{"client_secret": {"value": "ek_live_secret", "expires_at": 1}}', type=Session
    )
    assert session.client_secret == ClientSecret(value="ek_live_secret", expires_at=1)
    assert "ek_live_secret" not in repr(session)
    assert "ek_live_secret" not in repr(session.client_secret)


# --------------------------------------------------------------------------- the seed's fields


def seed_properties() -> list[str]:
    if not SEED.exists():
        return list(SEED_PROPERTIES)
    text = SEED.read_text()
    return re.findall(r"public \S+ (\w+) \{ get; set; \}", text)


def test_hard_coded_seed_list_matches_the_seed_when_present() -> None:
    if not SEED.exists():
        pytest.skip("../shared/seeds is absent; the hard-coded list is used instead")
    assert tuple(seed_properties()) == SEED_PROPERTIES


@pytest.mark.parametrize("prop", [p for p in SEED_PROPERTIES if p not in NO_WIRE_COUNTERPART])
def test_seed_field_is_reachable_on_a_decoded_event(prop: str) -> None:
    """Some decoded vector carries the seed property as a snake_case attribute with a value."""
    attribute = snake(prop)
    carriers = []
    for path in vector_files("beta") + vector_files("ga"):
        event = decode(path.read_bytes())
        if getattr(event, attribute, None) is not None:
            carriers.append(type(event).__name__)
    assert carriers, f"no decoded event has a non-null {attribute!r}"


# --------------------------------------------------------------------------- official examples


def official_examples(protocol: str) -> list[Path]:
    folder = EXAMPLES / protocol
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


# Known defects of the official examples (examples/SOURCES.md), pinned: what decode does with them.
DTMF = "server.input_audio_buffer.dtmf_event_received.json"
BETA_RETRIEVED = "server.conversation.item.retrieved.json"


@pytest.mark.parametrize(
    "path",
    official_examples("beta") + official_examples("ga"),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_official_example_decodes_to_its_typed_event(path: Path) -> None:
    direction, type_name = type_from_file_name(path)
    event = decode(path.read_bytes())
    if path.name == DTMF and path.parent.name == "ga":
        # The example's type has a leading space: not a type name, so it stays unknown (raw
        # kept); with the space removed it is the dtmf event.
        assert isinstance(event, UnknownEvent)
        assert event.type == " input_audio_buffer.dtmf_event_received"
        assert event.reason == "unknown event type ' input_audio_buffer.dtmf_event_received'"
        fixed = json.loads(path.read_bytes()) | {"type": type_name}
        repaired = decode(json.dumps(fixed))
        assert isinstance(repaired, ev.InputAudioBufferDtmfEventReceived)
        assert (repaired.event, repaired.event_id) == ("9", None)
        return
    if path.name == BETA_RETRIEVED and path.parent.name == "beta":
        # The example carries type conversation.item.created: it decodes as what it says.
        assert type(event) is ev.ConversationItemCreated
        assert isinstance(event, ev.ConversationItemCreated)
        assert event.item.content is not None and event.item.content[0].type == "input_audio"
        return
    assert type(event) is ev.EVENT_CLASS_BY_TYPE[type_name], getattr(event, "reason", None)
    assert event.direction is direction


@pytest.mark.parametrize("protocol", ["beta", "ga"])
def test_official_examples_cover_every_type_when_present(protocol: str) -> None:
    paths = official_examples(protocol)
    if not paths:
        pytest.skip("../shared/protocol/examples is absent")
    names = {type_from_file_name(path)[1] for path in paths}
    client = ev.BETA_CLIENT_TYPES if protocol == "beta" else ev.GA_CLIENT_TYPES
    server = ev.BETA_SERVER_TYPES if protocol == "beta" else ev.GA_SERVER_TYPES
    assert names == client | server


def test_committed_vectors_are_what_the_vector_script_writes(tmp_path: Path) -> None:
    import importlib.util
    import shutil

    script = tmp_path / "make_vectors.py"
    shutil.copy(VECTORS / "make_vectors.py", script)
    spec = importlib.util.spec_from_file_location("make_vectors_copy", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.write_all() == len(vector_files("beta")) + len(vector_files("ga"))
    for path in vector_files("beta") + vector_files("ga"):
        assert (tmp_path / path.parent.name / path.name).read_bytes() == path.read_bytes()
