"""SLO specs: Sloth `prometheus/v1`, Sloth's `PrometheusServiceLevel`, OpenSLO (`v1alpha`, `v1`)."""

from __future__ import annotations

from pathlib import Path

from agent.errors import InputError
from collectors.facts import SLO, Location, Rule
from collectors.prometheus_rules import _rules_of_document, check_expr
from collectors.validate import STR, MapOf, check_shape
from collectors.yamlfile import Document, load_documents

SLOTH_VERSION = "prometheus/v1"


def _q(query: str | None) -> str | None:
    """Sloth queries carry `{{.window}}`: check them with a concrete window."""
    return None if query is None else query.replace("{{.window}}", "5m").replace("{{ .window }}", "5m")


def load_slo_file(path: Path | str) -> tuple[list[SLO], list[Rule]]:
    """SLOs in a spec file; Sloth-generated rule files give their rules instead."""
    slos: list[SLO] = []
    rules: list[Rule] = []
    docs = load_documents(path)
    # OpenSLO SLIs of the file by name: an SLO's `indicatorRef` names one (its SLI was read as not stated)
    slis = {
        str((d.data.get("metadata") or {}).get("name")): d.data.get("spec") or {}
        for d in docs
        if isinstance(d.data, dict)
        and str(d.data.get("apiVersion", "")).startswith("openslo/")
        and d.data.get("kind") == "SLI"
        and isinstance(d.data.get("metadata"), dict)
    }
    for doc in docs:
        data = doc.data
        if not isinstance(data, dict):
            raise InputError("an SLO spec must be a mapping", file=doc.file, line=doc.start_line)
        kind = data.get("kind")
        if data.get("version") == SLOTH_VERSION:
            slos.extend(_sloth(doc, data, (), "sloth"))
        elif kind == "PrometheusServiceLevel":
            slos.extend(_sloth(doc, data.get("spec") or {}, ("spec",), "sloth-k8s"))
        elif str(data.get("apiVersion", "")).startswith("openslo/"):
            if kind == "SLO":
                slos.append(_openslo(doc, data, slis))
            elif kind in ("SLI", "Service", "AlertPolicy", "AlertCondition", "AlertNotificationTarget", "DataSource"):
                continue  # referenced by SLOs; services are taken from the SLO's spec.service
            else:
                raise InputError(f"unknown OpenSLO kind {kind!r}", file=doc.file, line=doc.line_of("kind"))
        elif kind == "AlertWindows":
            continue
        elif "groups" in data or kind == "PrometheusRule":
            rules.extend(_rules_of_document(doc, exact_lines=True))
        else:
            raise InputError(
                "not an SLO spec: expected Sloth `version: prometheus/v1`, `kind: PrometheusServiceLevel` or OpenSLO",
                file=doc.file,
                line=doc.start_line,
            )
    return slos, rules


def _check(doc: Document, query: str | None, what: str, *path: str | int) -> None:
    if query is None:
        return
    err = check_expr(_q(query) or "")
    if err:
        raise InputError(f"{what}: invalid PromQL: {err}", file=doc.file, line=doc.line_of(*path))


def _sloth_shape(k8s: bool) -> dict:
    """The YAML kinds of the Sloth spec's string fields (Sloth reads them into Go strings: `name: [A]` is
    "cannot unmarshal !!seq into string" there)."""

    def key(snake: str) -> str:
        head, *rest = snake.split("_")
        return head + "".join(w.title() for w in rest) if k8s else snake

    alert = {"disable": STR, "labels": MapOf(STR), "annotations": MapOf(STR)}
    return {
        "service": STR,
        "labels": MapOf(STR),
        key("slo_period"): STR,
        "slos": [
            {
                "name": STR,
                "objective": STR,
                "description": STR,
                "labels": MapOf(STR),
                "sli": {
                    "events": {key("error_query"): STR, key("total_query"): STR},
                    "raw": {key("error_ratio_query"): STR},
                },
                "alerting": {
                    "name": STR,
                    "labels": MapOf(STR),
                    "annotations": MapOf(STR),
                    key("page_alert"): alert,
                    key("ticket_alert"): alert,
                },
            }
        ],
    }


