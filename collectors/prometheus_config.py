"""`prometheus.yml` -> external labels, alert relabelling, Alertmanagers and rule file globs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from agent.errors import InputError
from collectors.durations import parse_go_duration
from collectors.go_regexp import GoRegexpError, UnsupportedRegexp, anchored, go_regexp_to_python
from collectors.validate import BOOL, INT, MAPPING, STR, MapOf, Strict, check_shape
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
_RELABEL_SHAPE = Strict({**dict.fromkeys(_RELABEL_KEYS, STR), "source_labels": [STR], "modulus": INT}, "relabel.plain")
# Prometheus 2.42's config.ScrapeConfig (with its inline HTTPClientConfig and every service discovery upstream
# builds in: Debian's promtool lacks consul, kubernetes, kuma, linode and nomad, which upstream's accepts)
_SD = (
    "azure consul digitalocean docker dockerswarm dns ec2 eureka file gce hetzner http kubernetes kuma lightsail"
    " linode marathon nerve nomad openstack ovhcloud puppetdb scaleway serverset triton uyuni vultr"
).split()
_SCRAPE_SHAPE = Strict(
    {
        **dict.fromkeys(
            (
                "job_name scrape_interval scrape_timeout metrics_path scheme body_size_limit bearer_token"
                " bearer_token_file proxy_url"
            ).split(),
            STR,
        ),
        **dict.fromkeys(("honor_labels", "honor_timestamps", "follow_redirects", "enable_http2"), BOOL),
        **dict.fromkeys(
            "sample_limit target_limit label_limit label_name_length_limit label_value_length_limit".split(), INT
        ),
        "params": MapOf([STR]),
        "relabel_configs": [_RELABEL_SHAPE],
        "metric_relabel_configs": [_RELABEL_SHAPE],
        **dict.fromkeys(("basic_auth", "authorization", "oauth2", "tls_config", "proxy_connect_header"), MAPPING),
        **{f"{sd}_sd_configs": [MAPPING] for sd in _SD},
        "static_configs": [{"targets": [STR], "labels": MapOf(STR)}],
    },
    "config.ScrapeConfig",
)
# The YAML kinds of what is read here, as Prometheus's Go structs have them (config.Config, GlobalConfig,
# AlertingConfig, AlertmanagerConfig, relabel.Config): checked before anything is read.
_SHAPE = {
    "global": Strict(
        {
            "external_labels": MapOf(STR),
            **dict.fromkeys(("evaluation_interval", "scrape_interval", "scrape_timeout", "query_log_file"), STR),
        }
    ),
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
    "scrape_configs": [_SCRAPE_SHAPE],
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
    if "<<" in doc.text:  # YAML merge keys, applied as Go's yaml applies them
        doc.merge()
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
    ev = 60.0
    for k in ("scrape_interval", "scrape_timeout", "evaluation_interval"):
        if glob_.get(k) is not None:
            try:
                got = parse_go_duration(glob_[k])
            except ValueError as e:
                raise InputError(f"{k}: {e}", file=str(p), line=doc.line_of("global", k)) from None
            if k == "evaluation_interval":
                ev = got
    for i, sc in enumerate(data.get("scrape_configs") or []):
        for k in ("scrape_interval", "scrape_timeout"):
            if isinstance(sc, dict) and sc.get(k) is not None:
                try:
                    parse_go_duration(sc[k])
                except ValueError as e:
                    raise InputError(f"{k}: {e}", file=str(p), line=doc.line_of("scrape_configs", i, k)) from None
        for key in ("relabel_configs", "metric_relabel_configs"):
            for j, rc in enumerate((sc or {}).get(key) or []):
                check_relabel(doc, ("scrape_configs", i, key, j), rc)
    alerting = data.get("alerting") or {}
    relabels = []
    for i, rc in enumerate(alerting.get("alert_relabel_configs") or []):
        check_relabel(doc, ("alerting", "alert_relabel_configs", i), rc)
        relabels.append(dict(rc))
    ams: list[str] = []
    for i, am in enumerate(alerting.get("alertmanagers") or []):
        if am is None:  # promtool panics on it; Prometheus refuses a null section elsewhere in these words
            raise InputError(
                "empty or null section in alertmanagers", file=str(p), line=doc.line_of("alerting", "alertmanagers", i)
            )
        for j, rc in enumerate(am.get("relabel_configs") or []):
            check_relabel(doc, ("alerting", "alertmanagers", i, "relabel_configs", j), rc)
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


_RELABEL_TARGET = re.compile(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$", re.ASCII)
_DEFAULT_REGEX = "(.*)"


def check_relabel(doc: Any, at: tuple[str | int, ...], rc: Any) -> None:
    """A relabel config as Prometheus 2.42's relabel.Config reads and validates it (UnmarshalYAML, Validate): the
    error at the line of the field it is about, in Prometheus's words."""

    def fail(msg: str, *key: str) -> InputError:
        line = doc.line_of(*at, *key) if key and isinstance(rc, dict) and key[0] in rc else doc.line_of(*at)
        return InputError(msg, file=doc.file, line=line)

    if not isinstance(rc, dict):
        raise fail("relabel config must be a mapping")
    for k in rc:
        if k not in _RELABEL_KEYS:
            raise fail(f"field {k} not found in type relabel.plain", k)
    text = {k: doc.text_of(v, *at, k) if not isinstance(v, list) else v for k, v in rc.items()}
    action = "replace" if text.get("action") is None else str(text["action"]).lower()
    if action == "":
        raise fail("relabel action cannot be empty", "action")
    if action not in _ACTIONS:
        raise fail(f"unknown relabel action {str(text['action'])!r}", "action")
    for ln in rc.get("source_labels") or []:
        if ln is not None and not _LABEL_NAME.match(str(ln)):
            raise fail(f"{str(ln)!r} is not a valid label name", "source_labels")
    regex = text.get("regex")
    regex = _DEFAULT_REGEX if regex is None else str(regex)
    try:
        go_regexp_to_python(anchored(regex))
    except UnsupportedRegexp:
        pass  # Go accepts it (a Unicode script class, \p{Greek}): only matching it is out of reach here
    except GoRegexpError as e:
        raise fail(str(e), "regex") from None
    target = "" if text.get("target_label") is None else str(text["target_label"])
    replacement = "$1" if text.get("replacement") is None else str(text["replacement"])
    separator = ";" if text.get("separator") is None else str(text["separator"])
    modulus = rc.get("modulus") or 0
    if action == "hashmod" and modulus == 0:
        raise fail("relabel configuration for hashmod requires non-zero modulus", "modulus")
    needs_target = ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal")
    if action in needs_target and target == "":
        raise fail(f"relabel configuration for {action} action requires 'target_label' value")
    templated = ("replace", "lowercase", "uppercase", "keepequal", "dropequal")  # `$1` may name the target
    if action in templated and not (_RELABEL_TARGET.match(target) if "$" in target else _LABEL_NAME.match(target)):
        raise fail(f"{target!r} is invalid 'target_label' for {action} action", "target_label")
    if action == "hashmod" and not _LABEL_NAME.match(target):
        raise fail(f"{target!r} is invalid 'target_label' for {action} action", "target_label")
    if action in ("lowercase", "uppercase", "keepequal", "dropequal") and replacement != "$1":
        raise fail(f"'replacement' can not be set for {action} action", "replacement")
    if action == "labelmap" and not _RELABEL_TARGET.match(replacement):
        raise fail(f"{replacement!r} is invalid 'replacement' for {action} action", "replacement")
    if action in ("keepequal", "dropequal") and (
        regex != _DEFAULT_REGEX or modulus != 0 or separator != ";" or replacement != "$1"
    ):
        raise fail(f"{action} action requires only 'source_labels' and `target_label`, and no other fields")
    if action in ("labeldrop", "labelkeep") and (
        rc.get("source_labels") is not None or target != "" or modulus != 0 or separator != ";" or replacement != "$1"
    ):
        raise fail(f"{action} action requires only 'regex', and no other fields")


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
