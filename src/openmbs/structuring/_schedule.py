"""The deal's collateral (rep lines) and the structuring of planned-balance schedules.

A PAC group's schedule is the lesser, period by period, of the principal AVAILABLE TO
THE GROUP at the band's lower and upper PSA speeds (a TAC's: at its one speed): each
speed is run through the deal's own rules with the group taking all the cash the rules
make available to it and never retiring (so the capacity is not cut by the face). Groups are structured in the order of their first ``planned``
rule: a PAC II is structured on the cash left after the PAC I group has been paid to
its (already structured) schedule, plus any Z accrual directed to it; the first group's
cash is never counted twice. The planned balance is the group's face less the
cumulative scheduled principal, floored to base units; no scheduled principal during
the group's ``lockout``.

Each rep line is projected on its own (``openmbs.cashflow.project_pool``, no
defaults) and the flows are summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from openmbs.structuring._exact import (
    CPN_NONE,
    F_IO,
    I_PLANNED,
    NOTIONAL_GROUP,
    OP_INTEREST,
    OP_PRINCIPAL,
    OP_RESIDUAL,
    ExactDeal,
)
from openmbs.structuring._spec import DealSpec, PoolSpec, RepLineSpec
from openmbs.structuring._waterfall import Collections, run_waterfall

__all__ = ["collateral_collections", "pool_replines", "structure_schedules"]


def pool_replines(pool: PoolSpec, psa: float | None = None) -> list[RepLineSpec]:
    """The rep lines of the pool (its ``pricing`` override at ``psa`` if it has one;
    else its ``replines``; else one line from ``balance``, ``wac``, ``net_coupon``,
    ``term`` and ``age``)."""
    if psa is not None:
        for o in pool.pricing:
            if o.psa == psa:
                return list(o.replines)
    if pool.replines:
        return list(pool.replines)
    if pool.balance is None or pool.wac is None or pool.net_coupon is None or pool.term is None:
        from openmbs.errors import SpecError

        raise SpecError("the pool needs balance, wac, net_coupon and term (or replines)", key="pool", value=None)
    return [
        RepLineSpec(balance=pool.balance, wac=pool.wac, net_coupon=pool.net_coupon, term=pool.term, age=pool.age)
    ]


def collateral_collections(pool: PoolSpec, speeds: Sequence[float]) -> Collections:
    """Collections of the pool's rep lines at each PSA speed (one scenario a speed).

    Money in currency units; net interest (the servicing strip is out); no defaults.
    The scenarios run to the longest rep line's remaining term.
    """
    from openmbs.behaviour import Prepayment
    from openmbs.cashflow import project_pool

    rows: list[list[np.ndarray]] = []  # type: ignore[type-arg]
    balance = None
    for psa in speeds:
        lines = pool_replines(pool, psa)
        flows = []
        for r in lines:
            rem = r.remaining_term if r.remaining_term is not None else r.term - r.age
            cf = project_pool(
                balance=r.balance,
                gross_coupon=r.wac,
                net_coupon=r.net_coupon,
                original_term=r.term,
                remaining_term=rem,
                loan_age=r.term - rem,
                prepayment=Prepayment.psa(psa),
            )
            flows.append(
                (
                    np.asarray(cf.net_interest, dtype=np.float64),
                    np.asarray(cf.principal, dtype=np.float64) - np.asarray(cf.voluntary_prepayment),
                    np.asarray(cf.voluntary_prepayment, dtype=np.float64),
                )
            )
        total = sum(r.balance for r in lines)
        if balance is None:
            balance = total
        elif abs(total - balance) > 1e-6 * total:
            from openmbs.errors import SpecError

            raise SpecError(
                "a pricing override's rep lines must sum to the pool balance", key="pool.pricing", value=psa
            )
        T = max(len(f[0]) for f in flows)
        acc = [np.zeros(T) for _ in range(3)]
        for f in flows:
            for k in range(3):
                acc[k][: len(f[k])] += f[k]
        rows.append(acc)
    assert balance is not None
    T = max(len(r[0]) for r in rows)

    def stack(k: int) -> np.ndarray:  # type: ignore[type-arg]
        out = np.zeros((len(rows), T))
        for j, r in enumerate(rows):
            out[j, : len(r[k])] = r[k]
        return np.maximum(out, 0.0)

    interest, sched, prep = stack(0), stack(1), stack(2)
    end = np.maximum(balance - np.cumsum(sched + prep, axis=1), 0.0)
    end[end < 1e-6] = 0.0
    return Collections.from_arrays(
        original_balance=balance,
        interest=interest,
        scheduled_principal=sched,
        prepaid_principal=prep,
        ending_balance=end,
    )


def _structure_order(deal: ExactDeal) -> list[int]:
    """Groups in the order of their first ``planned`` instruction."""
    out: list[int] = []
    for pc in range(len(deal.program) // 4):
        if deal.program[4 * pc] == I_PLANNED:
            g = deal.program[4 * pc + 2]
            if g not in out:
                out.append(g)
    return out


def _size_from_capacity(spec: DealSpec, deal: ExactDeal, g: int, capacity: int) -> ExactDeal:
    """Group ``g``'s classes sized from its capacity (base units) by its ``shares``
    (floored; the last class takes the rest); the remainder class gives the capacity
    up; IO strips on the group or its classes follow."""
    from openmbs.errors import SpecError
    from openmbs.structuring._compile import to_wad
    from openmbs.structuring._exact import NOTIONAL_POOL, WAD

    gs = spec.groups[g]
    assert gs.shares is not None
    members = [deal.grp_members[q] for q in range(deal.grp_start[g], deal.grp_end[g])]
    faces = list(deal.face)
    left = capacity
    for q, j in enumerate(members):
        f = capacity * to_wad(gs.shares[q]) // WAD if q < len(members) - 1 else left
        faces[j] = f
        left -= f
    rem = next((t.name for t in spec.tranches if t.remainder), None)
    scale = 10**deal.decimals
    if rem is not None:
        r = deal.names.index(rem)
        if faces[r] < capacity:
            raise SpecError(
                f"group {gs.name!r} has a capacity of {capacity / scale:,.2f} at its band, more than the "
                f"{faces[r] / scale:,.2f} the other classes leave for the remainder class",
                file=spec.source,
                key=f"groups[{g}].shares",
                value=list(gs.shares),
            )
        faces[r] -= capacity
    bearing = sum(faces[j] for j in range(deal.n_tranches) if not deal.flags[j] & F_IO)
    if bearing > deal.pool_original:
        raise SpecError(
            f"with group {gs.name!r} sized from its capacity ({capacity / scale:,.2f}) the classes total "
            f"{bearing / scale:,.2f}, more than the pool balance",
            file=spec.source,
            key=f"groups[{g}].shares",
            value=list(gs.shares),
        )
    for j in range(deal.n_tranches):
        ref = deal.io_ref[j]
        if not deal.flags[j] & F_IO or ref == NOTIONAL_POOL:
            continue
        if ref >= NOTIONAL_GROUP:
            h = ref - NOTIONAL_GROUP
            faces[j] = sum(faces[deal.grp_members[q]] for q in range(deal.grp_start[h], deal.grp_end[h]))
        else:
            faces[j] = faces[ref]
    return replace(deal, face=tuple(faces))


def structure_schedules(spec: DealSpec, deal: ExactDeal) -> ExactDeal:
    """The deal with each band (PAC) or speed (TAC) group's planned balances filled in.

    See the module docstring for the method.
    """
    dec = deal.decimals
    scale = float(10**dec)
    from openmbs.structuring._compile import to_units

    schedules = list(deal.grp_schedule)
    todo = {g: spec.groups[g] for g in range(deal.n_groups)
            if spec.groups[g].band is not None or spec.groups[g].speed is not None}
    for g in _structure_order(deal):
        gs = todo.pop(g, None)
        if gs is None:
            continue
        members = [deal.grp_members[q] for q in range(deal.grp_start[g], deal.grp_end[g])]
        face = sum(deal.face[j] for j in members)
        # the trial: the group takes all the cash its rules give it (after any
        # lockout) and never retires (a face far above the pool's, on a class paying
        # no coupon, as the group's IO strips: the other classes' interest and the Z
        # accrual are as in the deal); no loss steps, which would read the oversized
        # face as a deficiency
        schedules[g] = (face,) * gs.lockout
        faces = list(deal.face)
        faces[members[0]] += 10 * max(deal.pool_original, face) + 1
        kinds = list(deal.coupon_kind)
        for j in members:
            kinds[j] = CPN_NONE
        for j in range(deal.n_tranches):
            if deal.io_ref[j] == NOTIONAL_GROUP + g and deal.flags[j] & F_IO:
                kinds[j] = CPN_NONE
        # the group's own deferral delays the payment of its schedule, not the cash
        # it is structured on
        defer = list(deal.grp_defer)
        if defer:
            defer[g] = 0
        trial = replace(
            deal,
            grp_defer=tuple(defer),
            face=tuple(faces),
            coupon_kind=tuple(kinds),
            steps=(OP_INTEREST, OP_PRINCIPAL, OP_RESIDUAL),
            grp_schedule=tuple(schedules),
        )
        speeds = list(gs.band) if gs.band is not None else [float(gs.speed or 0.0)]
        coll = collateral_collections(spec.pool, speeds)
        res = run_waterfall(trial, coll, keep=("principal_paid",))
        assert res.principal_paid is not None
        flows = res.principal_paid[:, :, members].sum(axis=2)  # (speeds, periods)
        sched_prin = flows.min(axis=0)
        sched_prin[: gs.lockout] = 0.0
        if gs.shares is not None:
            face = to_units(float(sched_prin.sum()), dec)
            deal = _size_from_capacity(spec, deal, g, face)
        face_ccy = face / scale
        cum = np.cumsum(sched_prin)
        planned = []
        for k in range(len(cum)):
            planned.append(min(to_units(max(face_ccy - float(cum[k]), 0.0), dec), face))
        while planned and planned[-1] == 0:
            planned.pop()
        schedules[g] = tuple(planned)
        deal = replace(deal, grp_schedule=tuple(schedules))
    for g in todo:
        # a band group no planned rule names: structured as if first
        schedules[g] = ()
    return replace(deal, grp_schedule=tuple(schedules))
