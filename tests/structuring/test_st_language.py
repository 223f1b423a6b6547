"""The deal language: groups, ordered principal and accrual rules, rep lines.

Random rule programs (random groups, orders, concurrent splits, conditions, accrual
directions, floaters and inverse floaters) run through the exact engine and the numba
kernel: the exact engine conserves cash to the unit and the two engines agree within
the exact engine's rounding. Bad input is refused naming the key and the value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structuring_helpers import build_deal

from openmbs.errors import InputError, SpecError
from openmbs.structuring import (
    EXAMPLE_DEALS,
    LANGUAGE_EXAMPLES,
    MAX_TRANCHES,
    Collections,
    compile_exact,
    example_deal,
    parse_deal,
    remittances_from_collections,
    run_exact,
    run_waterfall,
)
from openmbs.structuring._compile import chain_unsupported, check_chain
from openmbs.structuring._schedule import collateral_collections

DEC = 6
EXAMPLE_NAMES_FOR_ROUND_TRIP = [*EXAMPLE_DEALS, *LANGUAGE_EXAMPLES]
SCALE = 10**DEC


def _collections(seed: int, periods: int, *, balance: float = 1_000_000.0) -> Collections:
    rng = np.random.default_rng(seed)
    left = balance
    rows: dict[str, list[float]] = {k: [] for k in ("int", "sch", "pre", "loss", "idx")}
    for t in range(periods):
        last = t == periods - 1
        sch = left if last else left * rng.uniform(0.0, 0.04)
        pre = 0.0 if last else (left - sch) * rng.choice([0.0, rng.uniform(0.0, 0.15)])
        loss = 0.0 if last else (left - sch - pre) * rng.choice([0.0, 0.0, rng.uniform(0.0, 0.01)])
        rows["int"].append(round(left * rng.uniform(0.0, 0.08) / 12.0, 2))
        rows["sch"].append(round(sch, 2))
        rows["pre"].append(round(pre, 2))
        rows["loss"].append(round(loss, 2))
        rows["idx"].append(float(rng.choice([0.0, 0.01, 0.03, 0.06])))
        left = max(left - rows["sch"][-1] - rows["pre"][-1] - rows["loss"][-1], 0.0)
    rows["sch"][-1] += left  # the pool pays off
    return Collections.from_arrays(
        original_balance=balance,
        interest=rows["int"],
        scheduled_principal=rows["sch"],
        prepaid_principal=rows["pre"],
        losses=rows["loss"],
        index_rate=rows["idx"],
    )


@st.composite
def programs(draw: Any) -> dict[str, Any]:
    """A random deal in the deal language (sizes in whole units of a 1,000,000 pool)."""
    n = draw(st.integers(2, 12))
    weights = [draw(st.integers(1, 20)) for _ in range(n)]
    total = sum(weights)
    names = [f"C{i}" for i in range(n)]
    tranches: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        t: dict[str, Any] = {"name": name, "priority": draw(st.integers(1, 4))}
        if i == n - 1:
            t["remainder"] = True
        else:
            t["balance"] = float(1_000_000 * weights[i] // total)
        kind = draw(st.sampled_from(["fixed", "fixed", "none", "floating", "inverse_floating"]))
        t["coupon"] = kind
        if kind == "fixed":
            t["rate"] = draw(st.sampled_from([0.0, 0.03, 0.05, 0.07]))
        elif kind == "floating":
            t["margin"] = 0.01
            t["multiplier"] = draw(st.sampled_from([1.0, 1.5]))
            t["cap"] = 0.08
        elif kind == "inverse_floating":
            t["margin"] = 0.09
            t["multiplier"] = draw(st.sampled_from([1.0, 2.5]))
            t["cap"] = 0.09
        tranches.append(t)
    # disjoint groups of 1-3 classes, each with an explicit planned balance
    pool_names = list(names)
    groups: list[dict[str, Any]] = []
    for g in range(draw(st.integers(0, 3))):
        if len(pool_names) < 2:
            break
        size = draw(st.integers(1, min(3, len(pool_names) - 1)))
        members = pool_names[:size]
        pool_names = pool_names[size:]
        face = sum(float(1_000_000 * weights[names.index(m)] // total) for m in members)
        step = draw(st.floats(0.02, 0.3))
        planned = [max(face * (1.0 - step * (k + 1)), 0.0) for k in range(draw(st.integers(1, 20)))]
        group = {"name": f"G{g}", "classes": members,
                 "pay": draw(st.sampled_from(["sequential", "pro_rata", "rules"])),
                 "planned_balance": [round(x, 2) for x in planned], "deferral": draw(st.integers(0, 4))}
        if group["pay"] == "rules":
            # the group's own rules: a split between its last class and the others
            # pro rata, or the classes in reverse order
            if len(members) > 1 and draw(st.booleans()):
                p = draw(st.sampled_from([0.25, 0.5, 0.7]))
                group["rules"] = [{"pay": "concurrent", "split": [
                    {"percent": p, "pay": "sequential", "classes": [members[-1]]},
                    {"percent": 1.0 - p, "pay": "pro_rata", "classes": members[:-1]}]}]
            else:
                group["rules"] = [{"pay": "sequential", "classes": members[::-1]}]
        groups.append(group)
    items = [g["name"] for g in groups] + pool_names

    def rule(depth: int) -> dict[str, Any]:
        kinds = ["sequential", "pro_rata"] + (["planned"] if groups else []) + (["concurrent"] if depth < 2 else [])
        kind = draw(st.sampled_from(kinds))
        r: dict[str, Any] = {"pay": kind}
        if kind == "planned":
            r["target"] = draw(st.sampled_from([g["name"] for g in groups]))
        elif kind == "concurrent":
            k = draw(st.integers(2, 3))
            cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=k - 1, max_size=k - 1, unique=True)))
            pcts = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
            r["split"] = [{**rule(depth + 1), "percent": p / 100} for p in pcts]
        else:
            r["classes"] = draw(st.lists(st.sampled_from(items), min_size=1, max_size=4, unique=True))
        cond = draw(st.sampled_from([None, None, "when", "unless"]))
        if cond is not None:
            r[cond] = "LOSS"
        return r

    rules = [rule(0) for _ in range(draw(st.integers(1, 4)))]
    # every class reached, in a random order (the prospectus's "to zero" steps)
    rules.append({"pay": "sequential", "classes": draw(st.permutations(items))})
    top: dict[str, Any] = {
        "groups": groups,
        "principal_rules": rules,
        "triggers": [{"name": "LOSS", "test": "cumulative_loss", "threshold": 0.002, "effects": ["sequential"]}],
        "asset": {"symbol": "USDC", "decimals": DEC},
        "pool": {"balance": 1_000_000.0},
    }
    # a Z class whose accrual goes to another class or group, then to itself
    zi = draw(st.integers(-1, n - 1))
    if zi >= 0 and tranches[zi]["coupon"] != "none":
        z = names[zi]
        tranches[zi]["accrual"] = True
        others = [x for x in items if x != z and not (x in [g["name"] for g in groups]
                                                     and z in next(g for g in groups if g["name"] == x)["classes"])]
        if others:
            first = draw(st.sampled_from(others))
            acc = [{"pay": "sequential", "classes": [first]}]
            if first in [g["name"] for g in groups] and draw(st.booleans()):
                acc = [{"pay": "planned", "target": first}]
            acc.append({"pay": "sequential", "classes": [z]})
            top["accrual_rules"] = [{"z": z, "rules": acc}]
        else:
            tranches[zi]["accrual"] = False
    # a group no 'planned' rule pays has no schedule
    targets: set[str] = set()
    stack = list(rules) + [r for acc in top.get("accrual_rules", []) for r in acc["rules"]]
    while stack:
        r = stack.pop()
        if r["pay"] == "planned":
            targets.add(r["target"])
        stack.extend(r.get("split", []))
    for g in groups:
        if g["name"] not in targets:
            del g["planned_balance"]
            del g["deferral"]
            g["kind"] = "none"
    return {"tranches": tranches, **top}


def _run_both(data: dict[str, Any], seed: int, periods: int) -> tuple[Any, Any, Any, Any]:
    spec = build_deal(data["tranches"], **{k: v for k, v in data.items() if k != "tranches"})
    coll = _collections(seed, periods)
    d = compile_exact(spec)
    fl = run_waterfall(spec, coll)
    state, res = run_exact(d, remittances_from_collections(coll, DEC))
    return d, fl, state, res


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=programs(), seed=st.integers(0, 10_000), periods=st.integers(2, 30))
def test_random_programs_float_equals_exact(data: dict[str, Any], seed: int, periods: int) -> None:
    d, fl, state, res = _run_both(data, seed, periods)
    assert d.principal_prog[1] > d.principal_prog[0]
    for r in res:
        # money is never created or lost, to the unit
        assert r.cash_in == (
            r.cash_out + r.reserve_deposit - r.reserve_draw - r.reserve_release + r.dust_change
        )
        assert all(b >= 0 for b in r.ending_balance)
    # the rules retire every class when the pool pays off
    assert all(b == 0 for b in state.balance)
    n = d.n_tranches
    tol = (n + 2) * periods * 4 / SCALE  # a few units of floor rounding per class a period
    for field in ("interest_paid", "principal_paid", "accreted", "ending_balance", "writedown"):
        ex = np.array([getattr(r, field) for r in res], dtype=np.float64) / SCALE
        got = fl.table(field)[0]
        np.testing.assert_allclose(got, ex, rtol=0, atol=tol, err_msg=field)
    ex_res = np.array([r.residual_paid for r in res], dtype=np.float64) / SCALE
    np.testing.assert_allclose(fl.table("residual_paid")[0], ex_res, rtol=0, atol=tol)


def test_concurrent_split_and_condition_by_hand() -> None:
    """60/40 split, the 40% leg to a class that retires: its unused cash goes on to the
    next rule; a rule under ``when`` pays only while its trigger is latched."""
    spec = build_deal(
        [
            {"name": "A", "balance": 500, "rate": 0.0, "priority": 1},
            {"name": "B", "balance": 30, "rate": 0.0, "priority": 1},
            {"name": "C", "balance": 470, "rate": 0.0, "priority": 1},
        ],
        pool={"balance": 1000.0},
        triggers=[{"name": "T", "test": "cumulative_loss", "threshold": 0.001, "effects": ["sequential"]}],
        principal_rules=[
            {"pay": "sequential", "classes": ["C"], "when": "T"},
            {"pay": "concurrent", "split": [
                {"percent": 0.6, "pay": "sequential", "classes": ["A"]},
                {"percent": 0.4, "pay": "sequential", "classes": ["B"]},
            ]},
            {"pay": "sequential", "classes": ["C", "A", "B"]},
        ],
    )
    from structuring_helpers import rem

    from openmbs.structuring import apply_period, initial_state

    d = compile_exact(spec)
    s0 = initial_state(d)
    s1, r1 = apply_period(d, s0, rem(1, sched=100, beg=1000))
    # 60 to A, 40 to B but B takes 30; its 10 goes on: to C
    assert r1.principal_paid == (60, 30, 10)
    # a loss of 2 (0.2% > 0.1%): the trigger latches, C is paid first
    _s2, r2 = apply_period(d, s1, rem(2, sched=50, losses=2, beg=900))
    assert r2.principal_paid == (0, 0, 50)


def test_group_pro_rata_and_planned_balance_by_hand() -> None:
    spec = build_deal(
        [
            {"name": "P1", "balance": 300, "rate": 0.0, "priority": 1},
            {"name": "P2", "balance": 100, "rate": 0.0, "priority": 1},
            {"name": "S", "balance": 600, "rate": 0.0, "priority": 1},
        ],
        pool={"balance": 1000.0},
        groups=[{"name": "G", "classes": ["P1", "P2"], "pay": "pro_rata", "planned_balance": [360, 300]}],
        principal_rules=[
            {"pay": "planned", "target": "G"},
            {"pay": "sequential", "classes": ["S", "G"]},
        ],
    )
    from structuring_helpers import rem

    from openmbs.structuring import apply_period, initial_state

    d = compile_exact(spec)
    s1, r1 = apply_period(d, initial_state(d), rem(1, sched=100, beg=1000))
    # G down to 360 (40, shared 3:1), the other 60 to S
    assert r1.principal_paid == (30, 10, 60)
    _s2, r2 = apply_period(d, s1, rem(2, sched=20, beg=900))
    # G is owed 60 to reach 300, only 20 comes in
    assert r2.principal_paid == (15, 5, 0)


def test_example_pac_groups_hold_their_schedule_inside_the_band() -> None:
    """agency_remic: at any constant speed inside a group's band the group's balance
    equals its planned balance every period (the bands were structured on the cash the
    rules give each group: PAC II after PAC I and with the Z accrual)."""
    spec = example_deal("agency_remic")
    d = compile_exact(spec)
    gi = {name: g for g, name in enumerate(d.group_names)}
    speeds = [100.0, 150.0, 200.0, 250.0]
    coll = collateral_collections(spec.pool, speeds)
    res = run_waterfall(d, coll, keep=("ending_balance",))
    end = res.table("ending_balance")
    for name, band in (("PAC1", (100.0, 250.0)), ("PAC2", (150.0, 250.0))):
        g = gi[name]
        members = list(d.grp_members[d.grp_start[g] : d.grp_end[g]])
        sched = np.array(d.grp_schedule[g], dtype=np.float64) / 10**d.decimals
        for k, psa in enumerate(speeds):
            if not band[0] <= psa <= band[1]:
                continue
            bal = end[k, : len(sched)][:, members].sum(axis=1)
            np.testing.assert_allclose(bal, sched, rtol=0, atol=1.0, err_msg=f"{name} at {psa} PSA")
    # outside the band, PAC1 leaves its schedule (the support is gone at 500 PSA)
    fast = run_waterfall(d, collateral_collections(spec.pool, [500.0]), keep=("ending_balance",))
    g = gi["PAC1"]
    members = list(d.grp_members[d.grp_start[g] : d.grp_end[g]])
    sched = np.array(d.grp_schedule[g], dtype=np.float64) / 10**d.decimals
    bal = fast.table("ending_balance")[0, : len(sched)][:, members].sum(axis=1)
    assert np.any(bal < sched - 1.0)


def test_first_group_schedule_is_the_band_minimum_of_the_collateral() -> None:
    """PAC I is first in the rules, so its principal each period is the lesser of the
    pool's principal at 100% and 250% PSA (each rep line projected on its own), until
    its face is reached: computed here from the projections, not from the engine."""
    from openmbs.behaviour import Prepayment
    from openmbs.cashflow import project_pool

    spec = example_deal("agency_remic")
    d = compile_exact(spec)
    g = d.group_names.index("PAC1")
    face = sum(d.face[d.grp_members[q]] for q in range(d.grp_start[g], d.grp_end[g])) / 1e6

    def principal(psa: float) -> np.ndarray:  # type: ignore[type-arg]
        out = np.zeros(360)
        for r in spec.pool.replines:
            assert r.remaining_term is not None
            cf = project_pool(balance=r.balance, gross_coupon=r.wac, net_coupon=r.net_coupon,
                              original_term=r.term, remaining_term=r.remaining_term,
                              loan_age=r.term - r.remaining_term, prepayment=Prepayment.psa(psa))
            p = np.asarray(cf.principal)
            out[: len(p)] += p
        return out

    lesser = np.minimum(principal(100.0), principal(250.0))
    want = np.maximum(face - np.cumsum(lesser), 0.0)
    got = np.array(d.grp_schedule[g], dtype=np.float64) / 1e6
    np.testing.assert_allclose(got, want[: len(got)], rtol=0, atol=1e-6)
    assert want[len(got):].max(initial=0.0) == 0.0


def test_legacy_deals_are_unchanged_and_chain_ready() -> None:
    for name in ("four_tranche", "pac_io", "senior_sub"):
        d = compile_exact(example_deal(name))
        assert d.program == () and chain_unsupported(d) == []
        check_chain(d)


def test_chain_refuses_the_deal_language_naming_the_constructs() -> None:
    d = compile_exact(example_deal("agency_remic"))
    # 13 classes, groups, rules and IO strips on a group run on chain (RuleProgram,
    # ExactWaterfall, up to 16 classes): the example is no longer refused
    check_chain(d)
    check_chain(dataclasses.replace(d, excess_to=0))  # excess interest to a class runs too
    with pytest.raises(SpecError) as err:
        check_chain(dataclasses.replace(d, accretion_mask=(1 << MAX_TRANCHES,) * d.n_tranches))
    msg = str(err.value)
    assert "accretion target beyond class" in msg
    for part in ("classes", "groups", "principal_rules", "accrual_rules", "IO notional"):
        assert part not in msg


def test_numpy_engine_refuses_rules() -> None:
    spec = example_deal("agency_remic")
    with pytest.raises(InputError, match="engine='numba'"):
        run_waterfall(spec, collateral_collections(spec.pool, [100.0]), engine="numpy")


def test_sixty_four_classes() -> None:
    tranches = [{"name": f"C{i}", "balance": 1000.0, "rate": 0.05, "priority": 1 + i // 8} for i in range(64)]
    spec = build_deal(
        tranches,
        pool={"balance": 64_000.0},
        principal_rules=[{"pay": "sequential", "classes": [t["name"] for t in tranches]}],
    )
    coll = _collections(7, 12, balance=64_000.0)
    d = compile_exact(spec)
    state, res = run_exact(d, remittances_from_collections(coll, 0))
    fl = run_waterfall(spec, coll)
    ex = np.array([r.principal_paid for r in res], dtype=np.float64)
    np.testing.assert_allclose(fl.table("principal_paid")[0], ex, atol=64 * 12)
    assert all(b == 0 for b in state.balance)
    with pytest.raises(SpecError, match="at most 64"):
        build_deal([*tranches, {"name": "X", "balance": 1.0, "priority": 9}], pool={"balance": 64_001.0},
                   principal_rules=[{"pay": "sequential", "classes": ["C0"]}])


_BASE = [
    {"name": "A", "balance": 600, "rate": 0.05, "priority": 1},
    {"name": "B", "balance": 400, "rate": 0.05, "priority": 2},
]


@pytest.mark.parametrize(
    ("top", "key", "words"),
    [
        ({"principal_rules": [{"pay": "sequential", "classes": ["A", "Q"]}]},
         "principal_rules[0].classes[1]", "unknown class or group"),
        ({"principal_rules": [{"pay": "planned", "target": "G9"}, {"pay": "sequential", "classes": ["A", "B"]}]},
         "principal_rules[0].target", "unknown group"),
        ({"principal_rules": [{"pay": "concurrent", "split": [
            {"percent": 0.5, "pay": "sequential", "classes": ["A"]},
            {"percent": 0.4, "pay": "sequential", "classes": ["B"]}]}]},
         "principal_rules[0].split", "sum to 100%"),
        ({"principal_rules": [{"pay": "sequential", "classes": ["A"]}]},
         "tranches[1].name", "paid by no principal rule"),
        ({"principal_rules": [{"pay": "sequential", "classes": ["A", "B"], "when": "NOPE"}]},
         "principal_rules[0].when", "unknown trigger"),
        ({"groups": [{"name": "G", "classes": ["A"], "planned_balance": [1.0] * 400}],
          "principal_rules": [{"pay": "sequential", "classes": ["G", "B"]}], "pool": {"balance": 1000.0, "term": 360}},
         "groups[0].planned_balance", "longer than the collateral"),
        ({"groups": [{"name": "G", "classes": ["A"], "kind": "none"}],
          "principal_rules": [{"pay": "sequential", "classes": ["G", "B"]}, {"pay": "planned", "target": "G"}]},
         "principal_rules[1].target", "no planned balance"),
        ({"groups": [{"name": "G", "classes": ["A"], "kind": "none"}]}, "groups", "need a [[principal_rules]]"),
        ({"groups": [{"name": "G", "classes": ["A"], "planned_balance": [500.0]}],
          "principal_rules": [{"pay": "sequential", "classes": ["G", "B"]}]},
         "groups[0].name", "no 'planned' rule pays"),
    ],
)
def test_bad_rules_are_named(top: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        build_deal(_BASE, **top)
    assert err.value.key == key, str(err.value)
    assert words in str(err.value)


def test_accrual_cycle_is_named() -> None:
    tranches = [
        {"name": "A", "balance": 500, "rate": 0.05, "priority": 1},
        {"name": "Z1", "balance": 250, "rate": 0.05, "priority": 2, "accrual": True},
        {"name": "Z2", "balance": 250, "rate": 0.05, "priority": 3, "accrual": True},
    ]
    with pytest.raises(SpecError) as err:
        build_deal(
            tranches,
            principal_rules=[{"pay": "sequential", "classes": ["A", "Z1", "Z2"]}],
            accrual_rules=[
                {"z": "Z1", "rules": [{"pay": "sequential", "classes": ["Z2", "A"]}]},
                {"z": "Z2", "rules": [{"pay": "sequential", "classes": ["Z1"]}]},
            ],
        )
    assert "cycle" in str(err.value) and "Z1 -> Z2 -> Z1" in str(err.value)


def test_unused_keys_are_errors() -> None:
    # a 'group' key on a PAC class used to pass validation and be ignored
    with pytest.raises(SpecError, match="only applies to principal = 'pro_rata'") as err:
        build_deal([{"name": "A", "balance": 100, "priority": 1, "group": "G1", "principal": "sequential"}])
    assert err.value.key == "tranches[0].group"
    # with rules, the fixed order's keys are refused, not ignored
    with pytest.raises(SpecError, match="remove 'lockout'") as err:
        build_deal([{**_BASE[0], "lockout": 3}, _BASE[1]],
                   principal_rules=[{"pay": "sequential", "classes": ["A", "B"]}])
    assert err.value.key == "tranches[0].lockout"
    with pytest.raises(SpecError, match="unknown key"):
        build_deal(_BASE, principal_rules=[{"pay": "sequential", "classes": ["A", "B"], "order": 1}])


def _tac_deal(lockout: int, deferral: int = 0) -> Any:
    return build_deal(
        [
            {"name": "T1", "balance": 40_000_000.0, "rate": 0.05, "priority": 1},
            {"name": "T2", "balance": 20_000_000.0, "rate": 0.05, "priority": 1},
            {"name": "S", "remainder": True, "rate": 0.05, "priority": 1},
        ],
        asset={"symbol": "USDC", "decimals": DEC},
        pool={"balance": 100_000_000.0, "wac": 0.065, "net_coupon": 0.06, "term": 360},
        groups=[{"name": "T", "classes": ["T1", "T2"], "kind": "tac", "speed": 200.0, "lockout": lockout,
                 "deferral": deferral}],
        principal_rules=[
            {"pay": "planned", "target": "T"},
            {"pay": "sequential", "classes": ["S", "T"]},
        ],
    )


def test_tac_holds_at_its_speed_and_lockout_defers_the_schedule() -> None:
    for lockout in (0, 24):
        spec = _tac_deal(lockout)
        d = compile_exact(spec)
        sched = np.array(d.grp_schedule[0], dtype=np.float64) / SCALE
        face = 60_000_000.0
        assert np.all(sched[:lockout] == face) and sched[lockout] < face
        res = run_waterfall(d, collateral_collections(spec.pool, [200.0]), keep=("ending_balance",))
        bal = res.table("ending_balance")[0, : len(sched), :2].sum(axis=1)
        np.testing.assert_allclose(bal, sched, rtol=0, atol=1.0)
    # deferring the schedule lowers what it pays early and keeps the face longer
    early = np.array(compile_exact(_tac_deal(0)).grp_schedule[0][:24])
    assert np.all(early < 60_000_000 * SCALE)


def test_pricing_override_replaces_the_rep_lines_at_its_speed() -> None:
    pool = example_deal("agency_remic").pool
    c0 = collateral_collections(pool, [0.0])
    c100 = collateral_collections(pool, [100.0])
    # the override: one line of 360 months remaining; the rep lines run 358 at most
    assert c0.n_periods == 360 and c100.n_periods == 358
    assert c0.original_balance == c100.original_balance == 400_000_000.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fixed_order_written_as_rules_gives_the_same_numbers_to_the_unit(seed: int) -> None:
    """The fixed order is one program: sequential classes, then a pro-rata group, as
    ``principal`` keys and as rules, give the same exact results."""
    base = [
        {"name": "A", "balance": 400_000.0, "rate": 0.04, "priority": 1},
        {"name": "B", "balance": 250_000.0, "rate": 0.05, "priority": 2},
        {"name": "C", "balance": 200_000.0, "rate": 0.06, "priority": 3},
        {"name": "D", "balance": 150_000.0, "rate": 0.07, "priority": 3},
    ]
    fixed = build_deal(
        [*base[:2], {**base[2], "principal": "pro_rata", "group": "g"}, {**base[3], "principal": "pro_rata", "group": "g"}],
        asset={"symbol": "USDC", "decimals": DEC},
        pool={"balance": 1_000_000.0},
    )
    rules = build_deal(
        base,
        asset={"symbol": "USDC", "decimals": DEC},
        pool={"balance": 1_000_000.0},
        principal_rules=[
            {"pay": "sequential", "classes": ["A", "B"]},
            {"pay": "pro_rata", "classes": ["C", "D"]},
        ],
    )
    coll = _collections(seed, 40)
    rems = remittances_from_collections(coll, DEC)
    _, want = run_exact(compile_exact(fixed), rems)
    _, got = run_exact(compile_exact(rules), rems)
    assert [r.principal_paid for r in got] == [r.principal_paid for r in want]
    assert [r.interest_paid for r in got] == [r.interest_paid for r in want]
    assert [r.writedown for r in got] == [r.writedown for r in want]
    assert [r.residual_paid for r in got] == [r.residual_paid for r in want]
    assert sum(sum(r.principal_paid) for r in got) > 0


def test_excess_interest_to_a_named_class() -> None:
    tranches = [
        {"name": "A", "balance": 600_000.0, "rate": 0.04, "priority": 1},
        {"name": "B", "remainder": True, "rate": 0.05, "priority": 2},
        {"name": "X", "balance": 0.0, "coupon": "none", "priority": 3},
    ]
    top: dict[str, Any] = {"asset": {"symbol": "USDC", "decimals": DEC}, "pool": {"balance": 1_000_000.0}}
    plain = build_deal(tranches, **top)
    spec = build_deal(tranches, excess_interest_to="X", **top)
    c0 = _collections(11, 24)
    # interest well above the coupons: there is excess interest
    coll = Collections.from_arrays(
        original_balance=1_000_000.0, interest=np.round(c0.interest[0] * 3, 2),
        scheduled_principal=c0.scheduled_principal[0], prepaid_principal=c0.prepaid_principal[0],
        losses=c0.losses[0], ending_balance=c0.ending_balance[0],
    )
    rems = remittances_from_collections(coll, DEC)
    _, base = run_exact(compile_exact(plain), rems)
    _, res = run_exact(compile_exact(spec), rems)
    x = 2
    for b, r in zip(base, res, strict=True):
        # what went to the residual holder as excess interest now goes to X
        assert r.interest_paid[x] + r.residual_paid == b.residual_paid
        assert r.interest_paid[:x] == b.interest_paid[:x] and r.principal_paid == b.principal_paid
        assert r.cash_in == r.cash_out + r.reserve_deposit - r.reserve_draw - r.reserve_release + r.dust_change
    assert sum(r.interest_paid[x] for r in res) > 0
    fl = run_waterfall(spec, coll)
    ex = np.array([r.interest_paid for r in res], dtype=np.float64) / SCALE
    np.testing.assert_allclose(fl.table("interest_paid")[0], ex, rtol=0, atol=3 * 24 / SCALE)
    assert chain_unsupported(compile_exact(spec)) == []  # runs on chain (tests/chain/test_exact_waterfall_rules.py)
    with pytest.raises(SpecError, match="must name a class"):
        build_deal(tranches, excess_interest_to="R", **top)


def test_rule_programs_do_not_depend_on_the_thread_split() -> None:
    """Registers and latches are per chunk of scenarios: the parallel kernel gives the
    serial kernel's numbers, bit for bit, on a deal with rules, a Z and a trigger."""
    from openmbs.structuring._kernel import pack, run_kernel
    from openmbs.structuring._waterfall import _COLL_FIELDS

    data = {
        "tranches": [
            {"name": "A", "balance": 500_000.0, "rate": 0.04, "priority": 1},
            {"name": "B", "balance": 200_000.0, "rate": 0.05, "priority": 1},
            {"name": "Z", "balance": 100_000.0, "rate": 0.06, "priority": 2, "accrual": True},
            {"name": "S", "remainder": True, "rate": 0.06, "priority": 2},
        ],
        "pool": {"balance": 1_000_000.0},
        "asset": {"symbol": "USDC", "decimals": DEC},
        "triggers": [{"name": "L", "test": "cumulative_loss", "threshold": 0.003, "effects": ["sequential"]}],
        "groups": [{"name": "G", "classes": ["A", "B"], "pay": "pro_rata",
                    "planned_balance": [700_000.0 - 8_000.0 * k for k in range(60)]}],
        "accrual_rules": [{"z": "Z", "rules": [{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["Z"]}]}],
        "principal_rules": [
            {"pay": "sequential", "classes": ["S", "Z", "G"], "when": "L"},
            {"pay": "planned", "target": "G"},
            {"pay": "concurrent", "split": [{"percent": 0.7, "pay": "sequential", "classes": ["S", "Z"]},
                                            {"percent": 0.3, "pay": "sequential", "classes": ["G"]}]},
        ],
    }
    spec = build_deal(data["tranches"], **{k: v for k, v in data.items() if k != "tranches"})
    colls = [_collections(seed, 60) for seed in range(130)]
    arrays = {k: np.concatenate([getattr(c, k) for c in colls]) for k in _COLL_FIELDS}
    packed = pack(compile_exact(spec))
    serial = run_kernel(packed, arrays, tables=("principal_paid", "accreted"), parallel=False)
    par = run_kernel(packed, arrays, tables=("principal_paid", "accreted"), parallel=True)
    for key in ("principal_paid", "accreted"):
        np.testing.assert_array_equal(par["tr"][key], serial["tr"][key])
    assert float(serial["tr"]["accreted"].sum()) > 0 and float(serial["tr"]["principal_paid"].sum()) > 0


