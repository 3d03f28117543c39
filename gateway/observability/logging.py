"""Structured logs: JSON lines in prod, console lines in dev, secrets never written.

Every line, ours or a library's through the standard `logging` module, passes the
same redaction: sensitive keys are dropped, JWT-looking strings and bearer
credentials are cut out of any value, and emails are masked (`a***@example.com`).
The edge (`gateway.http.edge`) writes one access line per HTTP request, and binds the
request id (and with it the trace id) for every line logged while it runs.

The access line is the one written on every request, so in prod (JSON lines) it does
not go through structlog's processor chain: its fields are known, so it is built as
the chain would build it, redacted by field (the fields a client controls pass through
`redact_text`, the typed ones as they are), and rendered once with orjson. Under any
other configuration (the console in dev, a test's `capture_logs`) it takes the chain.
Written directly, the lines of one event-loop turn are rendered and go out in one write
at its end (`turn_lines`); a reader in the same turn calls `flush_access_lines` first.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Final

import orjson
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.types import Scope
from structlog.types import EventDict, Processor, WrappedLogger

# The rules live in the domain, shared with the audit trail (re-exported for the logs' users).
from domain.redaction import REDACTED as REDACTED
from domain.redaction import redact_text as redact_text
from domain.redaction import redact_value as redact_value
from gateway.observability.request_state import RequestState, stored_state
from gateway.observability.turn_lines import TurnLines, flush_all

ACCESS_LOGGER = "gateway.access"
# Libraries that log every call (aiosqlite: each statement with its parameters).
_QUIET_LOGGERS: Final = {"aiosqlite": logging.WARNING}
# The stdlib handler this module installs, found again on reconfiguration.
_HANDLER_NAME = "gateway-structlog"


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the event without secrets or personal data."""
    redacted: EventDict = redact_value(event_dict)
    return redacted


_TIMESTAMPER: Final = structlog.processors.TimeStamper(fmt="iso", utc=True)
# How the access line writes the TimeStamper's text (`isoformat()` with "Z" for UTC).
_UTC_Z: Final = orjson.OPT_UTC_Z
# The line's newline written by orjson into the same buffer, rather than by a copy.
_LINE: Final = _UTC_Z | orjson.OPT_APPEND_NEWLINE


@dataclass(frozen=True, slots=True)
class _JsonLines:
    """Where prod's JSON lines go, and the renderer ending structlog's chain (the access
    line is written directly only while the chain still ends with it: `capture_logs`
    and others edit the configured list in place)."""

    renderer: Processor
    # The access lines bound for prod's output, written once a loop turn.
    access: TurnLines


_JSON_LINES: _JsonLines | None = None


def _orjson_text(value: Any, **_: Any) -> str:
    return orjson.dumps(value).decode()


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_request_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _TIMESTAMPER,
    ]


