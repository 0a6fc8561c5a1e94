"""The checks, listed explicitly (one module each; ids are constants and unique)."""

from __future__ import annotations

from rules.checks.own000_source_stale import SourceStale
from rules.checks.own001_no_owner import NoOwner
from rules.checks.own002_slo_no_page import SLONoPage
from rules.checks.own003_notifies_nobody import NotifiesNobody
from rules.checks.own004_no_runbook import NoRunbook
from rules.checks.own005_coverage_gap import CoverageGap
from rules.checks.own006_single_point import SinglePointOfFailure
from rules.checks.own007_never_fires import NeverFires
from rules.checks.own008_noisy_alert import NoisyAlert
from rules.checks.own009_queue_unwatched import QueueUnwatched
from rules.checks.own010_slow_query import SlowQueryUnwatched
from rules.checks.own011_no_for import PagingAlertWithoutFor
from rules.checks.own012_ownership_mismatch import OwnershipMismatch
from rules.checks.own013_long_silence import LongSilence
from rules.findings import Check

CHECKS: tuple[type[Check], ...] = (
    SourceStale,
    NoOwner,
    SLONoPage,
    NotifiesNobody,
    NoRunbook,
    CoverageGap,
    SinglePointOfFailure,
    NeverFires,
    NoisyAlert,
    QueueUnwatched,
    SlowQueryUnwatched,
    PagingAlertWithoutFor,
    OwnershipMismatch,
    LongSilence,
)
