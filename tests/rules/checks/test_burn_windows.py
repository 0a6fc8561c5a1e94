"""OWN002's burn windows read through an expression's shape agree with a parse of the expression itself."""

from __future__ import annotations

import pytest
from samples import CHECKOUT_SLO

from rules import exprs, fixes
from rules.checks.own002_slo_no_page import burn_windows, parse_burn_windows

SLO_ = CHECKOUT_SLO

EXPRS = [
    fixes.burn_alert_expr(SLO_, fixes.PAGE_WINDOWS),
    fixes.burn_alert_expr(SLO_, fixes.TICKET_WINDOWS),
    fixes.burn_alert_expr(SLO_.model_copy(update={"service": "cart"}), fixes.PAGE_WINDOWS),
    'sum(rate(errors_total{job="a"}[5m])) / sum(rate(requests_total{job="a"}[1h])) > 0.01',
    '{__name__="slo:sli_error:ratio_rate6h", sloth_id="x"} > 0.1 or up{job="a"} == 0',
    'max_over_time(up{job="a"}[1d:5m]) < 1',
    'up{job="a"} == 0',
    "not a ( valid expr",
]


@pytest.mark.parametrize("expr", EXPRS)
def test_windows_by_shape_agree_with_a_parse(expr: str) -> None:
    assert burn_windows(expr) == parse_burn_windows(expr)
    assert burn_windows(expr) == parse_burn_windows(expr)  # the second time from the memo


def test_sloth_alerts_take_the_shape_path() -> None:
    assert exprs.facts(EXPRS[0])._shape is not None


def test_a_page_stopped_for_the_instant_still_counts_and_a_notification_never() -> None:
    """OWN002's "can page" is OWN011's `is_paging` (maintenance window or status, muted route) plus an unreadable
    routing key or a coverage hole; a low-urgency path with level 1 empty is no page (it matched "nobody on call")."""
    from types import SimpleNamespace as NS

    from rules.checks.own002_slo_no_page import can_page

    def alert(outcome: str, reason: str | None, pages: bool = False) -> NS:
        return NS(pages=pages, paths=[NS(pagerduty_service="P1", outcome=outcome, reason=reason)])

    assert can_page(alert("pages", None, pages=True))
    assert can_page(alert("nobody", "service status is maintenance"))
    assert can_page(alert("nobody", "in maintenance window PW1 until 2026-11-16T12:00:00+00:00"))
    assert can_page(alert("nobody", "nobody on call at any level"))
    assert can_page(alert("unknown", "routing key unknown"))
    assert not can_page(alert("nobody", "low urgency (service default), and nobody on call at level 1"))
    assert not can_page(alert("notifies", "low urgency (service default)"))
    assert not can_page(alert("nobody", "receiver notifies nobody"))
