"""Go template syntax in alerting rules' labels and annotations: what `promtool check rules` refuses, refused.

collectors.gotemplate is a port of Go 1.19's text/template parser; these tests compare it with the installed
promtool on hand-picked and generated templates (one promtool run for each list)."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

import pytest
from conftest import require_binary
from servers import PROMTOOL_BIN

from agent.errors import InputError
from collectors import gotemplate
from collectors.prometheus_rules import load_rule_file

HAND = [
    '{{ $labels.instance "',
    "{{ if }}",
    "{{ if 1 }}x{{ end }}",
    "{{ if 1 }}x{{ else if 2 }}y{{ else }}z{{ end }}",
    "{{ range $i, $e := . }}{{ $i }}{{ end }}",
    "{{ range $i, $e, $f := . }}{{ end }}",
    "{{ $a, $b := 1 }}",
    "{{ with $x := 1 }}{{ $x }}{{ end }}{{ $x }}",
    "{{ $x := 1 }}{{ if 1 }}{{ $y := 2 }}{{ end }}{{ $y }}",
    "{{ $x := 1 }}{{ if 1 }}{{ $x = 2 }}{{ end }}{{ $x }}",
    "{{ $q = 1 }}",
    '{{define "a"}}{{ $labels }}{{end}}',
    '{{define "a"}}x{{end}}{{define "a"}}y{{end}}',
    '{{define "a"}} {{end}}{{define "a"}}y{{end}}',
    '{{define "__alert_A13"}}x{{end}}',
    '{{block "b" .}}{{$labels}}{{end}}',
    "{{ 0x1p-2 }}",
    "{{ 0x1.8 }}",
    "{{ 1_000 }}",
    "{{ 1__000 }}",
    "{{ _1 }}",
    "{{ 1_ }}",
    "{{ 0_7 }}",
    "{{ 09 }}",
    "{{ 09.5 }}",
    "{{ 18446744073709551615 }}",
    "{{ 18446744073709551616 }}",
    "{{ -9223372036854775808 }}",
    "{{ -9223372036854775809 }}",
    "{{ +18446744073709551615 }}",
    "{{ 1e400 }}",
    "{{ 0x }}",
    "{{ 0b102 }}",
    "{{ 0o8 }}",
    "{{ 0O17 }}",
    "{{ 1.5i }}",
    "{{ 1+2i }}",
    "{{ 1-i }}",
    "{{ 'a' }}",
    "{{ '\\n' }}",
    "{{ '\\'' }}",
    "{{ '\"' }}",
    "{{ '\\\"' }}",
    "{{ '\\x41' }}",
    "{{ '\\u00e9' }}",
    "{{ '\\ud800' }}",
    "{{ '\\U00110000' }}",
    "{{ '\\400' }}",
    "{{ '\\377' }}",
    "{{ 'é' }}",
    "{{ '' }}",
    '{{ "\\q" }}',
    '{{ "\\\'" }}',
    '{{ "a\\"b" }}',
    '{{ "\\x4" }}',
    '{{ "\\u00e9\\U0001F600" }}',
    "{{ `a\\qb` }}",
    "{{/* c */}}",
    "{{- /* c */ -}}",
    "{{ /* c */ }}",
    "{{/* c */ }}",
    "{{/* c",
    "{{-/* c */}}",
    "{{-3}}",
    "{{- 3 -}}",
    "{{ 3 -}}",
    "{{ 3-}}",
    "{{ .Foo-}}",
    '{{ "a".Foo }}',
    "{{ (1).Foo }}",
    "{{ $labels.a.b }}",
    '{{ humanize 1 | printf "%s" | len }}',
    "{{ 1 | 2 }}",
    '{{ 1 | "x" }}',
    "{{ len | . }}",
    "{{ len | nil }}",
    "{{ nil }}",
    "{{ (nil) }}",
    '{{ .Labels | index . "a" }}',
    "{{ é }}",
    "{{ € }}",
    "{{ a@b }}",
    "{{ $é }}",
    "{{ $labels.é }}",
    "{{ break }}",
    "{{ range . }}{{ break }}{{ end }}",
    "{{ range . }}{{ if 1 }}{{ continue }}{{ end }}{{ end }}",
    '{{ range . }}{{ define "x" }}{{ end }}{{ end }}',
    '{{ template "x" }}',
    "{{ template x }}",
    '{{ template "x" . }}',
    '{{ template "x" 1 2 }}',
    "{{ else }}",
    "{{ end }}",
    "{{ with 1 }}{{ else if 1 }}{{ end }}",
    "{{ with 1 }}{{ else }}{{ end }}",
    "{{ range 1 }}{{ else }}{{ end }}",
    "{{}}",
    "{{ }}",
    "{{ ( }}",
    "{{ ) }}",
    "{{ (1 }}",
    "{{ 1) }}",
    "{{ (len) }}",
    "{{ () }}",
    "{{ x := 1 }}",
    "{{ $x := }}",
    "{{ $x : = 1 }}",
    "{{ $x := 1 | }}",
    "{{ $x",
    ":= 1 }}{{ $x }}",
    "{{ 1 2 }}",
    "{{ $x := 1 }}{{ $x 2 }}",
    '{{ printf "%d" 1 }}{{ printf }}',
    "{{ call }}",
    "{{ slice }}",
    "{{ .A,.B }}",
    "{{ $ }}",
    "{{ $.Labels }}",
    "{{ $externalURL }}{{ $externalLabels.x }}",
    '{{ stripPort "a:1" }}{{ sortByLabel "x" . }}',
    '{{ title "x" }}{{ safeHtml "x" }}{{ graphLink "x" }}{{ tableLink "x" }}{{ args 1 }}{{ reReplaceAll "a" "b" "c" }}',
    '{{ humanize1024 1 }}{{ humanizeDuration 1 }}{{ humanizePercentage 1 }}{{ humanizeTimestamp 1 }}{{ toTime 1 }}{{ pathPrefix }}{{ externalURL }}{{ parseDuration "1m" }}{{ strvalue . }}{{ match "a" "b" }}{{ stripDomain "a" }}',
    "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
    "{{ if 1 }}{{ end }}{{ end }}",
    "}}{{",
    '{{ "unterminated }}',
    "{{ 'x }}",
    "{{ `x",
    "y` }}",
    '{{ "a',
    'b" }}',
    "a {{- 1 -}} b",
    "{{ 1 }}}}",
    "{{{{ 1 }}",
    "{{ .1 }}",
    "{{ 1. }}",
    "{{ . 1 }}",
    "{{ .. }}",
    "{{ ... }}",
    "{{ .Foo. }}",
    "{{ $x. }}",
    "{{ true.x }}",
    "{{ truex }}",
    "{{ -x }}",
    "{{ +1 }}",
    "{{ - 1 }}",
    "{{ 1e }}",
    "{{ 1e+ }}",
    "{{ 1p3 }}",
    "{{ 0x1p }}",
    "{{ 0x_1 }}",
    "{{ 0_x1 }}",
    "{{ 1_.5 }}",
    "{{ 1._5 }}",
    "{{ .5e1_0 }}",
    "{{ 0x1_p2 }}",
    "{{ 0b1.0 }}",
    "{{ 07.5 }}",
    "{{ 1e3i }}",
    "{{ 0x10i }}",
    "{{ 01i }}",
    "{{ 1+i }}",
    "{{ 1+2 }}",
    "{{ 1-2i }}",
    "{{ 1e+2+3e-4i }}",
    "{{ 0x1+2i }}",
    "{{ $x := 1 }}{{ range $x := . }}{{ end }}",
    "{{ range $i, := . }}{{ end }}",
    "{{ range $i, }}{{ end }}",
    "{{ range $i, 1 }}{{ end }}",
    "{{ with $a, $b := 1 }}{{ end }}",
    "{{ if $x := 1 }}{{ $x }}{{ else }}{{ $x }}{{ end }}{{ $x }}",
    '{{ block "b" }}{{ end }}',
    '{{ block "b" . }}{{ else }}{{ end }}',
    '{{ define "x" }}{{ else }}{{ end }}',
    "{{ define x }}{{ end }}",
    '{{ define "x" 1 }}{{ end }}',
    '{{ define "x" }}',
]


def promtool_verdicts(cases: list[str], tmp_path: Path) -> dict[int, str]:
    """promtool's error for each case it refuses (by index), each case an annotation of its own alerting rule."""
    require_binary(PROMTOOL_BIN, "promtool")
    rules = [
        f"      - alert: A{n}\n        expr: up\n        annotations:\n          s: {json.dumps(c)}\n"
        for n, c in enumerate(cases)
    ]
    f = tmp_path / "templates.yml"
    f.write_text("groups:\n  - name: g\n    rules:\n" + "".join(rules), encoding="utf-8")
    out = subprocess.run([PROMTOOL_BIN, "check", "rules", str(f)], capture_output=True, text=True, timeout=120)
    bad: dict[int, str] = {}
    for line in (out.stdout + out.stderr).splitlines():
        m = re.search(r'rule (\d+), "A\d+": annotation "s": (.*)', line)
        if m:
            bad[int(m.group(1)) - 1] = m.group(2)
    assert out.returncode == 0 or bad, out.stdout + out.stderr
    return bad