def test_deferred_schedule_pays_nothing_then_catches_up_by_hand() -> None:
    """A schedule deferred 2 periods: the planned rule pays nothing in periods 1-2 (the
    cash goes on to the next rule), then pays the group down to its planned balance as
    far as the cash allows, the shortfall caught up the period after."""
    spec = build_deal(
        [
            {"name": "P", "balance": 400, "rate": 0.0, "priority": 1},
            {"name": "S", "balance": 600, "rate": 0.0, "priority": 1},
        ],
        pool={"balance": 1000.0},
        groups=[{"name": "G", "classes": ["P"], "planned_balance": [380, 360, 340, 320], "deferral": 2}],
        principal_rules=[
            {"pay": "planned", "target": "G"},
            {"pay": "sequential", "classes": ["S", "G"]},
        ],
    )
    from structuring_helpers import rem

    from openmbs.structuring import apply_period, initial_state

    d = compile_exact(spec)
    assert d.grp_defer == (2,)
    s, r = apply_period(d, initial_state(d), rem(1, sched=30, beg=1000))
    assert r.principal_paid == (0, 30)  # deferred: all to S
    s, r = apply_period(d, s, rem(2, sched=30, beg=970))
    assert r.principal_paid == (0, 30)
    # period 3: P is owed 400 - 340 = 60, 50 comes in
    s, r = apply_period(d, s, rem(3, sched=50, beg=940))
    assert r.principal_paid == (50, 0)
    # period 4: the 10 short caught up and the period's 20: 400 - 50 - 320 = 30
    s, r = apply_period(d, s, rem(4, sched=50, beg=890))
    assert r.principal_paid == (30, 20)
    # the same deal without the deferral pays P from period 1
    nodef = build_deal(
        [{"name": "P", "balance": 400, "rate": 0.0, "priority": 1},
         {"name": "S", "balance": 600, "rate": 0.0, "priority": 1}],
        pool={"balance": 1000.0},
        groups=[{"name": "G", "classes": ["P"], "planned_balance": [380, 360, 340, 320]}],
        principal_rules=[{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["S", "G"]}],
    )
    d0 = compile_exact(nodef)
    _s, r = apply_period(d0, initial_state(d0), rem(1, sched=30, beg=1000))
    assert r.principal_paid == (20, 10)


