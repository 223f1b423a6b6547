"""`openmbs project`: project a tape or a generic pool under SIFMA assumptions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openmbs.errors import InputError

if TYPE_CHECKING:
    from openmbs.behaviour import Default, Prepayment
    from openmbs.cashflow import PoolCashflows

_FORMAT_HELP = (
    "Tape format: canonical-csv, parquet, freddie-sflld, freddie-sflld-csv, "
    "umbs-disclosure (default: detected from the file)."
)
_POOL = "Generic pool (instead of --tape)"
_PREPAY = "Prepayment (one of; default 0% CPR)"
_DEFAULT = "Default (one of; default none)"
_LOSS = "Loss and servicing"


def _one_of(group: str, **flags: float | None) -> tuple[str, float] | None:
    given = [(k, v) for k, v in flags.items() if v is not None]
    if len(given) > 1:
        names = ", ".join(f"--{k.replace('_', '-')}" for k, _ in given)
        raise InputError(f"{group}: give only one of {names}")
    return given[0] if given else None


def _check_flag(name: str, value: float) -> None:
    """Refuse a rate outside its range, naming the flag and the value as typed."""
    import math

    speed = name in ("psa", "sda", "lag")
    if not math.isfinite(value) or value < 0 or (not speed and value > 100):
        rng = ">= 0" if speed else "a percent between 0 and 100"
        raise InputError(f"--{name} {value:g}: must be {rng}")


def build_prepayment(
    smm: float | None = None,
    cpr: float | None = None,
    psa: float | None = None,
    abs_: float | None = None,
) -> Prepayment:
    """A :class:`Prepayment` from CLI market units (percent; PSA as a speed)."""
    from openmbs.behaviour import Prepayment

    choice = _one_of("prepayment", smm=smm, cpr=cpr, psa=psa, abs=abs_)
    if choice is None:
        return Prepayment.cpr(0.0)
    kind, value = choice
    _check_flag(kind, value)
    if kind == "psa":
        return Prepayment.psa(value)
    ctor = {"smm": Prepayment.smm, "cpr": Prepayment.cpr, "abs": Prepayment.abs}[kind]
    return ctor(value / 100.0)


def build_default(
    mdr: float | None = None, cdr: float | None = None, sda: float | None = None
) -> Default | None:
    """A :class:`Default` (or ``None``) from CLI market units (percent; SDA as a speed)."""
    from openmbs.behaviour import Default

    choice = _one_of("default", mdr=mdr, cdr=cdr, sda=sda)
    if choice is None:
        return None
    kind, value = choice
    _check_flag(kind, value)
    if kind == "sda":
        return Default.sda(value)
    return (Default.mdr if kind == "mdr" else Default.cdr)(value / 100.0)


def summary_rows(cf: PoolCashflows) -> list[tuple[str, str]]:
    """Headline figures of a projection, formatted for a two-column table."""
    import numpy as np

    prin = float(cf.principal.sum())
    periods = cf.period.astype(np.float64)
    wal = float((periods * cf.principal).sum() / prin / 12.0) if prin > 0 else float("nan")
    ob = cf.original_balance
    last = int(np.flatnonzero(cf.cash_flow > 0)[-1]) + 1 if np.any(cf.cash_flow > 0) else 0
    return [
        ("starting balance", f"{ob:,.2f}"),
        ("periods (months)", f"{cf.n_periods} (last cash flow in month {last})"),
        ("principal paid", f"{prin:,.2f}"),
        ("  voluntary prepayments", f"{cf.voluntary_prepayment.sum():,.2f}"),
        ("  scheduled amortization", f"{(cf.actual_amortization + cf.amortization_from_defaults).sum():,.2f}"),
        ("  recoveries", f"{cf.recovery.sum():,.2f}"),
        ("defaults", f"{cf.new_default.sum():,.2f} ({cf.new_default.sum() / ob:.3%})"),
        ("losses", f"{cf.loss.sum():,.2f} ({cf.loss.sum() / ob:.3%})"),
        ("gross interest", f"{cf.actual_interest.sum():,.2f}"),
        ("servicing fee", f"{cf.servicing_fee.sum():,.2f}"),
        ("net interest", f"{cf.net_interest.sum():,.2f}"),
        ("lost interest", f"{cf.lost_interest.sum():,.2f}"),
        ("total cash flow", f"{cf.cash_flow.sum():,.2f}"),
        ("weighted average life", f"{wal:.3f} years"),
    ]


def print_summary(cf: PoolCashflows, title: str, assumptions: str) -> None:
    """Print the headline figures and the first months of a projection (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=title, caption=assumptions, show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value in summary_rows(cf):
        table.add_row(label, value)
    console.print(table)
    months = Table(title="First months")
    cols = ("period", "beginning_balance", "voluntary_prepayment", "actual_amortization",
            "new_default", "loss", "net_interest", "principal", "cash_flow", "factor")
    for name in cols:
        months.add_column(name.replace("_", " "), justify="right")
    for k in range(min(6, cf.n_periods)):
        row: list[Any] = [getattr(cf, c)[k] for c in cols]
        months.add_row(str(int(row[0])), *[f"{x:,.2f}" for x in row[1:-1]], f"{row[-1]:.6f}")
    console.print(months)


def project(
    tape: Annotated[
        Path | None, typer.Option("--tape", help="Loan tape to project loan by loan.")
    ] = None,
    format: Annotated[str | None, typer.Option("--format", help=_FORMAT_HELP)] = None,
    balance: Annotated[
        float | None, typer.Option("--balance", help="Current balance.", rich_help_panel=_POOL)
    ] = None,
    wac: Annotated[
        float | None,
        typer.Option("--wac", help="Gross coupon in percent (6.5 = 6.5%).", rich_help_panel=_POOL),
    ] = None,
    net_coupon: Annotated[
        float | None,
        typer.Option(
            "--net-coupon",
            help="Net pass-through coupon in percent (default: the WAC, no fee).",
            rich_help_panel=_POOL,
        ),
    ] = None,
    term: Annotated[
        int, typer.Option("--term", help="Original term, months.", rich_help_panel=_POOL)
    ] = 360,
    age: Annotated[
        int,
        typer.Option(
            "--age", help="Loan age (WALA), months; remaining term = term - age.",
            rich_help_panel=_POOL,
        ),
    ] = 0,
    smm: Annotated[
        float | None,
        typer.Option("--smm", help="Single monthly mortality, percent (0.5 = 0.5%).",
                     rich_help_panel=_PREPAY),
    ] = None,
    cpr: Annotated[
        float | None,
        typer.Option("--cpr", help="Conditional prepayment rate, percent (6 = 6% CPR).",
                     rich_help_panel=_PREPAY),
    ] = None,
    psa: Annotated[
        float | None,
        typer.Option("--psa", help="PSA speed (150 = 150% PSA).", rich_help_panel=_PREPAY),
    ] = None,
    abs_: Annotated[
        float | None,
        typer.Option("--abs", help="ABS speed, percent (1.5 = 1.5% ABS).",
                     rich_help_panel=_PREPAY),
    ] = None,
    mdr: Annotated[
        float | None,
        typer.Option("--mdr", help="Monthly default rate, percent.", rich_help_panel=_DEFAULT),
    ] = None,
    cdr: Annotated[
        float | None,
        typer.Option("--cdr", help="Constant default rate, percent (2 = 2% CDR).",
                     rich_help_panel=_DEFAULT),
    ] = None,
    sda: Annotated[
        float | None,
        typer.Option("--sda", help="SDA speed (100 = 100% SDA).", rich_help_panel=_DEFAULT),
    ] = None,
    severity: Annotated[
        float,
        typer.Option("--severity", help="Loss severity, percent of the defaulted balance "
                     "(35 = 35%).", rich_help_panel=_LOSS),
    ] = 0.0,
    lag: Annotated[
        int,
        typer.Option("--lag", help="Months from default to liquidation.", rich_help_panel=_LOSS),
    ] = 0,
    advance: Annotated[
        bool,
        typer.Option("--advance/--no-advance",
                     help="Servicer advances principal and interest on defaulted loans.",
                     rich_help_panel=_LOSS),
    ] = True,
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
    if out is not None:
        from openmbs.cashflow import OUTPUT_FORMATS

        if out.suffix.lower() not in OUTPUT_FORMATS:
            raise InputError(
                f"--out {out}: unknown suffix {out.suffix!r}, expected .csv, .parquet or .json"
            )
    _check_flag("severity", severity)
    _check_flag("lag", lag)
    prepayment = build_prepayment(smm, cpr, psa, abs_)
    default = build_default(mdr, cdr, sda)
    kw: dict[str, Any] = {
        "prepayment": prepayment,
        "default": default,
        "severity": severity / 100.0,
        "lag": lag,
        "advance": advance,
    }
    if tape is not None:
        from openmbs.cashflow import project_tape
        from openmbs.collateral import read_tape

        loan_tape = read_tape(tape, format=format)
        cf = project_tape(loan_tape, method=method, **kw)  # type: ignore[arg-type]
        title = f"Projection of {tape.name}: {len(loan_tape):,} loans ({method})"
    else:
        from openmbs.cashflow import project_pool

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
        + ("P&I advanced" if advance else "no advancing")
    )
    print_summary(cf, title, assumptions)
    if out is not None:
        from openmbs.cashflow import write_projection

        write_projection(cf, out)
        typer.echo(f"wrote {cf.n_periods} periods to {out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("project")(project)
