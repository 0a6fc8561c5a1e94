"""rules/oncall.py: who holds each level, escalation timing, urgency, maintenance, pages or not.

Expectations are computed by hand in the comments; the facts are built the way the /oncalls API
returns them (schedule layers and overrides already resolved into entries).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collectors.facts import (
    PagerDutyFacts,
    PDEscalationPolicy,
    PDIntegration,
    PDLevel,
    PDMaintenanceWindow,
    PDOnCall,
    PDService,
    PDTarget,
    PDUser,
)
from rules.oncall import OnCallIndex, Shift, in_support_hours, time_to_page


def z(s: str) -> datetime:
    """An instant in UTC from 'YYYY-MM-DDTHH:MM'."""
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def oc(user: str, policy: str, level: int, start: str | None, end: str | None, schedule: str | None = "S1") -> PDOnCall:
    return PDOnCall(
        user_id=user,
        escalation_policy_id=policy,
        escalation_level=level,
        schedule_id=schedule,
        start=z(start) if start else None,
        end=z(end) if end else None,
    )


NY_HOURS = {
    "type": "fixed_time_per_day",
    "time_zone": "America/New_York",
    "days_of_week": [1, 2, 3, 4, 5],
    "start_time": "09:00:00",
    "end_time": "17:00:00",
}
HIGH_IN_LOW_OUT = {
    "type": "use_support_hours",
    "during_support_hours": {"type": "constant", "urgency": "high"},
    "outside_support_hours": {"type": "constant", "urgency": "low"},
}


def svc(sid: str, policy: str | None = "P1", **kw: object) -> PDService:
    return PDService(id=sid, name=sid, escalation_policy_id=policy, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def idx() -> OnCallIndex:
    # P1: three levels, delays 10/15/30 minutes, repeats twice.
    p1 = PDEscalationPolicy(
        id="P1",
        name="Payments",
        num_loops=2,
        levels=[
            PDLevel(level=1, escalation_delay_in_minutes=10, targets=[PDTarget(type="schedule", id="S1")]),
            PDLevel(level=2, escalation_delay_in_minutes=15, targets=[PDTarget(type="schedule", id="S2")]),
            PDLevel(level=3, escalation_delay_in_minutes=30, targets=[PDTarget(type="user", id="mgr")]),
        ],
    )
    # P2: weekday-only coverage: a weekend hole, partly covered by a Saturday entry at level 2.
    p2 = PDEscalationPolicy(
        id="P2",
        name="Weekdays",
        levels=[
            PDLevel(level=1, escalation_delay_in_minutes=30, targets=[PDTarget(type="schedule", id="S3")]),
            PDLevel(level=2, escalation_delay_in_minutes=30, targets=[PDTarget(type="schedule", id="S4")]),
        ],
    )
    # P3: level 1 empty now, level 2 held.
    p3 = PDEscalationPolicy(
        id="P3",
        name="Backup only",
        levels=[
            PDLevel(level=1, escalation_delay_in_minutes=10, targets=[PDTarget(type="schedule", id="S5")]),
            PDLevel(level=2, escalation_delay_in_minutes=20, targets=[PDTarget(type="schedule", id="S6")]),
        ],
    )
    # P4: nobody at all.
    p4 = PDEscalationPolicy(
        id="P4",
        name="Empty",
        levels=[PDLevel(level=1, escalation_delay_in_minutes=30, targets=[PDTarget(type="schedule", id="S7")])],
    )
    oncalls = [
        # P1 level 1, weekly rotation alice -> bob at Mon 2026-11-09 09:00Z, with a 12h override by carol
        # inside alice's week (Wed 20:00Z -> Thu 08:00Z); the API returns alice's week split around it.
        oc("alice", "P1", 1, "2026-11-02T09:00", "2026-11-04T20:00"),
        oc("carol", "P1", 1, "2026-11-04T20:00", "2026-11-05T08:00"),
        oc("alice", "P1", 1, "2026-11-05T08:00", "2026-11-09T09:00"),
        oc("bob", "P1", 1, "2026-11-09T09:00", "2026-11-16T09:00"),
        # P1 level 2: dave for two weeks, returned as two contiguous entries (as a windowed query does).
        oc("dave", "P1", 2, "2026-11-02T09:00", "2026-11-09T09:00", "S2"),
        oc("dave", "P1", 2, "2026-11-09T09:00", "2026-11-16T09:00", "S2"),
        # P1 level 3: the manager is a user target: the API gives start/end null.
        oc("mgr", "P1", 3, None, None, None),
        # P2 level 1: Mon 09:00 -> Fri 18:00 each week (UTC), nothing on weekends.
        oc("erin", "P2", 1, "2026-11-02T09:00", "2026-11-06T18:00", "S3"),
        oc("frank", "P2", 1, "2026-11-09T09:00", "2026-11-13T18:00", "S3"),
        # P2 level 2: only Saturday.
        oc("gina", "P2", 2, "2026-11-07T00:00", "2026-11-08T00:00", "S4"),
        # P3 level 2 only.
        oc("hank", "P3", 2, "2026-11-01T00:00", "2026-11-30T00:00", "S6"),
    ]
    services = [
        svc(
            "PAY",
            incident_urgency_rule={"type": "constant", "urgency": "high"},
            integrations=[PDIntegration(id="I1", type="events_api_v2_inbound_integration", key_fingerprint="fp-pay")],
        ),
        svc("NOTIF", incident_urgency_rule=HIGH_IN_LOW_OUT, support_hours=NY_HOURS),
        svc("SEV", incident_urgency_rule={"type": "constant", "urgency": "severity_based"}),
        svc(
            "SEVOUT",
            incident_urgency_rule={
                "type": "use_support_hours",
                "during_support_hours": {"type": "constant", "urgency": "high"},
                "outside_support_hours": {"type": "constant", "urgency": "severity_based"},
            },
            support_hours=NY_HOURS,
        ),
        svc("SUN", incident_urgency_rule=HIGH_IN_LOW_OUT, support_hours={**NY_HOURS, "days_of_week": [7]}),
        svc("BADTZ", incident_urgency_rule=HIGH_IN_LOW_OUT, support_hours={**NY_HOURS, "time_zone": "Mars/Olympus"}),
        svc("SUPP", incident_urgency_rule={"type": "constant", "urgency": "suppressed"}),
        svc("OFF", status="disabled"),
        svc("MAINT"),
        svc("STATUSMAINT", status="maintenance"),
        svc("NOPOLICY", policy=None),
        svc("BACKUP", policy="P3"),
        svc("EMPTY", policy="P4"),
        svc("LOWEMPTY", policy="P3", incident_urgency_rule={"type": "constant", "urgency": "low"}),
    ]
    return OnCallIndex(
        PagerDutyFacts(
            services=services,
            escalation_policies=[p1, p2, p3, p4],
            oncalls=oncalls,
            users=[PDUser(id=u, name=u.title()) for u in ("alice", "bob", "carol", "dave", "mgr")],
            maintenance_windows=[
                PDMaintenanceWindow(
                    id="MW1", start_time=z("2026-11-16T08:00"), end_time=z("2026-11-16T12:00"), services=["MAINT"]
                )
            ],
        )
    )


# --------------------------------------------------------------------------- lookups


def test_service_for_key_by_fingerprint(idx: OnCallIndex) -> None:
    found = idx.service_for_key("fp-pay")
    assert found is not None and found.id == "PAY"
    assert idx.service_for_key("fp-unknown") is None


# --------------------------------------------------------------------------- escalation timing


def test_levels_cumulative_minutes(idx: OnCallIndex) -> None:
    # level 1 at 0; level 2 after level 1's 10 min; level 3 after 10 + 15 = 25 min.
    levels = idx.levels("P1", z("2026-11-03T12:00"))
    assert [(lv.level, lv.delay_minutes, lv.minutes_until_notified) for lv in levels] == [
        (1, 10, 0),
        (2, 15, 10),
        (3, 30, 25),
    ]
    assert levels[0].targets == (PDTarget(type="schedule", id="S1"),)
    assert [lv.holders for lv in levels] == [("alice",), ("dave",), ("mgr",)]


def test_loop_cycle_and_renotification(idx: OnCallIndex) -> None:
    # cycle = 10 + 15 + 30 = 55 min (the last level's delay runs before the restart);
    # num_loops=2 -> 3 passes, exhausted after 3 * 55 = 165 min.
    esc = idx.escalation("P1", z("2026-11-03T12:00"))
    assert esc is not None
    assert (esc.cycle_minutes, esc.num_loops, esc.passes, esc.exhausted_after_minutes) == (55, 2, 3, 165)
    assert [lv.renotified_at_minutes for lv in esc.levels] == [(55, 110), (65, 120), (80, 135)]


def test_unknown_policy_has_no_levels(idx: OnCallIndex) -> None:
    assert idx.levels("NOPE", z("2026-11-03T12:00")) == []
    assert idx.escalation("NOPE", z("2026-11-03T12:00")) is None


def test_time_to_page() -> None:
    # for 5m + group_wait 30s + levels 1 and 2 delays (10 + 15 min) = 300 + 30 + 1500 s.
    assert time_to_page(300, 30, 10, 15) == 1830.0
    assert time_to_page(300, 30) == 330.0  # level 1
    assert time_to_page(0, 30, 25) == 1530.0  # cumulative minutes from LevelAnswer


# --------------------------------------------------------------------------- holders


def test_holders_half_open_at_handoff(idx: OnCallIndex) -> None:
    assert idx.holders("P1", 1, z("2026-11-09T08:59")) == ["alice"]
    assert idx.holders("P1", 1, z("2026-11-09T09:00")) == ["bob"]  # [start, end): bob from 09:00


def test_override_holds_instead_of_rotation_user(idx: OnCallIndex) -> None:
    assert idx.holders("P1", 1, z("2026-11-05T02:00")) == ["carol"]
    assert idx.holders("P1", 1, z("2026-11-04T19:59")) == ["alice"]
    assert idx.holders("P1", 1, z("2026-11-05T08:00")) == ["alice"]


def test_user_directly_on_level_holds_always(idx: OnCallIndex) -> None:
    assert idx.holders("P1", 3, z("2020-01-01T00:00")) == ["mgr"]
    assert idx.holders("P1", 3, z("2030-06-01T00:00")) == ["mgr"]


def test_nobody_before_first_entry(idx: OnCallIndex) -> None:
    assert idx.holders("P1", 1, z("2026-11-01T00:00")) == []


def test_holders_over_handoff_gives_both_shifts(idx: OnCallIndex) -> None:
    assert idx.holders_over("P1", 1, z("2026-11-08T00:00"), z("2026-11-10T00:00")) == [
        Shift("alice", z("2026-11-08T00:00"), z("2026-11-09T09:00")),
        Shift("bob", z("2026-11-09T09:00"), z("2026-11-10T00:00")),
    ]


def test_holders_over_with_override_splits_rotation(idx: OnCallIndex) -> None:
    assert idx.holders_over("P1", 1, z("2026-11-04T12:00"), z("2026-11-05T12:00")) == [
        Shift("alice", z("2026-11-04T12:00"), z("2026-11-04T20:00")),
        Shift("carol", z("2026-11-04T20:00"), z("2026-11-05T08:00")),
        Shift("alice", z("2026-11-05T08:00"), z("2026-11-05T12:00")),
    ]


def test_holders_over_merges_contiguous_entries_of_one_user(idx: OnCallIndex) -> None:
    assert idx.holders_over("P1", 2, z("2026-11-08T00:00"), z("2026-11-10T00:00")) == [
        Shift("dave", z("2026-11-08T00:00"), z("2026-11-10T00:00")),
    ]


def test_holders_over_direct_user_covers_window(idx: OnCallIndex) -> None:
    assert idx.holders_over("P1", 3, z("2026-11-08T00:00"), z("2026-11-10T00:00")) == [
        Shift("mgr", z("2026-11-08T00:00"), z("2026-11-10T00:00")),
    ]


def test_next_shift_finds_override(idx: OnCallIndex) -> None:
    assert idx.next_shift("P1", 1, z("2026-11-03T12:00")) == Shift(
        "carol", z("2026-11-04T20:00"), z("2026-11-05T08:00")
    )


def test_next_shift_after_override_is_rotation_user_again(idx: OnCallIndex) -> None:
    assert idx.next_shift("P1", 1, z("2026-11-05T02:00")) == Shift(
        "alice", z("2026-11-05T08:00"), z("2026-11-09T09:00")
    )


def test_next_shift_finds_handoff(idx: OnCallIndex) -> None:
    assert idx.next_shift("P1", 1, z("2026-11-06T12:00")) == Shift("bob", z("2026-11-09T09:00"), z("2026-11-16T09:00"))


def test_next_shift_skips_continuation_of_same_user(idx: OnCallIndex) -> None:
    # dave's second entry continues his first: no change on level 2 within the data.
    assert idx.next_shift("P1", 2, z("2026-11-03T12:00")) is None


def test_next_shift_unknown(idx: OnCallIndex) -> None:
    assert idx.next_shift("P1", 3, z("2026-11-03T12:00")) is None  # the manager always holds
    assert idx.next_shift("P1", 1, z("2026-11-10T00:00")) is None  # no entry after bob's week


# --------------------------------------------------------------------------- coverage


def test_coverage_gaps_weekend_hole(idx: OnCallIndex) -> None:
    # level 1 covers Mon 09:00 -> Fri 18:00; level 2 only Saturday; so the hole is
    # Fri 18:00 -> Sat 00:00 and Sun 00:00 -> Mon 09:00, plus the start of the window.
    assert idx.coverage_gaps("P2", z("2026-11-02T00:00"), z("2026-11-10T00:00")) == [
        (z("2026-11-02T00:00"), z("2026-11-02T09:00")),
        (z("2026-11-06T18:00"), z("2026-11-07T00:00")),
        (z("2026-11-08T00:00"), z("2026-11-09T09:00")),
    ]


def test_coverage_gaps_none_with_user_target(idx: OnCallIndex) -> None:
    assert idx.coverage_gaps("P1", z("2026-10-01T00:00"), z("2026-12-01T00:00")) == []


def test_coverage_gaps_empty_policy_is_all_gap(idx: OnCallIndex) -> None:
    since, until = z("2026-11-02T00:00"), z("2026-11-03T00:00")
    assert idx.coverage_gaps("P4", since, until) == [(since, until)]


# --------------------------------------------------------------------------- urgency


def test_constant_urgency_and_default(idx: OnCallIndex) -> None:
    at = z("2026-11-03T03:00")
    assert idx.urgency(idx.services["PAY"], at) == "high"
    assert idx.urgency(svc("X"), at) == "high"  # no rule: the API default, constant high
    assert idx.urgency(idx.services["SUPP"], at) == "suppressed"


def test_support_hours_across_time_zone(idx: OnCallIndex) -> None:
    notif = idx.services["NOTIF"]
    # Mon 2026-11-02 15:00Z = 10:00 EST -> inside; 23:00Z = 18:00 EST -> outside.
    assert idx.urgency(notif, z("2026-11-02T15:00")) == "high"
    assert idx.urgency(notif, z("2026-11-02T23:00")) == "low"
    # Mon 2026-11-03 03:00Z is still Monday 22:00 EST in New York: outside.
    assert idx.urgency(notif, z("2026-11-03T03:00")) == "low"


def test_support_hours_across_dst_change(idx: OnCallIndex) -> None:
    notif = idx.services["NOTIF"]
    # Fri 2026-10-30, EDT (UTC-4): 09:00 local = 13:00Z, so 13:30Z = 09:30 -> inside.
    assert idx.urgency(notif, z("2026-10-30T13:30")) == "high"
    # Mon 2026-11-02, EST (UTC-5) after the 2026-11-01 change: 13:30Z = 08:30 -> outside;
    # 14:00Z = 09:00 exactly -> inside (the start is inclusive).
    assert idx.urgency(notif, z("2026-11-02T13:30")) == "low"
    assert idx.urgency(notif, z("2026-11-02T14:00")) == "high"
    # the end is exclusive: 22:00Z = 17:00 EST -> outside.
    assert idx.urgency(notif, z("2026-11-02T21:59")) == "high"
    assert idx.urgency(notif, z("2026-11-02T22:00")) == "low"


def test_support_hours_day_numbers_monday_one_sunday_seven(idx: OnCallIndex) -> None:
    # Sat 2026-11-07 15:00Z = 10:00 EST, not in days 1..5.
    assert idx.urgency(idx.services["NOTIF"], z("2026-11-07T15:00")) == "low"
    # days_of_week [7]: Sunday 2026-11-08 is inside, Monday is not.
    sun = idx.services["SUN"]
    assert idx.urgency(sun, z("2026-11-08T15:00")) == "high"
    assert idx.urgency(sun, z("2026-11-09T15:00")) == "low"


def test_support_hours_past_midnight() -> None:
    # Friday 22:00 -> Saturday 06:00 New York time.
    hours = {**NY_HOURS, "days_of_week": [5], "start_time": "22:00:00", "end_time": "06:00:00"}
    assert in_support_hours(hours, z("2026-11-07T04:00"))  # Fri 23:00 EST
    assert in_support_hours(hours, z("2026-11-07T10:00"))  # Sat 05:00 EST
    assert not in_support_hours(hours, z("2026-11-07T11:00"))  # Sat 06:00 EST
    assert not in_support_hours(hours, z("2026-11-06T04:00"))  # Thu 23:00 EST
    assert not in_support_hours(None, z("2026-11-07T04:00"))


def test_severity_based_mapping(idx: OnCallIndex) -> None:
    sev, at = idx.services["SEV"], z("2026-11-03T03:00")
    assert [idx.urgency(sev, at, s) for s in ("critical", "error", "warning", "info")] == ["high", "high", "low", "low"]
    assert idx.urgency(sev, at, None) == "high"  # an event without severity defaults to high


def test_severity_based_outside_support_hours(idx: OnCallIndex) -> None:
    sevout = idx.services["SEVOUT"]
    assert idx.urgency(sevout, z("2026-11-02T15:00"), "warning") == "high"  # inside: constant high
    assert idx.urgency(sevout, z("2026-11-02T23:00"), "warning") == "low"
    assert idx.urgency(sevout, z("2026-11-02T23:00"), "critical") == "high"


# --------------------------------------------------------------------------- maintenance and pages


def test_in_maintenance_half_open(idx: OnCallIndex) -> None:
    assert idx.in_maintenance("MAINT", z("2026-11-16T08:00"))
    assert idx.in_maintenance("MAINT", z("2026-11-16T11:59"))
    assert not idx.in_maintenance("MAINT", z("2026-11-16T12:00"))
    assert not idx.in_maintenance("PAY", z("2026-11-16T09:00"))
    # status 'maintenance' and no window known: the status is the only evidence.
    assert idx.in_maintenance("STATUSMAINT", z("2026-11-16T09:00"))


def test_pages_with_override_holder(idx: OnCallIndex) -> None:
    ans = idx.pages_at("PAY", z("2026-11-05T02:00"), "critical")
    assert ans.pages and ans.outcome == "pages"
    assert (ans.urgency, ans.level, ans.people, ans.minutes_until_level, ans.reason) == (
        "high",
        1,
        ("carol",),
        0,
        None,
    )
    assert ans.urgency_basis == "constant high urgency"


def test_pages_first_held_level_when_level_one_empty(idx: OnCallIndex) -> None:
    ans = idx.pages_at("BACKUP", z("2026-11-05T02:00"))
    assert (ans.outcome, ans.level, ans.people, ans.minutes_until_level) == ("pages", 2, ("hank",), 10)


def test_disabled_service_pages_nobody(idx: OnCallIndex) -> None:
    ans = idx.pages_at("OFF", z("2026-11-05T02:00"), "critical")
    assert (ans.outcome, ans.reason, ans.people) == ("nobody", "service disabled", ())


def test_maintenance_window_pages_nobody(idx: OnCallIndex) -> None:
    ans = idx.pages_at("MAINT", z("2026-11-16T09:00"), "critical")
    assert ans.outcome == "nobody"
    assert ans.reason == "in maintenance window MW1 until 2026-11-16T12:00:00+00:00"
    assert idx.pages_at("MAINT", z("2026-11-16T12:00"), "critical").pages


def test_low_urgency_outside_support_hours_only_notifies(idx: OnCallIndex) -> None:
    # Mon 2026-11-02 13:30Z = 08:30 EST: outside; low urgency does not escalate: level 1 only.
    ans = idx.pages_at("NOTIF", z("2026-11-02T13:30"), "critical")
    assert (ans.outcome, ans.urgency, ans.reason, ans.level, ans.people) == (
        "notifies",
        "low",
        "low urgency outside support hours",
        1,
        ("alice",),
    )
    assert not ans.pages
    assert idx.pages_at("NOTIF", z("2026-11-02T14:00"), "critical").pages


def test_low_urgency_with_nobody_on_level_one(idx: OnCallIndex) -> None:
    ans = idx.pages_at("LOWEMPTY", z("2026-11-05T02:00"))
    assert (ans.outcome, ans.reason) == ("nobody", "constant low urgency, and nobody on call at level 1")


def test_severity_based_warning_notifies(idx: OnCallIndex) -> None:
    ans = idx.pages_at("SEV", z("2026-11-05T02:00"), "warning")
    assert (ans.outcome, ans.reason) == ("notifies", "low urgency for severity 'warning' (severity-based)")


def test_suppressed_reaches_nobody(idx: OnCallIndex) -> None:
    ans = idx.pages_at("SUPP", z("2026-11-05T02:00"), "critical")
    assert (ans.outcome, ans.urgency) == ("nobody", "suppressed")


def test_no_escalation_policy(idx: OnCallIndex) -> None:
    ans = idx.pages_at("NOPOLICY", z("2026-11-05T02:00"), "critical")
    assert (ans.outcome, ans.reason) == ("nobody", "no escalation policy")


def test_nobody_on_call_at_any_level(idx: OnCallIndex) -> None:
    ans = idx.pages_at("EMPTY", z("2026-11-05T02:00"), "critical")
    assert (ans.outcome, ans.reason) == ("nobody", "nobody on call at any level")


def test_invalid_severity_is_rejected(idx: OnCallIndex) -> None:
    ans = idx.pages_at("PAY", z("2026-11-05T02:00"), "page")
    assert ans.outcome == "nobody"
    assert ans.reason is not None and "rejected by the Events API" in ans.reason


def test_unknown_time_zone_is_unknown_not_a_crash(idx: OnCallIndex) -> None:
    ans = idx.pages_at("BADTZ", z("2026-11-05T02:00"))
    assert ans.outcome == "unknown"
    assert ans.reason == "support hours: unknown time zone 'Mars/Olympus'"
    with pytest.raises(ValueError):
        idx.urgency(idx.services["BADTZ"], z("2026-11-05T02:00"))


def test_unknown_service(idx: OnCallIndex) -> None:
    ans = idx.pages_at("NOPE", z("2026-11-05T02:00"))
    assert (ans.outcome, ans.reason) == ("nobody", "unknown PagerDuty service NOPE")


def test_rails_time_zone_name() -> None:
    hours = {**NY_HOURS, "time_zone": "Eastern Time (US & Canada)"}
    assert in_support_hours(hours, z("2026-11-02T14:00"))
    assert not in_support_hours(hours, z("2026-11-02T13:30"))