def test_deferred_band_schedule_catches_up_in_both_engines() -> None:
    """A TAC structured at 200 PSA and deferred 12 periods: the schedule is the
    undeferred one; at 300 PSA (more cash than the schedule needs) the group is paid
    nothing for 12 periods, then catches up to its planned balance and holds it (at
    200 PSA every period's cash is the period's schedule: it could never catch up);
    the float engine equals the exact one."""
    spec = _tac_deal(0)
    deferred = _tac_deal(0, deferral=12)
    d0 = compile_exact(spec)
    d = compile_exact(deferred)
    assert d.grp_schedule == d0.grp_schedule  # the deferral does not move the schedule
    coll = collateral_collections(spec.pool, [300.0])
    res = run_waterfall(deferred, coll, keep=("ending_balance", "principal_paid"))
    bal = res.table("ending_balance")[0, :, :2].sum(axis=1)
    sched = np.array(d.grp_schedule[0], dtype=np.float64) / SCALE
    assert np.all(res.table("principal_paid")[0, :12, :2] == 0.0)
    behind = bal[: len(sched)] - sched
    assert behind[11] > 1_000_000.0  # 12 periods of schedule unpaid
    assert np.any(np.abs(behind[12:]) < 1.0)
    caught = 12 + int(np.argmax(np.abs(behind[12:]) < 1.0))
    assert 12 < caught < 60
    # from then on the group is where it would have been undeferred (which holds the
    # schedule until period 82, where 300 PSA has used up the collateral)
    undeferred = run_waterfall(spec, coll, keep=("ending_balance",)).table("ending_balance")[0, :, :2].sum(axis=1)
    np.testing.assert_allclose(bal[caught:], undeferred[caught:], rtol=0, atol=1.0)
    _state, ex = run_exact(d, remittances_from_collections(coll, DEC))
    ex_bal = np.array([r.ending_balance for r in ex], dtype=np.float64) / SCALE
    np.testing.assert_allclose(res.table("ending_balance")[0], ex_bal, rtol=0, atol=1.0)


