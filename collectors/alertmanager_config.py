"""`alertmanager.yml` -> routing tree, receivers, inhibit rules and time intervals.

Validation follows Alertmanager's config loader: what it refuses is refused here, naming the
file and line; newer fields that Alertmanager 0.25 does not know are read and reported.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.errors import InputError
from collectors.durations import parse_go_duration
from collectors.facts import (
    AlertmanagerFacts,
    InhibitRule,
    Location,
    Matcher,
    PagerDutyTarget,
    Receiver,
    Route,
    TimeInterval,
    TimeIntervalSpec,
    TimeRange,
)
from collectors.go_regexp import check_alertmanager_regex
from collectors.secrets import fingerprint
from collectors.validate import BOOL, INT, STR, MapOf, Strict, check_shape, go_bool
from collectors.yamlfile import Document, load_one

_TOP_KEYS = {"global", "route", "receivers", "inhibit_rules", "templates", "time_intervals", "mute_time_intervals"}
_NEWER_TOP_KEYS = {"tracing"}
_ROUTE_KEYS = {
    "receiver",
    "group_by",
    "continue",
    "match",
    "match_re",
    "matchers",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "mute_time_intervals",
    "active_time_intervals",
    "routes",
}
_NEWER_ROUTE_KEYS = {"labels"}
_INHIBIT_KEYS = {
    "source_match",
    "source_match_re",
    "source_matchers",
    "target_match",
    "target_match_re",
    "target_matchers",
    "equal",
}
_PD_KEYS = {
    "send_resolved",
    "routing_key",
    "routing_key_file",
    "service_key",
    "service_key_file",
    "url",
    "client",
    "client_url",
    "description",
    "details",
    "images",
    "links",
    "source",
    "severity",
    "class",
    "component",
    "group",
    "http_config",
}
# The YAML kinds of the fields read here, as Alertmanager 0.25's Go structs have them (config.Config, Route,
# InhibitRule, Receiver, PagerdutyConfig, GlobalConfig, TimeInterval): checked before anything is read.
_ROUTE_SHAPE: dict[str, Any] = {
    "receiver": STR,
    "group_by": [STR],
    "continue": BOOL,
    "match": MapOf(STR),
    "match_re": MapOf(STR),
    "matchers": [STR],
    "group_wait": STR,
    "group_interval": STR,
    "repeat_interval": STR,
    "mute_time_intervals": [STR],
    "active_time_intervals": [STR],
}
_ROUTE_SHAPE["routes"] = [_ROUTE_SHAPE]
_INHIBIT_SHAPE = {
    **{f"{side}_{k}": v for side in ("source", "target") for k, v in (("match", MapOf(STR)), ("match_re", MapOf(STR)))},
    "source_matchers": [STR],
    "target_matchers": [STR],
    "equal": [STR],
}
# prometheus/common's config.TLSConfig and HTTPClientConfig as Alertmanager 0.25 has them (checked with amtool)
_TLS_SHAPE = Strict(
    {
        **dict.fromkeys(("ca_file", "cert_file", "key_file", "server_name", "min_version", "max_version"), STR),
        "insecure_skip_verify": BOOL,
    }
)
_HTTP_SHAPE = Strict(
    {
        "basic_auth": Strict(dict.fromkeys(("username", "password", "password_file"), STR)),
        "authorization": Strict(dict.fromkeys(("type", "credentials", "credentials_file"), STR)),
        "oauth2": Strict(
            {
                **dict.fromkeys(("client_id", "client_secret", "client_secret_file", "token_url", "proxy_url"), STR),
                "scopes": [STR],
                "endpoint_params": MapOf(STR),
                "tls_config": _TLS_SHAPE,
            }
        ),
        "bearer_token": STR,
        "bearer_token_file": STR,
        "tls_config": _TLS_SHAPE,
        "proxy_url": STR,
        "proxy_connect_header": MapOf([STR]),
        "follow_redirects": BOOL,
        "enable_http2": BOOL,
    }
)


def _notifier(fields: dict[str, Any], http: bool = True) -> Strict:
    """A notifier config of Alertmanager 0.25 (config/notifiers.go): send_resolved, http_config and its fields."""
    return Strict({"send_resolved": BOOL, **({"http_config": _HTTP_SHAPE} if http else {}), **fields})


def _strs(*names: str) -> dict[str, Any]:
    return dict.fromkeys(names, STR)


_PD_SHAPE = _notifier(
    {
        **_strs(*(_PD_KEYS - {"send_resolved", "http_config", "details", "images", "links"})),
        "details": MapOf(STR),
        "images": [Strict(_strs("src", "alt", "href"), "config.PagerdutyImage")],
        "links": [Strict(_strs("href", "text"), "config.PagerdutyLink")],
    }
)
# Every integration of Alertmanager 0.25 and its fields (config/notifiers.go; each field checked with amtool 0.25's
# check-config: a key not here is "field K not found in type config.plain" there)
_INTEGRATION_SHAPES: dict[str, Strict] = {
    "pagerduty_configs": _PD_SHAPE,
    "webhook_configs": _notifier({"url": STR, "max_alerts": INT}),
    "email_configs": _notifier(
        {
            **_strs(
                "to",
                "from",
                "hello",
                "smarthost",
                "auth_username",
                "auth_password",
                "auth_password_file",
                "auth_secret",
                "auth_identity",
                "html",
                "text",
            ),
            "headers": MapOf(STR),
            "require_tls": BOOL,
            "tls_config": _TLS_SHAPE,
        },
        http=False,
    ),
    "slack_configs": _notifier(
        {
            **_strs(
                "api_url",
                "api_url_file",
                "channel",
                "username",
                "color",
                "title",
                "title_link",
                "pretext",
                "text",
                "footer",
                "fallback",
                "callback_id",
                "icon_emoji",
                "icon_url",
                "image_url",
                "thumb_url",
            ),
            "fields": [Strict({"title": STR, "value": STR, "short": BOOL})],
            "short_fields": BOOL,
            "link_names": BOOL,
            "mrkdwn_in": [STR],
            "actions": [
                Strict(
                    {
                        **_strs("type", "text", "url", "style", "name", "value"),
                        "confirm": Strict(_strs("text", "title", "ok_text", "dismiss_text")),
                    }
                )
            ],
        }
    ),
    "wechat_configs": _notifier(
        _strs(
            "api_secret", "corp_id", "message", "api_url", "to_user", "to_party", "to_tag", "agent_id", "message_type"
        )
    ),
    "opsgenie_configs": _notifier(
        {
            **_strs(
                "api_key",
                "api_key_file",
                "api_url",
                "message",
                "description",
                "source",
                "entity",
                "actions",
                "tags",
                "note",
                "priority",
            ),
            "details": MapOf(STR),
            "responders": [Strict(_strs("id", "name", "username", "type"), "config.OpsGenieConfigResponder")],
            "update_alerts": BOOL,
        }
    ),
    "victorops_configs": _notifier(
        {
            **_strs(
                "api_key",
                "api_key_file",
                "api_url",
                "routing_key",
                "message_type",
                "state_message",
                "entity_display_name",
                "monitoring_tool",
            ),
            "custom_fields": MapOf(STR),
        }
    ),
    "pushover_configs": _notifier(
        {
            **_strs(
                "user_key", "token", "title", "message", "url", "url_title", "sound", "priority", "retry", "expire"
            ),
            "html": BOOL,
        }
    ),
    "sns_configs": _notifier(
        {
            **_strs("api_url", "topic_arn", "phone_number", "target_arn", "subject", "message"),
            "sigv4": Strict(_strs("region", "access_key", "secret_key", "profile", "role_arn"), "sigv4.plain"),
            "attributes": MapOf(STR),
        }
    ),
    "telegram_configs": _notifier(
        {**_strs("api_url", "bot_token", "message", "parse_mode"), "chat_id": INT, "disable_notifications": BOOL}
    ),
    "webex_configs": _notifier(_strs("api_url", "message", "room_id")),
    "discord_configs": _notifier(_strs("webhook_url", "title", "message")),
}
_GLOBAL_SHAPE = Strict(
    {
        **_strs(
            "resolve_timeout",
            "smtp_from",
            "smtp_hello",
            "smtp_smarthost",
            "smtp_auth_username",
            "smtp_auth_password",
            "smtp_auth_password_file",
            "smtp_auth_secret",
            "smtp_auth_identity",
            "slack_api_url",
            "slack_api_url_file",
            "pagerduty_url",
            "opsgenie_api_url",
            "opsgenie_api_key",
            "opsgenie_api_key_file",
            "wechat_api_url",
            "wechat_api_secret",
            "wechat_api_corp_id",
            "victorops_api_url",
            "victorops_api_key",
            "victorops_api_key_file",
            "telegram_api_url",
            "webex_api_url",
        ),
        "smtp_require_tls": BOOL,
        "http_config": _HTTP_SHAPE,
    }
)
_TIME_INTERVAL_SHAPE = {
    "name": STR,
    "time_intervals": [
        {
            "times": [{"start_time": STR, "end_time": STR}],
            **dict.fromkeys(("weekdays", "days_of_month", "months", "years"), [STR]),
            "location": STR,
        }
    ],
}
_SHAPE = {
    "global": _GLOBAL_SHAPE,
    "route": _ROUTE_SHAPE,
    "receivers": [Strict({"name": STR, **{k: [v] for k, v in _INTEGRATION_SHAPES.items()}})],
    "inhibit_rules": [_INHIBIT_SHAPE],
    "templates": [STR],
    "time_intervals": [_TIME_INTERVAL_SHAPE],
    "mute_time_intervals": [_TIME_INTERVAL_SHAPE],
}
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# pkg/labels/parse.go (0.25): `^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$`, Go's ASCII \s
_GO_TRIM = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # unicode.IsSpace
_MATCHER = re.compile(
    r"\A[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*(.*?)[\t\n\f\r ]*\Z", re.S
)
_WEEKDAYS = {d: i for i, d in enumerate(["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"])}
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}


def _split_matchers(text: str) -> list[str]:
    """Alertmanager 0.25's labels.ParseMatchers: `{` and `}` trimmed (each, as they are), split at commas outside
    double quotes; the last token is trimmed and dropped when empty, the others kept as they are (`,a=b` has an
    empty first matcher)."""
    s = text.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside_quotes = escaped = False
    for ch in s:
        if ch == ",":
            if not inside_quotes:
                tokens.append("".join(token))
                token = []
                continue
        elif ch == '"':
            if not escaped:
                inside_quotes = not inside_quotes
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(ch)
    last = "".join(token).strip(_GO_TRIM)
    if last:
        tokens.append(last)
    return tokens


def matcher_value(raw: str) -> str:
    """A matcher's value as labels.ParseMatcher unquotes it (also amtool's `LABEL=VALUE` arguments): optionally
    double-quoted, `\\n`, `\\"` and `\\\\` unescaped, any other escape kept with its backslash. ValueError
    for a double quote inside."""
    expect_quote = raw.startswith('"')
    body = raw[1:] if expect_quote else raw
    value: list[str] = []
    escaped = False
    for i, ch in enumerate(body):
        if escaped:
            escaped = False
            value.append({"n": "\n", '"': '"', "\\": "\\"}.get(ch, "\\" + ch))
            continue
        if ch == "\\":
            if i < len(body) - 1:
                escaped = True
                continue
            value.append("\\")
        elif ch == '"':
            if not expect_quote or i < len(body) - 1:
                raise ValueError(f"matcher value contains unescaped double quote: {raw}")
            expect_quote = False
        else:
            value.append(ch)
    if expect_quote:
        raise ValueError(f"matcher value contains unescaped double quote: {raw}")
    return "".join(value)


def _parse_matcher(s: str) -> Matcher:
    """Alertmanager 0.25's labels.ParseMatcher: `name op value`, the value optionally double-quoted, unescaped."""
    m = _MATCHER.match(s)
    if not m:
        raise ValueError(f"bad matcher format: {s}")
    name, op, raw = m.groups()
    text = matcher_value(raw)
    if op in ("=~", "!~"):
        check_alertmanager_regex(text)
    return Matcher(name=name, op=op, value=text)  # type: ignore[arg-type]


