"""A catalog team's timezone must be an IANA zone; a Sloth spec's string fields must be strings (as Sloth's Go
structs read them): both refused at their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import InputError
from collectors.catalog_files import CatalogFile
from collectors.slo_specs import load_slo_file
from collectors.validate import validate
from collectors.yamlfile import load_one

CATALOG = """apiVersion: ownership-agent/v1
kind: Catalog
teams:
  - name: payments
    timezone: {tz}
services:
  - name: checkout
    team: payments
"""

SLOTH = """version: "prometheus/v1"
service: "checkout"
slos:
  - name: "requests-availability"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total[{{{{.window}}}}]))
    alerting:
      name: {name}
      page_alert:
        labels:
          severity: critical
"""


def test_unknown_timezone_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.format(tz="Mars/Olympus"), encoding="utf-8")
    with pytest.raises(
        InputError, match=r"^" + str(path) + r":5: teams\.0\.timezone: .*unknown time zone 'Mars/Olympus'"
    ):
        validate(CatalogFile, load_one(path))


def test_iana_timezone_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(CATALOG.format(tz="Europe/Berlin"), encoding="utf-8")
    validate(CatalogFile, load_one(path))


def test_sloth_alert_name_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(SLOTH.format(name="[CheckoutAvailability]"), encoding="utf-8")
    with pytest.raises(InputError, match=r":11: slos\.0\.alerting\.name: expected a string, found a list"):
        load_slo_file(path)


def test_sloth_alert_name_string_is_read(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(SLOTH.format(name="CheckoutAvailability"), encoding="utf-8")
    slos, _ = load_slo_file(path)
    assert slos[0].page_alert == "CheckoutAvailability"


def test_an_openslo_slo_takes_the_sli_its_indicator_ref_names(tmp_path: Path) -> None:
    """OpenSLO's SLO names its SLI document by `indicatorRef` (the demo's api-gateway does): its ratio metric is
    the SLO's, where the SLI was read as "not stated in the spec"."""
    from agent import demo
    from collectors.slo_specs import load_slo_file

    [slo], _ = load_slo_file(demo.org_dir() / "slos" / "api-gateway.yaml")
    assert slo.total_query == 'sum(rate(http_requests_total{job="api-gateway"}[{{.window}}]))'
    assert slo.error_query == (
        '(sum(rate(http_requests_total{job="api-gateway"}[{{.window}}]))) - '
        '(sum(rate(http_requests_total{job="api-gateway",code!~"5.."}[{{.window}}])))'
    )
    text = (demo.org_dir() / "slos" / "api-gateway.yaml").read_text()
    f = tmp_path / "other.yaml"
    f.write_text(text.replace("indicatorRef: api-gateway-api-availability", "indicatorRef: no-such-sli"))
    [other], _ = load_slo_file(f)
    assert other.total_query is None and other.error_query is None
