"""`openmbs deal` commands: run a deal's waterfall, price/yield tables, breakevens.

Market units on the command line (say so in --help): ``--psa 150`` (percent of PSA),
``--cpr 6`` (6% a year), ``--smm 0.5`` (0.5% a month), ``--abs 1.5``, ``--cdr 2``,
``--mdr 0.2``, ``--sda 100``, ``--severity 35``, ``--wac 6.5``, ``--net-coupon 6``,
``--index 5``. The Python API takes decimals.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from openmbs.commands._output import print_table
from openmbs.commands._pool_options import (
    DEFAULT_ADVANCE,
    AbsOpt,
    AdvanceOpt,
    AgeOpt,
    BalanceOpt,
    CdrOpt,
    CprOpt,
    LagOpt,
    MdrOpt,
    NetCouponOpt,
    NoAdvanceOpt,
    PsaOpt,
    SdaOpt,
    SeverityOpt,
    SmmOpt,
    TapeOpt,
    TermOpt,
    WacOpt,
    advance_from_flags,
    check_coupons,
    default_from_flags,
    prepayment_from_flags,
)
from openmbs.errors import InputError

if TYPE_CHECKING:
    from openmbs.collateral import LoanTape
    from openmbs.pricing import GenericPool, RepLinePool
    from openmbs.structuring import DealSpec

# The analytics (openmbs.pricing, structuring, collateral) load numba, scipy and pyarrow,
# seconds on a busy machine: each command imports them when it runs, so that
# `openmbs --help` and the other commands do not wait for them.

deal_app = typer.Typer(
    help="Deal structuring: run a waterfall, price/yield tables, breakevens.",
    no_args_is_help=True,
)

_DEAL = typer.Argument(..., help="Deal spec (TOML), or the name of a shipped example deal.")
_IDX = typer.Option(0.0, "--index", help="Floater index rate in percent (5).")
_JSON = typer.Option(False, "--json", help="Print JSON for machines.")
_TRANCHE = typer.Option(..., "--tranche", help="Tranche name.")
_PRICE1 = typer.Option(None, "--price", help="Price per 100 of face, for yield and duration.")
_OUT = typer.Option(None, "--out", help="Write the period table (.csv, .parquet or .json).")
_PRICES = typer.Option(..., "--price", help="Price(s) per 100 of face, comma-separated.")
_SPEEDS = typer.Option("50,100,150,300,500", "--psa", help="PSA speeds (percent), comma-separated.")
_BY = typer.Option("cdr", "--by", help="Solve for 'cdr' (percent a year) or 'sda' (percent of SDA).")


def _load(deal: str) -> DealSpec:
    from openmbs.structuring import resolve_deal  # heavy: see the module's note

    return resolve_deal(deal)


def _pool(
    spec: DealSpec,
    tape: Path | None,
    balance: float | None,
    wac: float | None,
    net: float | None,
    term: int | None,
    age: int | None,
) -> tuple[GenericPool | LoanTape | RepLinePool, str]:
    """The pool of --tape, or the generic pool of the flags (percent) filled from the
    deal's [pool] section; and its label."""
    from openmbs.collateral import pool_stats, read_tape  # heavy: see the module's note
    from openmbs.pricing import GenericPool, RepLinePool

    if tape is not None:
        given = [f for f, v in (("--balance", balance), ("--wac", wac), ("--net-coupon", net),
                                ("--term", term), ("--age", age)) if v is not None]
        if given:
            raise InputError(f"--tape cannot be combined with {', '.join(given)}")
        t = read_tape(tape)
        st = pool_stats(t)
        return t, f"tape {tape} ({len(t)} loans, {st.current_balance:,.2f})"
    p = spec.pool
    if p.replines and all(x is None for x in (balance, wac, net, term, age)):
        return RepLinePool.from_deal(spec), f"{len(p.replines)} rep lines, {RepLinePool.from_deal(spec).balance:,.2f}"
    b = balance if balance is not None else p.balance
    g = wac / 100.0 if wac is not None else p.wac
    n = net / 100.0 if net is not None else p.net_coupon
    tm = term if term is not None else p.term
    a = age if age is not None else p.age
    if b is None or g is None or n is None or tm is None:
        missing = next(f for f, v in (("--balance", b), ("--wac", g), ("--net-coupon", n),
                                  ("--term", tm)) if v is None)
        raise InputError(f"the deal's [pool] has no {missing.strip('-')}: give {missing} or --tape")
    check_coupons(
        wac, net,
        wac_default=None if p.wac is None else p.wac * 100,
        net_default=None if p.net_coupon is None else p.net_coupon * 100,
        source="the deal's [pool]",
    )
    if a >= tm:
        raise InputError(f"--age {a} must be below --term {tm}")
    label = f"generic pool {b:,.2f} WAC {g:.3%} net {n:.3%} term {tm} age {a}"
    return GenericPool(balance=b, gross_coupon=g, net_coupon=n, original_term=tm, loan_age=a), label