def parse_matchers(text: str) -> list[Matcher]:
    """Alertmanager 0.25's matcher syntax: `name="value"`, `name=~"re"`, several in `{...}` with commas."""
    return [_parse_matcher(token) for token in _split_matchers(text)]


class _Ctx:
    def __init__(self, doc: Document, base_dir: Path, reads: list[Path] | None = None):
        self.doc = doc
        self.base_dir = base_dir
        self.reads = reads  # the other files read (collectors.source_cache)
        self.ignored: list[str] = []

    def fail(self, msg: str, *path: str | int) -> InputError:
        return InputError(msg, file=self.doc.file, line=self.doc.line_of(*path) if path else None)

    def loc(self, *path: str | int) -> Location:
        return Location(file=self.doc.file, line=self.doc.line_of(*path))


def load_alertmanager_config(
    path: Path | str, text: str | None = None, reads: list[Path] | None = None
) -> AlertmanagerFacts:
    """Parse and validate an alertmanager.yml (or `text`: a live `/api/v2/status` config.original, named `path`).
    The routing key files it reads (whether they exist or not) are added to `reads` when given."""
    p = Path(path)
    doc = load_one(p, text)
    if "<<" in doc.text:  # YAML merge keys, applied as Go's yaml (and so amtool) applies them
        doc.merge()
    data = doc.data
    ctx = _Ctx(doc, p.parent, reads)
    if not isinstance(data, dict):
        raise ctx.fail("an Alertmanager config must be a mapping")
    for k in data:
        if k in _NEWER_TOP_KEYS:
            ctx.ignored.append(k)
        elif k not in _TOP_KEYS:
            raise ctx.fail(f"field {k} not found in type config.plain", k)
    check_shape(doc, _SHAPE)
    global_ = data.get("global") or {}
    _check_global(ctx, global_)
    time_intervals = _time_intervals(ctx, data)
    interval_names = {t.name for t in time_intervals}
    receivers = _receivers(ctx, data.get("receivers") or [], global_)
    names = {r.name for r in receivers}
    raw_route = data.get("route")
    if raw_route is None:
        raise ctx.fail("no routes provided")
    route = _route(ctx, raw_route, ("route",), root=True)
    if not route.receiver:
        raise ctx.fail("root route must specify a default receiver", "route")
    if route.matchers:
        raise ctx.fail("root route must not have any matchers", "route")
    if route.mute_time_intervals or route.active_time_intervals:
        raise ctx.fail("root route must not have any mute time intervals", "route")
    _check_route_refs(ctx, route, names, interval_names, ("route",))
    # a null rule: amtool check-config accepts it (Go's nil *InhibitRule); it holds nothing, so it is left out (a
    # null route, receiver or notifier entry makes amtool panic: those stay refused)
    inhibit = [
        _inhibit(ctx, r, ("inhibit_rules", i)) for i, r in enumerate(data.get("inhibit_rules") or []) if r is not None
    ]
    return AlertmanagerFacts(
        route=route,
        receivers=receivers,
        inhibit_rules=inhibit,
        time_intervals=time_intervals,
        ignored_fields=ctx.ignored,
        config_file=str(p),
    )


