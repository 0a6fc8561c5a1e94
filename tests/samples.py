"""Facts that several test modules build the same way (importable as `samples`: tests/ is on sys.path)."""

from __future__ import annotations

from collectors.facts import SLO

# Sloth's request-availability SLO of a `checkout` service, as the burn-rate fixes and windows read it
CHECKOUT_SLO = SLO(
    name="requests-availability",
    service="checkout",
    objective=99.9,
    format="sloth",
    error_query='sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))',
    total_query='sum(rate(http_requests_total{job="checkout"}[{{.window}}]))',
)