@pytest.mark.parametrize(
    ("group", "key", "words"),
    [
        ({"name": "G", "classes": ["A"], "kind": "none", "deferral": 3}, "groups[0].deferral", "no schedule to defer"),
        ({"name": "G", "classes": ["A"], "planned_balance": [500.0], "deferral": 360},
         "groups[0].deferral", "before the collateral"),
        ({"name": "G", "classes": ["A"], "planned_balance": [500.0], "deferral": -1}, "groups[0].deferral", "greater than or equal to 0"),
    ],
)
def test_bad_deferral_is_named(group: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        build_deal(_BASE, groups=[group], pool={"balance": 1000.0, "term": 360},
                   principal_rules=[{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["G", "B"]}])
    assert err.value.key == key, str(err.value)
    assert words in str(err.value)


def _capacity_deal(shares: list[float] | None, sizes: tuple[float, float] | None = None) -> Any:
    p = [{"name": "P1", "rate": 0.05, "priority": 1}, {"name": "P2", "rate": 0.05, "priority": 1}]
    if sizes is not None:
        p[0]["balance"], p[1]["balance"] = sizes
    group: dict[str, Any] = {"name": "G", "classes": ["P1", "P2"], "band": [100.0, 250.0]}
    if shares is not None:
        group["shares"] = shares
    return build_deal(
        [*p, {"name": "S", "remainder": True, "rate": 0.05, "priority": 2}],
        asset={"symbol": "USDC", "decimals": DEC},
        pool={"balance": 100_000_000.0, "wac": 0.065, "net_coupon": 0.06, "term": 360},
        groups=[group],
        principal_rules=[{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["S", "G"]}],
    )


def test_band_group_sized_from_its_capacity() -> None:
    """A PAC group whose classes have no size takes the structuring capacity at its band
    (the sum over the life of the lesser pool principal at 100% and 250% PSA, computed
    here from the projection), split 60/40; the remainder class gives it up; the group
    is retired by its schedule and holds it inside the band."""
    from openmbs.behaviour import Prepayment
    from openmbs.cashflow import project_pool

    spec = _capacity_deal([0.6, 0.4])
    d = compile_exact(spec)

    def principal(psa: float) -> np.ndarray:  # type: ignore[type-arg]
        cf = project_pool(balance=100_000_000.0, gross_coupon=0.065, net_coupon=0.06, original_term=360,
                          remaining_term=360, loan_age=0, prepayment=Prepayment.psa(psa))
        return np.asarray(cf.principal, dtype=np.float64)

    capacity = float(np.minimum(principal(100.0), principal(250.0)).sum())
    p1, p2, s = (d.face[d.names.index(x)] for x in ("P1", "P2", "S"))
    assert abs((p1 + p2) / SCALE - capacity) < 1e-3
    assert p1 == (p1 + p2) * 6 // 10
    assert s == d.pool_original - p1 - p2
    assert 0.5 * 100_000_000 * SCALE < p1 + p2 < d.pool_original  # a real part of the pool
    # the same deal with the sizes written out gives the same schedule
    given = compile_exact(_capacity_deal(None, sizes=(p1 / SCALE, p2 / SCALE)))
    assert given.face == d.face
    np.testing.assert_allclose(np.array(given.grp_schedule[0]), np.array(d.grp_schedule[0]), rtol=0, atol=2)
    for psa in (100.0, 175.0, 250.0):
        res = run_waterfall(d, collateral_collections(spec.pool, [psa]), keep=("ending_balance",))
        bal = res.table("ending_balance")[0, :, :2].sum(axis=1)
        sched = np.array(d.grp_schedule[0], dtype=np.float64) / SCALE
        np.testing.assert_allclose(bal[: len(sched)], sched, rtol=0, atol=1.0)
        assert bal[len(sched)] <= 1.0


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"shares": [0.6, 0.3]}, "groups[0].shares", "sum to 100%"),
        ({"shares": [1.0]}, "groups[0].shares", "one share for each of the 2 classes"),
        ({"shares": [0.5, 0.5], "band": None, "planned_balance": [900.0]}, "groups[0].shares", "needs a band"),
        ({"shares": [1.2, -0.2]}, "groups[0].shares", "above 0"),
    ],
)
def test_bad_capacity_groups_are_named(change: dict[str, Any], key: str, words: str) -> None:
    group = {"name": "G", "classes": ["P1", "P2"], "band": [100.0, 250.0], **change}
    if group.get("band") is None:
        group.pop("band")
    with pytest.raises(SpecError) as err:
        build_deal(
            [{"name": "P1", "rate": 0.05, "priority": 1}, {"name": "P2", "rate": 0.05, "priority": 1},
             {"name": "S", "remainder": True, "rate": 0.05, "priority": 2}],
            pool={"balance": 1000.0, "wac": 0.065, "net_coupon": 0.06, "term": 360},
            groups=[group],
            principal_rules=[{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["S", "G"]}],
        )
    assert err.value.key == key, str(err.value)
    assert words in str(err.value)


