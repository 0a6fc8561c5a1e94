"""OpenTelemetry: one span per collection run, collector, rule evaluation and API request.
Off by default (no exporter); an OTLP/HTTP exporter when the config names an endpoint."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

_configured = False


def setup_tracing(
    otlp_endpoint: str | None = None, exporter: SpanExporter | None = None, service_name: str = "ownership-agent"
) -> TracerProvider | None:
    """Install a tracer provider once per process; None when tracing stays off."""
    global _configured
    if _configured or (otlp_endpoint is None and exporter is None):
        return None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True
    return provider
