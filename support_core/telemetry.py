"""OpenTelemetry tracing: spans named ``<stage>.<operation>``, kept per ticket for the trace page.

How it fits together:

* :func:`setup_tracing` builds one SDK :class:`TracerProvider` per process (later calls return
  the same one). It always has a :class:`SpanCollector`, which keeps finished spans in memory
  grouped by trace id; the pipeline pops a message's spans when its root span has ended and
  hands them to ``TicketStore.save_spans``. When ``settings.otlp_endpoint`` is set, spans are
  also exported over OTLP/HTTP in the background (a ``BatchSpanProcessor``).
* Deskpilot never installs its provider as OpenTelemetry's *global* one. Setting the global
  provider twice is refused by the API (a warning, and the second provider is ignored), which
  breaks repeated setup in tests and in Streamlit reruns; and libraries tracing through the
  global API keep their own behaviour. Code in ``support_core`` gets its tracer from
  :func:`get_tracer`. Context propagation is global anyway, so parent/child links work.
* Before setup, :func:`get_tracer` returns the API's tracer (a no-op unless the host app set a
  global provider), so stages can always open spans.
"""

from __future__ import annotations

import re
import threading
import traceback
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode, format_span_id, format_trace_id

from support_core.config import Settings
from support_core.redaction import redact_text, redact_value

TRACER_NAME = "deskpilot"
SERVICE_NAME = "deskpilot"
TICKET_ID_ATTR = "ticket.id"
MAX_TRACES = 500  # traces kept when nobody pops them (e.g. spans outside the pipeline)
SPAN_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


# ----------------------------------------------------------------------------- span records
def _iso_ns(nanos: int | None) -> str | None:
    if nanos is None:
        return None
    moment = datetime.fromtimestamp(nanos / 1e9, tz=timezone.utc)
    return moment.isoformat(timespec="microseconds")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as a plain, JSON-safe dict (what ``TicketStore.save_spans`` stores)."""
    ctx, parent = span.context, span.parent
    assert ctx is not None  # an SDK span always has a context
    start, end = span.start_time, span.end_time
    return {
        "name": span.name,
        "trace_id": format_trace_id(ctx.trace_id),
        "span_id": format_span_id(ctx.span_id),
        "parent_id": format_span_id(parent.span_id) if parent else None,
        "start": _iso_ns(start),
        "end": _iso_ns(end),
        "duration_ms": (end - start) / 1e6 if start is not None and end is not None else None,
        "attributes": {k: redact_value(_plain(v)) for k, v in (span.attributes or {}).items()},
        "status": span.status.status_code.name.lower(),  # "unset", "ok" or "error"
    }


def _trace_key(trace_id: int | str) -> str:
    return format_trace_id(trace_id) if isinstance(trace_id, int) else trace_id.lower()


class SpanCollector(SpanProcessor):
    """Keeps finished spans in memory, grouped by trace, until someone pops them.

    Bounded: beyond ``max_traces`` unclaimed traces, the oldest is dropped.
    """

    def __init__(self, max_traces: int = MAX_TRACES) -> None:
        self.max_traces = max_traces
        self._lock = threading.Lock()
        self._traces: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._ticket_of: dict[str, str] = {}  # trace id -> ticket id

    def on_end(self, span: ReadableSpan) -> None:
        record = span_record(span)
        key = record["trace_id"]
        with self._lock:
            self._traces.setdefault(key, []).append(record)
            if TICKET_ID_ATTR in record["attributes"]:
                self._ticket_of[key] = str(record["attributes"][TICKET_ID_ATTR])
            while len(self._traces) > self.max_traces:
                dropped, _ = self._traces.popitem(last=False)
                self._ticket_of.pop(dropped, None)

    def pop(self, trace_id: int | str) -> list[dict[str, Any]]:
        """Remove and return a trace's finished spans, in start order (int or hex id)."""
        key = _trace_key(trace_id)
        with self._lock:
            spans = self._traces.pop(key, [])
            self._ticket_of.pop(key, None)
        return sorted(spans, key=lambda s: (s["start"] or "", s["span_id"]))

    def pop_ticket(self, ticket_id: str) -> list[dict[str, Any]]:
        """Remove and return the spans of every finished trace tagged with ``ticket.id``."""
        with self._lock:
            keys = [k for k, t in self._ticket_of.items() if t == ticket_id]
        return [span for key in keys for span in self.pop(key)]

    def trace_ids(self) -> list[str]:
        with self._lock:
            return list(self._traces)

    def shutdown(self) -> None:
        with self._lock:
            self._traces.clear()
            self._ticket_of.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _Exporters(SpanProcessor):
    """OTLP exporters that can be added and closed later (the SDK provider cannot remove a
    processor once added)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, BatchSpanProcessor] = {}

    def add(self, url: str) -> None:
        with self._lock:
            if url not in self._by_url:
                self._by_url[url] = BatchSpanProcessor(OTLPSpanExporter(endpoint=url))

    def urls(self) -> list[str]:
        with self._lock:
            return list(self._by_url)

    def _current(self) -> list[BatchSpanProcessor]:
        with self._lock:
            return list(self._by_url.values())

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        for processor in self._current():
            processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        processors = self._current()
        if processors:
            span = _redacted(span)
        for processor in processors:
            processor.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self._current())

    def shutdown(self) -> None:
        with self._lock:
            processors, self._by_url = list(self._by_url.values()), {}
        for processor in processors:
            processor.shutdown()


def _redacted(span: ReadableSpan) -> ReadableSpan:
    """A copy of a finished span with every text attribute redacted (what leaves the process)."""
    attributes: dict[str, Any] = {k: redact_value(v) for k, v in (span.attributes or {}).items()}
    status = span.status
    if status.description:
        status = Status(status.status_code, redact_text(status.description))
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=attributes, events=span.events, links=span.links, kind=span.kind,
        status=status, start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


# ----------------------------------------------------------------------------- setup
class _Tracing:
    """The process's tracing state, built once."""

    def __init__(self) -> None:
        self.collector = SpanCollector()
        self.exporters = _Exporters()
        self.provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
        self.provider.add_span_processor(self.collector)
        self.provider.add_span_processor(self.exporters)


