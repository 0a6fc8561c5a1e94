"""/api/v1/snapshots and /api/v1/sources: collection history, and each source's status and staleness."""

from __future__ import annotations

from fastapi import APIRouter

from agent.api.deps import API_PREFIX, PageDep, StateDep, ViewDep, paginate
from agent.api.models import Page, SnapshotInfo, SourceHealth

router = APIRouter(prefix=API_PREFIX, tags=["snapshots"])


@router.get("/snapshots", response_model=Page[SnapshotInfo], summary="Stored snapshots, newest first")
def list_snapshots(state: StateDep, page: PageDep) -> Page[SnapshotInfo]:
    current = state.view.id if state.view is not None else None
    rows = state.history(page.offset + page.limit + 1)
    items = [SnapshotInfo(id=i, taken_at=t, now=n, current=i == current) for i, t, n in rows]
    return paginate(items, page)


@router.get(
    "/sources", response_model=Page[SourceHealth], summary="Each source of the served snapshot: status, staleness"
)
def list_sources(view: ViewDep, page: PageDep) -> Page[SourceHealth]:
    items = []
    for res in view.snapshot.sources:
        st = res.status
        items.append(
            SourceHealth(
                name=st.name,
                kind=st.kind,
                state="failed" if not st.ok else ("stale" if st.stale else "ok"),
                ok=st.ok,
                stale=st.stale,
                collected_at=st.collected_at,
                last_success_at=st.last_success_at,
                age_s=max(0.0, (view.now - st.last_success_at).total_seconds()) if st.last_success_at else None,
                duration_s=st.duration_s,
                error=st.error,
                detail=st.detail,
            )
        )
    return paginate(items, page)
