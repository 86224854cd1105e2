"""The official exporters, built from a SignalConfig alone: OTLP over gRPC, HTTP/protobuf and
HTTP/JSON, and the console exporters.

The OTLP exporters read OTEL_* variables from os.environ for any value they are not given, and some
(HTTP headers) whatever they are given. Settings has already resolved those variables as Claude Code
does, managed settings' removals included, so every value is passed in explicitly and the HTTP
exporters get a transport that sends exactly the resolved headers. The transport is also where the
JSON exporter's bodies are written as Claude Code writes them, and where (as for gRPC, in the span
exporter's request) every span gets the flags Claude Code writes: the SDK's encoders leave the sampled
bit out of Span.flags.

The HTTP transport hook (`_transport`) and its base class are the exporters' own injection point,
though underscored: the OpenTelemetry packages are pinned as one set, so a new release is taken on
purpose, and tests/unit/test_pipeline_environment.py tells whether it still holds.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping

import grpc
from opentelemetry.exporter.http.transport._base import BaseHTTPResult, BaseHTTPTransport
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import Counter

from claude_telemetry_cli.contract.spans import SPAN_FLAGS
from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.grpc_tls import grpc_credentials
from claude_telemetry_cli.otlp.encode import flag_spans, sampled_protobuf_spans
from claude_telemetry_cli.otlp.json_lines import json_objects
from claude_telemetry_cli.settings import SignalConfig

__all__ = [
    "KeyMaterial",
    "build_log_exporter",
    "build_metric_exporter",
    "build_span_exporter",
    "claude_code_json",
    "console_log_exporter",
    "console_metric_exporter",
    "console_span_exporter",
]

# The exporters' own metrics about themselves go nowhere, rather than to a global provider that
# OTEL_PYTHON_METER_PROVIDER could name.
_NO_INTERNAL_METRICS = NoOpMeterProvider()
# The gRPC exporters' own default, given so OTEL_PYTHON_EXPORTER_OTLP_GRPC_RETRYABLE_ERROR_CODES is not read.
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
# What an HTTP exporter sets for its protocol; every other header is one settings resolved.
_PROTOCOL_HEADERS = frozenset({"content-type", "user-agent", "content-encoding"})


class KeyMaterial:
    """Decrypts a passphrase-protected client key into a private temp file for the exporters."""

    def __init__(self) -> None:
        self._dir: str | None = None

    def plain_key(self, key_path: str, passphrase: str | None) -> str:
        if not passphrase:
            return key_path
        try:
            from cryptography.hazmat.primitives import serialization
        except ImportError:  # pragma: no cover - cryptography is a declared dependency
            raise ConfigError(
                "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE: decrypting the key needs the 'cryptography' package"
            ) from None
        try:
            with open(key_path, "rb") as fh:
                key = serialization.load_pem_private_key(fh.read(), password=passphrase.encode())
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"CLAUDE_CODE_CLIENT_KEY_PASSPHRASE: cannot decrypt {key_path}: {exc}"
            ) from None
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="claude-telemetry-key-")
        out = os.path.join(self._dir, "client.key")
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        return out

    def close(self) -> None:
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class _Given(tuple):
    """gRPC headers that count as given even when there are none: the exporters read
    OTEL_EXPORTER_OTLP_*HEADERS for headers that are empty."""

    def __bool__(self) -> bool:
        return True


def _grpc_exporter_kwargs(sig: SignalConfig, timeout_s: float) -> dict:
    endpoint = sig.endpoint or "http://localhost:4317"
    secure = endpoint.startswith("https://")
    return {
        "endpoint": endpoint,
        "insecure": not secure,
        "credentials": grpc_credentials(sig) if secure else None,
        # gRPC metadata keys must be lowercase.
        "headers": _Given((k.lower(), v) for k, v in sig.headers),
        "timeout": timeout_s,
        "compression": grpc.Compression.NoCompression,
        "retryable_error_codes": _RETRYABLE,
        "meter_provider": _NO_INTERNAL_METRICS,
    }


class _ResolvedTransport(BaseHTTPTransport):
    """An HTTP exporter's transport that sends the resolved headers and nothing the environment added,
    each body first passed through `encode`."""

    def __init__(
        self, inner: BaseHTTPTransport, headers: Mapping[str, str], encode: Callable[[bytes], bytes] | None
    ) -> None:
        self._inner = inner
        self._headers = {key.lower(): value for key, value in headers.items()}
        self._encode = encode

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        data: bytes | None = None,
    ) -> BaseHTTPResult:
        sent = {k: v for k, v in (headers or {}).items() if k.lower() in _PROTOCOL_HEADERS}
        sent.update(self._headers)
        if data is not None and self._encode is not None:
            data = self._encode(data)
        return self._inner.request(method, url, headers=sent, timeout=timeout, data=data)

    def is_connection_error(self, exception: Exception | None) -> bool:
        return self._inner.is_connection_error(exception)

    def close(self) -> None:
        self._inner.close()


def _tls(sig: SignalConfig, keys: KeyMaterial) -> dict:
    """The HTTP transport's TLS: the CA file settings resolved (else the system's), and a client
    certificate only with its key."""
    cert = None
    if sig.http_client_cert and sig.http_client_key:
        cert = (sig.http_client_cert, keys.plain_key(sig.http_client_key, sig.http_client_key_passphrase))
    return {"verify": sig.http_ca_certs or True, "cert": cert}


def _protobuf_transport(
    sig: SignalConfig, keys: KeyMaterial, encode: Callable[[bytes], bytes] | None = None
) -> BaseHTTPTransport:
    import requests
    from opentelemetry.exporter.http.transport._requests import RequestsHTTPTransport

    session = requests.Session()
    if sig.http_ca_certs:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE from the environment override a session's
        # own `verify`, so NODE_EXTRA_CA_CERTS would be silently ignored on machines that set them.
        session.trust_env = False
    inner = RequestsHTTPTransport(session=session, **_tls(sig, keys))
    return _ResolvedTransport(inner, dict(sig.headers), encode)


def _json_transport(
    sig: SignalConfig, keys: KeyMaterial, encode: Callable[[bytes], bytes] | None = None
) -> BaseHTTPTransport:
    from opentelemetry.exporter.http.transport._urllib3 import Urllib3HTTPTransport

    inner = Urllib3HTTPTransport(**_tls(sig, keys))
    return _ResolvedTransport(inner, dict(sig.headers), encode or claude_code_json)


def claude_code_json_spans(body: bytes) -> bytes:
    """claude_code_json for an OTLP/JSON traces body, its spans flagged as Claude Code's too."""
    data = json.loads(claude_code_json(body))
    for resource_spans in data.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                span["flags"] = int(span.get("flags") or 0) | SPAN_FLAGS
    return json.dumps(data).encode()


