"""Go regexp syntax (collectors.go_regexp) against the real amtool: what `amtool check-config` refuses we refuse
with Go's words, what it accepts we accept, and `amtool config routes test` matches what we match."""

from __future__ import annotations

import json
import re
import subprocess
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import servers
import yaml
from conftest import require_binary

from collectors.alertmanager_config import load_alertmanager_config
from collectors.go_regexp import UnsupportedRegexp, check_alertmanager_regex
from rules.routing import CompiledTree

AMTOOL = servers.AMTOOL_BIN

# (regex, Go's error or None when Go accepts it)
SYNTAX = [
    ("\\Qa.b\\E", None),
    ("a\\z", None),
    ("(?U)a+", None),
    ("\\x{41}", None),
    ("[[:alpha:]]", None),
    ("[[:^alpha:]]", None),
    ("\\pN", None),
    ("\\p{^L}", None),
    ("\\p{Any}", None),
    ("(?:)*", None),
    ("^*", None),
    ("a(?i)*", None),
    ("(?)", None),
    ("(?P<a>x)(?P<a>y)", None),
    ("(?P<1>x)", None),
    ("a{01}", None),
    ("a{,5}", None),
    ("\\12", None),
    ("\\_", None),
    ("x{1000}", None),
    ("a)|(b", None),
    ("[]a]", None),
    ("[a-]", None),
    ("\\Q]\\E", None),
    ("a{1001}", "invalid repeat count: `{1001}`"),
    ("(a{10}){200}", "invalid repeat count: `{200}`"),
    ("\\Z", "invalid escape sequence: `\\Z`"),
    ("\\8", "invalid escape sequence: `\\8`"),
    ("\\1", "invalid escape sequence: `\\1`"),
    ("\\C", "invalid escape sequence: `\\C`"),
    ("[\\b]", "invalid escape sequence: `\\b`"),
    ("[a-\\d]", "invalid escape sequence: `\\d`"),
    ("\\x{110000}", "invalid escape sequence: `\\x{110000`"),
    ("\\p{Cn}", "invalid character class range: `\\p{Cn}`"),
    ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
    ("[z-a]", "invalid character class range: `z-a`"),
    ("a{2}{3}", "invalid nested repetition operator: `{2}{3}`"),
    ("a++", "invalid nested repetition operator: `++`"),
    ("a**", "invalid nested repetition operator: `**`"),
    ("(?i)*", "missing argument to repetition operator: `*`"),
    ("\\Q\\E*", "missing argument to repetition operator: `*`"),
    ("(?<n>x)", "invalid or unsupported Perl syntax: `(?<`"),
    ("(?=a)", "invalid or unsupported Perl syntax: `(?=`"),
    ("(?-)", "invalid or unsupported Perl syntax: `(?-)`"),
    ("(?i-)", "invalid or unsupported Perl syntax: `(?i-)`"),
    ("(?P<>x)", "invalid named capture: `(?P<>`"),
    ("[a", "missing closing ]: `[a)$`"),
    ("(a", "missing closing ): `^(?:(a)$`"),
    ("a)", "unexpected ): `^(?:a))$`"),
    ("\\Qa.b", "missing closing ): `^(?:\\Qa.b)$`"),  # the quote runs to the end, over `)$`
]


@pytest.fixture(scope="module")
def amtool() -> str:
    require_binary(AMTOOL, "amtool (prometheus-alertmanager)")
    return AMTOOL


def _config(match_re: str) -> str:
    return (
        "route:\n  receiver: d\n  routes:\n    - receiver: d\n      match_re:\n"
        f"        s: {json.dumps(match_re)}\nreceivers:\n  - name: d\n"
    )


def _amtool_error(amtool: str, path: Path) -> str | None:
    proc = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    if proc.returncode == 0:
        return None
    m = re.search(r"FAILED: error parsing regexp: (.*)", proc.stdout + proc.stderr)
    return m.group(1) if m else proc.stdout + proc.stderr