def _fmt(x: float, spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


@deal_app.command("run")
def run(
    deal: str = _DEAL,
    tape: TapeOpt = None,
    balance: BalanceOpt = None,
    wac: WacOpt = None,
    net_coupon: NetCouponOpt = None,
    term: TermOpt = None,
    age: AgeOpt = None,
    psa: PsaOpt = None,
    cpr: CprOpt = None,
    smm: SmmOpt = None,
    abs_: AbsOpt = None,
    cdr: CdrOpt = None,
    mdr: MdrOpt = None,
    sda: SdaOpt = None,
    severity: SeverityOpt = 0.0,
    lag: LagOpt = 0,
    advance: AdvanceOpt = DEFAULT_ADVANCE,
    no_advance: NoAdvanceOpt = False,
    index: float = _IDX,
    price: float | None = _PRICE1,
    out: Path | None = _OUT,
    as_json: bool = _JSON,
) -> None:
    """Run the deal's waterfall on a tape or a generic pool and print the tranche table."""
    from openmbs.pricing import run_deal  # heavy: see the module's note
    from openmbs.structuring import period_table, write_table

    spec = _load(deal)
    pool, label = _pool(spec, tape, balance, wac, net_coupon, term, age)
    dr = run_deal(
        spec,
        pool,
        prepayment=prepayment_from_flags(smm, cpr, psa, abs_, fallback_psa=100.0),
        default=default_from_flags(mdr, cdr, sda),
        severity=severity / 100.0,
        lag=lag,
        advance=advance_from_flags(advance, no_advance),
        index_rate=index / 100.0,
        price=price,
    )
    if out is not None:
        write_table(period_table(dr.result), str(out))
    if as_json:
        doc = dr.as_dict()
        doc.update({"pool": label, "out": str(out) if out is not None else None})
        typer.echo(json.dumps(doc))
        return
    table = Table(title=f"{dr.deal.name}: {label}")
    for col in ("tranche", "face", "WAL (y)", "window", "yield %", "mod dur", "loss", "interest"):
        table.add_column(col, justify="right")
    for r in dr.tranches:
        table.add_row(
            r.name,
            _fmt(r.face, ",.2f"),
            _fmt(r.wal, ".2f"),
            f"{r.first}-{r.last}" if r.first else "-",
            _fmt(r.yield_ * 100.0, ".3f"),
            _fmt(r.modified_duration, ".2f"),
            _fmt(r.loss, ",.2f"),
            _fmt(r.interest, ",.2f"),
        )
    lines: list[Any] = [table, f"residual ({dr.deal.residual}): {dr.residual:,.2f}"]
    if out is not None:
        lines.append(f"period table written to {out}")
    print_table(*lines)


def _floats(text: str, flag: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{flag} must be a comma-separated list of numbers, got {text!r}") from None


def _check_tranche(spec: DealSpec, tranche: str) -> None:
    names = [t.name for t in spec.tranches]
    if tranche not in names:
        raise InputError(f"--tranche {tranche!r} is not in the deal ({', '.join(names)})")


@deal_app.command("table")
def table_cmd(
    deal: str = _DEAL,
    tranche: str = _TRANCHE,
    price: str = _PRICES,
    psa: str = _SPEEDS,
    tape: TapeOpt = None,
    balance: BalanceOpt = None,
    wac: WacOpt = None,
    net_coupon: NetCouponOpt = None,
    term: TermOpt = None,
    age: AgeOpt = None,
    cdr: CdrOpt = None,
    mdr: MdrOpt = None,
    sda: SdaOpt = None,
    severity: SeverityOpt = 0.0,
    lag: LagOpt = 0,
    advance: AdvanceOpt = DEFAULT_ADVANCE,
    no_advance: NoAdvanceOpt = False,
    index: float = _IDX,
    as_json: bool = _JSON,
) -> None:
    """Price/yield table of one tranche: yield, WAL and modified duration at each speed."""
    from openmbs.pricing import deal_price_yield_table  # heavy: see the module's note

    spec = _load(deal)
    pool, _ = _pool(spec, tape, balance, wac, net_coupon, term, age)
    _check_tranche(spec, tranche)
    speeds = _floats(psa, "--psa")
    prices = _floats(price, "--price")
    grid = deal_price_yield_table(
        spec, pool, tranche, prices=prices, psa=speeds,
        default=default_from_flags(mdr, cdr, sda), severity=severity / 100.0, lag=lag,
        advance=advance_from_flags(advance, no_advance), index_rate=index / 100.0,
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "deal": spec.name,
                    "tranche": tranche,
                    "psa": speeds,
                    "rows": [
                        {"price": p, "cells": [c.as_dict() for c in row]} for p, row in zip(prices, grid, strict=True)
                    ],
                }
            )
        )
        return
    t = Table(title=f"{spec.name} {tranche}: yield % at each PSA speed")
    t.add_column("price", justify="right")
    for s in speeds:
        t.add_column(f"{s:g} PSA", justify="right")
    for p, row in zip(prices, grid, strict=True):
        t.add_row(f"{p:g}", *[_fmt(c.yield_ * 100.0, ".3f") for c in row])
    t.add_row("WAL (y)", *[_fmt(c.wal, ".2f") for c in grid[0]])
    t.add_row("mod dur", *[_fmt(c.modified_duration, ".2f") for c in grid[0]])
    t.add_row("window", *[f"{c.first}-{c.last}" if c.first else "-" for c in grid[0]])
    print_table(t)


