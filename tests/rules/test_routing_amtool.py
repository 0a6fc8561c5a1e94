"""rules.routing against the real `amtool config routes test`: reference configs and generated trees."""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import servers
import yaml
from conftest import REPO_ROOT, require_binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.alertmanager_config import load_alertmanager_config
from collectors.facts import AlertmanagerFacts, Matcher, Route
from rules.routing import CompiledTree

AMTOOL = servers.AMTOOL_BIN


@pytest.fixture(scope="module")
def amtool() -> str:
    require_binary(AMTOOL, "amtool (prometheus-alertmanager)")
    return AMTOOL


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def amtool_stdout(config: Path, labels: dict[str, str]) -> str:
    """amtool's exact stdout for one label set (values quoted, so spaces and `=` survive)."""
    argv = [AMTOOL, "config", "routes", "test", f"--config.file={config}"]
    argv += [f"{k}={_quote(v)}" for k, v in labels.items()]
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 0, f"amtool failed on {config}: {proc.stderr}"
    return proc.stdout


def amtool_many(config: Path, label_sets: list[dict[str, str]]) -> list[str]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda ls: amtool_stdout(config, ls), label_sets))


def ours(tree: CompiledTree, labels: dict[str, str]) -> str:
    return ",".join(m.receiver for m in tree.match(labels)) + "\n"


def _walk(route: Route) -> list[Route]:
    return [route, *(r for c in route.routes for r in _walk(c))]


def _values_from_regex(pattern: str) -> list[str]:
    body = re.sub(r"[\^$()]", "", pattern)
    return [v for v in body.split("|") if not re.search(r"[.*+?\[\]{}\\]", v)]


def _label_sets_for(tree: CompiledTree, seed: int, limit: int = 250, min_count: int = 150) -> list[dict[str, str]]:
    """Every matcher value of the config (plus noise and absence), all combinations or a sample."""
    values: dict[str, set[str]] = {}
    for r in _walk(tree.facts.route):
        for m in r.matchers:
            vals = values.setdefault(m.name, {"zz-noise"})
            vals.update(_values_from_regex(m.value) if "~" in m.op else [m.value])
    names = sorted(values)
    choices = [[None, *sorted(values[n])] for n in names]
    combos = list(itertools.product(*choices))
    rnd = random.Random(seed)
    if len(combos) > limit:
        combos = rnd.sample(combos, limit)
    out = []
    for combo in combos:
        ls = {n: v for n, v in zip(names, combo, strict=True) if v is not None}
        ls["alertname"] = rnd.choice(["HighLatency", "TargetDown", "x y"])
        if rnd.random() < 0.3:
            ls["instance"] = f"host-{rnd.randrange(100)}:9100"
        out.append(ls)
    noise = ["", "critical ", "team-X-", "ΔΩ", "FOO1", "database2"]
    while len(out) < min_count:  # random noise on top of the systematic combinations
        ls = {n: rnd.choice([*values[n], *noise]) for n in names if rnd.random() < 0.7}
        out.append(ls)
    return out


def _without_tracing(src: Path, dst: Path) -> Path:
    text = re.sub(r"^tracing:\n(?:[ \t]+.*\n?|\n)*", "", src.read_text(), flags=re.M)
    dst.write_text(text)
    return dst


@pytest.fixture(scope="module")
def reference_configs(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = shared_dir / "reference-data" / "alertmanager"
    tmp = tmp_path_factory.mktemp("am-reference")
    return {
        "conf.good.yml": base / "conf.good.yml",
        "simple.yml": _without_tracing(base / "simple.yml", tmp / "simple.yml"),
    }


@pytest.mark.parametrize("name", ["conf.good.yml", "simple.yml"])
def test_reference_configs_route_like_amtool(amtool: str, reference_configs: dict[str, Path], name: str) -> None:
    config = reference_configs[name]
    tree = CompiledTree(load_alertmanager_config(config))
    label_sets = [{}, *_label_sets_for(tree, seed=len(name))]
    expected = amtool_many(config, label_sets)
    got = [ours(tree, ls) for ls in label_sets]
    mismatches = [(ls, e, g) for ls, e, g in zip(label_sets, expected, got, strict=True) if e != g]
    assert not mismatches, f"{len(mismatches)} of {len(label_sets)} differ, e.g. {mismatches[:3]}"
    assert len(label_sets) >= 100
    assert len(set(expected)) >= 4  # the label sets reach several different receivers


# --------------------------------------------------------------------------- generated trees

NAMES = ["alertname", "team", "sev", "env", "svc"]
VALUES = ["a", "b", "x", "xy", "xyz", "", "é", "日本", "a b", "A", "a=b"]
REGEXES = ["a|b", "x.*", ".+", ".*", "a", "é|日本", "[a-c]", "x?y", "", "a b|xy", "[^a]+", "(a|x)y?"]
RECEIVERS = [f"r{i}" for i in range(6)]
MAX_DEPTH = 4


def _matcher_text(name: str, op: str, value: str, quoted: bool) -> str:
    if quoted or not re.fullmatch(r"[A-Za-z0-9_.*|+?]+", value):
        return f"{name}{op}{_quote(value)}"
    return f"{name}{op}{value}"


@st.composite
def matchers_strategy(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    style = draw(st.sampled_from(["new", "new", "old", "mixed", "none"]))
    if style in ("new", "mixed"):
        items = []
        for _ in range(draw(st.integers(1, 3))):
            name = draw(st.sampled_from(NAMES))
            op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
            value = draw(st.sampled_from(REGEXES if "~" in op else VALUES))
            items.append(_matcher_text(name, op, value, draw(st.booleans())))
        out["matchers"] = items
    if style in ("old", "mixed"):
        if draw(st.booleans()):
            out["match"] = draw(
                st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), min_size=1, max_size=2)
            )
        if draw(st.booleans()) or "match" not in out:
            out["match_re"] = draw(
                st.dictionaries(st.sampled_from(NAMES), st.sampled_from(REGEXES), min_size=1, max_size=2)
            )
    return out


