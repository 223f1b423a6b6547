"""What the servicer advances on defaulted loans: ``"all"``, ``"principal"`` or ``"none"``.

The SIFMA Standard Formulas ask for the advancing assumption with every default
assumption (SF-17 f). Three choices:

* ``"principal"``: the Standard Formulas' default cash-flow examples (SF-23 onwards). A
  defaulted loan amortizes on schedule while it waits for liquidation (its scheduled
  principal is advanced, so the balance liquidated is the amortized one) and its
  interest is lost: expected interest is on the performing plus foreclosure balance,
  interest lost on the new defaults plus the foreclosure balance (SF-18 ``INT LOST``).
* ``"all"``: principal and interest advanced (an agency guarantee); nothing is lost
  before liquidation.
* ``"none"``: nothing advanced; the defaulted balance does not amortize and its interest
  is lost.

:func:`advance_mode` turns a caller's value into one of these strings; a ``bool`` (the
spelling of earlier versions) maps ``True`` to ``"all"`` and ``False`` to ``"none"``.
The numeric kernels take the integer codes :data:`ADVANCE_CODES`.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from openmbs.errors import AssumptionError

__all__ = [
    "ADVANCE_ALL",
    "ADVANCE_CODES",
    "ADVANCE_MODES",
    "ADVANCE_NONE",
    "ADVANCE_PRINCIPAL",
    "AdvanceMode",
    "advance_code",
    "advance_mode",
]

#: What the servicer advances on defaulted (and, in the lifecycle, delinquent) loans.
AdvanceMode = Literal["all", "principal", "none"]

#: The three choices, in the order the CLI lists them.
ADVANCE_MODES: Final[tuple[AdvanceMode, ...]] = get_args(AdvanceMode)

#: Kernel codes: nothing, principal only, principal and interest.
ADVANCE_NONE: Final = 0
ADVANCE_PRINCIPAL: Final = 1
ADVANCE_ALL: Final = 2
ADVANCE_CODES: Final[dict[str, int]] = {
    "none": ADVANCE_NONE, "principal": ADVANCE_PRINCIPAL, "all": ADVANCE_ALL,
}


def advance_mode(value: object, *, name: str = "advance") -> AdvanceMode:
    """The advancing choice ``value`` as one of :data:`ADVANCE_MODES`.

    Parameters
    ----------
    value : {"all", "principal", "none"} or bool
        The choice; ``True`` means ``"all"`` and ``False`` ``"none"`` (the meaning of
        the boolean ``advance`` of earlier versions: P&I advanced, or nothing).
    name : str, default "advance"
        The argument's name, for the error message.

    Returns
    -------
    str
        ``"all"``, ``"principal"`` or ``"none"``.

    Raises
    ------
    AssumptionError
        For any other value (the message echoes it).

    Notes
    -----
    SIFMA Standard Formulas SF-17 f (whether P&I are advanced is a required default
    assumption) and SF-18/19 (the amortized default balance with advancing).

    Examples
    --------
    >>> advance_mode("principal"), advance_mode(True), advance_mode(False)
    ('principal', 'all', 'none')
    """
    if isinstance(value, bool):
        return "all" if value else "none"
    if isinstance(value, str):
        v = value.strip().lower()
        for mode in ADVANCE_MODES:
            if v == mode:
                return mode
    raise AssumptionError(
        f"{name} must be one of 'all', 'principal', 'none' (or True = 'all', "
        f"False = 'none'), got {value!r}"
    )


def advance_code(value: object, *, name: str = "advance") -> int:
    """The kernel code (:data:`ADVANCE_CODES`) of an advancing choice."""
    return ADVANCE_CODES[advance_mode(value, name=name)]