def claude_code_json(body: bytes) -> bytes:
    """An OTLP/JSON request body from the official JSON exporter, with its attribute values written as
    Claude Code's JS exporter writes them.

    Two differences matter to receivers: Claude Code writes `intValue` as a plain JSON number (the
    Python codec writes a string, as proto3 JSON allows), and always writes an empty array as
    {"arrayValue": {"values": []}} (the Python codec omits the empty field, which strict receivers,
    rotel among them, reject with HTTP 400, losing the whole batch; every start-up
    `managed_settings_resolved` event carries an empty array).
    """
    data = json.loads(body)
    for node in json_objects(data):
        if isinstance(node.get("intValue"), str):
            node["intValue"] = int(node["intValue"])
        if isinstance(node.get("arrayValue"), dict):
            node["arrayValue"].setdefault("values", [])
    return json.dumps(data).encode()


def _protobuf_exporter_kwargs(
    sig: SignalConfig, timeout_s: float, keys: KeyMaterial, encode: Callable[[bytes], bytes] | None = None
) -> dict:
    """What every OTLP/HTTP protobuf exporter is built with: nothing left for it to read from the
    environment, no compression, no metrics of its own, and the tool's transport."""
    from opentelemetry.exporter.otlp.proto.http import Compression

    return {
        "endpoint": sig.endpoint,
        "headers": dict(sig.headers),
        "timeout": timeout_s,
        "compression": Compression.NoCompression,
        "meter_provider": _NO_INTERNAL_METRICS,
        "_transport": _protobuf_transport(sig, keys, encode),
    }


def _json_exporter_kwargs(
    sig: SignalConfig,
    timeout_s: float,
    keys: KeyMaterial,
    encode: Callable[[bytes], bytes] | None = None,
) -> dict:
    """The same for the OTLP/HTTP JSON exporters, which take no meter provider."""
    from opentelemetry.exporter.otlp.common.http import Compression

    return {
        "endpoint": sig.endpoint,
        "headers": dict(sig.headers),
        "timeout": timeout_s,
        "compression": Compression.NONE,
        "_transport": _json_transport(sig, keys, encode),
    }


def build_metric_exporter(sig: SignalConfig, timeout_s: float, keys: KeyMaterial, temporality):
    preferred = {Counter: temporality}
    if sig.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(preferred_temporality=preferred, **_grpc_exporter_kwargs(sig, timeout_s))
    if sig.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(
            preferred_temporality=preferred, **_protobuf_exporter_kwargs(sig, timeout_s, keys)
        )
    if sig.protocol == "http/json":
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(
            preferred_temporality=preferred, **_json_exporter_kwargs(sig, timeout_s, keys)
        )
    raise ValueError(f"unsupported protocol {sig.protocol!r}")


def build_span_exporter(sig: SignalConfig, timeout_s: float, keys: KeyMaterial):
    if sig.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        class SampledSpanExporter(OTLPSpanExporter):
            def _translate_data(self, data):
                request = super()._translate_data(data)
                flag_spans(request)
                return request

        return SampledSpanExporter(**_grpc_exporter_kwargs(sig, timeout_s))
    if sig.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(**_protobuf_exporter_kwargs(sig, timeout_s, keys, sampled_protobuf_spans))
    if sig.protocol == "http/json":
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(**_json_exporter_kwargs(sig, timeout_s, keys, claude_code_json_spans))
    raise ValueError(f"unsupported protocol {sig.protocol!r}")


def build_log_exporter(sig: SignalConfig, timeout_s: float, keys: KeyMaterial):
    if sig.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(**_grpc_exporter_kwargs(sig, timeout_s))
    if sig.protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter(**_protobuf_exporter_kwargs(sig, timeout_s, keys))
    if sig.protocol == "http/json":
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter(**_json_exporter_kwargs(sig, timeout_s, keys))
    raise ValueError(f"unsupported protocol {sig.protocol!r}")


def console_metric_exporter(out, temporality):
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

    return ConsoleMetricExporter(out=out, preferred_temporality={Counter: temporality})


def console_log_exporter(out):
    from opentelemetry.sdk._logs.export import ConsoleLogExporter

    return ConsoleLogExporter(out=out)


def console_span_exporter(out):
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter(out=out)
