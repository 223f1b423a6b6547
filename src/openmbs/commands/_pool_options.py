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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openmbs.errors import InputError

if TYPE_CHECKING:
    from openmbs.behaviour import Default, Prepayment

__all__ = [
    "ASSUME_PANEL",
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
    "check_flag",
    "default_from_flags",
    "describe_advance",
    "prepayment_from_flags",
]

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
    typer.Option("--wac", help="Gross WAC, percent (6.5 = 6.5%).", rich_help_panel=POOL_PANEL),
]
NetCouponOpt = Annotated[
    float | None,
    typer.Option("--net-coupon", help="Net pass-through coupon, percent.",
                 rich_help_panel=POOL_PANEL),
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
    typer.Option("--cpr", help="Conditional prepayment rate, percent (6 = 6% CPR).",
                 rich_help_panel=ASSUME_PANEL),
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
    typer.Option("--cdr", help="Constant default rate, percent (2 = 2% CDR).",
                 rich_help_panel=ASSUME_PANEL),
]
SdaOpt = Annotated[
    float | None,
    typer.Option("--sda", help="SDA speed (100 = 100% SDA).", rich_help_panel=ASSUME_PANEL),
]
SeverityOpt = Annotated[
    float,
    typer.Option("--severity", help="Loss severity, percent of the defaulted balance (35 = 35%).",
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
    from openmbs.cashflow import ADVANCE_MODES

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
    from openmbs.behaviour import Prepayment

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
    from openmbs.behaviour import Default

    choice = _one_of("default", mdr=mdr, cdr=cdr, sda=sda)
    if choice is None:
        return None
    kind, value = choice
    if kind == "sda":
        return Default.sda(value)
    return (Default.mdr if kind == "mdr" else Default.cdr)(value / 100.0)
