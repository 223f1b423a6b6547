"""`openmbs deal run|table|breakeven --advance all|principal|none` reach the projection."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from openmbs.behaviour import Default, Prepayment
from openmbs.cashflow import project_pool
from openmbs.cli import app
from openmbs.pricing import tranche_analytics
from openmbs.structuring import (
    collections_from_projection,
    example_deal,
    run_waterfall,
)

runner = CliRunner()
RUN = ["deal", "run", "senior_sub", "--psa", "100", "--cdr", "2", "--severity", "40", "--lag",
       "6", "--json"]


def _api(advance: str) -> dict[str, float]:
    spec = example_deal("senior_sub")
    p = spec.pool
    cf = project_pool(balance=p.balance, gross_coupon=p.wac, net_coupon=p.net_coupon,
                      original_term=p.term, remaining_term=p.term - p.age, loan_age=p.age,
                      prepayment=Prepayment.psa(100), default=Default.cdr(0.02),
                      severity=0.4, lag=6, advance=advance)  # type: ignore[arg-type]
    res = run_waterfall(spec, collections_from_projection(cf, cleanup_call=spec.cleanup_call),
                        keep="cashflows")
    return {t.name: t.interest for t in tranche_analytics(res)}


@pytest.mark.parametrize("mode", ["all", "principal", "none"])
def test_deal_run_advance_modes_match_the_api(mode: str) -> None:
    r = runner.invoke(app, [*RUN, "--advance", mode])
    assert r.exit_code == 0, r.output
    got = {t["name"]: t["interest"] for t in json.loads(r.output)["tranches"]}
    want = _api(mode)
    assert got == pytest.approx(want, rel=1e-12)


def test_deal_run_default_is_principal_and_modes_differ() -> None:
    r = runner.invoke(app, RUN)
    assert r.exit_code == 0, r.output
    got = {t["name"]: t["interest"] for t in json.loads(r.output)["tranches"]}
    assert got == pytest.approx(_api("principal"), rel=1e-12)
    # the interest lost on defaulted loans is missing from the residual, not advanced
    res = {m: json.loads(runner.invoke(app, [*RUN, "--advance", m]).output)["residual"]
           for m in ("all", "principal")}
    assert json.loads(r.output)["residual"] == pytest.approx(res["principal"], rel=1e-12)
    assert res["all"] > res["principal"] + 1e5


def test_deal_table_and_breakeven_take_advance() -> None:
    t = runner.invoke(app, ["deal", "table", "senior_sub", "--tranche", "SEN", "--price", "100",
                            "--psa", "100", "--cdr", "1", "--severity", "30", "--advance",
                            "none"])
    assert t.exit_code == 0, t.output
    b = runner.invoke(app, ["deal", "breakeven", "senior_sub", "--tranche", "SUB", "--psa", "100",
                            "--severity", "40", "--lag", "6", "--advance", "none", "--json"])
    assert b.exit_code == 0, b.output
