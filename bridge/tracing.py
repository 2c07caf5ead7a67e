"""Whether OpenTelemetry would record anything: a real tracer provider is installed.

The SDK wraps every message in spans that cost tens of microseconds per call and record
nothing until a provider is set up; the bridge leaves them (and what needs them) out otherwise.
"""

from __future__ import annotations

from opentelemetry import trace


def tracing_configured() -> bool:
    """True when a real OpenTelemetry tracer provider is installed (spans would be recorded)."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
