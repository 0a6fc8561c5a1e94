"""alertmanager.yml's keys, as Alertmanager 0.25 reads them with yaml.UnmarshalStrict: every field of every
integration, of `global:` and of `http_config` is accepted, any other key refused at its line naming the key (never
its value); null items and values as amtool has them. Differential against the real `amtool check-config`."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import servers
import yaml
from conftest import require_binary

from agent.errors import InputError
from collectors.alertmanager_config import _GLOBAL_SHAPE, _HTTP_SHAPE, _INTEGRATION_SHAPES, load_alertmanager_config
from collectors.validate import BOOL, INT, STR, MapOf, Strict

AMTOOL = servers.AMTOOL_BIN


@pytest.fixture(scope="module")
def amtool() -> str:
    require_binary(AMTOOL, "amtool (prometheus-alertmanager)")
    return AMTOOL


def _sample(shape: Any) -> Any:
    """A value of the YAML kind `shape` asks for (empty structs and lists: no field's own rules are tested)."""
    if shape is STR:
        return "x"
    if shape is BOOL:
        return True
    if shape is INT:
        return 1
    if isinstance(shape, list):
        return []
    if isinstance(shape, MapOf | Strict):
        return {}
    raise AssertionError(shape)


def _config(receiver: dict[str, Any] | None = None, global_: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"route": {"receiver": "d"}, "receivers": [{"name": "d", **(receiver or {})}]}
    if global_ is not None:
        data["global"] = global_
    return data


def _not_found(amtool: str, path: Path) -> list[str]:
    proc = servers._run_tool([amtool, "check-config", str(path)])
    return re.findall(r"field (\S+) not found", proc.stdout + proc.stderr)


def _ours_not_found(path: Path) -> list[str]:
    try:
        load_alertmanager_config(path)
    except InputError as e:
        return re.findall(r"field (\S+) not found", str(e))
    return []


def _cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for integration, shape in _INTEGRATION_SHAPES.items():
        for field, sub in shape.fields.items():
            cases.append((f"{integration}.{field}", _config({integration: [{field: _sample(sub)}]})))
        cases.append((f"{integration}.bogus", _config({integration: [{"bogus": "x"}]})))
    for field, sub in _GLOBAL_SHAPE.fields.items():
        cases.append((f"global.{field}", _config(global_={field: _sample(sub)})))
    cases.append(("global.bogus", _config(global_={"bogus": "x"})))
    for field, sub in _HTTP_SHAPE.fields.items():
        cases.append((f"http_config.{field}", _config(global_={"http_config": {field: _sample(sub)}})))
        if isinstance(sub, Strict):
            cases.append((f"http_config.{field}.bogus", _config(global_={"http_config": {field: {"bogus": "x"}}})))
    cases.append(("http_config.bogus", _config(global_={"http_config": {"bogus": "x"}})))
    cases.append(("bogus_configs", _config({"bogus_configs": []})))
    return cases


def test_known_and_unknown_fields_like_amtool(amtool: str, tmp_path: Path) -> None:
    """Each field of the table is one amtool knows; a `bogus` key is refused by both, naming it."""
    cases = _cases()
    paths = []
    for i, (_, data) in enumerate(cases):
        paths.append(tmp_path / f"{i}.yml")
        paths[-1].write_text(yaml.safe_dump(data), encoding="utf-8")
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = list(pool.map(lambda p: _not_found(amtool, p), paths))
    differ = [
        (name, t, o)
        for (name, _), t, o in zip(cases, theirs, [_ours_not_found(p) for p in paths], strict=True)
        if t != o
    ]
    assert not differ, differ
    assert sum(1 for t in theirs if t) == sum(
        1 for name, _ in cases if name.endswith("bogus") or name == "bogus_configs"
    )


SECRET = "s3cr3t-Value"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("route:\n  receiver: d\nreceivers:\n  - name: d\n    bogus_configs: []\n", 5, "field bogus_configs not found"),
        (
            f"route:\n  receiver: d\nreceivers:\n  - name: d\n    slack_configs:\n      - api_url: http://x\n"
            f"        chanel: {SECRET}\n",
            7,
            "field chanel not found in type config.plain",
        ),
        (f"global:\n  bogus: {SECRET}\nroute:\n  receiver: d\nreceivers:\n  - name: d\n", 2, "field bogus not found"),
        (
            f"global:\n  http_config:\n    tls_config:\n      ca: {SECRET}\nroute:\n  receiver: d\nreceivers:\n"
            "  - name: d\n",
            4,
            "field ca not found in type config.plain",
        ),
        (
            "route:\n  receiver: d\nreceivers:\n  - name: d\n    pagerduty_configs:\n      - routing_key: k\n"
            f"        images:\n          - alt: {SECRET}\n            bogus: 1\n",
            9,
            "field bogus not found in type config.PagerdutyImage",
        ),
        (
            "global:\n  resolve_timeout: banana\nroute:\n  receiver: d\nreceivers:\n  - name: d\n",
            2,
            'not a valid duration string: "banana"',
        ),
        (
            "global:\n  resolve_timeout: ''\nroute:\n  receiver: d\nreceivers:\n  - name: d\n",
            2,
            "empty duration string",
        ),
        (
            "global:\n  pagerduty_url: null\nroute:\n  receiver: d\nreceivers:\n  - name: d\n    pagerduty_configs:\n"
            "      - routing_key: k\n",
            8,
            "no global PagerDuty URL set",
        ),
        (
            "route:\n  receiver: d\n  routes:\n    - receiver: d\n      match_re:\n        service: null\n"
            "receivers:\n  - name: d\n",
            6,
            'invalid regexp value for "service"',
        ),
        (
            "route:\n  receiver: d\n  group_by: [null]\nreceivers:\n  - name: d\n",
            3,
            'invalid label name "" in group_by list',
        ),
        (
            "route:\n  receiver: d\n  routes:\n    - receiver: d\n      matchers: ['foo=ba\"r']\nreceivers:\n  - name: d\n",
            5,
            'matcher value contains unescaped double quote: ba"r',
        ),
        (
            "route:\n  receiver: d\n  routes:\n    - receiver: d\n      matchers: ['1foo=bar']\nreceivers:\n  - name: d\n",
            5,
            "bad matcher format: 1foo=bar",
        ),
        (
            "route:\n  receiver: d\n  routes:\n    - receiver: d\n      matchers: [',a=b']\nreceivers:\n  - name: d\n",
            5,
            "bad matcher format: ",
        ),
    ],
)
def test_refused_like_amtool(text: str, line: int, message: str, amtool: str, tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(text, encoding="utf-8")
    proc = servers._run_tool([amtool, "check-config", str(path)])
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    with pytest.raises(InputError) as e:
        load_alertmanager_config(path)
    assert str(e.value).startswith(f"{path}:{line}: "), str(e.value)
    assert message in str(e.value)
    assert SECRET not in str(e.value)


@pytest.mark.parametrize(
    "text",
    [
        "route:\n  receiver: d\n  routes:\n    - receiver: d\n      matchers: [null, '']\nreceivers:\n  - name: d\n",
        "route:\n  receiver: d\nreceivers:\n  - name: d\ninhibit_rules: [null]\n",
        "route:\n  receiver: d\nreceivers:\n  - name: d\n    slack_configs: null\ntime_intervals: [null]\n",
        "route:\n  receiver: d\nreceivers:\n  - name: d\ntime_intervals:\n  - name: t\n    time_intervals:\n"
        "      - weekdays: [null]\n        days_of_month: [null]\n        months: [null]\n        years: [null]\n"
        "        times: [null]\n",
        "global:\n  resolve_timeout: 0\n  http_config:\n    follow_redirects: false\n    proxy_url: http://p:3128\n"
        "    proxy_connect_header:\n"
        "      X: [a]\nroute:\n  receiver: d\nreceivers:\n  - name: d\n",
    ],
)
def test_accepted_like_amtool(text: str, amtool: str, tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(text, encoding="utf-8")
    proc = servers._run_tool([amtool, "check-config", str(path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    load_alertmanager_config(path)


def test_null_weekday_is_sunday_as_in_go(tmp_path: Path) -> None:
    """Go reads a null item into the zero InclusiveRange {0, 0}: weekday 0 (Sunday), no day/month/year/minute."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        "route:\n  receiver: d\nreceivers:\n  - name: d\ntime_intervals:\n  - name: t\n    time_intervals:\n"
        "      - weekdays: [null]\n",
        encoding="utf-8",
    )
    spec = load_alertmanager_config(path).time_intervals[0].intervals[0]
    assert spec.weekdays == [(0, 0)]


def test_merge_keys_applied_as_amtool_applies_them(amtool: str, tmp_path: Path) -> None:
    """`<<: *r` in a route: amtool reads the anchored route's keys into it (yaml-rs keeps `<<` as a key)."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        "route:\n  receiver: d\n  routes:\n    - &r\n      receiver: d\n      group_wait: 10s\n"
        "    - <<: *r\n      group_wait: 20s\nreceivers:\n  - name: d\n",
        encoding="utf-8",
    )
    proc = servers._run_tool([amtool, "check-config", str(path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    routes = load_alertmanager_config(path).route.routes
    assert [(r.receiver, r.group_wait_s) for r in routes] == [("d", 10.0), ("d", 20.0)]


@pytest.mark.parametrize("url", ["T0KENSECRET:x@hooks.example.com/x", "https://[T0KEN-SECRET]/x"])
def test_a_bad_secret_url_is_refused_without_any_part_of_it(tmp_path: Path, url: str) -> None:
    """A Slack or webhook URL is a secret: neither its scheme (`TOKEN:x@host`) nor its host may be named."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        "route:\n  receiver: d\nreceivers:\n  - name: d\n    slack_configs:\n"
        f"      - api_url: '{url}'\n        channel: '#x'\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as e:
        load_alertmanager_config(path)
    assert e.value.line == 6
    assert "T0KEN" not in str(e.value).upper()


@pytest.mark.parametrize("value", ["' 30s'", "'１s'"])
def test_durations_are_read_as_go_reads_them(amtool: str, tmp_path: Path, value: str) -> None:
    """A blank around a duration, or a digit that is not ASCII: amtool refuses both (the lenient reading of the
    agent's own config accepted them here)."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(f"route:\n  receiver: d\n  group_wait: {value}\nreceivers:\n  - name: d\n", encoding="utf-8")
    proc = servers._run_tool([amtool, "check-config", str(path)])
    assert proc.returncode != 0, proc.stdout
    with pytest.raises(InputError) as e:
        load_alertmanager_config(path)
    assert e.value.line == 3 and "not a valid duration string" in str(e.value)