def _check_route_refs(ctx: _Ctx, route: Route, receivers: set[str], intervals: set[str], path: tuple) -> None:
    if route.receiver and route.receiver not in receivers:
        raise ctx.fail(f'undefined receiver "{route.receiver}" used in route', *path, "receiver")
    for key, names in (
        ("mute_time_intervals", route.mute_time_intervals),
        ("active_time_intervals", route.active_time_intervals),
    ):
        for ti in names:
            if ti not in intervals:
                raise ctx.fail(f'undefined time interval "{ti}" used in route', *path, key)
    for i, child in enumerate(route.routes):
        _check_route_refs(ctx, child, receivers, intervals, (*path, "routes", i))


def _duration(ctx: _Ctx, raw: dict, key: str, path: tuple) -> float | None:
    if raw.get(key) is None:
        return None
    try:
        return parse_go_duration(raw[key])
    except ValueError as e:
        raise ctx.fail(f"{key}: {e}", *path, key) from None


def _old_matchers(ctx: _Ctx, raw: dict, eq_key: str, re_key: str, path: tuple) -> list[Matcher]:
    out: list[Matcher] = []
    # label values are Go strings: their text (`priority: 01` is "01", yaml-rs reads 1), a null empty
    for k, v in ctx.doc.text_of(raw.get(eq_key) or {}, *path, eq_key).items():
        if not _LABEL_NAME.match(str(k)):
            raise ctx.fail(f'"{k}" is not a valid label name', *path, eq_key)
        out.append(Matcher(name=str(k), op="=", value="" if v is None else str(v)))
    for k, v in ctx.doc.text_of(raw.get(re_key) or {}, *path, re_key).items():
        if not _LABEL_NAME.match(str(k)):
            raise ctx.fail(f'"{k}" is not a valid label name', *path, re_key)
        if v is None:  # config.Regexp's UnmarshalYAML is not called for null: MatchRegexps refuses the nil regexp
            raise ctx.fail(f'invalid regexp value for "{k}"', *path, re_key, k)
        try:
            check_alertmanager_regex(str(v))
        except ValueError as e:
            raise ctx.fail(str(e), *path, re_key) from None
        out.append(Matcher(name=str(k), op="=~", value="" if v is None else str(v)))
    return out