@st.composite
def route_strategy(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    node: dict[str, Any] = {}
    if depth == 0:
        node["receiver"] = draw(st.sampled_from(RECEIVERS))
    else:
        node.update(draw(matchers_strategy()))
        if draw(st.booleans()):
            node["receiver"] = draw(st.sampled_from(RECEIVERS))
        if draw(st.integers(0, 2)) == 0:
            node["continue"] = True
    if depth < MAX_DEPTH:
        n_children = draw(st.integers(0, 4 if depth < 2 else 2))
        if n_children:
            node["routes"] = [draw(route_strategy(depth + 1)) for _ in range(n_children)]
    return node


label_set_strategy = st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=len(NAMES))


def _config(route: dict[str, Any]) -> dict[str, Any]:
    return {"route": route, "receivers": [{"name": r} for r in RECEIVERS]}


def test_generated_trees_route_like_amtool(amtool: str, tmp_path: Path) -> None:
    cases: list[int] = [0]
    mismatches: list[str] = []

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    )
    @given(route=route_strategy(), label_sets=st.lists(label_set_strategy, min_size=5, max_size=5))
    def check(route: dict[str, Any], label_sets: list[dict[str, str]]) -> None:
        config = tmp_path / "alertmanager.yml"
        config.write_text(yaml.safe_dump(_config(route), allow_unicode=True, sort_keys=False))
        tree = CompiledTree(load_alertmanager_config(config))
        expected = amtool_many(config, label_sets)
        for ls, e in zip(label_sets, expected, strict=True):
            cases[0] += 1
            got = ours(tree, ls)
            if got != e:
                mismatches.append(f"labels {ls}: amtool {e!r}, ours {got!r}\n{config.read_text()}")
        assert not mismatches, mismatches[0]

    check()
    print(f"{cases[0]} generated label sets compared with amtool")
    assert cases[0] >= 500
    assert not mismatches


GO_REGEXES = [
    "(?i)a",
    "a(?i)b|c",
    "(x(?i)y|z)w",
    "\\d+",
    "[[:alpha:]]+",
    "x$",
    "(?s).+",
    "[\\w-]+",
    "\\Qa.b\\E",
    "a)|(b",
    "x|",
]
GO_VALUES = [
    "a",
    "A",
    "aB",
    "AB",
    "C",
    "c",
    "xY",
    "Zw",
    "zw",
    "٣",
    "12",
    "abc",
    "é",
    "x",
    "a.b",
    "axb",
    "w-1",
    "",
    "ab",
    "ba",
    "b",
    "zzb",
    "az",
]


def test_go_regex_syntax_like_amtool(amtool: str, tmp_path: Path) -> None:
    """RE2 constructs whose Python spelling differs: flags mid-pattern, ASCII classes, POSIX classes, `$`, \\Q."""
    routes = [
        {"receiver": f"r{i % 6}", "matchers": [f"v=~{_quote(rx)}"], "continue": True} for i, rx in enumerate(GO_REGEXES)
    ]
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(_config({"receiver": "r0", "routes": routes}), allow_unicode=True))
    # facts built directly: this tests the engine whatever the loader thinks of these regexes
    facts = AlertmanagerFacts(
        route=Route(
            receiver="r0",
            routes=[
                Route(receiver=f"r{i % 6}", matchers=[Matcher(name="v", op="=~", value=rx)], continue_=True)
                for i, rx in enumerate(GO_REGEXES)
            ],
        )
    )
    tree = CompiledTree(facts)
    label_sets = [{"v": v} for v in GO_VALUES]
    expected = amtool_many(config, label_sets)
    assert [ours(tree, ls) for ls in label_sets] == expected


# --------------------------------------------------------------------------- the CLI prints what amtool prints


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "route", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("conf.good.yml", []),
        ("conf.good.yml", ["service=database", "owner2=team-X", "owner=team-Y"]),
        ("conf.good.yml", ['service="foo1"', "severity=critical"]),
        ("simple.yml", ["service=files", " severity = critical "]),
        ("simple.yml", ["service=database", "owner=team-X", "alertname=a=b", 'x="a \\"q\\" b"']),
    ],
)
def test_cli_output_equals_amtool(amtool: str, reference_configs: dict[str, Path], name: str, args: list[str]) -> None:
    config = reference_configs[name]
    expected = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=True,
    ).stdout
    proc = _cli("--alertmanager", str(config), *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected


def test_cli_batch_equals_amtool_per_line(amtool: str, reference_configs: dict[str, Path], tmp_path: Path) -> None:
    config = reference_configs["conf.good.yml"]
    tree = CompiledTree(load_alertmanager_config(config))
    label_sets = _label_sets_for(tree, seed=7, limit=40, min_count=0)
    labels_file = tmp_path / "labels.jsonl"
    labels_file.write_text("".join(json.dumps(ls) + "\n" for ls in label_sets))
    proc = _cli("--alertmanager", str(config), "--labels-file", str(labels_file))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "".join(amtool_many(config, label_sets))
