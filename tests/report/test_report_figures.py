"""report.html's figures: every axis has a title, balance and factor are not drawn on top
of each other, and the final (clean-up) month is not a 100% CPR."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from openmbs.report import pool_series
from openmbs.report._html import _figures


def _load(out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    return json.loads((out / "closing.json").read_text()), json.loads((out / "lifecycle.json").read_text())


def _used_axes(fig: Any) -> set[str]:
    """Layout names of the axes the traces are drawn on (``xaxis``, ``yaxis2``, ...)."""
    used = set()
    for t in fig.data:
        for ref in (t.xaxis or "x", t.yaxis or "y"):
            used.add(ref[0] + "axis" + ref[1:])
    return used


def test_every_axis_has_a_title(cleanup_run: Path) -> None:
    closing, life = _load(cleanup_run)
    figs = _figures(closing, life)
    assert len(figs) >= 6
    for key, fig in figs:
        used = _used_axes(fig)
        assert {"xaxis", "yaxis"} <= used, key
        for name in used:
            assert fig.layout[name].title.text, (key, name)


def test_balance_and_factor_not_on_one_figure(cleanup_run: Path) -> None:
    """The pool factor is the balance over a constant: on twin axes the two curves
    coincide. No figure may hold both."""
    closing, life = _load(cleanup_run)
    for key, fig in _figures(closing, life):
        names = {t.name for t in fig.data}
        assert not ({"pool balance", "pool factor"} <= names), key


def test_final_month_is_not_a_prepayment_speed(cleanup_run: Path) -> None:
    closing, life = _load(cleanup_run)
    s = pool_series(life, int(closing["decimals"]))
    reps = life["reports"]
    assert reps[-1]["ending_balance"] == 0 and len(reps) < 360  # the clean-up call ended it
    last = s["cpr"][-1]
    assert last is None or math.isnan(last)
    # the months before keep their speeds (and are below 100%)
    assert all(0 <= x < 1 for x in s["cpr"][:-1])