def configure_logging(profile: str, level: str = "info", *, output: BinaryIO | None = None) -> None:
    """Route structlog and stdlib logging to one redacted stream (JSON in prod)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    binary = output if output is not None else sys.stdout.buffer
    shared = _shared_processors()
    # Tracebacks become text or dicts before redaction, never with locals (a local can
    # be a password); the console renderer's own rich tracebacks would show them.
    if profile == "prod":
        exceptions: Processor = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        to_bytes: Processor = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        to_text: Processor = structlog.processors.JSONRenderer(serializer=_orjson_text)
    else:
        exceptions = structlog.processors.format_exc_info
        to_text = structlog.dev.ConsoleRenderer(colors=False)
        to_bytes = _encoded(to_text)
    processors: list[Processor] = [
        *shared,
        structlog.processors.StackInfoRenderer(),
        exceptions,
        redact,
        to_bytes,
    ]
    structlog.configure(
        processors=processors,
        logger_factory=structlog.BytesLoggerFactory(binary),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )
    global _JSON_LINES
    flush_access_lines()  # into the output they were bound for
    _JSON_LINES = _JsonLines(to_bytes, TurnLines(binary)) if profile == "prod" else None
    _configure_stdlib(numeric, binary, shared, [exceptions, redact, to_text])


def _encoded(renderer: Processor) -> Processor:
    def render(logger: WrappedLogger, method: str, event_dict: EventDict) -> bytes:
        return str(renderer(logger, method, event_dict)).encode()

    return render


class _BinaryStream(logging.StreamHandler):  # type: ignore[type-arg]  # a text stream over bytes
    def __init__(self, output: BinaryIO) -> None:
        super().__init__()
        self._output = output

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._output.write(self.format(record).encode() + b"\n")
            self._output.flush()
        except Exception:
            self.handleError(record)


def _configure_stdlib(
    level: int, output: BinaryIO, shared: list[Processor], final: list[Processor]
) -> None:
    handler = _BinaryStream(output)
    handler.name = _HANDLER_NAME
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *final,
            ],
        )
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.name == _HANDLER_NAME:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name, floor in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(level, floor))


def unconfigure_logging() -> None:
    """Undo `configure_logging` (tests): structlog defaults, our stdlib handler removed."""
    global _JSON_LINES
    flush_access_lines()
    _JSON_LINES = None
    structlog.reset_defaults()
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.name == _HANDLER_NAME:
            root.removeHandler(existing)


def flush_access_lines() -> None:
    """Write the access lines still waiting for the end of their loop turn (the app's
    shutdown, a reader in the turn that wrote them)."""
    flush_all()


def current_trace_id() -> str | None:
    """The active trace id as 32 hex digits, or None outside a trace."""
    if not otel_context.get_current():
        return None  # nothing attached to the context, so no span: the usual request
    span = trace.get_current_span()
    if span is trace.INVALID_SPAN:  # no span at all, the usual case: nothing to ask it
        return None
    context = span.get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def _operations(state: RequestState | None) -> tuple[str | None, str | None]:
    operations = state.graphql_operations if state is not None else None
    if not operations:
        return None, None
    if len(operations) == 1:  # all but batches: no join, set or sort
        name, kind = operations[0]
        return (name or "anonymous")[:200], kind
    names = ",".join(name or "anonymous" for name, _ in operations)
    types = ",".join(sorted({kind for _, kind in operations}))
    return names[:200], types


# The id of the request being served; the edge sets it for the request's duration.
_REQUEST_ID: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)


def bind_request_ids(request_id: str) -> Token[str | None]:
    """Every line logged until `unbind_request_ids(token)` carries the request and trace ids.

    One context variable rather than structlog's bound ones (two variables and a dict of
    tokens a request); the trace id is read when a line is written, which also gives a
    line logged inside a span that span's trace, and costs nothing when none is.
    """
    return _REQUEST_ID.set(request_id)


def unbind_request_ids(token: Token[str | None]) -> None:
    _REQUEST_ID.reset(token)


def add_request_ids(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: `request_id` and `trace_id` on every line logged in a request."""
    request_id = _REQUEST_ID.get()
    if request_id is not None:
        event_dict["request_id"] = request_id
        event_dict["trace_id"] = current_trace_id()
    return event_dict


def _as_is(value: Any) -> Any:
    return value


# structlog's live configuration and its context variables, read where they are kept:
# `get_config()` builds a new dict on every call and `get_contextvars()` copies the
# whole context to find the (usually no) bound keys, together ~3 µs of every access
# line (docs/benchmarks/design-notes.md). Either name missing (a structlog that moved
# them) falls back to the public call.
_STRUCTLOG_CONFIG: Final[Any] = getattr(structlog._config, "_CONFIG", None)
_STRUCTLOG_VARS: Final[Mapping[str, object] | None] = getattr(
    structlog.contextvars, "_CONTEXT_VARS", None
)


def _live_config() -> tuple[object, Sequence[Processor]]:
    config = _STRUCTLOG_CONFIG
    if config is None:
        public = structlog.get_config()
        return public["wrapper_class"], public["processors"]
    return config.default_wrapper_class, config.default_processors


def _bound_contextvars() -> dict[str, Any]:
    if _STRUCTLOG_VARS is not None and not _STRUCTLOG_VARS:
        return {}  # nothing was ever bound in this process
    return structlog.contextvars.get_contextvars()


# The access line's client-chosen texts repeat (the method, the path of /graphql, the
# peer's address, operation names): each one's redacted form is kept, as redaction is
# a pure function of the text. Bounded in count and length, as the texts are a client's.
_REMEMBERED_TEXTS: Final = 4096
_REMEMBERED_LENGTH: Final = 256
_redacted_texts: dict[str, str] = {}


def _redacted(text: str) -> str:
    found = _redacted_texts.get(text)
    if found is None:
        found = redact_text(text)
        if len(_redacted_texts) < _REMEMBERED_TEXTS and len(text) <= _REMEMBERED_LENGTH:
            _redacted_texts[text] = found
    return found


_HEX_DIGITS: Final = "0123456789abcdef"


def _redacted_id(request_id: str) -> str:
    # The gateway's own ids are hex digits, and every word redaction looks for has a
    # letter past `f` (or an `@`): nothing to look for (`str.strip` is one C loop).
    return request_id if not request_id.strip(_HEX_DIGITS) else redact_text(request_id)