def test_capacity_class_with_a_size_and_capacity_too_large_are_named() -> None:
    with pytest.raises(SpecError) as err:
        build_deal(
            [{"name": "P1", "balance": 10.0, "rate": 0.05, "priority": 1}, {"name": "P2", "rate": 0.05, "priority": 1},
             {"name": "S", "remainder": True, "rate": 0.05, "priority": 2}],
            pool={"balance": 1000.0, "wac": 0.065, "net_coupon": 0.06, "term": 360},
            groups=[{"name": "G", "classes": ["P1", "P2"], "band": [100.0, 250.0], "shares": [0.5, 0.5]}],
            principal_rules=[{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["S", "G"]}],
        )
    assert err.value.key == "tranches[0].balance" and "takes no size of its own" in str(err.value)
    # a fixed class taking most of the pool: the capacity does not fit in what is left
    spec = build_deal(
        [{"name": "A", "balance": 900.0, "rate": 0.05, "priority": 1},
         {"name": "P1", "rate": 0.05, "priority": 2}, {"name": "P2", "rate": 0.05, "priority": 2},
         {"name": "S", "remainder": True, "rate": 0.05, "priority": 3}],
        pool={"balance": 1000.0, "wac": 0.065, "net_coupon": 0.06, "term": 360},
        groups=[{"name": "G", "classes": ["P1", "P2"], "band": [100.0, 250.0], "shares": [0.5, 0.5]}],
        principal_rules=[{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["A", "S", "G"]}],
    )
    with pytest.raises(SpecError) as err:
        compile_exact(spec)
    assert err.value.key == "groups[0].shares" and "capacity" in str(err.value)


