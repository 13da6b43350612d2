"""Traces over OTLP/HTTP (protobuf): where to send (the standard OTEL_EXPORTER_OTLP_* settings),
the request's bytes (opentelemetry-proto, the `otel` extra) and one POST (aiohttp).

Where: `--otlp URL` first (a bare origin such as http://127.0.0.1:4318 gets /v1/traces; a URL
with a path is used as given), else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (as given), else
OTEL_EXPORTER_OTLP_ENDPOINT plus /v1/traces. Headers: OTEL_EXPORTER_OTLP_TRACES_HEADERS or
OTEL_EXPORTER_OTLP_HEADERS ("key=value,key2=value2", values percent-decoded). Timeout:
OTEL_EXPORTER_OTLP_TRACES_TIMEOUT or OTEL_EXPORTER_OTLP_TIMEOUT, in milliseconds as the
specification says (default 10000). Header values (API keys of a backend) are never printed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import aiohttp
from yarl import URL

from recorder import __version__
from recorder.errors import RtrecError
from recorder.redact import redact_url
from recorder.stats.trace import SCOPE_NAME, SERVICE_NAME, AttributeValue, Span

TRACES_PATH = "/v1/traces"
DEFAULT_TIMEOUT_MS = 10_000
CONTENT_TYPE = "application/x-protobuf"
RETRYABLE = frozenset({429, 502, 503, 504})  # the OTLP/HTTP specification's retryable answers
RETRIES = 3
RETRY_DELAY_S = 0.5  # then doubled at each retry
MAX_RETRY_DELAY_S = 5.0  # a Retry-After longer than this waits only this
MISSING_EXTRA = (
    "traces need the OpenTelemetry protocol package: pip install 'rtrec[otel]' "
    "(or opentelemetry-proto)"
)
NO_ENDPOINT = (
    "no OTLP endpoint: give --otlp URL (e.g. http://127.0.0.1:4318) "
    "or set OTEL_EXPORTER_OTLP_ENDPOINT"
)


class OtlpError(RtrecError):
    """A trace could not be delivered (collector down, slow, or refusing), or set up."""


@dataclass(frozen=True)
class OtlpTarget:
    url: str  # the full traces URL (…/v1/traces)
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    timeout_s: float = DEFAULT_TIMEOUT_MS / 1000

    @property
    def display(self) -> str:
        """The URL as it may be printed (no password, no secret query values)."""
        return redact_url(self.url)


def _traces_url(base: str, what: str, *, append: bool | None) -> str:
    """The traces URL from base; append None: only when base has no path of its own."""
    try:
        url = URL(base)
        url.port  # noqa: B018  (yarl checks the port only when asked for it)
    except ValueError:
        raise OtlpError(f"{what} is not a valid URL: give e.g. http://127.0.0.1:4318") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise OtlpError(
            f"{what} {redact_url(base)!r} is not an http:// or https:// URL: "
            "give e.g. http://127.0.0.1:4318"
        )
    if append is None:
        append = url.path in ("", "/")
    if append:
        return str(url.with_path(url.path.rstrip("/") + TRACES_PATH))
    return str(url)


def _headers(text: str, what: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            # the value is not echoed: it is likely a credential
            raise OtlpError(
                f"{what} has an entry that is not key=value: give key=value,key2=value2"
            )
        headers[unquote(key.strip())] = unquote(value.strip())
    return headers


def _timeout_s(text: str, what: str) -> float:
    try:
        milliseconds = float(text)
    except ValueError:
        raise OtlpError(f"{what}={text!r} is not a number of milliseconds: give e.g. 10000") \
            from None
    if not milliseconds > 0:
        raise OtlpError(f"{what}={text!r} must be more than 0 milliseconds: give e.g. 10000")
    return milliseconds / 1000


def otlp_target(url: str | None, env: Mapping[str, str] | None = None) -> OtlpTarget:
    """Where traces go: --otlp URL, else the OTEL_EXPORTER_OTLP_* environment; OtlpError if
    neither names an endpoint or a setting is malformed."""
    env = os.environ if env is None else env
    if url:
        traces_url = _traces_url(url, "--otlp", append=None)
    elif env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        traces_url = _traces_url(env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
                                 "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", append=False)
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        traces_url = _traces_url(env["OTEL_EXPORTER_OTLP_ENDPOINT"],
                                 "OTEL_EXPORTER_OTLP_ENDPOINT", append=True)
    else:
        raise OtlpError(NO_ENDPOINT)
    headers: dict[str, str] = {}
    for name in ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
        if env.get(name):
            headers = _headers(env[name], name)
            break
    timeout_s = DEFAULT_TIMEOUT_MS / 1000
    for name in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        if env.get(name):
            timeout_s = _timeout_s(env[name], name)
            break
    return OtlpTarget(traces_url, headers, timeout_s)


# -- encoding -----------------------------------------------------------------------------------


def proto_modules() -> Any:
    """opentelemetry.proto's modules (a namespace), or OtlpError naming the extra to install."""
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.resource.v1 import resource_pb2
        from opentelemetry.proto.trace.v1 import trace_pb2
    except ImportError as error:
        raise OtlpError(MISSING_EXTRA) from error

    class Modules:
        service = trace_service_pb2
        common = common_pb2
        resource = resource_pb2
        trace = trace_pb2

    return Modules