def _new_matchers(ctx: _Ctx, raw: dict, key: str, path: tuple) -> list[Matcher]:
    out: list[Matcher] = []
    items = raw.get(key) or []
    if not isinstance(items, list):
        raise ctx.fail(f"{key} must be a list of strings", *path, key)
    for i, text in enumerate(_go_strs(ctx, items, *path, key)):  # a null item is "": no matcher, as amtool
        try:
            out.extend(parse_matchers(text))
        except ValueError as e:
            raise ctx.fail(str(e), *path, key, i) from None
    return out


def _go_str(ctx: _Ctx, value: Any, *path: str | int) -> str | None:
    """A scalar at `path` read into a Go string (check_shape made it one): its text as written (`01`, `True`:
    yaml-rs reads 1 and True), None for null."""
    got = ctx.doc.text_of(value, *path)
    return None if got is None else str(got)


def _go_strs(ctx: _Ctx, value: Any, *path: str | int) -> list[str]:
    """A list of scalars at `path` read into Go's []string: their texts, null as empty."""
    return ["" if x is None else str(x) for x in ctx.doc.text_of(value or [], *path)]


def _route(ctx: _Ctx, raw: Any, path: tuple, root: bool = False) -> Route:
    if not isinstance(raw, dict):
        raise ctx.fail("a route must be a mapping", *path)
    for k in raw:
        if k in _NEWER_ROUTE_KEYS:
            ctx.ignored.append(f"route.{k}")
        elif k not in _ROUTE_KEYS:
            raise ctx.fail(f"field {k} not found in type config.plain", *path, k)
    matchers = _old_matchers(ctx, raw, "match", "match_re", path) + _new_matchers(ctx, raw, "matchers", path)
    group_by = None if raw.get("group_by") is None else _go_strs(ctx, raw.get("group_by"), *path, "group_by")
    if group_by is not None:
        seen = set()
        for g in group_by:  # (a null item is "", as Go reads it into []string)
            if g in seen:
                raise ctx.fail(f'duplicated label "{g}" in group_by', *path, "group_by")
            seen.add(g)
            if g != "..." and not _LABEL_NAME.match(g):
                raise ctx.fail(f'invalid label name "{g}" in group_by list', *path, "group_by")
        if "..." in group_by and len(group_by) > 1:
            raise ctx.fail("cannot have wildcard group_by (`...`) and other labels at the same time", *path, "group_by")
    gi = _duration(ctx, raw, "group_interval", path)
    if gi == 0:
        raise ctx.fail("group_interval cannot be zero", *path, "group_interval")
    ri = _duration(ctx, raw, "repeat_interval", path)
    if ri == 0:
        raise ctx.fail("repeat_interval cannot be zero", *path, "repeat_interval")
    if root and go_bool(raw.get("continue")):
        raise ctx.fail("cannot have continue in root route", *path, "continue")
    children = [_route(ctx, c, (*path, "routes", i)) for i, c in enumerate(raw.get("routes") or [])]
    return Route(
        receiver=_go_str(ctx, raw.get("receiver"), *path, "receiver"),
        matchers=matchers,
        continue_=go_bool(raw.get("continue", False)),
        group_by=[str(g) for g in group_by] if group_by is not None else None,
        group_wait_s=_duration(ctx, raw, "group_wait", path),
        group_interval_s=gi,
        repeat_interval_s=ri,
        mute_time_intervals=_go_strs(ctx, raw.get("mute_time_intervals"), *path, "mute_time_intervals"),
        active_time_intervals=_go_strs(ctx, raw.get("active_time_intervals"), *path, "active_time_intervals"),
        routes=children,
        location=ctx.loc(*path),
    )


