"""Pool and assumption options shared by the commands that project a pool.

``openmbs project``, ``openmbs price`` (and ``price oas``), ``openmbs deal`` and
``openmbs risk scenarios`` take the same generic-pool flags and the same prepayment,
default and loss flags, in market units (percent; PSA and SDA as speeds). The
declarations live here once, as ``Annotated`` aliases, with the one conversion of
those flags to :class:`~openmbs.behaviour.Prepayment` and
:class:`~openmbs.behaviour.Default`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openmbs.errors import InputError

if TYPE_CHECKING:
    from openmbs.behaviour import Default, Prepayment

__all__ = [
    "ASSUME_PANEL",
    "DECIMAL_LOOKING",
    "DEFAULT_ADVANCE",
    "POOL_PANEL",
    "AbsOpt",
    "AdvanceOpt",
    "AgeOpt",
    "BalanceOpt",
    "CdrOpt",
    "CprOpt",
    "LagOpt",
    "MdrOpt",
    "NetCouponOpt",
    "NoAdvanceOpt",
    "PsaOpt",
    "SdaOpt",
    "SeverityOpt",
    "SmmOpt",
    "TapeOpt",
    "TermOpt",
    "WacOpt",
    "advance_from_flags",
    "check_coupons",
    "check_flag",
    "check_percent",
    "decimal_warning_help",
    "default_from_flags",
    "describe_advance",
    "percent_callback",
    "percent_list_callback",
    "prepayment_from_flags",
    "warn_if_decimal",
]

#: Percent flags, and the value below which a positive value looks like a decimal typed
#: where percent is expected (``--wac 0.065`` is a WAC of 0.065%, not 6.5%): such a
#: value runs, with a one-line warning on stderr. Chosen below any value the market
#: quotes for the flag (mortgage coupons, a severity) or far below the usual (CPR, CDR).
DECIMAL_LOOKING: dict[str, float] = {
    "wac": 0.5,
    "net-coupon": 0.5,
    "cpr": 1.0,
    "cdr": 0.1,
    "severity": 1.0,
}

#: Exclusive upper bounds of the coupon flags (a coupon of 100% or more is refused).
_COUPON_FLAGS = ("wac", "net-coupon")


def decimal_warning_help(flag: str) -> str:
    """The sentence of a percent flag's --help saying when it warns."""
    return f"; a value above 0 and below {DECIMAL_LOOKING[flag]:g} draws a warning (a decimal?)"


def warn_if_decimal(flag: str, value: float | None) -> None:
    """Print one warning line on stderr when ``--flag value`` looks like a decimal.

    ``flag`` is the flag's name without dashes (a key of :data:`DECIMAL_LOOKING`).
    """
    below = DECIMAL_LOOKING.get(flag)
    if value is None or below is None or not (0 < value < below):
        return
    typer.echo(
        f"warning: --{flag} {value:g} is {value:g}%: this flag is in percent "
        f"(did you mean --{flag} {value * 100:g}?); values below {below:g} look like a decimal",
        err=True,
    )


def check_percent(flag: str, value: float | None) -> float | None:
    """Check a percent flag as typed: refuse it out of range, warn if it looks decimal.

    Coupons (``wac``, ``net-coupon``) must be in [0, 100); other rates in [0, 100].
    Used as the flags' typer callback, so every command taking them checks them alike.
    """
    if value is None:
        return None
    if flag in _COUPON_FLAGS:
        if not math.isfinite(value) or not 0 <= value < 100:
            raise InputError(f"--{flag} {value:g}: must be a percent in [0, 100) (6.5 = 6.5%)")
    else:
        check_flag(flag, value)
    warn_if_decimal(flag, value)
    return value


def check_coupons(
    wac: float | None,
    net_coupon: float | None,
    *,
    wac_default: float | None = None,
    net_default: float | None = None,
    source: str = "the default",
) -> None:
    """Refuse a net coupon above the gross WAC (percent), naming the flags as typed.

    A value not given as a flag comes from ``*_default`` (percent), named by ``source``
    (``"the deal's [pool]"``).
    """
    w = wac if wac is not None else wac_default
    n = net_coupon if net_coupon is not None else net_default
    if w is None or n is None or n <= w or (wac is None and net_coupon is None):
        return
    left = f"--net-coupon {n:g}" if net_coupon is not None else f"{source} net coupon {n:g}%"
    right = f"--wac {w:g}" if wac is not None else f"{source} WAC {w:g}%"
    raise InputError(f"{left} must not exceed {right}")


