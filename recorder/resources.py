"""Nested resources carried by Realtime events (session, item, content part, response, ...).

One Struct per resource accepts both the beta and the GA shape: it holds the union of their
fields, and every field is optional. The event type alone then tells how to decode a frame, so
no protocol hint is needed and a recording decodes the same whoever reads it. Which shape a
resource came in is visible from which fields are set (see recorder.decode.protocol_of).

Unknown fields are ignored (msgspec's default): the live wire carries undeclared fields, and the
raw frame, not this view, is the record. Nulls are everywhere on the wire, hence `| None`.
gc=False: decoded resources never form reference cycles, and skipping GC tracking makes
decoding audio-heavy streams cheaper.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

# "inf" is how the wire spells an unlimited token budget.
TokenLimit = int | Literal["inf"]


class Resource(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Base of every nested resource: keyword-only, defaults omitted when encoded."""


class AudioFormat(Resource):
    """GA audio format object: {"type": "audio/pcm", "rate": 24000}, audio/pcmu, audio/pcma."""

    type: str | None = None
    rate: int | None = None


# Beta spells a format as a string ("pcm16", "g711_ulaw", "g711_alaw"), GA as an object.
WireAudioFormat = str | AudioFormat


class InputAudioTranscription(Resource):
    """Input transcription settings (beta `input_audio_transcription`, GA `transcription`)."""

    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class NoiseReduction(Resource):
    type: str | None = None  # near_field | far_field


class TurnDetection(Resource):
    """Server VAD or semantic VAD settings."""

    type: str | None = None  # server_vad | semantic_vad
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    idle_timeout_ms: int | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    eagerness: str | None = None


class Tool(Resource):
    """A function tool or (GA) an MCP tool. Connector credentials are deliberately not kept."""

    type: str | None = None  # function | mcp
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    server_label: str | None = None
    server_url: str | None = None
    server_description: str | None = None
    require_approval: str | dict[str, Any] | None = None
    allowed_tools: list[str] | dict[str, Any] | None = None


class ClientSecret(Resource):
    """An ephemeral key. Its repr never shows the value, so it cannot leak into a log line."""

    value: str | None = None
    expires_at: int | None = None

    def __repr__(self) -> str:
        return f"ClientSecret(value=<redacted>, expires_at={self.expires_at!r})"


class AudioInput(Resource):
    """GA `session.audio.input`."""

    format: WireAudioFormat | None = None
    transcription: InputAudioTranscription | None = None
    noise_reduction: NoiseReduction | None = None
    turn_detection: TurnDetection | None = None


class AudioOutput(Resource):
    """GA `session.audio.output` and `response.audio.output`."""

    format: WireAudioFormat | None = None
    voice: str | dict[str, Any] | None = None  # a name, or a custom voice {"id": ...}
    speed: float | None = None


class SessionAudio(Resource):
    """GA `session.audio` / `response.audio`: settings nested per direction."""

    input: AudioInput | None = None
    output: AudioOutput | None = None


class Session(Resource):
    """A session in any of its four shapes.

    Beta realtime session (flat `modalities`, `voice`, `*_audio_format`, ...), beta transcription
    session (`transcription_session.*`), and the GA session, where `type` is "realtime" or
    "transcription" and audio settings sit under `audio.{input,output}`.
    """

    type: str | None = None  # GA only: realtime | transcription
    id: str | None = None
    object: str | None = None
    model: str | None = None
    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    tracing: str | dict[str, Any] | None = None
    include: list[str] | None = None
    expires_at: int | None = None
    client_secret: ClientSecret | None = None
    # GA
    output_modalities: list[str] | None = None
    audio: SessionAudio | None = None
    max_output_tokens: TokenLimit | None = None
    truncation: str | dict[str, Any] | None = None
    prompt: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None
    # beta
    modalities: list[str] | None = None
    voice: str | None = None
    input_audio_format: WireAudioFormat | None = None
    output_audio_format: WireAudioFormat | None = None
    input_audio_transcription: InputAudioTranscription | None = None
    input_audio_noise_reduction: NoiseReduction | None = None
    turn_detection: TurnDetection | None = None
    temperature: float | None = None
    max_response_output_tokens: TokenLimit | None = None
    speed: float | None = None


class Conversation(Resource):
    id: str | None = None
    object: str | None = None