def _inhibit(ctx: _Ctx, raw: Any, path: tuple) -> InhibitRule:
    if not isinstance(raw, dict):
        raise ctx.fail("an inhibit rule must be a mapping", *path)
    for k in raw:
        if k not in _INHIBIT_KEYS:
            raise ctx.fail(f"field {k} not found in type config.plain", *path, k)
    return InhibitRule(
        source_matchers=_old_matchers(ctx, raw, "source_match", "source_match_re", path)
        + _new_matchers(ctx, raw, "source_matchers", path),
        target_matchers=_old_matchers(ctx, raw, "target_match", "target_match_re", path)
        + _new_matchers(ctx, raw, "target_matchers", path),
        equal=[_label_name(ctx, x, *path, "equal") for x in raw.get("equal") or []],
        location=ctx.loc(*path),
    )


def _label_name(ctx: _Ctx, name: Any, *path: str | int) -> str:
    if not _LABEL_NAME.match(str(name)):
        raise ctx.fail(f'"{name}" is not a valid label name', *path)
    return str(name)


def _read_key_file(ctx: _Ctx, value: str, path: tuple, key: str) -> str | None:
    p = Path(value)
    if not p.is_absolute():
        p = ctx.base_dir / p
    if ctx.reads is not None:
        ctx.reads.append(p)
    try:
        return p.read_text().strip()
    except OSError:
        return None  # Alertmanager reads it at send time; we just cannot join through it