def _sloth(doc: Document, spec: dict, prefix: tuple, fmt: str) -> list[SLO]:
    k8s = fmt == "sloth-k8s"
    check_shape(doc, _sloth_shape(k8s), spec, prefix)
    service = spec.get("service")
    if not service:
        raise InputError("Sloth spec has no service", file=doc.file, line=doc.line_of(*prefix) or doc.start_line)
    out = []
    names: set[str] = set()
    for i, slo in enumerate(spec.get("slos") or []):
        path = (*prefix, "slos", i)
        name = slo.get("name")
        if not name:
            raise InputError("SLO without a name", file=doc.file, line=doc.line_of(*path))
        if name in names:
            raise InputError(f"SLO {name!r}: repeated", file=doc.file, line=doc.line_of(*path, "name"))
        names.add(name)
        try:
            objective = float(slo.get("objective"))
        except (TypeError, ValueError):
            raise InputError(
                f"SLO {name!r}: objective must be a number", file=doc.file, line=doc.line_of(*path)
            ) from None
        if not 0 < objective <= 100:
            raise InputError(
                f"SLO {name!r}: objective must be in (0, 100]", file=doc.file, line=doc.line_of(*path, "objective")
            )
        sli = slo.get("sli") or {}
        ev = sli.get("events") or {}
        raw = sli.get("raw") or {}
        eq = ev.get("errorQuery" if k8s else "error_query")
        tq = ev.get("totalQuery" if k8s else "total_query")
        rq = raw.get("errorRatioQuery" if k8s else "error_ratio_query")
        if not (eq and tq) and not rq and not sli.get("plugin"):
            raise InputError(
                f"SLO {name!r}: an SLI (events, raw or plugin) is required", file=doc.file, line=doc.line_of(*path)
            )
        _check(doc, eq, f"SLO {name!r} error query", *path, "sli")
        _check(doc, tq, f"SLO {name!r} total query", *path, "sli")
        _check(doc, rq, f"SLO {name!r} error ratio query", *path, "sli")
        alerting = slo.get("alerting") or {}
        page = alerting.get("pageAlert" if k8s else "page_alert") or {}
        ticket = alerting.get("ticketAlert" if k8s else "ticket_alert") or {}
        alert_name = alerting.get("name")
        labels = {str(k): str(v) for k, v in {**(spec.get("labels") or {}), **(slo.get("labels") or {})}.items()}
        out.append(
            SLO(
                name=str(name),
                service=str(service),
                objective=objective,
                window=str(spec.get("slo_period") or spec.get("sloPeriod") or "30d"),
                description=slo.get("description"),
                error_query=eq,
                total_query=tq,
                raw_error_ratio_query=rq,
                format=fmt,  # type: ignore[arg-type]
                page_alert=None if (page.get("disable") or not alert_name) else str(alert_name),
                ticket_alert=None if (ticket.get("disable") or not alert_name) else str(alert_name),
                page_labels={
                    str(k): str(v) for k, v in {**(alerting.get("labels") or {}), **(page.get("labels") or {})}.items()
                },
                labels=labels,
                location=Location(file=doc.file, line=doc.line_of(*path)),
            )
        )
    return out


def _openslo(doc: Document, data: dict, slis: dict[str, dict] | None = None) -> SLO:
    meta = data.get("metadata") or {}
    spec = data.get("spec") or {}
    name = meta.get("name")
    if not name or not spec.get("service"):
        raise InputError("OpenSLO SLO needs metadata.name and spec.service", file=doc.file, line=doc.start_line)
    objectives = spec.get("objectives") or []
    if not objectives:
        raise InputError(f"SLO {name!r}: no objectives", file=doc.file, line=doc.line_of("spec"))
    obj = objectives[0]
    target = obj.get("target")
    if target is None and obj.get("targetPercent") is not None:
        target = float(obj["targetPercent"]) / 100
    if target is None:
        raise InputError(
            f"SLO {name!r}: objective has no target", file=doc.file, line=doc.line_of("spec", "objectives", 0)
        )
    window = "30d"
    for tw in spec.get("timeWindows") or spec.get("timeWindow") or []:
        if "duration" in tw:
            window = str(tw["duration"])
        elif "count" in tw:
            unit = {"day": "d", "week": "w", "hour": "h", "minute": "m"}.get(str(tw.get("unit", "day")).lower(), "d")
            window = f"{tw['count']}{unit}"
    indicator = (spec.get("indicator") or {}).get("spec") or (slis or {}).get(str(spec.get("indicatorRef"))) or {}
    ratio = obj.get("ratioMetrics") or indicator.get("ratioMetric") or {}
    good = ((ratio.get("good") or {}).get("query")) or ((ratio.get("good") or {}).get("metricSource") or {}).get(
        "spec", {}
    ).get("query")
    bad = ((ratio.get("bad") or {}).get("query")) or ((ratio.get("bad") or {}).get("metricSource") or {}).get(
        "spec", {}
    ).get("query")
    total = ((ratio.get("total") or {}).get("query")) or ((ratio.get("total") or {}).get("metricSource") or {}).get(
        "spec", {}
    ).get("query")
    error_q = bad or (f"({total}) - ({good})" if good and total else None)
    _check(doc, error_q, f"SLO {name!r} error query", "spec", "objectives")
    _check(doc, total, f"SLO {name!r} total query", "spec", "objectives")
    # OpenSLO has no Sloth alerting block: Sloth generates no alerts from it unless alertPolicies exist.
    return SLO(
        name=str(name),
        service=str(spec["service"]),
        objective=round(float(target) * 100, 6),
        window=window,
        description=spec.get("description"),
        error_query=error_q,
        total_query=total,
        format="openslo",
        page_alert=None,
        ticket_alert=None,
        labels={},
        location=Location(file=doc.file, line=doc.start_line),
    )