def _nested_deal() -> Any:
    return build_deal(
        [
            {"name": "P1", "balance": 200, "rate": 0.0, "priority": 1},
            {"name": "P2", "balance": 100, "rate": 0.0, "priority": 1},
            {"name": "P3", "balance": 100, "rate": 0.0, "priority": 1},
            {"name": "S", "balance": 600, "rate": 0.0, "priority": 1},
        ],
        pool={"balance": 1000.0},
        groups=[{"name": "G", "classes": ["P1", "P2", "P3"], "planned_balance": [350, 300, 250],
                 "pay": "rules", "rules": [
                     {"pay": "concurrent", "split": [
                         {"percent": 0.5, "pay": "sequential", "classes": ["P1"]},
                         {"percent": 0.5, "pay": "pro_rata", "classes": ["P2", "P3"]}]}]}],
        principal_rules=[{"pay": "planned", "target": "G"}, {"pay": "sequential", "classes": ["S", "G"]}],
    )


def test_group_paid_by_its_own_rules_by_hand() -> None:
    """A group paid by a rule list: 50% to P1, 50% pro rata to P2/P3 (by balance)."""
    from structuring_helpers import rem

    from openmbs.structuring import apply_period, initial_state

    d = compile_exact(_nested_deal())
    assert d.grp_mode == (2,)
    _s, r = apply_period(d, initial_state(d), rem(1, sched=100, beg=1000))
    # G down to 350: 50 paid, 25 to P1, 12.5 each to P2/P3 (floored units: 12 and 13)
    assert r.principal_paid[0] == 25 and r.principal_paid[1] + r.principal_paid[2] == 25
    assert r.principal_paid[3] == 50