def _receivers(ctx: _Ctx, raw: Any, global_: dict) -> list[Receiver]:
    if not isinstance(raw, list):
        raise ctx.fail("receivers must be a list", "receivers")
    out: list[Receiver] = []
    seen: set[str] = set()
    for i, r in enumerate(raw):
        path = ("receivers", i)
        if not isinstance(r, dict):
            raise ctx.fail("a receiver must be a mapping", *path)
        name = _go_str(ctx, r.get("name"), *path, "name")
        if not name:
            raise ctx.fail("missing name on receiver", *path)
        if name in seen:
            raise ctx.fail(f'notification config name "{name}" is not unique', *path, "name")
        seen.add(name)
        pds: list[PagerDutyTarget] = []
        other: list[str] = []
        for k, v in r.items():
            if k == "name":
                continue
            if not k.endswith("_configs"):
                raise ctx.fail(f"field {k} not found in type config.plain", *path, k)
            if v is None:
                continue
            if not isinstance(v, list):
                raise ctx.fail(f"{k} must be a list", *path, k)
            entries = list(enumerate(v))
            for j, conf in entries:
                _check_integration(ctx, k, conf, global_, (*path, k, j))
            if k == "pagerduty_configs":
                for j, pd in entries:
                    pds.append(_pagerduty(ctx, pd, (*path, k, j)))
            elif entries:
                other.extend([k.removesuffix("_configs")] * len(entries))
        out.append(Receiver(name=name, pagerduty=pds, integrations=other, location=ctx.loc(*path)))
    return out


# Integration fields Alertmanager parses as URLs (http/https with a host), by integration.
_URL_FIELDS = {
    "webhook_configs": ("url",),
    "pagerduty_configs": ("url",),
    "slack_configs": ("api_url",),
    "opsgenie_configs": ("api_url",),
    "victorops_configs": ("api_url",),
    "wechat_configs": ("api_url",),
    "telegram_configs": ("api_url",),
    "webex_configs": ("api_url",),
    "discord_configs": ("webhook_url",),
    "msteams_configs": ("webhook_url",),
}
_GLOBAL_URLS = (
    "slack_api_url",
    "pagerduty_url",
    "opsgenie_api_url",
    "victorops_api_url",
    "wechat_api_url",
    "telegram_api_url",
    "webex_api_url",
)
# Settings an integration must have, inline or from `global:`: (integration, inline keys, global keys, message)
_REQUIRED = (
    (
        "slack_configs",
        ("api_url", "api_url_file"),
        ("slack_api_url", "slack_api_url_file"),
        "no global Slack API URL set",
    ),
    (
        "opsgenie_configs",
        ("api_key", "api_key_file"),
        ("opsgenie_api_key", "opsgenie_api_key_file"),
        "no global OpsGenie API Key set either inline or in a file",
    ),
    (
        "victorops_configs",
        ("api_key", "api_key_file"),
        ("victorops_api_key", "victorops_api_key_file"),
        "no global VictorOps API Key set",
    ),
    ("email_configs", ("to",), (), "missing to address in email config"),
    ("email_configs", ("smarthost",), ("smtp_smarthost",), "no global SMTP smarthost set"),
    ("email_configs", ("from",), ("smtp_from",), "no global SMTP from set"),
)


# Integrations whose URL defaults to a `global:` URL that has a default of its own: set to null there, it is unset
# (integration, inline key, global key, Alertmanager's message)
_GLOBAL_DEFAULT_URLS = (
    ("pagerduty_configs", "url", "pagerduty_url", "no global PagerDuty URL set"),
    ("opsgenie_configs", "api_url", "opsgenie_api_url", "no global OpsGenie URL set"),
    ("wechat_configs", "api_url", "wechat_api_url", "no global Wechat URL set"),
    ("victorops_configs", "api_url", "victorops_api_url", "no global VictorOps URL set"),
    ("webex_configs", "api_url", "webex_api_url", "no global Webex URL set"),
)


def _url_error(value: Any) -> str | None:
    """Alertmanager's URL check (config.parseURL), or None when `value` is a usable URL."""
    if value == "<secret>":  # a secret URL as a running Alertmanager shows it (/api/v2/status)
        return None
    # never a part of the URL in the message (amtool names the scheme, and a Slack or webhook URL is a secret:
    # `TOKEN:x@host` has the scheme "token"; urlsplit's own errors quote the host)
    try:
        u = urlsplit(str(value))
        host = u.hostname
    except ValueError:
        return "invalid URL"
    if u.scheme not in ("http", "https"):
        return "unsupported scheme for URL (http or https)"
    if not host:
        return "missing host for URL"
    return None


