"""rules.routing by hand: time intervals, `--at`, inhibition, inheritance, and the batch path."""

from __future__ import annotations

import random
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from agent.cli import main
from collectors.alertmanager_config import load_alertmanager_config
from collectors.facts import (
    AlertmanagerFacts,
    InhibitRule,
    Matcher,
    Route,
    TimeInterval,
    TimeIntervalSpec,
    TimeRange,
)
from rules.routing import (
    CompiledTree,
    RouteMatch,
    active_at,
    inhibited,
    inhibitors,
    interval_active,
    interval_contains,
    intervals_by_name,
    muted_at,
    suppressed_at,
)

if str(REPO_ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from bench.routing import generate_label_sets, write_config  # noqa: E402


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def m(text: str) -> Matcher:
    name, op, value = re.fullmatch(r"(\w+)(=~|!~|!=|=)(.*)", text).groups()  # type: ignore[union-attr]
    return Matcher(name=name, op=op, value=value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- time intervals


def test_weekday_ranges_use_go_numbering_and_are_inclusive() -> None:
    weekdays = TimeIntervalSpec(weekdays=[(1, 5)])  # monday:friday
    assert interval_contains(weekdays, utc(2024, 6, 3, 0, 0))  # Monday
    assert interval_contains(weekdays, utc(2024, 6, 7, 23, 59))  # Friday
    assert not interval_contains(weekdays, utc(2024, 6, 8, 12, 0))  # Saturday
    assert not interval_contains(weekdays, utc(2024, 6, 9, 12, 0))  # Sunday
    sunday = TimeIntervalSpec(weekdays=[(0, 0)])
    assert interval_contains(sunday, utc(2024, 6, 9, 12, 0))


def test_times_are_read_in_the_interval_time_zone_end_exclusive() -> None:
    office = TimeIntervalSpec(times=[TimeRange(start_minute=9 * 60, end_minute=17 * 60)], location="America/New_York")
    assert not interval_contains(office, utc(2024, 6, 3, 12, 59))  # 08:59 EDT
    assert interval_contains(office, utc(2024, 6, 3, 13, 0))  # 09:00 EDT
    assert interval_contains(office, utc(2024, 6, 3, 20, 59, 59))  # 16:59:59 EDT
    assert not interval_contains(office, utc(2024, 6, 3, 21, 0))  # 17:00 EDT: end is exclusive
    assert interval_contains(office, utc(2024, 1, 8, 14, 0))  # 09:00 EST in winter
    assert not interval_contains(office, utc(2024, 1, 8, 13, 0))  # 08:00 EST


def test_weekday_is_the_local_weekday() -> None:
    # Monday 01:00 in Tokyo is still Sunday in UTC
    monday_tokyo = TimeIntervalSpec(weekdays=[(1, 1)], location="Asia/Tokyo")
    assert interval_contains(monday_tokyo, utc(2024, 6, 2, 16, 0))
    assert not interval_contains(TimeIntervalSpec(weekdays=[(1, 1)]), utc(2024, 6, 2, 16, 0))


def test_daylight_saving_change_in_berlin() -> None:
    # 2024-03-31 02:00 CET -> 03:00 CEST: 01:00 UTC is 03:00 local on the day, 02:00 local the day before
    three_to_four = TimeIntervalSpec(times=[TimeRange(start_minute=180, end_minute=240)], location="Europe/Berlin")
    assert interval_contains(three_to_four, utc(2024, 3, 31, 1, 0))
    assert not interval_contains(three_to_four, utc(2024, 3, 30, 1, 0))
    assert interval_contains(three_to_four, utc(2024, 3, 30, 2, 0))
    # the skipped hour 02:00-03:00 holds no instant that day
    two_to_three = TimeIntervalSpec(times=[TimeRange(start_minute=120, end_minute=180)], location="Europe/Berlin")
    assert not any(interval_contains(two_to_three, utc(2024, 3, 31, 0, mi)) for mi in range(0, 60, 5))
    assert not any(interval_contains(two_to_three, utc(2024, 3, 31, 1, mi)) for mi in range(0, 60, 5))
    # autumn: 02:00-03:00 happens twice on 2024-10-27 (00:30 UTC CEST and 01:30 UTC CET)
    assert interval_contains(two_to_three, utc(2024, 10, 27, 0, 30))
    assert interval_contains(two_to_three, utc(2024, 10, 27, 1, 30))


def test_days_in_month_keeps_alertmanagers_dst_truncation() -> None:
    # timeinterval.daysInMonth divides the hours of the month by 24 and truncates: March in Berlin has
    # 743 hours, so Alertmanager counts 30 days and "-1" is March 30 there (March 31 in UTC).
    last = TimeIntervalSpec(days_of_month=[(-1, -1)], location="Europe/Berlin")
    assert interval_contains(last, utc(2024, 3, 30, 12, 0))
    assert not interval_contains(last, utc(2024, 3, 31, 12, 0))
    assert interval_contains(TimeIntervalSpec(days_of_month=[(-1, -1)]), utc(2024, 3, 31, 12, 0))
    # October has 745 hours: 31 days, no shift
    assert interval_contains(last, utc(2024, 10, 31, 12, 0))


def test_negative_days_of_month_count_from_the_end() -> None:
    last_three = TimeIntervalSpec(days_of_month=[(-3, -1)])
    assert interval_contains(last_three, utc(2024, 2, 27, 0, 0))  # 2024 is a leap year: 27, 28, 29
    assert interval_contains(last_three, utc(2024, 2, 29, 23, 59))
    assert not interval_contains(last_three, utc(2024, 2, 26, 23, 59))
    assert interval_contains(last_three, utc(2023, 2, 26, 0, 0))  # 26, 27, 28
    first_and_last = TimeIntervalSpec(days_of_month=[(1, 1), (-1, -1)])
    assert interval_contains(first_and_last, utc(2024, 4, 30, 8, 0))
    assert interval_contains(first_and_last, utc(2024, 4, 1, 8, 0))
    assert not interval_contains(first_and_last, utc(2024, 4, 29, 8, 0))
    # a start past the end of a short month is skipped, as Alertmanager
    assert not interval_contains(TimeIntervalSpec(days_of_month=[(31, 31)]), utc(2024, 4, 30, 8, 0))


def test_months_and_years_ranges_are_inclusive() -> None:
    spec = TimeIntervalSpec(months=[(3, 5), (11, 11)], years=[(2024, 2025)])
    assert interval_contains(spec, utc(2024, 3, 1, 0, 0))
    assert interval_contains(spec, utc(2025, 5, 31, 23, 59))
    assert interval_contains(spec, utc(2024, 11, 5, 0, 0))
    assert not interval_contains(spec, utc(2024, 6, 1, 0, 0))
    assert not interval_contains(spec, utc(2026, 4, 1, 0, 0))
    assert not interval_contains(spec, utc(2023, 4, 1, 0, 0))


def test_empty_spec_always_holds_and_an_interval_without_entries_never() -> None:
    assert interval_contains(TimeIntervalSpec(), utc(2024, 6, 3, 3, 3))
    assert interval_active(TimeInterval(name="always", intervals=[TimeIntervalSpec()]), utc(2024, 6, 3))
    assert not interval_active(TimeInterval(name="never", intervals=[]), utc(2024, 6, 3))


def test_naive_instants_are_utc() -> None:
    spec = TimeIntervalSpec(times=[TimeRange(start_minute=0, end_minute=60)])
    assert interval_contains(spec, datetime(2024, 6, 3, 0, 30))


# --------------------------------------------------------------------------- --at and time intervals on routes

AT_CONFIG = """\
route:
  receiver: default
  group_wait: 45s
  routes:
    - matchers: ['team="db"']
      receiver: db-pager
      mute_time_intervals: [weekend]
      continue: true
      routes:
        - matchers: ['severity="info"']
          receiver: db-info
    - matchers: ['team="db"']
      receiver: db-office
      active_time_intervals: [office]
time_intervals:
  - name: weekend
    time_intervals:
      - weekdays: ['saturday', 'sunday']
        location: Europe/Berlin
  - name: office
    time_intervals:
      - weekdays: ['monday:friday']
        times: [{start_time: '09:00', end_time: '17:00'}]
        location: Europe/Berlin
receivers:
  - name: default
  - name: db-pager
  - name: db-info
  - name: db-office
"""


@pytest.fixture
def at_config(tmp_path: Path) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(AT_CONFIG)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    got = capsys.readouterr()
    return rc, got.out, got.err


def test_mute_and_active_intervals_apply_to_their_own_route_only(at_config: Path) -> None:
    facts = load_alertmanager_config(at_config)
    tree = CompiledTree(facts)
    intervals = intervals_by_name(facts)
    pager, office = tree.match({"team": "db"})
    assert (pager.receiver, office.receiver) == ("db-pager", "db-office")
    saturday_noon = utc(2024, 6, 8, 10, 0)
    monday_10_berlin = utc(2024, 6, 3, 8, 0)
    monday_20_berlin = utc(2024, 6, 3, 18, 0)
    assert muted_at(pager, saturday_noon, intervals)
    assert not muted_at(pager, monday_10_berlin, intervals)
    assert active_at(pager, saturday_noon, intervals)  # no active_time_intervals: always active
    assert active_at(office, monday_10_berlin, intervals)
    assert not active_at(office, monday_20_berlin, intervals)
    assert suppressed_at(office, saturday_noon, intervals)
    # not inherited (dispatch/route.go NewRoute assigns them from the route itself)
    (info,) = tree.match({"team": "db", "severity": "info"})[:1]
    assert info.receiver == "db-info" and info.mute_time_intervals == ()
    assert not muted_at(info, saturday_noon, intervals)


def test_cli_at_drops_muted_and_inactive_receivers(at_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("route", "--alertmanager", str(at_config))
    assert run_cli(capsys, *base, "team=db") == (0, "db-pager,db-office\n", "")
    # Saturday: db-pager muted (weekend), db-office outside office hours
    assert run_cli(capsys, *base, "--at", "2024-06-08T10:00:00Z", "team=db") == (0, "\n", "")
    # Monday 10:00 Berlin: both
    assert run_cli(capsys, *base, "--at", "2024-06-03T08:00:00Z", "team=db") == (0, "db-pager,db-office\n", "")
    # Monday 20:00 Berlin: the active_time_intervals route is outside its window
    assert run_cli(capsys, *base, "--at", "2024-06-03T20:00:00+02:00", "team=db") == (0, "db-pager\n", "")
    # the child of a muted route is not muted
    rc, out, _ = run_cli(capsys, *base, "--at", "2024-06-08T10:00:00Z", "team=db", "severity=info")
    assert (rc, out) == (0, "db-info\n")


def test_cli_tree_prints_paths(at_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(
        capsys, "route", "--alertmanager", str(at_config), "--tree", "--at", "2024-06-08T10:00:00Z", "team=db"
    )
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == ""
    assert lines[1] == f"  root -> routes[0]  {at_config}:5  receiver=db-pager  (muted at --at)"
    assert lines[2] == f"  root -> routes[1]  {at_config}:12  receiver=db-office  (muted at --at)"


def test_cli_labels_file_and_bad_input(at_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"team": "db"}\n\n{"team": "web"}\n{"team": "db", "severity": "info"}\n')
    base = ("route", "--alertmanager", str(at_config))
    assert run_cli(capsys, *base, "--labels-file", str(labels)) == (
        0,
        "db-pager,db-office\ndefault\ndb-info,db-office\n",
        "",
    )
    labels.write_text('{"team": "db"}\n{"team": 3}\n')
    rc, _, err = run_cli(capsys, *base, "--labels-file", str(labels))
    assert rc == 2 and f"{labels}:2:" in err
    rc, _, err = run_cli(capsys, *base, 'team=d"b')
    assert rc == 2 and "unescaped double quote" in err
    rc, _, err = run_cli(capsys, *base, "team=~db")
    assert rc == 2 and "key=value" in err
    rc, _, err = run_cli(capsys, "route", "--alertmanager", str(tmp_path / "missing.yml"), "a=b")
    assert rc == 2 and "missing.yml" in err
    rc, _, err = run_cli(capsys, *base, "--at", "yesterday", "a=b")
    assert rc == 2 and "--at" in err


def test_cli_label_syntax_like_amtool(at_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("route", "--alertmanager", str(at_config))
    assert run_cli(capsys, *base, ' team = "db" ')[1] == "db-pager,db-office\n"
    assert run_cli(capsys, *base, "team=db ")[1] == "db-pager,db-office\n"  # trailing space trimmed
    assert run_cli(capsys, *base, 'team=" db"')[1] == "default\n"  # quoted space kept
    assert run_cli(capsys, *base, "team=web", "team=db")[1] == "db-pager,db-office\n"  # last one wins
    assert run_cli(capsys, *base)[1] == "default\n"


# --------------------------------------------------------------------------- inhibition

CRIT_INHIBITS_WARN = InhibitRule(
    source_matchers=[m("severity=critical")],
    target_matchers=[m("severity=warning")],
    equal=["alertname", "cluster"],
)


def test_inhibition_needs_source_target_and_equal_labels() -> None:
    warn = {"alertname": "Down", "cluster": "eu", "severity": "warning"}
    crit = {"alertname": "Down", "cluster": "eu", "severity": "critical"}
    assert inhibited(warn, [crit], [CRIT_INHIBITS_WARN])
    assert not inhibited(warn, [{**crit, "cluster": "us"}], [CRIT_INHIBITS_WARN])
    assert not inhibited(warn, [{**crit, "severity": "page"}], [CRIT_INHIBITS_WARN])
    assert not inhibited(crit, [warn], [CRIT_INHIBITS_WARN])  # the target side must match
    assert not inhibited(warn, [], [CRIT_INHIBITS_WARN])
    assert inhibitors(warn, [warn, crit], [CRIT_INHIBITS_WARN]) == [(CRIT_INHIBITS_WARN, crit)]


def test_missing_equal_labels_count_as_equal() -> None:
    # a.Labels[n] != lset[n] in inhibit.go: a missing label is "", on both sides
    warn = {"alertname": "Down", "severity": "warning"}
    assert inhibited(warn, [{"alertname": "Down", "severity": "critical"}], [CRIT_INHIBITS_WARN])
    assert inhibited(warn, [{"alertname": "Down", "cluster": "", "severity": "critical"}], [CRIT_INHIBITS_WARN])
    assert not inhibited(warn, [{"alertname": "Down", "cluster": "eu", "severity": "critical"}], [CRIT_INHIBITS_WARN])


def test_an_alert_never_inhibits_itself() -> None:
    both_sides = InhibitRule(source_matchers=[m("team=db")], target_matchers=[m("team=db")], equal=["alertname"])
    alert = {"alertname": "Down", "team": "db"}
    assert not inhibited(alert, [alert], [both_sides])
    # other alerts matching both sides are ignored too (excludeTwoSidedMatch in inhibit.go)
    assert not inhibited(alert, [alert, {**alert, "instance": "b"}], [both_sides])
    # a source that matches only the source side does inhibit
    wide = InhibitRule(source_matchers=[m("severity=~critical|warning")], target_matchers=[m("severity=warning")])
    warn = {"alertname": "Down", "severity": "warning"}
    assert not inhibited(warn, [warn, {**warn, "instance": "b"}], [wide])
    assert inhibited(warn, [warn, {"alertname": "Other", "severity": "critical"}], [wide])


# --------------------------------------------------------------------------- inheritance


def test_group_wait_receiver_and_group_by_are_inherited() -> None:
    facts = AlertmanagerFacts(
        route=Route(
            receiver="root",
            group_by=["alertname"],
            routes=[
                Route(
                    matchers=[m("team=a")],
                    group_wait_s=10,
                    routes=[
                        Route(matchers=[m("sev=page")], receiver="pager", group_by=["..."], repeat_interval_s=60),
                        Route(matchers=[m("sev=slow")], group_wait_s=120, group_by=[]),
                    ],
                ),
                Route(matchers=[m("team=b")], receiver="b", group_by=["cluster"]),
            ],
        )
    )
    tree = CompiledTree(facts)
    (root,) = tree.match({})
    assert (root.receiver, root.group_wait_s, root.group_interval_s, root.repeat_interval_s) == ("root", 30, 300, 14400)
    assert root.path == () and root.path_text == "root"
    (team_a,) = tree.match({"team": "a"})
    assert (team_a.receiver, team_a.group_wait_s, team_a.group_by, team_a.path) == ("root", 10, ("alertname",), (0,))
    (pager,) = tree.match({"team": "a", "sev": "page"})
    assert (pager.receiver, pager.group_wait_s, pager.repeat_interval_s) == ("pager", 10, 60)
    assert pager.group_by_all and pager.path_text == "root -> routes[0] -> routes[0].routes[0]"
    (slow,) = tree.match({"team": "a", "sev": "slow"})
    assert (slow.receiver, slow.group_wait_s, slow.group_by, slow.group_by_all) == ("root", 120, ("alertname",), False)
    (b,) = tree.match({"team": "b"})
    assert (b.receiver, b.group_wait_s, b.group_by) == ("b", 30, ("cluster",))


def test_no_backtracking_and_continue() -> None:
    facts = AlertmanagerFacts(
        route=Route(
            receiver="root",
            routes=[
                Route(matchers=[m("a=1")], receiver="first", routes=[Route(matchers=[m("b=1")], receiver="deep")]),
                Route(matchers=[m("a=1")], receiver="never"),
                Route(matchers=[m("c!=")], receiver="c-set", continue_=True),
                Route(matchers=[m("c=~.+")], receiver="c-again"),
            ],
        )
    )
    tree = CompiledTree(facts)
    assert tree.receivers({"a": "1"}) == ["first"]  # its child does not match: it takes the alert itself
    assert tree.receivers({"a": "1", "b": "1"}) == ["deep"]
    assert tree.receivers({"c": "x"}) == ["c-set", "c-again"]
    assert tree.receivers({"c": ""}) == ["root"]  # "" is missing


# --------------------------------------------------------------------------- batch path == single path


def reference_match(route: Route, labels: dict[str, str], path: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Route.Match of dispatch/route.go, written plainly, returning paths."""
    for mt in route.matchers:
        value = labels.get(mt.name, "")
        if mt.op in ("=", "!="):
            ok = (value == mt.value) == (mt.op == "=")
        else:
            ok = (re.fullmatch(mt.value, value) is not None) == (mt.op == "=~")
        if not ok:
            return []
    out: list[tuple[int, ...]] = []
    for i, child in enumerate(route.routes):
        got = reference_match(child, labels, (*path, i))
        out.extend(got)
        if got and not child.continue_:
            break
    return out or [path]


def test_batch_path_equals_single_path_on_a_2000_route_tree(tmp_path: Path) -> None:
    facts = load_alertmanager_config(write_config(tmp_path / "alertmanager.yml", 2000))
    tree = CompiledTree(facts)
    assert len(tree.walk_routes()) == 2001
    label_sets = generate_label_sets(20_000, seed=5)
    rnd = random.Random(3)
    for ls in label_sets[:2000]:  # perturb some: unknown values, missing labels
        if rnd.random() < 0.3:
            ls.pop(rnd.choice(sorted(ls)), None)
        if rnd.random() < 0.2:
            ls[rnd.choice(["team", "service", "severity"])] = "unknown"
    batch = tree.match_many(label_sets)
    uncached = CompiledTree(facts, cache_size=0)
    single = [uncached.match(ls) for ls in label_sets]
    assert batch == single
    for ls, got in zip(label_sets, batch, strict=True):
        assert got == tree.match_uncached(ls)
    for ls, got in zip(label_sets[:3000], batch[:3000], strict=True):
        assert [g.path for g in got] == reference_match(facts.route, ls)
    assert all(isinstance(g, RouteMatch) for g in batch[0])
    assert len({tuple(g.receiver for g in r) for r in batch}) > 20


def test_routes_know_their_file_and_line(at_config: Path) -> None:
    tree = CompiledTree(load_alertmanager_config(at_config))
    lines = {r.path: r.line for r in tree.walk_routes()}
    assert lines == {(): 1, (0,): 5, (0, 0): 10, (1,): 12}  # 1-based: `route:`, then each `- matchers`


def test_route_key_shares_walks_only_between_label_sets_that_end_alike() -> None:
    """`match_many` keys its cache on what the walk reads (values compared by equality, outcomes of the
    other regexes), not on raw values: compare it with a walk per label set and with the reference."""
    team_routes = [
        Route(
            matchers=[m(f"team=t{i}")],
            receiver=f"team-{i}",
            routes=[
                Route(matchers=[m("alertname=~Svc.*Custom1")], receiver=f"custom-{i}"),
                Route(matchers=[m("service=~s1|s2"), m("env!=staging")], receiver=f"s12-{i}", continue_=True),
                Route(matchers=[m("service!~s[0-9]+x")], receiver=f"plain-{i}"),
                Route(matchers=[m("severity=critical")], receiver=f"crit-{i}"),
            ],
        )
        for i in range(6)
    ]
    facts = AlertmanagerFacts(
        route=Route(
            receiver="root",
            routes=[
                Route(matchers=[m("alertname=~Watch.*|Dead.*")], receiver="heartbeat"),
                *team_routes,
                Route(matchers=[m("team=~t9|t1")], receiver="late"),
                Route(matchers=[m("env=")], receiver="no-env"),
            ],
        )
    )
    rnd = random.Random(11)
    names = ["SvcAPICustom1", "SvcDbCustom1", "SvcX", "Watchdog", "DeadMan", "Other", "svcCustom1", ""]
    label_sets: list[dict[str, str]] = []
    for _ in range(3000):
        ls = {
            "alertname": rnd.choice(names) + rnd.choice(["", "", "Custom1", "2"]),
            "team": rnd.choice(["t0", "t1", "t5", "t9", "tx", ""]),
            "service": rnd.choice(["s1", "s2", "s3", "s33x", "s1x", "", "zz"]),
            "env": rnd.choice(["prod", "staging", ""]),
            "severity": rnd.choice(["critical", "warning"]),
        }
        for k in list(ls):
            if rnd.random() < 0.15:
                del ls[k]  # missing: the same as "" for the walk
        label_sets.append(ls)
    tree = CompiledTree(facts)
    shared = tree.match_many(label_sets)
    uncached = CompiledTree(facts, cache_size=0)
    for ls, got in zip(label_sets, shared, strict=True):
        assert got == uncached.match_uncached(ls)
        assert [g.path for g in got] == reference_match(facts.route, ls)
    assert len({tree.route_key(ls) for ls in label_sets}) < len({tuple(sorted(ls.items())) for ls in label_sets})
    assert tree.route_key({"alertname": "SvcAPICustom1"}) == tree.route_key({"alertname": "SvcDbCustom1"})
    assert tree.route_key({"alertname": "SvcX"}) != tree.route_key({"alertname": "SvcXCustom1"})
    assert tree.route_key({"env": ""}) == tree.route_key({})