# The access line's fields and how each is redacted: text a client chose (the method,
# the path, the peer's address, operation names) as any logged text; the rest are
# numbers, None or the gateway's own words. `AccessLog.write` applies them field by
# field; a field added to the line must be added here too (the tests compare both
# with the line structlog's chain writes).
ACCESS_FIELDS: Final[dict[str, Callable[[Any], Any]]] = {
    "method": redact_text,
    "path": redact_text,
    "status": _as_is,
    "duration_ms": _as_is,
    "client_ip": lambda value: value if value is None else redact_text(value),
    "principal_id": _as_is,
    "operation_name": lambda value: value if value is None else redact_text(value),
    "operation_type": _as_is,
}


class AccessLog:
    """One line per HTTP request: method, path, status, duration, peer, principal, operations."""

    def __init__(self, *, direct: bool = True) -> None:
        self._log = structlog.get_logger(ACCESS_LOGGER)
        # Whether the configured wrapper class lets an info line through, and where prod's
        # lines go; looked up again only when logging is reconfigured.
        self._wrapper_class: object = None
        self._writes_info = True
        self._allow_direct = direct
        self._direct: TurnLines | None = None

    def enabled(self) -> bool:
        """Whether the level lets the line through; ask before the request, not after."""
        wrapper_class, processors = _live_config()
        if wrapper_class is not self._wrapper_class:
            is_enabled_for = getattr(self._log.bind(), "is_enabled_for", None)
            self._writes_info = is_enabled_for is None or bool(is_enabled_for(logging.INFO))
            self._wrapper_class = wrapper_class
        lines = _JSON_LINES
        direct = (
            self._allow_direct
            and lines is not None
            and bool(processors)
            and processors[-1] is lines.renderer
        )
        self._direct = lines.access if direct and lines is not None else None
        return self._writes_info

    def write(self, scope: Scope, status: int, seconds: float) -> None:
        state = stored_state(scope)
        name, kind = _operations(state)
        client = scope.get("client")
        # The path only: a GET query string can carry a whole document and variables.
        method, path = scope["method"], scope["path"]
        client_ip = client[0] if client else None
        principal_id = state.principal_id if state is not None else None
        if self._direct is None:
            self._log.info(
                "request",
                method=method,
                path=path,
                status=status,
                duration_ms=round(seconds * 1000, 2),
                client_ip=client_ip,
                principal_id=principal_id,
                operation_name=name,
                operation_type=kind,
            )
            return
        # What depends on the request's context is read now (its ids, the trace, the
        # instant); the line is rendered with the rest of the turn's lines when they
        # are written (`_access_line`).
        request_id = _REQUEST_ID.get()
        fields = (
            method,
            path,
            status,
            seconds,
            client_ip,
            principal_id,
            name,
            kind,
            request_id,
            None if request_id is None else current_trace_id(),
            # The TimeStamper's instant: the line is written when it is built.
            datetime.now(UTC),
        )
        bound = _bound_contextvars()
        if bound:  # values bound in this context: rendered now, with them
            self._direct.add(_access_line(*fields, bound=redact_value(bound)))
            return
        self._direct.defer(_access_line, *fields)


def _access_line(
    method: str,
    path: str,
    status: int,
    seconds: float,
    client_ip: str | None,
    principal_id: int | None,
    name: str | None,
    kind: str | None,
    request_id: str | None,
    trace_id: str | None,
    instant: datetime,
    *,
    bound: dict[str, Any] | None = None,
) -> bytes:
    """The chain's line, in its order, each field redacted by its rule in ACCESS_FIELDS
    (written out: a loop over the table cost a call a field on every request).

    Rendered when the turn's lines are written: the lines of one turn one after the
    other, rather than each in the middle of its request's work. Under the server a
    line built at the end of its request cost about twice as much CPU as the same line
    built again right after it (8.5 against 4.3 µs, thread CPU time): the code and
    data it needs are no longer in the caches by then.
    """
    line: dict[str, Any] = {
        "event": "request",
        "method": _redacted(method),
        "path": _redacted(path),
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "client_ip": None if client_ip is None else _redacted(client_ip),
        "principal_id": principal_id,
        "operation_name": None if name is None else _redacted(name),
        "operation_type": kind,
    }
    if request_id is not None:
        line["request_id"] = _redacted_id(request_id)
        line["trace_id"] = trace_id
    line["level"] = "info"
    line["logger"] = ACCESS_LOGGER
    # The TimeStamper's text (ISO 8601, UTC as Z, microseconds unless zero), written
    # by orjson from the instant instead of through isoformat() and a replace.
    line["timestamp"] = instant
    if bound:  # as merge_contextvars: the line's own fields win
        for key, value in bound.items():
            line.setdefault(key, value)
    return orjson.dumps(line, option=_LINE)
