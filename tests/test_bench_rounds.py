"""The benchmark runner's rounds (`python -m bench --repeat N`): each phase's figure is its median round."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(REPO_ROOT))

from bench.__main__ import _median_round, _phase_s, main  # noqa: E402


def _run(wall: float, documents: float = 0.0) -> dict[str, float]:
    return {"wall_s": wall, "documents_s": documents}


def test_a_phase_figure_leaves_out_the_documents() -> None:
    assert _phase_s(_run(7.5, 2.0)) == 5.5


def test_the_median_round_is_the_middle_figure_and_the_lower_middle_of_an_even_number() -> None:
    runs = [_run(11.0), _run(9.0), _run(10.0)]
    assert _median_round(runs) is runs[2]
    four = [_run(4.0), _run(1.0), _run(3.0), _run(2.0)]
    assert _median_round(four) is four[3]
    one = [_run(3.0)]
    assert _median_round(one) is one[0]
    # a snapshot round is ranked by its figure (without its documents), not its process's whole wall time
    snaps = [_run(9.0, 5.0), _run(6.0, 0.5), _run(7.0, 1.0)]
    assert _median_round(snaps) is snaps[1]  # figures 4.0, 5.5, 6.0 (whole walls: 9.0, 6.0, 7.0)


def test_fewer_than_one_round_is_refused() -> None:
    with pytest.raises(SystemExit) as e:
        main(["--repeat", "0"])
    assert e.value.code == 2
