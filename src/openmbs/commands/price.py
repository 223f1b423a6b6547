"""`openmbs price`: yield-based measures of a pass-through of a generic pool or a tape.

``openmbs price --price P | --yield Y [pool] [assumptions]`` projects the pool's cash
flows (SIFMA Standard Formulas) and prints price, yield, mortgage yield, average life,
durations and convexity; ``--curve`` adds spread to the curve at the average life and
the Z-spread. ``price`` is a command group: later subcommands (``openmbs price oas``)
attach to :data:`price_app`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from openmbs.commands._output import print_table
from openmbs.commands._pool_options import (
    DEFAULT_ADVANCE,
    POOL_PANEL,
    AbsOpt,
    AdvanceOpt,
    CdrOpt,
    CprOpt,
    LagOpt,
    MdrOpt,
    NoAdvanceOpt,
    PsaOpt,
    SdaOpt,
    SeverityOpt,
    SmmOpt,
    TapeOpt,
    advance_from_flags,
    check_coupons,
    check_flag,
    decimal_warning_help,
    default_from_flags,
    percent_callback,
    prepayment_from_flags,
)
from openmbs.commands.oas import oas
from openmbs.errors import InputError

__all__ = ["price_app", "register"]

price_app = typer.Typer(
    name="price",
    invoke_without_command=True,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_POOL = POOL_PANEL
_QUOTE = "Quote and timing"
_EFFECTIVE = "Effective duration and convexity (rate shifts, re-projection)"


@price_app.callback(invoke_without_command=True)
def price(
    ctx: typer.Context,
    price: Annotated[
        float | None,
        typer.Option(
            "--price", help="Clean price per 100 of current face.", rich_help_panel=_QUOTE
        ),
    ] = None,
    yield_: Annotated[
        float | None,
        typer.Option(
            "--yield",
            help="Bond-equivalent (semi-annual) yield, percent (5.5 = 5.5%).",
            rich_help_panel=_QUOTE,
        ),
    ] = None,
    delay: Annotated[
        int | None,
        typer.Option(
            "--delay",
            help="Payment delay in days AFTER the end of the accrual month (0 = paid at month "
            "end; a 55-day stated delay is --delay 24). Default 0.",
            rich_help_panel=_QUOTE,
        ),
    ] = None,
    stated_delay: Annotated[
        int | None,
        typer.Option(
            "--stated-delay",
            help="Agency stated delay in days (UMBS/Fannie 55, Ginnie I 45, Ginnie II 50); "
            "same as --delay STATED-31.",
            rich_help_panel=_QUOTE,
        ),
    ] = None,
    settle: Annotated[
        str | None,
        typer.Option(
            "--settle",
            help="Settlement date YYYY-MM-DD: the cash flows start with its month and accrued "
            "interest runs (30/360) from the first of the month. Default: the first.",
            rich_help_panel=_QUOTE,
        ),
    ] = None,
    curve: Annotated[
        str | None,
        typer.Option(
            "--curve",
            help='Par curve "TENOR:YIELD%,..." e.g. "1:4.5,2:4.4,5:4.2,10:4.3,30:4.5" '
            "(semi-annual par yields): adds spread to the curve at the WAL and Z-spread.",
            rich_help_panel=_QUOTE,
        ),
    ] = None,
    tape: TapeOpt = None,
    balance: Annotated[
        float,
        typer.Option("--balance", help="Current pool balance.", rich_help_panel=_POOL),
    ] = 1_000_000.0,
    wac: Annotated[
        float,
        typer.Option("--wac", help="Gross WAC, percent" + decimal_warning_help("wac") + ".",
                     callback=percent_callback("wac"), rich_help_panel=_POOL),
    ] = 6.5,
    net_coupon: Annotated[
        float,
        typer.Option(
            "--net-coupon",
            help="Net pass-through coupon, percent" + decimal_warning_help("net-coupon") + ".",
            callback=percent_callback("net-coupon"),
            rich_help_panel=_POOL,
        ),
    ] = 6.0,
    term: Annotated[
        int,
        typer.Option("--term", help="Original term, months.", rich_help_panel=_POOL),
    ] = 360,
    age: Annotated[
        int,
        typer.Option("--age", help="Loan age (WALA), months.", rich_help_panel=_POOL),
    ] = 0,
    smm: SmmOpt = None,
    cpr: CprOpt = None,
    psa: PsaOpt = None,
    abs_: AbsOpt = None,
    mdr: MdrOpt = None,
    cdr: CdrOpt = None,
    sda: SdaOpt = None,
    severity: SeverityOpt = 0.0,
    lag: LagOpt = 0,
    advance: AdvanceOpt = DEFAULT_ADVANCE,
    no_advance: NoAdvanceOpt = False,
    effective: Annotated[
        bool,
        typer.Option(
            "--effective",
            help="Add effective duration and convexity: shift rates +-SHIFT and re-project "
            "the generic pool with the PSA speed scaled by the refinancing S-curve "
            "(needs --psa; yield held, or Z-spread held with --curve).",
            rich_help_panel=_EFFECTIVE,
        ),
    ] = False,
    mortgage_rate: Annotated[
        float | None,
        typer.Option(
            "--mortgage-rate",
            help="Current mortgage rate, percent, for the refinancing incentive WAC - rate "
            "(default: the WAC, no incentive).",
            rich_help_panel=_EFFECTIVE,
        ),
    ] = None,
    shift_bp: Annotated[
        float,
        typer.Option("--shift-bp", help="Rate shift, basis points.", rich_help_panel=_EFFECTIVE),
    ] = 25.0,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print a JSON object (decimals, years)."),
    ] = False,
) -> None:
    """Price or yield of a pass-through and its yield-based risk measures.

    Give --price or --yield. Rates in the output are decimals in --json and percent in
    the table; times are years. SIFMA Standard Formulas: 30/360 timing with the payment
    delay, bond-equivalent yield, mortgage yield 1200[(1+Y/200)^(1/6)-1].
    """
    if ctx.invoked_subcommand is not None:
        return
    # numba and scipy load with the analytics (about a second): imported here, when the
    # command runs, so that `openmbs --help` does not wait for them
    from openmbs.collateral import LoanTape, read_tape
    from openmbs.pricing import (
        GenericPool,
        ParCurve,
        delay_from_stated,
        price_pass_through,
        settle_days_from_date,
    )

    if (price is None) == (yield_ is None):
        raise InputError("give exactly one of --price and --yield")
    if delay is not None and stated_delay is not None:
        raise InputError(f"give --delay ({delay}) or --stated-delay ({stated_delay}), not both")
    delay_days = delay_from_stated(stated_delay) if stated_delay is not None else (delay or 0)
    settle_days = 0
    if settle is not None:
        try:
            settle_date = dt.date.fromisoformat(settle)
        except ValueError:
            raise InputError(f"--settle {settle!r}: expected a date YYYY-MM-DD") from None
        settle_days = settle_days_from_date(settle_date)
    check_flag("severity", severity)
    check_flag("lag", lag)
    if effective and tape is not None:
        raise InputError("--effective works on the generic pool (--balance --wac ...), not --tape")
    if effective and psa is None:
        raise InputError(
            "--effective scales a PSA speed by the refinancing S-curve: give --psa "
            "(not --smm/--cpr/--abs)"
        )
    pool: GenericPool | LoanTape
    if tape is not None:
        pool = read_tape(tape)
        source = str(tape)
    else:
        check_coupons(wac, net_coupon)
        pool = GenericPool(
            balance=balance,
            gross_coupon=wac / 100.0,
            net_coupon=net_coupon / 100.0,
            original_term=term,
            loan_age=age,
        )
        source = (
            f"generic pool {balance:,.2f} WAC {wac:g}% net {net_coupon:g}% term {term} age {age}"
        )
    result = price_pass_through(
        pool,
        prepayment=prepayment_from_flags(smm, cpr, psa, abs_),
        default=default_from_flags(mdr, cdr, sda),
        severity=severity / 100.0,
        lag=lag,
        advance=advance_from_flags(advance, no_advance),
        price=price,
        yield_=None if yield_ is None else yield_ / 100.0,
        delay_days=delay_days,
        settle_days=settle_days,
        curve=ParCurve.parse(curve) if curve is not None else None,
        effective=effective,
        mortgage_rate=None if mortgage_rate is None else mortgage_rate / 100.0,
        shift_bp=shift_bp,
    )
    out = result.as_dict()
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    _print_table(out, source)


def _print_table(out: dict[str, Any], source: str) -> None:
    table = Table(title=f"Pass-through analytics: {source}", show_header=True)
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("price (clean, per 100)", f"{out['price']:.6f}"),
        ("accrued (per 100)", f"{out['accrued']:.6f}"),
        ("full price (per 100)", f"{out['full_price']:.6f}"),
        ("yield (bond-equivalent)", f"{100 * out['yield']:.6f}%"),
        ("mortgage yield (monthly)", f"{100 * out['mortgage_yield']:.6f}%"),
        ("average life (years)", f"{out['average_life']:.4f}"),
        ("Macaulay duration (years)", f"{out['macaulay_duration']:.4f}"),
        ("modified duration (years)", f"{out['modified_duration']:.4f}"),
        ("convexity (years^2)", f"{out['convexity']:.4f}"),
        ("current face", f"{out['balance']:,.2f}"),
        ("delay / settle (days)", f"{out['delay_days']} / {out['settle_days']}"),
    ]
    if "z_spread_bp" in out:
        rows.append(("spread to curve at WAL (bp)", f"{out['spread_to_curve_bp']:.2f}"))
        rows.append(("Z-spread (bp, continuous)", f"{out['z_spread_bp']:.2f}"))
    if "effective_duration" in out:
        shift = f"+-{out['effective_shift_bp']:g} bp"
        rows.append((f"effective duration ({shift})", f"{out['effective_duration']:.4f}"))
        rows.append((f"effective convexity ({shift})", f"{out['effective_convexity']:.4f}"))
    for name, value in rows:
        table.add_row(name, value)
    print_table(table)


def register(app: typer.Typer) -> None:
    """Add ``openmbs price`` (a group: options on the group, subcommands later)."""
    app.add_typer(price_app, name="price")


price_app.command("oas")(oas)