_state: _Tracing | None = None
_state_lock = threading.Lock()


def traces_url(endpoint: str) -> str:
    """``http://host:4318`` -> ``http://host:4318/v1/traces``; a URL with a path is kept."""
    parts = urlsplit(endpoint.strip())
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1/traces")
    return urlunsplit(parts)


def setup_tracing(settings: Settings | None = None) -> TracerProvider:
    """Switch tracing on (idempotent) and return the process's provider.

    Each distinct ``settings.otlp_endpoint`` seen adds one OTLP/HTTP exporter; the same
    endpoint twice adds nothing.
    """
    global _state
    with _state_lock:
        if _state is None:
            _state = _Tracing()
        state = _state
    if settings is not None and settings.otlp_endpoint:
        state.exporters.add(traces_url(settings.otlp_endpoint))
    return state.provider


def span_collector() -> SpanCollector:
    """The in-memory collector (switches tracing on if it is not yet)."""
    setup_tracing()
    assert _state is not None
    return _state.collector


def flush_tracing(timeout_millis: int = 10000) -> bool:
    """Push buffered spans to the OTLP exporters now (tests, CLI exit)."""
    return _state.provider.force_flush(timeout_millis) if _state else True


def close_exporters() -> None:
    """Flush and detach every OTLP exporter; collection in memory goes on."""
    if _state is not None:
        _state.exporters.shutdown()


def get_tracer() -> trace.Tracer:
    if _state is not None:
        return _state.provider.get_tracer(TRACER_NAME)
    return trace.get_tracer(TRACER_NAME)


# ----------------------------------------------------------------------------- spans
def _attribute_value(value: Any) -> Any:
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        kinds = {type(v) for v in items}
        primitive = kinds <= {str, bool, int, float}
        return items if primitive and len(kinds) <= 1 else [str(v) for v in items]
    return str(value)


def clean_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Values OpenTelemetry accepts: None is dropped, anything unusual becomes text."""
    return {k: redact_value(_attribute_value(v)) for k, v in attributes.items() if v is not None}


@contextmanager
def stage_span(name: str, **attributes: Any) -> Iterator[trace.Span]:
    """Open a span named ``<stage>.<operation>`` as the current span.

    Keys with dots are passed by unpacking: ``stage_span("kb.search", **{"kb.k": 5})``.
    An exception marks the span as an error (type and message become attributes, so they are
    stored with the ticket's spans) and is re-raised.
    """
    if not SPAN_NAME.fullmatch(name):
        raise ValueError(f"Span names look like '<stage>.<operation>', not {name!r}.")
    tracer = get_tracer()
    with tracer.start_as_current_span(
        name, attributes=clean_attributes(attributes), record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            _mark_failed(span, exc)
            raise


def _mark_failed(span: trace.Span, exc: Exception) -> None:
    message = redact_text(str(exc))
    stack = redact_text("".join(traceback.format_exception(exc)))
    span.record_exception(
        exc, attributes={"exception.message": message, "exception.stacktrace": stack}
    )
    span.set_attribute("error.type", type(exc).__name__)
    span.set_attribute("error.message", message[:500])
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"[:500]))


def current_trace_id() -> str | None:
    """Hex id of the trace the current span belongs to, or None outside a recorded span."""
    ctx = trace.get_current_span().get_span_context()
    return format_trace_id(ctx.trace_id) if ctx.is_valid else None
