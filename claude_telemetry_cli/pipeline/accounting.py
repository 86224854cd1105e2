"""What each exporter did over a replay: requests, items, failures, and why a failure happened."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CUT_OFF",
    "NOT_SENT",
    "ExportRequest",
    "ExportStats",
    "capture",
    "failure_cause",
    "first_failure",
    "install_capture",
    "stats_lock",
]


@dataclass
class ExportStats:
    """What one exporter of one signal did over a whole replay."""

    signal: str
    exporter: str  # "otlp grpc", "otlp http/json", "console", "prometheus"
    destination: str = ""
    # Every request made is, once the replay is over, either sent (answered with success) or failed:
    # refused, cut off when the replay stopped, or never sent because it had stopped.
    requests: int = 0
    sent_requests: int = 0
    failed_requests: int = 0
    items: int = 0  # data points, log records or spans sent successfully
    failed_items: int = 0
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.failed_requests == 0


class _ErrorCapture(logging.Handler):
    """Catches the OTel exporters' own log lines so failures become results, not stderr noise.

    Messages are kept per thread: exporters log on the thread that exports, and several processes'
    exports run at once. All of one export's lines are kept: the last one of a failure that was
    retried ("... due to timeout, max retries or shutdown") hides the cause, which an earlier
    "Transient error ..." line names.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().splitlines()[0] if record.getMessage() else record.levelname
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message}: {record.exc_info[1]}"
        self._messages().append(message)

    def _messages(self) -> list[str]:
        if not hasattr(self._local, "messages"):
            self._local.messages = []
        return self._local.messages

    def take(self) -> list[str]:
        """The lines logged on this thread since the last take, oldest first."""
        messages = self._messages()
        self._local.messages = []
        return messages


capture = _ErrorCapture()
stats_lock = threading.Lock()


def install_capture() -> None:
    otel = logging.getLogger("opentelemetry")
    if capture not in otel.handlers:
        otel.addHandler(capture)
        otel.propagate = False
        otel.setLevel(logging.WARNING)


_REFUSED = ("connection refused", "errno 111", "econnrefused")
_UNRESOLVED = ("name or service not known", "nodename nor servname", "temporary failure in name resolution")


def _host_port(destination: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(destination).netloc or destination


def _probe(host_port: str, timeout_s: float) -> str | None:
    """Why nothing answers at `host_port`, found by connecting once; None when something listens."""
    import socket
    from urllib.parse import urlsplit

    split = urlsplit(f"//{host_port}")
    if split.hostname is None or split.port is None:
        return None
    try:
        with socket.create_connection((split.hostname, split.port), timeout=timeout_s):
            return None
    except ConnectionRefusedError:
        return f"connection refused at {host_port}"
    except socket.gaierror:
        return f"cannot resolve the host of {host_port}"
    except OSError:
        return None


def failure_cause(messages: Sequence[str], destination: str, *, probe_timeout_s: float = 1.0) -> str:
    """One line on why an export failed, from the exporter's own log lines of that export.

    The SDK retries a refused connection until the export timeout and then reports only that it gave
    up; the cause, when its lines do not name it, is found by connecting once to the destination.
    """
    host_port = _host_port(destination)
    text = " ".join(messages).lower()
    if any(marker in text for marker in _REFUSED):
        return f"connection refused at {host_port}"
    if any(marker in text for marker in _UNRESOLVED):
        return f"cannot resolve the host of {host_port}"
    if not messages or "max retries or shutdown" in messages[-1]:
        probed = _probe(host_port, probe_timeout_s)
        if probed is not None:
            return probed
    if not messages:
        return "the exporter reported a failure"
    return messages[-1]


NOT_SENT = "not sent: the replay stopped before this request"
CUT_OFF = "cut off: the replay stopped before this request was answered"


def first_failure(stats: Sequence[ExportStats]) -> ExportStats | None:
    """The exporter whose failure says why: a request that failed itself, else one the replay stopped
    waiting for, rather than one it dropped."""
    return min((s for s in stats if not s.ok), key=lambda s: _telling(s.last_error), default=None)


def _telling(cause: str | None) -> int:
    """How little a cause says (lower: more): the request's own error, then the replay stopping while
    it was under way, then before it was sent."""
    return {None: 3, NOT_SENT: 2, CUT_OFF: 1}.get(cause, 0)


class ExportRequest:
    """One request of one exporter, counted when made and settled exactly once: sent, or failed.

    A request the replay gives up on is settled as failed then, so the counts add up whenever they are
    read; what the exporter reports for it later changes nothing.
    """

    __slots__ = ("_settled", "items", "stats")

    def __init__(self, stats: ExportStats, items: int) -> None:
        self.stats, self.items, self._settled = stats, items, False
        with stats_lock:
            stats.requests += 1

    def settle(self, ok: bool, error: str | None = None, *, unanswered: str = NOT_SENT) -> bool:
        """Count the outcome, unless it is already counted (False then). A failure without an error of
        its own (dropped or cut off when the replay stopped: `unanswered` says which) keeps a cause that
        says more, given by an earlier one."""
        with stats_lock:
            if self._settled:
                return False
            self._settled = True
            stats = self.stats
            if ok:
                stats.sent_requests += 1
                stats.items += self.items
            else:
                stats.failed_requests += 1
                stats.failed_items += self.items
                if error is not None or _telling(unanswered) < _telling(stats.last_error):
                    stats.last_error = error or unanswered
            return True
