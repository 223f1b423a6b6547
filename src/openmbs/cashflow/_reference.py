"""Plain-Python reference projection, written line by line from the SIFMA text.

This is a slow, literal transcription of the Standard Formulas' default cash-flow
section (SF-18/19) for one level-pay loan or generic pool, in currency and with the
scheduled-balance ratio ``SCH AM(i) / SCH AM(i-1)`` of SF-4. It shares no code with the
numba kernels (which use a different, division-free formulation), so the two check each
other, and it is the plain-Python baseline of ``benchmarks/bench_cashflow.py``.
"""

from __future__ import annotations

__all__ = ["reference_loan"]


def _sched(balance: float, c: float, term: int) -> list[float]:
    """Scheduled balances SCH(0..term) of a level-pay loan (SF-4, BAL times balance)."""
    out = []
    for k in range(term + 1):
        if c == 0.0:
            out.append(balance * (term - k) / term)
        else:
            v = 1.0 + c
            out.append(balance * (1.0 - v ** -(term - k)) / (1.0 - v**-term))
    return out


def reference_loan(
    balance: float,
    gross_coupon: float,
    net_coupon: float,
    remaining_term: int,
    smm: list[float],
    mdr: list[float],
    *,
    severity: float = 0.0,
    lag: int = 0,
    advance: str | bool = "all",
) -> dict[str, list[float]]:
    """Project one loan; ``smm[i-1]`` and ``mdr[i-1]`` are the rates of month ``i``.

    ``mdr`` must already be zero in the last ``lag`` months; ``advance`` is ``"all"``,
    ``"principal"`` or ``"none"`` (or a bool: True is ``"all"``). Returns the columns
    of :class:`~openmbs.cashflow.PoolCashflows` (without ``period`` and ``factor``).
    """
    mode = ("all" if advance else "none") if isinstance(advance, bool) else advance
    amortize = mode in ("all", "principal")  # SF-18: the defaulted balance amortizes
    c = gross_coupon / 12.0
    s = (gross_coupon - net_coupon) / 12.0
    sch = _sched(balance, c, remaining_term)
    perf = balance
    fcl = 0.0
    new_def: list[float] = []
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "beginning_balance", "performing_balance", "new_default", "voluntary_prepayment",
            "expected_amortization", "actual_amortization", "amortization_from_defaults",
            "foreclosure_balance", "liquidated_balance", "recovery", "loss",
            "expected_interest", "lost_interest", "actual_interest", "servicing_fee",
            "net_interest", "principal", "cash_flow",
        )
    }
    for i in range(1, remaining_term + 1):
        ratio = sch[i] / sch[i - 1] if sch[i - 1] > 0.0 else 0.0
        am = 1.0 - ratio
        nd = perf * mdr[i - 1]
        new_def.append(nd)
        if i - lag >= 1:
            old = new_def[i - lag - 1]
            if amortize:
                adb = old * (sch[i - 1] / sch[i - 1 - lag]) if sch[i - 1 - lag] > 0.0 else 0.0
            else:
                adb = old
            loss = min(old * severity, adb)
        else:
            adb = 0.0
            loss = 0.0
        recov = max(adb - loss, 0.0)
        exp_am = (perf + fcl - adb) * am
        am_def = (nd + fcl - adb) * am if amortize else 0.0
        act_am = (perf - nd) * am
        vol = perf * ratio * min(smm[i - 1], 1.0 - mdr[i - 1])
        exp_int = (perf + fcl) * c
        if mode == "all":
            lost_int = 0.0
            paying = perf + fcl
        else:
            lost_int = (nd + fcl) * c
            paying = perf - nd
        act_int = exp_int - lost_int
        fee = paying * s
        prin = vol + act_am + am_def + recov
        cols["beginning_balance"].append(perf)
        fcl = nd + fcl - adb - am_def
        perf = perf - nd - vol - act_am
        cols["performing_balance"].append(perf)
        cols["new_default"].append(nd)
        cols["voluntary_prepayment"].append(vol)
        cols["expected_amortization"].append(exp_am)
        cols["actual_amortization"].append(act_am)
        cols["amortization_from_defaults"].append(am_def)
        cols["foreclosure_balance"].append(fcl)
        cols["liquidated_balance"].append(adb)
        cols["recovery"].append(recov)
        cols["loss"].append(loss)
        cols["expected_interest"].append(exp_int)
        cols["lost_interest"].append(lost_int)
        cols["actual_interest"].append(act_int)
        cols["servicing_fee"].append(fee)
        cols["net_interest"].append(act_int - fee)
        cols["principal"].append(prin)
        cols["cash_flow"].append(act_int - fee + prin)
    return cols