def _host_port_error(value: Any) -> str | None:
    """Alertmanager's `host:port` check for an SMTP smarthost (Go's net.SplitHostPort)."""
    s = str(value)
    host, sep, port = s.rpartition(":")
    if not sep:
        return f"address {s}: missing port in address"
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        return f"address {s}: too many colons in address"
    if not port:
        return f'address "{s}": port cannot be empty'
    return None


def _go_duration_error(text: str) -> str | None:
    """prometheus/common model.ParseDuration's refusal of `text`, in its words, or None."""
    if text == "":
        return "empty duration string"
    try:
        parse_go_duration(text)
    except ValueError:
        return f'not a valid duration string: "{text}"'
    return None


def _check_global(ctx: _Ctx, global_: Any) -> None:
    if not isinstance(global_, dict):
        raise ctx.fail("global must be a mapping", "global")
    timeout = _go_str(ctx, global_.get("resolve_timeout"), "global", "resolve_timeout")
    if timeout is not None and (err := _go_duration_error(timeout)):
        raise ctx.fail(err, "global", "resolve_timeout")
    for key in _GLOBAL_URLS:
        if global_.get(key) is not None and (err := _url_error(global_[key])):
            raise ctx.fail(f"{key}: {err}", "global", key)
    if global_.get("smtp_smarthost") and (err := _host_port_error(global_["smtp_smarthost"])):
        raise ctx.fail(err, "global", "smtp_smarthost")


def _check_integration(ctx: _Ctx, kind: str, raw: Any, global_: dict, path: tuple) -> None:
    """What Alertmanager refuses in one notifier config: missing settings, bad URLs."""
    if not isinstance(raw, dict):
        raise ctx.fail(f"{kind} entries must be mappings", *path)
    for integration, key, global_key, message in _GLOBAL_DEFAULT_URLS:
        if integration == kind and raw.get(key) is None and global_key in global_ and global_[global_key] is None:
            raise ctx.fail(message, *path)
    for integration, inline, from_global, message in _REQUIRED:
        if integration == kind and not any(raw.get(k) for k in inline) and not any(global_.get(k) for k in from_global):
            raise ctx.fail(message, *path)
    if kind == "webhook_configs":
        if not raw.get("url") and not raw.get("url_file"):
            raise ctx.fail("one of url or url_file must be configured", *path)
        if raw.get("url") and raw.get("url_file"):
            raise ctx.fail("at most one of url & url_file must be configured", *path)
    if kind == "email_configs" and raw.get("smarthost") and (err := _host_port_error(raw["smarthost"])):
        raise ctx.fail(err, *path, "smarthost")
    for key in _URL_FIELDS.get(kind, ()):
        if raw.get(key) is not None and (err := _url_error(raw[key])):
            raise ctx.fail(f"{key}: {err}", *path, key)


def _pagerduty(ctx: _Ctx, raw: Any, path: tuple) -> PagerDutyTarget:
    if not isinstance(raw, dict):
        raise ctx.fail("pagerduty_configs entries must be mappings", *path)
    for k in raw:
        if k not in _PD_KEYS:
            raise ctx.fail(f"field {k} not found in type config.plain", *path, k)
    if raw.get("routing_key") and raw.get("routing_key_file"):
        raise ctx.fail("at most one of routing_key & routing_key_file must be configured", *path)
    if raw.get("service_key") and raw.get("service_key_file"):
        raise ctx.fail("at most one of service_key & service_key_file must be configured", *path)
    kind = "none"
    key: str | None = None
    key_file: str | None = None
    if raw.get("routing_key") or raw.get("routing_key_file"):
        kind = "routing_key"
        key = ctx.doc.text_of(raw.get("routing_key"), *path, "routing_key")  # its text: a number keeps its digits
        key_file = raw.get("routing_key_file")
    elif raw.get("service_key") or raw.get("service_key_file"):
        kind = "service_key"
        key = ctx.doc.text_of(raw.get("service_key"), *path, "service_key")
        key_file = raw.get("service_key_file")
    else:
        raise ctx.fail("missing service or routing key in PagerDuty config", *path)
    if key is None and key_file:
        key = _read_key_file(ctx, str(key_file), path, kind)
    sev = ctx.doc.text_of(raw.get("severity"), *path, "severity")
    return PagerDutyTarget(
        key_kind=kind,  # type: ignore[arg-type]
        key_fingerprint=fingerprint(str(key)) if key and str(key) != "<secret>" else None,
        key_file=str(key_file) if key_file else None,
        severity=str(sev) if sev is not None else None,
        send_resolved=go_bool(raw.get("send_resolved", True)),
    )