def percent_callback(flag: str) -> Callable[[float | None], float | None]:
    """A typer callback running :func:`check_percent` on ``--flag``'s value."""

    def callback(value: float | None) -> float | None:
        return check_percent(flag, value)

    return callback


def percent_list_callback(flag: str) -> Callable[[str], str]:
    """A typer callback running :func:`check_percent` on each number of a comma list
    (``--cdr 0,1,2``); items that are not numbers are left to the list's own parser."""

    def callback(value: str) -> str:
        for item in (x.strip() for x in value.split(",")):
            try:
                number = float(item)
            except ValueError:
                continue
            check_percent(flag, number)
        return value

    return callback


POOL_PANEL = "Pool (generic, or --tape)"
ASSUME_PANEL = "Prepayment, default and loss (percent; PSA and SDA as speeds)"

TapeOpt = Annotated[
    Path | None,
    typer.Option("--tape", help="Loan tape file (any format `openmbs tape` reads).",
                 rich_help_panel=POOL_PANEL),
]
BalanceOpt = Annotated[
    float | None,
    typer.Option("--balance", help="Current pool balance.", rich_help_panel=POOL_PANEL),
]
WacOpt = Annotated[
    float | None,
    typer.Option("--wac", help="Gross WAC, percent (6.5 = 6.5%)" + decimal_warning_help("wac") + ".",
                 callback=percent_callback("wac"), rich_help_panel=POOL_PANEL),
]
NetCouponOpt = Annotated[
    float | None,
    typer.Option("--net-coupon", help="Net pass-through coupon, percent" + decimal_warning_help("net-coupon")
                 + ".", callback=percent_callback("net-coupon"), rich_help_panel=POOL_PANEL),
]
TermOpt = Annotated[
    int | None, typer.Option("--term", help="Original term, months.", rich_help_panel=POOL_PANEL)
]
AgeOpt = Annotated[
    int | None,
    typer.Option("--age", help="Loan age (WALA), months; remaining term = term - age.",
                 rich_help_panel=POOL_PANEL),
]

SmmOpt = Annotated[
    float | None,
    typer.Option("--smm", help="Single monthly mortality, percent (0.5 = 0.5%).",
                 rich_help_panel=ASSUME_PANEL),
]
CprOpt = Annotated[
    float | None,
    typer.Option("--cpr", help="Conditional prepayment rate, percent (6 = 6% CPR)"
                 + decimal_warning_help("cpr") + ".", callback=percent_callback("cpr"), rich_help_panel=ASSUME_PANEL),
]
PsaOpt = Annotated[
    float | None,
    typer.Option("--psa", help="PSA speed (150 = 150% PSA).", rich_help_panel=ASSUME_PANEL),
]
AbsOpt = Annotated[
    float | None,
    typer.Option("--abs", help="ABS speed, percent (1.5 = 1.5% ABS).",
                 rich_help_panel=ASSUME_PANEL),
]
MdrOpt = Annotated[
    float | None,
    typer.Option("--mdr", help="Monthly default rate, percent.", rich_help_panel=ASSUME_PANEL),
]
CdrOpt = Annotated[
    float | None,
    typer.Option("--cdr", help="Constant default rate, percent (2 = 2% CDR)"
                 + decimal_warning_help("cdr") + ".", callback=percent_callback("cdr"), rich_help_panel=ASSUME_PANEL),
]
SdaOpt = Annotated[
    float | None,
    typer.Option("--sda", help="SDA speed (100 = 100% SDA).", rich_help_panel=ASSUME_PANEL),
]
SeverityOpt = Annotated[
    float,
    typer.Option("--severity", help="Loss severity, percent of the defaulted balance (35 = 35%)"
                 + decimal_warning_help("severity") + ".", callback=percent_callback("severity"),
                 rich_help_panel=ASSUME_PANEL),
]
LagOpt = Annotated[
    int,
    typer.Option("--lag", help="Months from default to liquidation.",
                 rich_help_panel=ASSUME_PANEL),
]
AdvanceOpt = Annotated[
    str,
    typer.Option("--advance", metavar="all|principal|none",
                 help="What the servicer advances on defaulted loans until liquidation: "
                      "'principal' (the SIFMA Standard Formulas' examples: they amortize on "
                      "schedule, their interest is lost), 'all' (P&I, as under an agency "
                      "guarantee) or 'none'.",
                 rich_help_panel=ASSUME_PANEL),
]
NoAdvanceOpt = Annotated[
    bool,
    typer.Option("--no-advance", hidden=True,
                 help="Same as --advance none (the spelling of earlier versions).",
                 rich_help_panel=ASSUME_PANEL),
]

