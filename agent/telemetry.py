"""OpenTelemetry: one span per collection run, collector, rule evaluation and API request.
Off by default (no exporter); an OTLP/HTTP exporter when the config names an endpoint."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

_configured = False
EXPORT_TIMEOUT_S = 2  # per export, retries included: spans are worth less than a command's prompt exit


def setup_tracing(
    otlp_endpoint: str | None = None, exporter: SpanExporter | None = None, service_name: str = "ownership-agent"
) -> TracerProvider | None:
    """Install a tracer provider once per process; None when tracing stays off."""
    global _configured
    if _configured or (otlp_endpoint is None and exporter is None):
        return None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # a short timeout: an exporter retrying a collector that is down held every command's exit ~7 s
        exporter = OTLPSpanExporter(endpoint=otlp_endpoint, timeout=EXPORT_TIMEOUT_S)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter, export_timeout_millis=EXPORT_TIMEOUT_S * 1000))
    trace.set_tracer_provider(provider)
    _configured = True
    return provider