def test_group_rules_float_equals_exact() -> None:
    """The group's rules in both engines on random collections, to zero; money kept."""
    spec = _nested_deal()
    coll = _collections(11, 24, balance=1000.0)
    d = compile_exact(spec)
    fl = run_waterfall(spec, coll)
    _state, res = run_exact(d, remittances_from_collections(coll, d.decimals))
    for r in res:
        assert r.cash_in == r.cash_out + r.reserve_deposit - r.reserve_draw - r.reserve_release + r.dust_change
    unit = 10.0**d.decimals
    ex = np.array([r.principal_paid for r in res], dtype=np.float64) / unit
    np.testing.assert_allclose(fl.table("principal_paid")[0], ex, rtol=0, atol=6 * 24 * 4 / unit)
    # the split reached both legs (P1 and the pro-rata pair were both paid)
    assert ex[:, 0].sum() > 0 and ex[:, 1].sum() > 0 and ex[:, 2].sum() > 0


@pytest.mark.parametrize(
    ("group", "key", "words"),
    [
        ({"pay": "rules"}, "groups[0].rules", "needs its rules"),
        ({"rules": [{"pay": "sequential", "classes": ["A"]}]}, "groups[0].pay", "only apply with pay = 'rules'"),
        ({"pay": "rules", "rules": [{"pay": "sequential", "classes": ["B"]}]},
         "groups[0].rules[0].classes[0]", "only its own classes"),
        ({"pay": "rules", "kind": "pac", "planned_balance": [500.0], "rules": [{"pay": "planned", "target": "G"}]},
         "groups[0].rules[0].pay", "no 'planned'"),
        ({"pay": "rules", "rules": [{"pay": "sequential", "classes": ["Q"]}]},
         "groups[0].rules[0].classes[0]", "unknown class"),
    ],
)
def test_bad_group_rules_are_named(group: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        build_deal(_BASE, groups=[{"name": "G", "classes": ["A"], "kind": "none", **group}],
                   principal_rules=[{"pay": "sequential", "classes": ["G", "B"]}])
    assert err.value.key == key, str(err.value)
    assert words in str(err.value)


@pytest.mark.parametrize("name", [*EXAMPLE_NAMES_FOR_ROUND_TRIP])
def test_a_deal_written_out_reads_back_as_the_same_deal(name: str) -> None:
    """What a run stores as its deal (``closing.json``'s ``deal_spec``) must parse back:
    the full dump wrote defaults (a fixed class's ``multiplier``) that the validator
    refuses, and the demo's audit could not re-read its own deal."""
    spec = example_deal(name)
    specs = [spec] if spec.pool.replines else [spec, spec.with_pool(balance=12_345_678.0)]
    for s in specs:
        back = parse_deal(s.as_data())
        assert compile_exact(back) == compile_exact(s)