#: The advancing choice of the commands when --advance is not given.
DEFAULT_ADVANCE = "principal"

_ADVANCE_WORDS = {
    "all": "P&I advanced",
    "principal": "principal advanced",
    "none": "no advancing",
}


def advance_from_flags(advance: str, no_advance: bool = False) -> str:
    """The advancing mode of ``--advance MODE`` (and the old ``--no-advance``).

    ``--no-advance`` is ``--advance none``; with any other explicit ``--advance`` it is
    refused as a conflict.
    """
    from openmbs.cashflow import ADVANCE_MODES  # loads numba: not at `openmbs --help`

    mode = advance.strip().lower()
    if mode not in ADVANCE_MODES:
        raise InputError(f"--advance {advance!r}: must be one of all, principal, none")
    if no_advance:
        if mode not in ("none", DEFAULT_ADVANCE):
            raise InputError(f"--no-advance conflicts with --advance {advance}")
        return "none"
    return mode


def describe_advance(mode: str) -> str:
    """Words for an advancing mode in a printed summary of the assumptions."""
    return _ADVANCE_WORDS[mode]


def check_flag(name: str, value: float) -> None:
    """Refuse a flag value outside its range, naming the flag and the value as typed.

    Speeds (``psa``, ``sda``) and ``lag`` must be >= 0; every other rate is a percent
    between 0 and 100.
    """
    speed = name in ("psa", "sda", "lag")
    if not math.isfinite(value) or value < 0 or (not speed and value > 100):
        rng = ">= 0" if speed else "a percent between 0 and 100"
        raise InputError(f"--{name} {value:g}: must be {rng}")


def _one_of(group: str, **flags: float | None) -> tuple[str, float] | None:
    given = [(k, v) for k, v in flags.items() if v is not None]
    if len(given) > 1:
        names = ", ".join(f"--{k}" for k, _ in given)
        raise InputError(f"{group}: give only one of {names}")
    if given:
        check_flag(*given[0])
    return given[0] if given else None


def prepayment_from_flags(
    smm: float | None = None,
    cpr: float | None = None,
    psa: float | None = None,
    abs_: float | None = None,
    *,
    fallback_psa: float | None = None,
) -> Prepayment:
    """A :class:`Prepayment` from CLI market units (percent; PSA as a speed).

    With no flag: ``fallback_psa`` percent of PSA if given, else 0% CPR.
    """
    from openmbs.behaviour import Prepayment  # loads numpy: not at `openmbs --help`

    choice = _one_of("prepayment", smm=smm, cpr=cpr, psa=psa, abs=abs_)
    if choice is None:
        return Prepayment.psa(fallback_psa) if fallback_psa is not None else Prepayment.cpr(0.0)
    kind, value = choice
    if kind == "psa":
        return Prepayment.psa(value)
    ctor = {"smm": Prepayment.smm, "cpr": Prepayment.cpr, "abs": Prepayment.abs}[kind]
    return ctor(value / 100.0)


def default_from_flags(
    mdr: float | None = None, cdr: float | None = None, sda: float | None = None
) -> Default | None:
    """A :class:`Default` (or ``None`` with no flag) from CLI market units."""
    from openmbs.behaviour import Default  # loads numpy: not at `openmbs --help`

    choice = _one_of("default", mdr=mdr, cdr=cdr, sda=sda)
    if choice is None:
        return None
    kind, value = choice
    if kind == "sda":
        return Default.sda(value)
    return (Default.mdr if kind == "mdr" else Default.cdr)(value / 100.0)
