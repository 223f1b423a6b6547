"""`openmbs price oas`: Monte Carlo OAS of a pass-through or of deal tranches.

Registered on the ``price`` group by :mod:`openmbs.commands.price`; also used by
``openmbs risk scenarios`` for the shared pool and deal options.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from openmbs.commands._output import print_table
from openmbs.commands._pool_options import (
    DEFAULT_ADVANCE,
    AdvanceOpt,
    AgeOpt,
    BalanceOpt,
    CdrOpt,
    LagOpt,
    MdrOpt,
    NetCouponOpt,
    NoAdvanceOpt,
    SdaOpt,
    SeverityOpt,
    TapeOpt,
    TermOpt,
    WacOpt,
    advance_from_flags,
    check_coupons,
    check_flag,
    default_from_flags,
)
from openmbs.errors import InputError

if TYPE_CHECKING:
    from openmbs.pricing import PoolLines
    from openmbs.structuring import DealSpec

__all__ = ["DEFAULT_CURVE", "deal_from_arg", "oas", "pool_from_flags"]

# The analytics (openmbs.pricing, structuring, collateral) load numba, scipy and pyarrow,
# seconds on a busy machine: the functions import them when they run, so that
# `openmbs --help` and the other commands do not wait for them.

#: Default par curve (tenor years : semi-annual par yield, percent): an illustrative,
#: gently humped US Treasury-like curve, not a market snapshot.
DEFAULT_CURVE = "1:4.5,2:4.4,3:4.3,5:4.2,7:4.25,10:4.3,20:4.6,30:4.5"

_MODEL = "Rate model and simulation"


def deal_from_arg(deal: str) -> DealSpec:
    """A deal spec from a TOML path or the name of a shipped example deal."""
    from openmbs.structuring import resolve_deal  # heavy: see the module's note

    return resolve_deal(deal)


def pool_from_flags(
    *,
    tape: Path | None,
    balance: float | None,
    wac: float | None,
    net_coupon: float | None,
    term: int | None,
    age: int | None,
    deal: DealSpec | None = None,
) -> tuple[PoolLines, str]:
    """Rep lines from ``--tape`` or the generic flags (percent), filled from the deal's
    pool section, then from the defaults 1,000,000 / 6.5% / 6.0% / 360 / 0."""
    from openmbs.collateral import read_tape  # heavy: see the module's note
    from openmbs.pricing import PoolLines

    if tape is not None:
        if any(v is not None for v in (balance, wac, net_coupon, term, age)):
            raise InputError("give --tape or the generic pool flags, not both")

        lines = PoolLines.from_tape(read_tape(tape))
        return lines, f"tape {tape} ({lines.n_lines} rep lines, {lines.total_balance:,.2f})"
    dp = deal.pool if deal is not None else None

    def pick(flag: Any, from_deal: Any, default: Any) -> Any:
        if flag is not None:
            return flag
        return from_deal if from_deal is not None else default

    check_coupons(
        wac, net_coupon,
        wac_default=dp.wac * 100 if dp and dp.wac is not None else 6.5,
        net_default=dp.net_coupon * 100 if dp and dp.net_coupon is not None else 6.0,
        source="the deal's [pool]" if dp is not None else "the default",
    )
    b = float(pick(balance, dp.balance if dp else None, 1_000_000.0))
    g = float(pick(wac, dp.wac * 100 if dp and dp.wac is not None else None, 6.5)) / 100.0
    n = float(
        pick(net_coupon, dp.net_coupon * 100 if dp and dp.net_coupon is not None else None, 6.0)
    ) / 100.0
    tm = int(pick(term, dp.term if dp else None, 360))
    a = int(pick(age, dp.age if dp else None, 0))
    label = f"generic pool {b:,.2f} WAC {g:.3%} net {n:.3%} term {tm} age {a}"
    return PoolLines.generic(balance=b, wac=g, net_coupon=n, term=tm, age=a), label


def oas(
    price: Annotated[
        float, typer.Option("--price", help="Full price per 100 of current face.")
    ],
    deal: Annotated[
        str | None,
        typer.Option("--deal", help="Deal spec (TOML) or shipped example name: price tranches."),
    ] = None,
    tranche: Annotated[
        list[str] | None,
        typer.Option("--tranche", help="Tranche to price (repeat; default: every tranche)."),
    ] = None,
    tape: TapeOpt = None,
    balance: BalanceOpt = None,
    wac: WacOpt = None,
    net_coupon: NetCouponOpt = None,
    term: TermOpt = None,
    age: AgeOpt = None,
    mdr: MdrOpt = None,
    cdr: CdrOpt = None,
    sda: SdaOpt = None,
    severity: SeverityOpt = 0.0,
    lag: LagOpt = 0,
    advance: AdvanceOpt = DEFAULT_ADVANCE,
    no_advance: NoAdvanceOpt = False,
    paths: Annotated[
        int,
        typer.Option("--paths", help="Monte Carlo paths (even: antithetic pairs).",
                     rich_help_panel=_MODEL),
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.", rich_help_panel=_MODEL)] = 0,
    sigma: Annotated[
        float,
        typer.Option("--sigma", help="Hull-White normal volatility, bp a year (100 = 1%).",
                     rich_help_panel=_MODEL),
    ] = 100.0,
    mean_reversion: Annotated[
        float,
        typer.Option("--mean-reversion", help="Hull-White mean reversion a, per year.",
                     rich_help_panel=_MODEL),
    ] = 0.05,
    curve: Annotated[
        str,
        typer.Option("--curve", help="Par curve TENOR:YIELD% (semi-annual par yields).",
                     rich_help_panel=_MODEL),
    ] = DEFAULT_CURVE,
    mortgage_spread: Annotated[
        float,
        typer.Option("--mortgage-spread-bp",
                     help="Mortgage rate = 10y par rate of the path + this spread (bp).",
                     rich_help_panel=_MODEL),
    ] = 170.0,
    delay: Annotated[
        int,
        typer.Option("--delay", help="Pass-through payment delay, days after the accrual "
                     "month's end (a deal uses its payment_delay_days)."),
    ] = 0,
    shift_bp: Annotated[
        float,
        typer.Option("--shift-bp", help="Curve shift for effective duration/convexity, bp."),
    ] = 25.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Monte Carlo OAS, Z-spread, option cost, effective duration and convexity.

    Hull-White paths (antithetic, seeded) drive the mortgage rate and the refinancing
    prepayment model; defaults (--cdr, --mdr or --sda, with --severity and --lag) follow
    the SIFMA default cash flows as in `openmbs project`; each path's cash flows (through
    the deal's waterfall with --deal) are discounted at the path's short rates + OAS,
    monthly compounding. Spreads in bp.
    """
    from openmbs.pricing import ParCurve, oas_deal, oas_pass_through  # heavy: module note

    check_flag("severity", severity)
    check_flag("lag", lag)
    adv = advance_from_flags(advance, no_advance)

    par = ParCurve.parse(curve)
    zc = par.zero_curve()
    common: dict[str, Any] = {
        "curve": zc,
        "n_paths": paths,
        "seed": seed,
        "sigma": sigma / 10_000.0,
        "mean_reversion": mean_reversion,
        "mortgage_spread_bp": mortgage_spread,
        "shift_bp": shift_bp,
        "default": default_from_flags(mdr, cdr, sda),
        "severity": severity / 100.0,
        "lag": lag,
        "advance": adv,
    }
    if deal is None:
        if tranche:
            raise InputError("--tranche needs --deal")
        pool, label = pool_from_flags(
            tape=tape, balance=balance, wac=wac, net_coupon=net_coupon, term=term, age=age
        )
        results = [oas_pass_through(pool, price=price, delay_days=delay, **common)]
        what = "pass-through"
    else:
        spec = deal_from_arg(deal)
        pool, label = pool_from_flags(
            tape=tape, balance=balance, wac=wac, net_coupon=net_coupon, term=term, age=age,
            deal=spec,
        )
        results = list(
            oas_deal(spec, pool, prices=price, tranches=tranche or None, **common).values()
        )
        what = f"deal {spec.name}"
    if as_json:
        # the curve as decimals, like every rate in JSON (the flag takes percent)
        curve_doc = {"tenor_years": [float(t) for t in par.tenors],
                     "par_yield": [float(y) for y in par.par_yields]}
        typer.echo(json.dumps({"security": what, "pool": label, "curve": curve_doc,
                               "results": [r.as_dict() for r in results]}))
        return
    t = Table(title=f"OAS of {what} ({label}), {paths} paths, sigma {sigma:g} bp, "
              f"a {mean_reversion:g}")
    for col in ("security", "price", "OAS bp", "+-se", "Z bp", "option cost bp",
                "eff dur", "eff cvx", "WAL (zero vol)"):
        t.add_column(col, justify="right")
    for r in results:
        t.add_row(r.name, f"{r.price:.4f}", f"{r.oas_bp:.1f}", f"{r.oas_std_error_bp:.1f}",
                  f"{r.z_spread_bp:.1f}", f"{r.option_cost_bp:.1f}",
                  f"{r.effective_duration:.2f}", f"{r.effective_convexity:.2f}",
                  f"{r.zero_vol_wal:.2f}")
    print_table(t)