@deal_app.command("breakeven")
def breakeven_cmd(
    deal: str = _DEAL,
    tranche: str = _TRANCHE,
    by: str = _BY,
    tape: TapeOpt = None,
    balance: BalanceOpt = None,
    wac: WacOpt = None,
    net_coupon: NetCouponOpt = None,
    term: TermOpt = None,
    age: AgeOpt = None,
    psa: PsaOpt = None,
    cpr: CprOpt = None,
    smm: SmmOpt = None,
    abs_: AbsOpt = None,
    severity: SeverityOpt = 0.0,
    lag: LagOpt = 0,
    advance: AdvanceOpt = DEFAULT_ADVANCE,
    no_advance: NoAdvanceOpt = False,
    as_json: bool = _JSON,
) -> None:
    """The default rate (CDR or SDA speed) at which a tranche takes its first unit of loss.

    The table prints a CDR in percent; --json gives it as a decimal under "cdr" (an SDA
    speed, percent of SDA, under "sda").
    """
    from openmbs.pricing import deal_breakeven  # heavy: see the module's note

    if by not in ("cdr", "sda"):
        raise InputError(f"--by must be 'cdr' or 'sda', got {by!r}")
    if severity <= 0:
        raise InputError("a breakeven needs a loss severity: give --severity (percent, e.g. 35)")
    spec = _load(deal)
    pool, label = _pool(spec, tape, balance, wac, net_coupon, term, age)
    _check_tranche(spec, tranche)
    value = deal_breakeven(
        spec, pool, tranche, by="cdr" if by == "cdr" else "sda",
        prepayment=prepayment_from_flags(smm, cpr, psa, abs_, fallback_psa=100.0),
        severity=severity / 100.0, lag=lag, advance=advance_from_flags(advance, no_advance),
    )
    if as_json:
        typer.echo(json.dumps({"deal": spec.name, "tranche": tranche, "by": by, by: value}))
        return
    shown = f"CDR % = {100.0 * value:.4f}" if by == "cdr" else f"SDA % = {value:.4f}"
    typer.echo(f"{spec.name} {tranche}: breakeven {shown} ({label})")


