"""Compile a :class:`DealSpec` to the flat integer parameters of :class:`ExactDeal`.

Conversions (all exact, from the decimal text of each TOML number):

* money: ``floor(x * 10**decimals)`` base units;
* rates, margins, caps, floors, thresholds, percents: ``round(x * 10**18)`` (WAD);
* a percent-sized class: ``floor(pool_units * percent_wad / 10**18)``;
* a ``remainder`` class: pool units less every other class's face (error if < 0);
* a PAC with a band: scheduled principal per period is the lesser of the pool's
  principal at the lower and at the upper PSA speed; its face (when not given) is the
  sum of those amounts; the schedule is the face less the cumulative scheduled
  principal, floored to base units.

Tranches are sorted by ``priority`` (stable), which is the order of every loop of the
exact engine.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache

from openmbs.behaviour import Prepayment
from openmbs.cashflow import project_pool
from openmbs.errors import SpecError
from openmbs.structuring._exact import (
    CPN_FIXED,
    CPN_FIXED_CAPPED,
    CPN_FLOAT,
    CPN_NETWAC,
    CPN_NONE,
    E_SEQUENTIAL,
    E_TRAP,
    E_TURBO,
    F_IO,
    F_PO,
    F_Z,
    NOTIONAL_POOL,
    OP_FEES,
    OP_INTEREST,
    OP_PRINCIPAL,
    OP_RESERVE_LOSS,
    OP_RESERVE_TOPUP,
    OP_RESIDUAL,
    OP_TRIGGER_XS,
    OP_WRITEDOWN,
    OP_WRITEUP,
    OP_XS_LOSS,
    PR_NONE,
    PR_PAC,
    PR_PRORATA,
    PR_SEQ,
    PR_SUPPORT,
    R_COVERS_INTEREST,
    R_COVERS_LOSSES,
    T_CUMLOSS,
    T_DELINQ,
    T_IC,
    T_OC,
    WAD,
    ExactDeal,
)
from openmbs.structuring._spec import DealSpec, TrancheSpec

__all__ = ["compile_exact", "to_units", "to_wad"]

_COUPON = {
    "none": CPN_NONE,
    "fixed": CPN_FIXED,
    "floating": CPN_FLOAT,
    "net_wac": CPN_NETWAC,
    "fixed_capped": CPN_FIXED_CAPPED,
}
_RULE = {
    "none": PR_NONE,
    "sequential": PR_SEQ,
    "pro_rata": PR_PRORATA,
    "pac": PR_PAC,
    "support": PR_SUPPORT,
}
_TEST = {
    "overcollateralization": T_OC,
    "interest_coverage": T_IC,
    "cumulative_loss": T_CUMLOSS,
    "delinquency_60": T_DELINQ,
}
_EFFECT = {"sequential": E_SEQUENTIAL, "trap": E_TRAP, "turbo": E_TURBO}
_STEP = {
    "fees": OP_FEES,
    "interest": OP_INTEREST,
    "writeup": OP_WRITEUP,
    "principal": OP_PRINCIPAL,
    "excess_covers_losses": OP_XS_LOSS,
    "reserve_covers_losses": OP_RESERVE_LOSS,
    "writedown": OP_WRITEDOWN,
    "trigger_excess": OP_TRIGGER_XS,
    "reserve_topup": OP_RESERVE_TOPUP,
    "residual": OP_RESIDUAL,
}


def to_units(x: float, decimals: int) -> int:
    """``floor(x * 10**decimals)`` computed from the decimal text of ``x``."""
    return int((Decimal(repr(float(x))) * (10**decimals)).to_integral_value(ROUND_FLOOR))


def to_wad(x: float) -> int:
    """``round(x * 10**18)`` computed from the decimal text of ``x``."""
    return int((Decimal(repr(float(x))) * WAD).to_integral_value())


def _band_schedule(spec: DealSpec, t: TrancheSpec, decimals: int) -> tuple[int, tuple[int, ...]]:
    """(face, scheduled ending balances) of a band-defined PAC, in base units."""
    assert t.pac_band is not None
    pool = spec.pool
    assert pool.balance is not None and pool.wac is not None
    assert pool.net_coupon is not None and pool.term is not None
    lo = _band_principal(
        pool.balance, pool.wac, pool.net_coupon, pool.term, pool.age, float(t.pac_band[0])
    )
    hi = _band_principal(
        pool.balance, pool.wac, pool.net_coupon, pool.term, pool.age, float(t.pac_band[1])
    )
    n = min(len(lo), len(hi))
    sched_principal = [min(lo[k], hi[k]) for k in range(n)]
    capacity = sum(sched_principal)
    if t.balance is not None:
        face_ccy = t.balance
    elif t.percent is not None:
        face_ccy = pool.balance * t.percent
    else:
        face_ccy = capacity
    face = to_units(face_ccy, decimals)
    out = []
    cum = 0.0
    for k in range(n):
        cum += sched_principal[k]
        out.append(max(to_units(max(face_ccy - cum, 0.0), decimals), 0))
    return face, tuple(out)


@lru_cache(maxsize=64)
def _band_principal(
    balance: float, wac: float, net: float, term: int, age: int, psa: float
) -> tuple[float, ...]:
    """Pool principal per period at a PSA speed (no defaults), from the cash-flow engine."""
    cf = project_pool(
        balance=balance,
        gross_coupon=wac,
        net_coupon=net,
        original_term=term,
        remaining_term=term - age,
        loan_age=age,
        prepayment=Prepayment.psa(psa),
    )
    return tuple(float(x) for x in cf.principal)


def compile_exact(spec: DealSpec) -> ExactDeal:
    """Compile a deal spec to the integer parameters of the exact engine.

    Parameters
    ----------
    spec : DealSpec
        A validated deal (:func:`load_deal`). Percent sizes are resolved against
        ``spec.pool.balance`` (use :meth:`DealSpec.with_pool` to resize for a tape).

    Returns
    -------
    ExactDeal
        Flat tuples of ints, tranches sorted by priority.

    Raises
    ------
    SpecError
        When the sizes do not fit the pool (a ``remainder`` class below zero, classes
        larger than the pool).

    Examples
    --------
    >>> from openmbs.structuring import compile_exact, example_deal
    >>> d = compile_exact(example_deal("four_tranche"))
    >>> d.names[:4], d.face[0] == d.pool_original * 80 // 100
    (('A', 'B', 'C', 'D'), True)
    """
    dec = spec.asset.decimals
    file = spec.source
    order = sorted(range(len(spec.tranches)), key=lambda i: spec.tranches[i].priority)
    tranches = [spec.tranches[i] for i in order]
    names = tuple(t.name for t in tranches)
    n = len(tranches)
    pool_units = to_units(spec.pool.balance, dec) if spec.pool.balance is not None else 0

    faces = [0] * n
    schedules: list[tuple[int, ...]] = [()] * n
    remainder_at = -1
    for i, t in enumerate(tranches):
        if t.notional is not None:
            continue
        if t.principal == "pac" and t.pac_band is not None:
            faces[i], schedules[i] = _band_schedule(spec, t, dec)
            continue
        if t.balance is not None:
            faces[i] = to_units(t.balance, dec)
        elif t.percent is not None:
            faces[i] = pool_units * to_wad(t.percent) // WAD
        elif t.remainder:
            remainder_at = i
        if t.pac_schedule is not None:
            schedules[i] = tuple(to_units(x, dec) for x in t.pac_schedule)
    if pool_units == 0:
        pool_units = sum(faces)
    if remainder_at >= 0:
        rest = pool_units - sum(faces)
        if rest < 0:
            raise SpecError(
                "the other classes exceed the pool balance; nothing is left for the remainder class",
                file=file,
                key=f"tranches[{order[remainder_at]}].remainder",
                value=True,
            )
        faces[remainder_at] = rest
    if sum(faces) > pool_units:
        raise SpecError(
            f"classes total {sum(faces) / 10**dec:,.2f}, more than the pool balance",
            file=file,
            key="pool.balance",
            value=spec.pool.balance,
        )
    io_ref = [0] * n
    flags = [0] * n
    acc_mask = [0] * n
    for i, t in enumerate(tranches):
        if t.notional is not None:
            flags[i] |= F_IO
            if t.notional == "pool":
                io_ref[i] = NOTIONAL_POOL
                faces[i] = pool_units
            else:
                io_ref[i] = names.index(t.notional)
                faces[i] = faces[io_ref[i]]
        if t.coupon == "none" and t.notional is None:
            flags[i] |= F_PO
        if t.accrual:
            flags[i] |= F_Z
            for target in t.accretion_targets:
                acc_mask[i] |= 1 << names.index(target)

    prio = [t.priority for t in tranches]
    rank_start = [0] * n
    rank_end = [0] * n
    group_start = list(range(n))
    group_end = [i + 1 for i in range(n)]
    rule = [_RULE[t.principal] for t in tranches]
    for i in range(n):
        s = i
        while s > 0 and prio[s - 1] == prio[i]:
            s -= 1
        e = i + 1
        while e < n and prio[e] == prio[i]:
            e += 1
        rank_start[i] = s
        rank_end[i] = e
        if rule[i] == PR_PRORATA:
            grp = tranches[i].group
            gs = i
            while gs > 0 and rule[gs - 1] == PR_PRORATA and tranches[gs - 1].group == grp:
                gs -= 1
            ge = i + 1
            while ge < n and rule[ge] == PR_PRORATA and tranches[ge].group == grp:
                ge += 1
            group_start[i] = gs
            group_end[i] = ge

    res = spec.reserve
    reserve_flags = 0
    if res is not None:
        reserve_flags = (R_COVERS_INTEREST if res.covers_interest else 0) | (
            R_COVERS_LOSSES if res.covers_losses else 0
        )
    trig_ref = []
    for trig in spec.triggers:
        trig_ref.append(names.index(trig.tranche) if trig.tranche is not None else 0)
    trig_effect = []
    for trig in spec.triggers:
        mask = 0
        for effect in trig.effects:
            mask |= _EFFECT[effect]
        trig_effect.append(mask)

    return ExactDeal(
        n_tranches=n,
        face=tuple(faces),
        coupon_kind=tuple(_COUPON[t.coupon] for t in tranches),
        rate=tuple(to_wad(t.rate) for t in tranches),
        margin=tuple(to_wad(t.margin) for t in tranches),
        cap=tuple(to_wad(t.cap) if t.cap is not None else 0 for t in tranches),
        floor=tuple(to_wad(t.floor) for t in tranches),
        priority=tuple(prio),
        rank_start=tuple(rank_start),
        rank_end=tuple(rank_end),
        rule=tuple(rule),
        group_start=tuple(group_start),
        group_end=tuple(group_end),
        lockout=tuple(t.lockout for t in tranches),
        flags=tuple(flags),
        io_ref=tuple(io_ref),
        accretion_mask=tuple(acc_mask),
        pac_schedule=tuple(schedules),
        n_fees=len(spec.fees),
        fee_rate=tuple(to_wad(f.rate) for f in spec.fees),
        fee_fixed=tuple(to_units(f.fixed, dec) for f in spec.fees),
        fee_cap=tuple(to_units(f.cap, dec) if f.cap is not None else 0 for f in spec.fees),
        reserve_initial=to_units(res.initial, dec) if res is not None else 0,
        reserve_floor=to_units(res.floor, dec) if res is not None else 0,
        reserve_pct=to_wad(res.target_percent) if res is not None else 0,
        reserve_flags=reserve_flags,
        n_triggers=len(spec.triggers),
        trig_test=tuple(_TEST[t.test] for t in spec.triggers),
        trig_ref=tuple(trig_ref),
        trig_threshold=tuple(to_wad(t.threshold) for t in spec.triggers),
        trig_effect=tuple(trig_effect),
        trig_curable=tuple(1 if t.curable else 0 for t in spec.triggers),
        steps=tuple(_STEP[s] for s in spec.order),
        interest_on_shortfall=1 if spec.interest_on_shortfall else 0,
        cleanup_wad=to_wad(spec.cleanup_call),
        pool_original=pool_units,
        decimals=dec,
        names=names,
        fee_names=tuple(f.name for f in spec.fees),
        trigger_names=tuple(t.name for t in spec.triggers),
    )
