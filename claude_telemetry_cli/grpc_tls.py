"""gRPC channel credentials from a signal's TLS files (OTEL_EXPORTER_OTLP_*CERTIFICATE, *CLIENT_KEY):
the same for the SDK exporters of `run` and the senders of `load`. settings has checked the files
are readable; one that became unreadable since is a one-line error."""

from __future__ import annotations

from claude_telemetry_cli.errors import ConfigError
from claude_telemetry_cli.settings import SignalConfig

__all__ = ["grpc_credentials"]


def grpc_credentials(sig: SignalConfig):
    """grpc.ssl_channel_credentials of the CA, client key and client certificate `sig` names."""
    import grpc

    return grpc.ssl_channel_credentials(
        root_certificates=_read(sig.certificate),
        private_key=_read(sig.client_key),
        certificate_chain=_read(sig.client_certificate),
    )


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