def assert_same_verdicts(cases: list[str], tmp_path: Path) -> None:
    theirs = promtool_verdicts(cases, tmp_path)
    wrong = []
    for i, c in enumerate(cases):
        ours = gotemplate.check(c, f"__alert_A{i}")
        if (ours is None) != (i not in theirs):
            wrong.append(f"{c!r}: ours {ours}, promtool {theirs.get(i)}")
    assert not wrong, "\n".join(wrong[:30])
    assert 0 < len(theirs) < len(cases)


def test_hand_picked_templates_as_promtool(tmp_path: Path) -> None:
    assert_same_verdicts(HAND, tmp_path)


def test_numbers_and_literals_as_promtool(tmp_path: Path) -> None:
    rng = random.Random(5)
    chars = "0123456789xXoObBeEpP._+-iaf"
    cases = {
        "{{ " + rng.choice("0123456789.+-") + "".join(rng.choice(chars) for _ in range(rng.randint(0, 6))) + " }}"
        for _ in range(1500)
    }
    cases |= {"{{ '\\" + c + "' }}" for c in "abfnrtv01234567xuU\\'\"q"}
    cases |= {'{{ "\\' + c + '" }}' for c in "abfnrtv01234567xuU\\'\"q"}
    assert_same_verdicts(sorted(cases), tmp_path)


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_templates_as_promtool(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    assert_same_verdicts(fuzz(rng, 600) + structured(rng, 600), tmp_path)


def test_rule_with_a_bad_template_is_refused_at_its_key(tmp_path: Path) -> None:
    f = tmp_path / "r.yml"
    f.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        labels:\n"
        '          team: x\n          sev: "{{ if }}"\n        annotations:\n'
        '          summary: "{{ $labels.instance "\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as e:
        load_rule_file(f)
    assert str(e.value) == f"{f}:8: group 'g', rule 'A': label 'sev': template: __alert_A:1: missing value for if"
    f.write_text(f.read_text().replace('"{{ if }}"', "x"), encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_rule_file(f)
    assert str(e.value) == f"{f}:10: group 'g', rule 'A': annotation 'summary': template: __alert_A:1: unclosed action"


def test_recording_rules_and_plain_text_are_not_templates(tmp_path: Path) -> None:
    f = tmp_path / "r.yml"
    f.write_text(
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: up\n        labels:\n"
        '          x: "{{ if }}"\n      - alert: A\n        expr: up\n        annotations:\n'
        '          d: "}} {  {{- /* c */ -}} {{ $value | humanize }} {{ $labels.job }}"\n',
        encoding="utf-8",
    )
    assert [r.name for r in load_rule_file(f)] == ["r", "A"]


FRAG = [
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "$labels",
    "$labels.instance",
    "$value",
    "$x",
    "$",
    ".",
    ".Labels",
    ".Foo.Bar",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "nil",
    "true",
    '"s"',
    "`raw`",
    "'a'",
    "1",
    "-1",
    "0x1F",
    "1e3",
    "1.5",
    "08",
    "1_000",
    "0b",
    "1i",
    "1+2i",
    "(",
    ")",
    "|",
    ":=",
    "=",
    ",",
    "printf",
    "humanize",
    "query",
    "first",
    "value",
    "len",
    "index",
    "foo",
    "/* c */",
    "\n",
    '"\\q"',
    "'ab'",
    "@",
    "é",
    "toUpper",
    "and",
    "not",
    "eq",
    ";",
    "{",
    "}",
]


def fuzz(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        k = rng.randint(1, 9)
        parts = []
        for _ in range(k):
            parts.append(rng.choice(FRAG))
            if rng.random() < 0.5:
                parts.append(" ")
        t = "".join(parts)
        if rng.random() < 0.7 and "{{" not in t:
            t = "{{" + t + "}}"
        out.append(t)
    return out


def structured(rng: random.Random, n: int) -> list[str]:
    atoms = [
        "$labels.instance",
        "$value",
        ".Labels.job",
        "1",
        '"x"',
        "$x",
        "(humanize $value)",
        "$labels",
        ".",
        "nil",
        "true",
        "'c'",
        "`r`",
    ]
    fns = ["humanize", 'printf "%s"', "toUpper", "len", "index $labels", "eq 1", "query", "first", 'label "a"', "foo"]

    def pipe(d=0):
        p = rng.choice(atoms)
        if rng.random() < 0.4:
            p = rng.choice(fns) + " " + p
        if rng.random() < 0.3:
            p += " | " + rng.choice(fns + atoms)
        if rng.random() < 0.15 and d < 2:
            p = "(" + pipe(d + 1) + ")"
        if rng.random() < 0.15:
            p = rng.choice(["$x := ", "$x = ", "$i, $e := ", "$y := "]) + p
        return p

    def body(d=0):
        out = []
        for _ in range(rng.randint(1, 3)):
            r = rng.random()
            if r < 0.4:
                out.append("{{ " + pipe() + " }}")
            elif r < 0.55:
                out.append("text ")
            elif d < 2:
                kw = rng.choice(["if", "range", "with", "define", "block", "template"])
                if kw == "define":
                    out.append('{{define "t"}}' + body(d + 1) + "{{end}}")
                elif kw == "template":
                    out.append('{{template "t" ' + rng.choice(["", ".", "$x"]) + "}}")
                elif kw == "block":
                    out.append('{{block "b" .}}' + body(d + 1) + "{{end}}")
                else:
                    mid = body(d + 1)
                    if rng.random() < 0.3:
                        mid += rng.choice(
                            ["{{else}}", "{{else if 1}}", "{{break}}", "{{continue}}", "{{ else }}"]
                        ) + body(d + 1)
                    end = "" if rng.random() < 0.1 else "{{end}}"
                    out.append("{{" + kw + " " + pipe() + "}}" + mid + end)
        s = "".join(out)
        if rng.random() < 0.1:
            i = rng.randrange(len(s) + 1)
            s = s[:i] + rng.choice(["{{", "}}", "$z", ")", "(", "-", " -}}", "{{- "]) + s[i:]
        return s

    return [body() for _ in range(n)]
