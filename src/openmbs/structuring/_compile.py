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
    CPN_INVERSE,
    CPN_NETWAC,
    CPN_NONE,
    E_SEQUENTIAL,
    E_TRAP,
    E_TURBO,
    F_IO,
    F_PO,
    F_Z,
    I_MERGE,
    I_PLANNED,
    I_PRORATA,
    I_SEQ,
    I_SKIP,
    I_SPLIT,
    MAX_TRANCHES,
    NOTIONAL_GROUP,
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
from openmbs.structuring._spec import DealSpec, RuleSpec, TrancheSpec

__all__ = ["chain_unsupported", "check_chain", "compile_exact", "to_units", "to_wad"]

_COUPON = {
    "none": CPN_NONE,
    "fixed": CPN_FIXED,
    "floating": CPN_FLOAT,
    "inverse_floating": CPN_INVERSE,
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
    gnames = [g.name for g in spec.groups]
    io_ref = [0] * n
    flags = [0] * n
    acc_mask = [0] * n
    for i, t in enumerate(tranches):
        if t.notional is not None:
            flags[i] |= F_IO
            if t.notional == "pool":
                io_ref[i] = NOTIONAL_POOL
                faces[i] = pool_units
            elif t.notional in gnames:
                g = gnames.index(t.notional)
                io_ref[i] = NOTIONAL_GROUP + g
                faces[i] = sum(faces[names.index(c)] for c in spec.groups[g].classes)
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

    prog = _Program(names, gnames, [t.name for t in spec.triggers])
    accrual_prog: list[tuple[int, int]] = [(0, 0)] * n
    principal_prog = (0, 0)
    if spec.principal_rules:
        start = len(prog.code) // 4
        prog.rules(spec.principal_rules, 0)
        principal_prog = (start, len(prog.code) // 4)
        for acc in spec.accrual_rules:
            z = names.index(acc.z)
            start = len(prog.code) // 4
            prog.rules(acc.rules, 0)
            accrual_prog[z] = (start, len(prog.code) // 4)
            mask = 0
            for acc_rule in acc.rules:
                for item in _named(acc_rule):
                    members = spec.groups[gnames.index(item)].classes if item in gnames else [item]
                    for c in members:
                        if c != acc.z:
                            mask |= 1 << names.index(c)
            acc_mask[z] = mask
    # each group paid by its own rules: its program, on its own registers (from its
    # input register on), then its classes in the listed order for what they leave
    grp_prog: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)] * len(spec.groups)
    for g, gspec in enumerate(spec.groups):
        if gspec.pay != "rules":
            continue
        start = len(prog.code) // 4
        r_in = prog.n_regs
        prog.n_regs += 1
        prog.rules([*gspec.rules, RuleSpec(pay="sequential", classes=list(gspec.classes))], r_in)
        grp_prog[g] = (start, len(prog.code) // 4, r_in, prog.n_regs)
    grp_start: list[int] = []
    grp_end: list[int] = []
    grp_members: list[int] = []
    for gspec in spec.groups:
        grp_start.append(len(grp_members))
        grp_members.extend(names.index(c) for c in gspec.classes)
        grp_end.append(len(grp_members))
    grp_schedule: list[tuple[int, ...]] = [
        tuple(to_units(x, dec) for x in gs.planned_balance) if gs.planned_balance is not None else ()
        for gs in spec.groups
    ]
    multiplier = tuple(to_wad(t.multiplier) for t in tranches)
    if all(m == WAD for m in multiplier):
        multiplier = ()

    deal = ExactDeal(
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
        program=tuple(prog.code),
        prog_list=tuple(prog.lists),
        prog_wad=tuple(prog.wads),
        principal_prog=principal_prog,
        accrual_prog=tuple(accrual_prog) if spec.principal_rules else (),
        n_regs=prog.n_regs,
        n_groups=len(spec.groups),
        grp_start=tuple(grp_start),
        grp_end=tuple(grp_end),
        grp_members=tuple(grp_members),
        grp_mode=tuple({"sequential": 0, "pro_rata": 1, "rules": 2}[gs.pay] for gs in spec.groups),
        grp_prog=tuple(grp_prog) if any(gs.pay == "rules" for gs in spec.groups) else (),
        grp_schedule=tuple(grp_schedule),
        grp_defer=tuple(gs.deferral for gs in spec.groups) if any(gs.deferral for gs in spec.groups) else (),
        multiplier=multiplier,
        group_names=tuple(gnames),
        excess_to=names.index(spec.excess_interest_to) if spec.excess_interest_to is not None else -1,
        penalty_to=names.index(spec.prepayment_penalties) if spec.prepayment_penalties in names else -1,
    )
    if any(gs.band is not None or gs.speed is not None for gs in spec.groups):
        from openmbs.structuring._schedule import structure_schedules

        deal = structure_schedules(spec, deal)
    return deal


def _named(rule: RuleSpec) -> list[str]:
    out = list(rule.classes) + ([rule.target] if rule.target is not None else [])
    for sub in rule.split:
        out += _named(sub)
    return out


class _Program:
    """Emits a rule program (see ``_run_program`` in ``_exact.py``)."""

    def __init__(self, names: tuple[str, ...], groups: list[str], triggers: list[str]) -> None:
        self.names = names
        self.groups = groups
        self.triggers = triggers
        self.code: list[int] = []
        self.lists: list[int] = []
        self.wads: list[int] = []
        self.n_regs = 1

    def item(self, name: str) -> int:
        if name in self.groups:
            return len(self.names) + self.groups.index(name)
        return self.names.index(name)

    def emit(self, op: int, a: int, b: int, c: int) -> int:
        self.code += [op, a, b, c]
        return len(self.code) // 4 - 1

    def operands(self, values: list[int], wads: list[int] | None = None) -> tuple[int, int]:
        lo = len(self.lists)
        self.lists += values
        self.wads += wads if wads is not None else [0] * len(values)
        return lo, len(self.lists)

    def rules(self, rules: list[RuleSpec], reg: int) -> None:
        for rule in rules:
            self.rule(rule, reg)

    def rule(self, rule: RuleSpec, reg: int) -> None:
        cond = rule.when if rule.when is not None else rule.unless
        skip = -1
        if cond is not None:
            skip = self.emit(I_SKIP, self.triggers.index(cond), 0, 1 if rule.when is not None else 0)
        body = len(self.code) // 4
        if rule.pay == "planned":
            assert rule.target is not None
            self.emit(I_PLANNED, reg, self.groups.index(rule.target), 0)
        elif rule.pay in ("sequential", "pro_rata"):
            lo, hi = self.operands([self.item(c) for c in rule.classes])
            self.emit(I_SEQ if rule.pay == "sequential" else I_PRORATA, reg, lo, hi)
        else:
            regs = list(range(self.n_regs, self.n_regs + len(rule.split)))
            self.n_regs += len(rule.split)
            lo, hi = self.operands(regs, [to_wad(sub.percent or 0.0) for sub in rule.split])
            self.emit(I_SPLIT, reg, lo, hi)
            for sub, r in zip(rule.split, regs, strict=True):
                self.rule(sub, r)
                self.emit(I_MERGE, r, reg, 0)
        if skip >= 0:
            self.code[4 * skip + 2] = len(self.code) // 4 - body


def chain_unsupported(deal: ExactDeal) -> list[str]:
    """The constructs of a compiled deal that ``ExactWaterfall.vy`` cannot run yet.

    Empty for a deal the chain runs exactly as the exact engine. The chain compiler
    (deployment of the exact waterfall) must refuse a deal for which this is not
    empty: the contract would otherwise compute something else than the engine.
    Groups, principal rules and accrual rules run on chain (the deal's
    ``RuleProgram``, called by the waterfall); what is listed here does not.
    """
    out: list[str] = []
    if deal.n_tranches > MAX_TRANCHES:
        out.append(f"{deal.n_tranches} classes (the contract takes at most {MAX_TRANCHES})")
    if any(m >> MAX_TRANCHES for m in deal.accretion_mask):
        out.append(f"an accretion target beyond class {MAX_TRANCHES} (the contract's bound)")
    return out


def check_chain(deal: ExactDeal, *, file: str | None = None) -> None:
    """Raise :class:`SpecError` naming the constructs the chain cannot run yet (see
    :func:`chain_unsupported`); do nothing for a deal it runs."""
    missing = chain_unsupported(deal)
    if missing:
        raise SpecError(
            "the on-chain waterfall cannot run this deal yet: " + "; ".join(missing),
            file=file,
            key="<deal>",
            value=", ".join(deal.names),
        )
