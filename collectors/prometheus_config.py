"""`prometheus.yml` -> external labels, alert relabelling, Alertmanagers and rule file globs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agent.errors import InputError
from collectors.durations import parse_duration
from collectors.validate import INT, MAPPING, STR, MapOf, check_shape
from collectors.yamlfile import load_one

_TOP_KEYS = {
    "global",
    "alerting",
    "rule_files",
    "scrape_configs",
    "remote_write",
    "remote_read",
    "storage",
    "tracing",
    "scrape_config_files",
    "runtime",
    "otlp",
}
_RELABEL_KEYS = {"source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action"}
_ACTIONS = {
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
}
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RELABEL_SHAPE = {**dict.fromkeys(_RELABEL_KEYS, STR), "source_labels": [STR], "modulus": INT}
# The YAML kinds of what is read here, as Prometheus's Go structs have them (config.Config, GlobalConfig,
# AlertingConfig, AlertmanagerConfig, relabel.Config): checked before anything is read.
_SHAPE = {
    "global": {
        "external_labels": MapOf(STR),
        **dict.fromkeys(("evaluation_interval", "scrape_interval", "scrape_timeout", "query_log_file"), STR),
    },
    "alerting": {
        "alert_relabel_configs": [_RELABEL_SHAPE],
        "alertmanagers": [
            {
                **dict.fromkeys(("scheme", "path_prefix", "timeout", "api_version"), STR),
                "static_configs": [{"targets": [STR], "labels": MapOf(STR)}],
                "relabel_configs": [_RELABEL_SHAPE],
            }
        ],
    },
    "rule_files": [STR],
    "scrape_config_files": [STR],
    "scrape_configs": [MAPPING],
    "remote_write": [MAPPING],
    "remote_read": [MAPPING],
    **dict.fromkeys(("storage", "tracing", "runtime", "otlp"), MAPPING),
}


class PrometheusConfig:
    """What the rules engine needs from prometheus.yml."""

    def __init__(
        self,
        external_labels: dict[str, str],
        alert_relabel_configs: list[dict[str, Any]],
        alertmanagers: list[str],
        rule_files: list[str],
        evaluation_interval_s: float,
    ):
        self.external_labels = external_labels
        self.alert_relabel_configs = alert_relabel_configs
        self.alertmanagers = alertmanagers
        self.rule_files = rule_files
        self.evaluation_interval_s = evaluation_interval_s


def load_prometheus_config(path: Path | str, text: str | None = None, strict: bool = True) -> PrometheusConfig:
    """Read prometheus.yml (or `text`, e.g. a live /api/v1/status/config, named `path`).

    `strict=False` accepts top-level keys newer than this reader: a running server already accepted them.
    """
    p = Path(path)
    doc = load_one(p, text)
    data = doc.data
    if not isinstance(data, dict):
        raise InputError("prometheus.yml must be a mapping", file=str(p), line=doc.start_line)
    for k in data:
        if k not in _TOP_KEYS and strict:
            raise InputError(f"field {k} not found in type config.plain", file=str(p), line=doc.line_of(k))
    check_shape(doc, _SHAPE)
    glob_ = data.get("global") or {}
    # label values are Go strings: their text (`dc: 01` is "01", yaml-rs reads 1), a null empty
    ext_raw = doc.text_of(glob_.get("external_labels") or {}, "global", "external_labels")
    ext = {str(k): "" if v is None else str(v) for k, v in ext_raw.items()}
    for k in ext:
        if not _LABEL_NAME.match(k):
            raise InputError(
                f"{k!r} is not a valid label name", file=str(p), line=doc.line_of("global", "external_labels", k)
            )
    try:
        ev = parse_duration(glob_.get("evaluation_interval", "1m"))
    except ValueError as e:
        raise InputError(
            f"evaluation_interval: {e}", file=str(p), line=doc.line_of("global", "evaluation_interval")
        ) from None
    alerting = data.get("alerting") or {}
    relabels = []
    for i, rc in enumerate(alerting.get("alert_relabel_configs") or []):
        if not isinstance(rc, dict):
            raise InputError(
                "relabel config must be a mapping",
                file=str(p),
                line=doc.line_of("alerting", "alert_relabel_configs", i),
            )
        for k in rc:
            if k not in _RELABEL_KEYS:
                raise InputError(
                    f"field {k} not found in type relabel.plain",
                    file=str(p),
                    line=doc.line_of("alerting", "alert_relabel_configs", i, k),
                )
        action = str(rc.get("action", "replace")).lower()
        if action not in _ACTIONS:
            raise InputError(
                f"unknown relabel action {action!r}",
                file=str(p),
                line=doc.line_of("alerting", "alert_relabel_configs", i, "action"),
            )
        try:
            re.compile(str(rc.get("regex", "(.*)")))
        except re.error as e:
            raise InputError(
                f"invalid regex: {e}", file=str(p), line=doc.line_of("alerting", "alert_relabel_configs", i, "regex")
            ) from None
        relabels.append(dict(rc))
    ams: list[str] = []
    for i, am in enumerate(alerting.get("alertmanagers") or []):
        if am is None:  # promtool panics on it; Prometheus refuses a null section elsewhere in these words
            raise InputError(
                "empty or null section in alertmanagers", file=str(p), line=doc.line_of("alerting", "alertmanagers", i)
            )
        scheme = am.get("scheme", "http")
        prefix = am.get("path_prefix", "")
        for j, sc in enumerate(am.get("static_configs") or []):
            if sc is None:
                raise InputError(
                    "empty or null section in static_configs",
                    file=str(p),
                    line=doc.line_of("alerting", "alertmanagers", i, "static_configs", j),
                )
            for t in sc.get("targets") or []:
                ams.append(f"{scheme}://{t}{prefix}")
    rule_files = [str(x) for x in data.get("rule_files") or []]
    if strict:
        _rule_files_exist(doc, p.parent, rule_files)
    return PrometheusConfig(ext, relabels, ams, rule_files, ev)


def _rule_files_exist(doc: Any, base: Path, rule_files: list[str]) -> None:
    """As promtool check config: every entry a pattern Go's filepath.Glob reads, and one named without `*` must
    be there (a pattern with `*` may match none); at the line of the entry."""
    for i, rf in enumerate(rule_files):
        if not _go_pattern_ok(rf):
            raise InputError(
                f"rule_files: {rf!r}: syntax error in pattern", file=doc.file, line=doc.line_of("rule_files", i)
            )
        if "*" in rf:
            continue
        root = Path(rf) if Path(rf).is_absolute() else base / rf
        if any(c in rf for c in "?[\\"):  # still a pattern to Go's filepath.Glob
            anchor = Path(root.anchor) if root.is_absolute() else base
            found = list(anchor.glob(str(root.relative_to(anchor)) if root.is_absolute() else rf))
        else:
            found = [root] if root.exists() else []
        if not found:
            raise InputError(
                f"rule_files: {rf!r} does not point to an existing file",
                file=doc.file,
                line=doc.line_of("rule_files", i),
            )


def _go_pattern_ok(pat: str) -> bool:
    """Whether Go's path/filepath.Match syntax reads `pat` (on Unix: `\\` escapes; a `[...]` class is closed, not
    empty, its range ends neither `-` nor `]` unescaped)."""
    i, n = 0, len(pat)

    def esc(j: int) -> int:  # one class character at j; the index after it, or -1
        if j >= n or pat[j] in "-]":
            return -1
        if pat[j] == "\\":
            j += 1
            if j >= n:
                return -1
        return j + 1

    while i < n:
        c = pat[i]
        if c == "\\":
            if i + 1 >= n:
                return False
            i += 2
        elif c == "[":
            i += 1
            if i < n and pat[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pat[i] == "]" and ranges > 0:
                    i += 1
                    break
                i = esc(i)
                if i < 0:
                    return False
                if i < n and pat[i] == "-":
                    i = esc(i + 1)
                    if i < 0:
                        return False
                ranges += 1
        else:
            i += 1
    return True