def _any_value(common: Any, value: AttributeValue) -> Any:
    if isinstance(value, bool):
        return common.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common.AnyValue(int_value=value)
    if isinstance(value, float):
        return common.AnyValue(double_value=value)
    if isinstance(value, list):
        return common.AnyValue(array_value=common.ArrayValue(
            values=[common.AnyValue(string_value=item) for item in value]
        ))
    return common.AnyValue(string_value=value)


def _key_values(common: Any, attributes: Mapping[str, AttributeValue]) -> list[Any]:
    return [common.KeyValue(key=key, value=_any_value(common, value))
            for key, value in attributes.items()]


def encode_traces(traces: Sequence[Sequence[Span]]) -> bytes:
    """One ExportTraceServiceRequest holding the spans of `traces` (one resource: rtrec)."""
    pb = proto_modules()
    kinds = {"internal": pb.trace.Span.SPAN_KIND_INTERNAL,
             "client": pb.trace.Span.SPAN_KIND_CLIENT}
    spans = []
    for trace in traces:
        for span in trace:
            status = (pb.trace.Status(code=pb.trace.Status.STATUS_CODE_ERROR, message=span.error)
                      if span.error is not None else pb.trace.Status())
            spans.append(pb.trace.Span(
                trace_id=span.trace_id,
                span_id=span.span_id,
                parent_span_id=span.parent_span_id or b"",
                name=span.name,
                kind=kinds[span.kind],
                start_time_unix_nano=span.start_ns,
                end_time_unix_nano=span.end_ns,
                attributes=_key_values(pb.common, span.attributes),
                events=[pb.trace.Span.Event(time_unix_nano=event.time_ns, name=event.name,
                                            attributes=_key_values(pb.common, event.attributes))
                        for event in span.events],
                status=status,
            ))
    request = pb.service.ExportTraceServiceRequest(resource_spans=[pb.trace.ResourceSpans(
        resource=pb.resource.Resource(attributes=_key_values(pb.common, {
            "service.name": SERVICE_NAME, "service.version": __version__,
        })),
        scope_spans=[pb.trace.ScopeSpans(
            scope=pb.common.InstrumentationScope(name=SCOPE_NAME, version=__version__),
            spans=spans,
        )],
    )])
    data: bytes = request.SerializeToString()
    return data


def rejected_spans(body: bytes) -> tuple[int, str]:
    """(rejected spans, the collector's message) from an ExportTraceServiceResponse body."""
    pb = proto_modules()
    response = pb.service.ExportTraceServiceResponse()
    try:
        response.ParseFromString(body)
    except Exception:  # a collector that answers 200 with something else: nothing to say
        return 0, ""
    partial = response.partial_success
    return int(partial.rejected_spans), str(partial.error_message)


# -- sending ------------------------------------------------------------------------------------


async def send_traces(
    target: OtlpTarget, body: bytes, http: aiohttp.ClientSession | None = None,
    *, retries: int = RETRIES,
) -> tuple[int, str]:
    """POST one encoded request to the collector; the number of spans it rejected (0: all
    kept) and its message about them; OtlpError in one line if it is down, too slow or
    refuses the request. An answer the specification calls retryable (429, 502, 503, 504) is
    retried `retries` times, after its Retry-After or an exponential backoff."""
    where = target.display
    try:
        if http is None:
            async with aiohttp.ClientSession() as own:
                return await _post_retrying(own, target, body, retries)
        return await _post_retrying(http, target, body, retries)
    except TimeoutError:
        raise OtlpError(
            f"the OTLP collector at {where} did not answer within {target.timeout_s:g}s: "
            "check it, or raise OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds)"
        ) from None
    except aiohttp.ClientConnectionError as error:
        raise OtlpError(
            f"cannot reach the OTLP collector at {where} ({_reason(error)}): start it, or "
            "point --otlp / OTEL_EXPORTER_OTLP_ENDPOINT at it"
        ) from error


async def _post_retrying(
    http: aiohttp.ClientSession, target: OtlpTarget, body: bytes, retries: int
) -> tuple[int, str]:
    delay = RETRY_DELAY_S
    for attempt in range(retries + 1):
        status, answer, retry_after = await _post(http, target, body)
        if 200 <= status < 300:
            return rejected_spans(answer)
        if status not in RETRYABLE or attempt == retries:
            tries = f" after {attempt + 1} tries" if attempt else ""
            raise OtlpError(
                f"the OTLP collector at {target.display} refused the traces (HTTP {status})"
                f"{tries}: check the endpoint's path (…/v1/traces) and "
                "OTEL_EXPORTER_OTLP_HEADERS"
            )
        await asyncio.sleep(min(retry_after if retry_after is not None else delay,
                                MAX_RETRY_DELAY_S))
        delay *= 2
    raise AssertionError("unreachable")


def _reason(error: aiohttp.ClientConnectionError) -> str:
    cause = getattr(error, "os_error", None) or error.__cause__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    strerror = getattr(cause, "strerror", None)
    return str(strerror) if strerror else type(error).__name__


async def _post(
    http: aiohttp.ClientSession, target: OtlpTarget, body: bytes
) -> tuple[int, bytes, float | None]:
    """(status, body, Retry-After seconds if given) of one POST."""
    async with http.post(
        target.url, data=body,
        headers={**target.headers, "Content-Type": CONTENT_TYPE},
        timeout=aiohttp.ClientTimeout(total=target.timeout_s),
    ) as response:
        answer = await response.read()
        retry_after = response.headers.get("Retry-After", "")
        seconds = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else None
        return response.status, answer, seconds