_DEC_SPEEDS = typer.Option(
    "0,100,150,250,400,500", "--psa", help="PSA speeds (percent of PSA), comma-separated."
)
_DEC_CLASSES = typer.Option(None, "--tranche", help="Only these classes (comma-separated).")


@deal_app.command("decrement")
def decrement_cmd(
    deal: str = _DEAL,
    psa: str = _DEC_SPEEDS,
    tranche: str | None = _DEC_CLASSES,
    as_json: bool = _JSON,
) -> None:
    """Prospectus decrement table: percent of original balance outstanding at each
    anniversary, per class and constant PSA speed, and the weighted average life (years
    from settlement, on net reductions of class balance). The collateral is the deal's
    [pool] (its rep lines, and any pricing override at a speed)."""
    from openmbs.structuring import decrement_table

    spec = _load(deal)
    speeds = _floats(psa, "--psa")
    tab = decrement_table(spec, speeds)
    wanted = list(tab.names)
    if tranche is not None:
        wanted = [x.strip() for x in tranche.split(",") if x.strip()]
        for name in wanted:
            if name not in tab.names:
                raise InputError(f"--tranche {name!r} is not in the deal ({', '.join(tab.names)})")
    if as_json:
        data = tab.as_dict()
        classes = data["classes"]
        assert isinstance(classes, dict)
        data["classes"] = {k: v for k, v in classes.items() if k in wanted}
        typer.echo(json.dumps(data))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=132)
    heads = [f"{s:g}%" for s in tab.psa]
    for name in wanted:
        i = tab.names.index(name)
        t = Table(title=f"{tab.deal} class {name}: percent of original balance outstanding (PSA)")
        t.add_column("distribution date", justify="left")
        for h in heads:
            t.add_column(h, justify="right")
        t.add_row("Initial percent", *["100"] * len(heads))
        for k, d in enumerate(tab.dates):
            t.add_row(d.strftime("%B %Y"), *[tab.cell(s, k, i) for s in range(len(tab.psa))])
        t.add_row("WAL (years)", *[_fmt(float(tab.wal[s, i]), ".1f") for s in range(len(tab.psa))])
        console.print(t)


@deal_app.command("show")
def show(deal: str = _DEAL) -> None:
    """Validate a deal spec and print its classes as compiled (base units)."""
    from openmbs.structuring import compile_exact  # heavy: see the module's note

    spec = _load(deal)
    d = compile_exact(spec)
    typer.echo(f"{spec.name}: {spec.description}")
    typer.echo(f"settlement asset {spec.asset.symbol} ({d.decimals} decimals); pool {d.pool_original} units")
    for i, name in enumerate(d.names):
        typer.echo(f"  {name:<8} priority {d.priority[i]:>2}  face {d.face[i]:>20}  rate(WAD) {d.rate[i]}")
    for g, gname in enumerate(d.group_names):
        members = ", ".join(d.names[d.grp_members[q]] for q in range(d.grp_start[g], d.grp_end[g]))
        sched = d.grp_schedule[g]
        plan = f"planned balance for {len(sched)} periods, first {sched[0]}" if sched else "no schedule"
        mode = "sequential" if d.grp_mode[g] == 0 else "pro rata"
        typer.echo(f"  group {gname}: {members} ({mode}); {plan}")
    if d.program:
        typer.echo(f"  rules: {len(d.program) // 4} instructions; principal {d.principal_prog}")
    from openmbs.structuring import chain_unsupported

    missing = chain_unsupported(d)
    if missing:
        typer.echo(f"  not runnable on chain yet: {'; '.join(missing)}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(deal_app, name="deal")
