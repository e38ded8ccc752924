"""Tracing: spans collected per trace with attributes and parent/child links, idempotent
setup, and a real OTLP/HTTP export to a tiny local server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from support_core.config import Settings
from support_core.store import TicketStore
from support_core.telemetry import (
    SpanCollector,
    close_exporters,
    current_trace_id,
    flush_tracing,
    setup_tracing,
    span_collector,
    stage_span,
    traces_url,
)


@pytest.fixture
def collector() -> SpanCollector:
    setup_tracing()
    return span_collector()


def run_message(ticket_id: str) -> str:
    """A miniature pipeline run; returns its trace id."""
    with stage_span("pipeline.process_message", **{"ticket.id": ticket_id}) as root:
        trace_id = current_trace_id()
        with stage_span("kb.search", **{"retrieval.count": 3, "kb.filter": None}):
            pass
        with stage_span("sentiment.analyze", **{"sentiment.signals": ("all_caps", "profanity")}):
            pass
        root.set_attribute("outcome", "auto_reply")
    assert trace_id is not None
    return trace_id


def test_spans_are_collected_with_attributes_and_parents(collector: SpanCollector) -> None:
    trace_id = run_message("tkt_a")
    spans = collector.pop(trace_id)
    by_name = {s["name"]: s for s in spans}
    assert list(by_name) == ["pipeline.process_message", "kb.search", "sentiment.analyze"]
    root = by_name["pipeline.process_message"]
    assert root["parent_id"] is None
    assert root["attributes"] == {"ticket.id": "tkt_a", "outcome": "auto_reply"}
    assert by_name["kb.search"]["parent_id"] == root["span_id"]
    assert by_name["kb.search"]["attributes"] == {"retrieval.count": 3}  # None is dropped
    assert by_name["sentiment.analyze"]["attributes"]["sentiment.signals"] == [
        "all_caps", "profanity"
    ]
    assert all(s["trace_id"] == trace_id and s["duration_ms"] >= 0 for s in spans)
    assert all(s["start"] <= s["end"] for s in spans)
    assert collector.pop(trace_id) == []  # popped once


def test_pop_accepts_the_integer_trace_id(collector: SpanCollector) -> None:
    with stage_span("pipeline.process_message") as root:
        trace_int = root.get_span_context().trace_id
    assert [s["name"] for s in collector.pop(trace_int)] == ["pipeline.process_message"]


def test_pop_ticket_gathers_every_trace_of_a_ticket(collector: SpanCollector) -> None:
    first, second = run_message("tkt_b"), run_message("tkt_b")
    other = run_message("tkt_c")
    spans = collector.pop_ticket("tkt_b")
    assert {s["trace_id"] for s in spans} == {first, second} and len(spans) == 6
    assert first not in collector.trace_ids() and other in collector.trace_ids()
    collector.pop(other)


def test_collected_spans_store_with_the_ticket(collector: SpanCollector, tmp_path: Path) -> None:
    store = TicketStore(tmp_path / "deskpilot.db")
    spans = collector.pop(run_message("tkt_d"))
    store.save_spans("tkt_d", spans)
    stored = store.spans("tkt_d")
    assert [s["name"] for s in stored] == [s["name"] for s in spans]
    assert stored[0]["attributes"]["ticket.id"] == "tkt_d"
    store.close()


def test_a_failing_stage_marks_its_span_as_error(collector: SpanCollector) -> None:
    with pytest.raises(RuntimeError, match="chroma down"):
        with stage_span("pipeline.process_message") as root:
            trace_id = root.get_span_context().trace_id
            with stage_span("kb.search"):
                raise RuntimeError("chroma down")
    spans = {s["name"]: s for s in collector.pop(trace_id)}
    failed = spans["kb.search"]
    assert failed["status"] == "error"
    assert failed["attributes"]["error.type"] == "RuntimeError"
    assert failed["attributes"]["error.message"] == "chroma down"


@pytest.mark.parametrize("name", ["process_message", "Kb.search", "kb.", "kb search", ""])
def test_span_names_must_be_stage_dot_operation(name: str) -> None:
    with pytest.raises(ValueError, match="<stage>.<operation>"):
        with stage_span(name):
            pass


def test_setup_is_idempotent_and_leaves_the_global_provider_alone() -> None:
    first = setup_tracing(Settings(_env_file=None))  # type: ignore[call-arg]
    assert setup_tracing() is first
    assert setup_tracing(Settings(_env_file=None)) is first  # type: ignore[call-arg]
    assert trace.get_tracer_provider() is not first


def test_the_collector_forgets_the_oldest_unclaimed_traces() -> None:
    small = SpanCollector(max_traces=2)
    provider = setup_tracing()
    provider.add_span_processor(small)
    ids = [run_message(f"tkt_{i}") for i in range(3)]
    try:
        assert small.trace_ids() == ids[1:]
        assert small.pop(ids[0]) == [] and small.pop_ticket("tkt_0") == []
    finally:
        small.shutdown()
        for trace_id in ids:
            span_collector().pop(trace_id)


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
        ("https://otel.example.com/custom/path", "https://otel.example.com/custom/path"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append(
            {"path": self.path, "type": self.headers.get("Content-Type"), "body": body}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def otlp_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        close_exporters()  # no exporter outlives its server
        server.shutdown()
        server.server_close()


def test_spans_are_exported_over_otlp_http(
    otlp_server: tuple[str, list[dict[str, Any]]], collector: SpanCollector
) -> None:
    endpoint, received = otlp_server
    setup_tracing(Settings(_env_file=None, otlp_endpoint=endpoint))  # type: ignore[call-arg]
    collector.pop(run_message("tkt_export"))
    assert flush_tracing()

    posts = [r for r in received if r["path"] == "/v1/traces"]
    assert posts and posts[0]["type"] == "application/x-protobuf"
    request = ExportTraceServiceRequest()
    for post in posts:
        request.MergeFromString(post["body"])
    names = {
        span.name
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    }
    assert {"pipeline.process_message", "kb.search", "sentiment.analyze"} <= names