class ContentPart(Resource):
    """A content part of an item, or the `part` of response.content_part.*.

    `type` is one of input_text, input_audio, input_image, item_reference, text, audio and, in GA
    assistant items, output_text, output_audio. Both spellings of assistant content are accepted
    because GA servers have sent both.
    """

    type: str | None = None
    text: str | None = None
    audio: str | None = None  # base64; only conversation.item.retrieved carries item audio
    transcript: str | None = None
    id: str | None = None  # item_reference
    image_url: str | None = None
    detail: str | None = None
    format: WireAudioFormat | None = None  # seen on live GA retrieved parts ("pcm16")


class McpListedTool(Resource):
    name: str | None = None
    description: str | None = None
    input_schema: Any = None
    annotations: Any = None


class Item(Resource):
    """A conversation item: beta's one flat shape and GA's per-type shapes in one Struct.

    message (role system | user | assistant, `content`), function_call (`call_id`, `name`,
    `arguments`), function_call_output (`call_id`, `output`), item_reference (`id`), and the GA
    MCP items mcp_call, mcp_list_tools, mcp_approval_request, mcp_approval_response.
    """

    id: str | None = None
    type: str | None = None
    object: str | None = None
    status: str | None = None
    role: str | None = None
    content: list[ContentPart] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    # GA MCP items
    server_label: str | None = None
    tools: list[McpListedTool] | None = None
    error: dict[str, Any] | None = None
    approval_request_id: str | None = None
    approve: bool | None = None
    reason: str | None = None


class ErrorInfo(Resource):
    """The `error` of an error event, of a failed transcription and of a failed response."""

    type: str | None = None
    code: str | int | None = None  # a string on the Realtime wire; HTTP-style ints tolerated
    message: str | None = None
    param: str | None = None
    event_id: str | None = None


class ResponseStatusDetails(Resource):
    type: str | None = None  # completed | cancelled | failed | incomplete
    reason: str | None = None  # turn_detected | client_cancelled | max_output_tokens | ...
    error: ErrorInfo | None = None


class CachedTokensDetails(Resource):
    text_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None


class InputTokenDetails(Resource):
    text_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None
    cached_tokens: int | None = None
    cached_tokens_details: CachedTokensDetails | None = None


class OutputTokenDetails(Resource):
    text_tokens: int | None = None
    audio_tokens: int | None = None


class Usage(Resource):
    """Token usage of a response, or of an input transcription.

    Transcription usage is either {"type": "tokens", ...token counts} or
    {"type": "duration", "seconds": float}; response usage has no `type`.
    """

    type: str | None = None
    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_token_details: InputTokenDetails | None = None
    output_token_details: OutputTokenDetails | None = None
    seconds: float | None = None


class Response(Resource):
    """The response resource of response.created / response.done, beta or GA."""

    id: str | None = None
    object: str | None = None
    status: str | None = None  # in_progress | completed | cancelled | failed | incomplete
    status_details: ResponseStatusDetails | None = None
    output: list[Item] | None = None
    usage: Usage | None = None
    conversation_id: str | None = None
    metadata: dict[str, Any] | None = None
    max_output_tokens: TokenLimit | None = None
    # GA
    output_modalities: list[str] | None = None
    audio: SessionAudio | None = None
    # beta
    modalities: list[str] | None = None
    voice: str | None = None
    output_audio_format: WireAudioFormat | None = None
    temperature: float | None = None
    max_response_output_tokens: TokenLimit | None = None


class ResponseParams(Resource):
    """The `response` of a client response.create: how to make this one response, beta or GA."""

    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    conversation: str | None = None  # auto | none (beta also a conversation id)
    metadata: dict[str, Any] | None = None
    input: list[Item] | None = None
    max_output_tokens: TokenLimit | None = None
    # GA
    output_modalities: list[str] | None = None
    audio: SessionAudio | None = None
    prompt: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    # beta
    modalities: list[str] | None = None
    voice: str | None = None
    output_audio_format: WireAudioFormat | None = None
    temperature: float | None = None
    max_response_output_tokens: TokenLimit | None = None


class RateLimit(Resource):
    name: str | None = None  # requests | tokens
    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None


class LogProb(Resource):
    token: str | None = None
    logprob: float | None = None
    bytes: list[int] | None = None


class TranscriptionLanguage(Resource):
    code: str | None = None
