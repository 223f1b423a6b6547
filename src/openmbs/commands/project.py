"""`openmbs project`: project a tape or a generic pool under SIFMA assumptions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from openmbs.commands._output import print_table
from openmbs.commands._pool_options import (
    DEFAULT_ADVANCE,
    POOL_PANEL,
    AbsOpt,
    AdvanceOpt,
    BalanceOpt,
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
    WacOpt,
    advance_from_flags,
    check_coupons,
    check_flag,
    decimal_warning_help,
    default_from_flags,
    describe_advance,
    percent_callback,
    prepayment_from_flags,
)
from openmbs.errors import InputError

if TYPE_CHECKING:
    from openmbs.cashflow import PoolCashflows

_FORMAT_HELP = (
    "Tape format: canonical-csv, parquet, freddie-sflld, freddie-sflld-csv, "
    "umbs-disclosure (default: detected from the file)."
)


def summary_rows(cf: PoolCashflows) -> list[tuple[str, str]]:
    """Headline figures of a projection (:meth:`PoolCashflows.totals`), formatted for a
    two-column table; shares of the starting balance in percent."""
    t = cf.totals()
    ob = cf.original_balance
    return [
        ("starting balance", f"{ob:,.2f}"),
        ("periods (months)", f"{cf.n_periods} (last cash flow in month {t.last_period})"),
        ("principal paid", f"{t.principal:,.2f}"),
        ("  voluntary prepayments", f"{t.voluntary_prepayment:,.2f}"),
        ("  scheduled amortization", f"{t.scheduled_amortization:,.2f}"),
        ("  recoveries", f"{t.recovery:,.2f}"),
        ("defaults", f"{t.new_default:,.2f} ({t.new_default / ob:.3%})"),
        ("losses", f"{t.loss:,.2f} ({t.loss / ob:.3%})"),
        ("gross interest", f"{t.actual_interest:,.2f}"),
        ("servicing fee", f"{t.servicing_fee:,.2f}"),
        ("net interest", f"{t.net_interest:,.2f}"),
        ("lost interest", f"{t.lost_interest:,.2f}"),
        ("total cash flow", f"{t.cash_flow:,.2f}"),
        ("weighted average life", f"{t.wal:.3f} years"),
    ]


def print_summary(cf: PoolCashflows, title: str, assumptions: str) -> None:
    """Print the headline figures and the first months of a projection (rich)."""
    table = Table(title=title, caption=assumptions, show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in summary_rows(cf):
        table.add_row(label, value)
    months = Table(title="First months")
    cols = ("period", "beginning_balance", "voluntary_prepayment", "actual_amortization",
            "new_default", "loss", "net_interest", "principal", "cash_flow", "factor")
    for name in cols:
        months.add_column(name.replace("_", " "), justify="right")
    for k in range(min(6, cf.n_periods)):
        row: list[Any] = [getattr(cf, c)[k] for c in cols]
        months.add_row(str(int(row[0])), *[f"{x:,.2f}" for x in row[1:-1]], f"{row[-1]:.6f}")
    print_table(table, months)


def project(
    tape: TapeOpt = None,
    format: Annotated[
        str | None, typer.Option("--format", help=_FORMAT_HELP, rich_help_panel=POOL_PANEL)
    ] = None,
    balance: BalanceOpt = None,
    wac: WacOpt = None,
    net_coupon: Annotated[
        float | None,
        typer.Option(
            "--net-coupon",
            help="Net pass-through coupon in percent (default: the WAC, no fee)"
            + decimal_warning_help("net-coupon") + ".",
            callback=percent_callback("net-coupon"),
            rich_help_panel=POOL_PANEL,
        ),
    ] = None,
    term: Annotated[
        int, typer.Option("--term", help="Original term, months.", rich_help_panel=POOL_PANEL)
    ] = 360,
    age: Annotated[
        int,
        typer.Option(
            "--age", help="Loan age (WALA), months; remaining term = term - age.",
            rich_help_panel=POOL_PANEL,
        ),
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
    method: Annotated[
        str,
        typer.Option("--method", help="Tape projection: 'loan' (every loan) or 'repline' "
                     "(grouped by rate, term and age buckets)."),
    ] = "loan",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the monthly table to FILE.csv, .parquet or .json."),
    ] = None,
) -> None:
    """Project pool cash flows (SIFMA Standard Formulas) and print a summary.

    Rates are in market units: percent for --wac, --net-coupon, --smm, --cpr, --abs,
    --mdr, --cdr and --severity; speeds for --psa and --sda.
    """
    # numba and pyarrow load with the cash-flow engine (seconds on a busy machine):
    # imported when the command runs, so that `openmbs --help` does not wait for them
    from openmbs.cashflow import OUTPUT_FORMATS, project_pool, project_tape, write_projection
    from openmbs.collateral import read_tape

    pool_flags = {"--balance": balance, "--wac": wac, "--net-coupon": net_coupon}
    if tape is not None:
        given = [k for k, v in pool_flags.items() if v is not None]
        if given:
            raise InputError(f"--tape cannot be combined with {', '.join(given)}")
    elif balance is None or wac is None:
        raise InputError("give --tape FILE, or a generic pool with --balance and --wac")
    if tape is None and format is not None:
        raise InputError("--format only applies with --tape")
    if method not in ("loan", "repline"):
        raise InputError(f"--method must be 'loan' or 'repline', got {method!r}")
    if out is not None and out.suffix.lower() not in OUTPUT_FORMATS:
        raise InputError(
            f"--out {out}: unknown suffix {out.suffix!r}, expected .csv, .parquet or .json"
        )
    check_flag("severity", severity)
    check_flag("lag", lag)
    check_coupons(wac, net_coupon)
    adv = advance_from_flags(advance, no_advance)
    prepayment = prepayment_from_flags(smm, cpr, psa, abs_)
    default = default_from_flags(mdr, cdr, sda)
    kw: dict[str, Any] = {
        "prepayment": prepayment,
        "default": default,
        "severity": severity / 100.0,
        "lag": lag,
        "advance": adv,
    }
    if tape is not None:
        loan_tape = read_tape(tape, format=format)
        cf = project_tape(loan_tape, method=method, **kw)  # type: ignore[arg-type]
        title = f"Projection of {tape.name}: {len(loan_tape):,} loans ({method})"
    else:
        if balance is None or wac is None:  # already refused above; narrows the types
            raise InputError("give --tape FILE, or --balance and --wac")
        cf = project_pool(
            balance=balance,
            gross_coupon=wac / 100.0,
            net_coupon=(wac if net_coupon is None else net_coupon) / 100.0,
            original_term=term,
            remaining_term=term - age,
            loan_age=age,
            **kw,
        )
        title = f"Projection of a generic pool: WAC {wac:g}%, term {term}, age {age}"
    assumptions = (
        f"{prepayment.describe()}, "
        + (default.describe() if default is not None else "no defaults")
        + f", severity {severity:g}%, lag {lag} months, "
        + describe_advance(adv)
    )
    print_summary(cf, title, assumptions)
    if out is not None:
        write_projection(cf, out)
        typer.echo(f"wrote {cf.n_periods} periods to {out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("project")(project)