def _time_intervals(ctx: _Ctx, data: dict) -> list[TimeInterval]:
    out: list[TimeInterval] = []
    seen: set[str] = set()
    for key in [k for k in data if k in ("mute_time_intervals", "time_intervals")]:  # file order: 2nd is the dup
        for i, raw in enumerate(data.get(key) or []):
            path = (key, i)
            if raw is None:  # amtool accepts a null entry (Go's nil pointer, skipped); it names no interval
                continue
            name = _go_str(ctx, raw.get("name"), *path, "name")
            if not name:
                raise ctx.fail("missing name in time interval", *path)
            if name in seen:
                raise ctx.fail(f'time interval "{name}" is not unique', *path, "name")
            seen.add(name)
            specs = []
            for j, spec in enumerate(raw.get("time_intervals") or []):
                try:
                    specs.append(_interval_spec(spec or {}))
                except ValueError as e:
                    raise ctx.fail(str(e), *path, "time_intervals", j) from None
            out.append(TimeInterval(name=name, intervals=specs))
    return out


def _hm(s: str) -> int:
    if not re.match(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", str(s)):
        raise ValueError(f"couldn't parse timestamp {s}, invalid format")
    h, mi = str(s).split(":")
    return int(h) * 60 + int(mi)


def _int(p: str, what: str) -> int:
    if not re.fullmatch(r"[+-]?[0-9]+", p):
        raise ValueError(f"{p} is not a valid {what}")
    return int(p)


def _ranges(items: list, what: str) -> list[tuple[int, int]]:
    """Alertmanager's `a:b` (or single `a`) ranges of weekdays, days of month, months or years."""
    out = []
    for item in items:
        if item is None:  # Go's zero InclusiveRange {0, 0}: Sunday; no day, month or year
            out.append((0, 0))
            continue
        text = str(item).lower()
        parts = text.split(":")
        if len(parts) > 2:
            raise ValueError(f"couldn't parse range {text}, invalid format")
        if what == "weekday":
            for p in parts:
                if p not in _WEEKDAYS:
                    raise ValueError(f"{p} is not a valid weekday")
            a, b = _WEEKDAYS[parts[0]], _WEEKDAYS[parts[-1]]
            if a > b:
                raise ValueError("start day cannot be before end day")
        elif what == "month":
            a, b = (_MONTHS[p] if p in _MONTHS else _int(p, "month") for p in (parts[0], parts[-1]))
            if a > b:
                raise ValueError(f"end month {parts[-1]} is before start month {parts[0]}")
        elif what == "year":
            a, b = _int(parts[0], "year"), _int(parts[-1], "year")
            if a > b:
                raise ValueError(f"end year {b} is before start year {a}")
        else:  # day of month: negative counts from the end of the month
            a, b = _int(parts[0], "day of month"), _int(parts[-1], "day of month")
            for d in (a, b):
                if d == 0 or abs(d) > 31:
                    raise ValueError(f"{d} is not a valid day of the month: out of range")
            if a < 0 < b:
                raise ValueError("end day must be negative if start day is negative")
            if (28 + a if a < 0 else a) > (28 + b if b < 0 else b):  # always empty, even in February
                raise ValueError(f"end day {b} is always before start day {a}")
        out.append((a, b))
    return out


def _interval_spec(raw: dict) -> TimeIntervalSpec:
    allowed = {"times", "weekdays", "days_of_month", "months", "years", "location"}
    for k in raw:
        if k not in allowed:
            raise ValueError(f"field {k} not found in type timeinterval.plain")
    times = []
    for t in raw.get("times") or []:
        if t is None:  # Go's zero TimeRange 00:00-00:00: no minute
            times.append(TimeRange(start_minute=0, end_minute=0))
            continue
        if not isinstance(t, dict) or not t.get("start_time") or not t.get("end_time"):
            raise ValueError("both start and end times must be provided")
        s, e = _hm(t["start_time"]), _hm(t["end_time"])
        if s >= e:
            raise ValueError("start time cannot be equal or greater than end time")
        times.append(TimeRange(start_minute=s, end_minute=e))
    loc = str(raw.get("location") or "UTC")
    if loc not in ("UTC", "Local"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(loc)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {loc}") from None
    return TimeIntervalSpec(
        times=times,
        weekdays=_ranges(raw.get("weekdays") or [], "weekday"),
        days_of_month=_ranges(raw.get("days_of_month") or [], "day of month"),
        months=_ranges(raw.get("months") or [], "month"),
        years=_ranges(raw.get("years") or [], "year"),
        location=loc,
    )