def test_syntax_table_is_amtool(amtool: str, tmp_path: Path) -> None:
    paths = []
    for i, (rx, _) in enumerate(SYNTAX):
        paths.append(tmp_path / f"{i}.yml")
        paths[-1].write_text(_config(rx), encoding="utf-8")
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda p: _amtool_error(amtool, p), paths))
    assert got == [err for _, err in SYNTAX]


@pytest.mark.parametrize(("rx", "err"), SYNTAX, ids=[rx for rx, _ in SYNTAX])
def test_syntax_like_go(rx: str, err: str | None, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FutureWarning ("possible nested set") may reach stderr
        try:
            check_alertmanager_regex(rx)
            ours = None
        except ValueError as e:
            ours = str(e)
    assert ours == (None if err is None else f"error parsing regexp: {err}")
    path = tmp_path / "alertmanager.yml"
    path.write_text(_config(rx), encoding="utf-8")
    if err is None:
        load_alertmanager_config(path)
    else:
        with pytest.raises(Exception, match=re.escape(f"{path}:5: error parsing regexp: {err}")):
            load_alertmanager_config(path)


def test_script_classes_are_refused_precisely() -> None:
    with pytest.raises(UnsupportedRegexp, match=r"Unicode script class `\\p\{Greek\}`"):
        check_alertmanager_regex("\\p{Greek}+")


MATCH_REGEXES = [
    "\\Qa.b\\E",
    "a\\z",
    "(?U)a+",
    "(?U)a+?",
    "\\x{41}b",
    "\\x41",
    "\\101",
    "[[:alpha:]]+",
    "[[:^alpha:]]+",
    "[^[:digit:]x]",
    "\\pL+",
    "\\p{Lu}",
    "\\PL",
    "(?i)[^a]",
    "(?i)\\p{Lu}",
    "a{01}",
    "a{,5}",
    "x{2}",
    "{",
    "(?m)^a$",
    "(?m:a$)\\n?",
    "(?s).",
    ".",
    "a\\b.*",
    "\\Bb.*",
    "(?i)a(?-i)b",
    "(?i:a|b)c",
    "a(?i)b|c",
    "[\\d\\-z]+",
    "[^\\D]",
    "\\w+",
    "\\s",
    "é",
    "\\.",
]
MATCH_VALUES = [
    "a.b",
    "axb",
    "a",
    "aa",
    "A",
    "Ab",
    "AB",
    "ab",
    "aB",
    "Bc",
    "c",
    "C",
    "a{01}",
    "a{,5}",
    "xx",
    "{",
    "a\n",
    "\n",
    "12",
    "1",
    "z-9",
    "é",
    "É",
    "ß",
    "Ω",
    "٣",
    "x",
    "",
    " ",
    "a b",
    ".",
    "\t",
    "\x0b",
    "ab",
    "b",
]


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def test_matching_like_amtool(amtool: str, tmp_path: Path) -> None:
    receivers = [f"r{i}" for i in range(len(MATCH_REGEXES))]
    route = {
        "receiver": "none",
        "routes": [
            {"receiver": r, "matchers": [f"v=~{_quote(rx)}"], "continue": True}
            for r, rx in zip(receivers, MATCH_REGEXES, strict=True)
        ],
    }
    config = tmp_path / "alertmanager.yml"
    data = {"route": route, "receivers": [{"name": r} for r in ["none", *receivers]]}
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    tree = CompiledTree(load_alertmanager_config(config))

    def theirs(value: str) -> set[str]:
        argv = [amtool, "config", "routes", "test", f"--config.file={config}", f"v={_quote(value)}"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return set(proc.stdout.strip().split(","))

    with ThreadPoolExecutor(max_workers=2) as pool:
        expected = list(pool.map(theirs, MATCH_VALUES))
    for value, want in zip(MATCH_VALUES, expected, strict=True):
        got = {m.receiver for m in tree.match({"v": value})}
        if got != want:
            diff = sorted(got ^ want, key=lambda r: int(r[1:]) if r != "none" else -1)
            named = [MATCH_REGEXES[int(r[1:])] for r in diff if r != "none"]
            pytest.fail(f"value {value!r}: ours and amtool differ on {named}")
