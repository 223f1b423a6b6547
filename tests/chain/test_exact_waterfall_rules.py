"""``ExactWaterfall`` with its ``RuleProgram`` == the exact engine, period by period.

Random deals in the deal language (``rule_program_helpers``: groups of every payment
mode, orders, concurrent splits, trigger conditions, planned schedules with
deferrals, Z accrual directed by rules, IO strips, fixed, floating and inverse
floating coupons with index multipliers), at most the waterfall's class
count, run on chain and in ``apply_period`` over random remittance paths with
losses, recoveries, interest shortfalls, latching loss triggers and a pay-off: every
figure of every period and the state after it (balances, indices and their carries,
shortfalls, write-downs, reserve, dust, latches) are equal to the unit.

Run with ``-n 0`` (one EVM per process; each deal is deployed on a lean embedded EVM).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boa
import pytest
from rule_program_helpers import random_rules_deal
from test_exact_waterfall_diff import _remittances, _split

from openmbs.chain._contracts import contract_path
from openmbs.chain._exact_waterfall import (
    PENALTY_RESIDUAL,
    ZERO_ADDRESS,
    apply_onchain,
    deploy_exact_waterfall,
    exact_params,
    exact_waterfall_deployer,
    params_fields,
    read_params,
    read_state,
)
from openmbs.chain._rule_program import deploy_rule_program
from openmbs.chain.fastevm import make_lean
from openmbs.errors import SpecError
from openmbs.structuring import MAX_TRANCHES, ExactDeal, chain_unsupported, compile_exact
from openmbs.structuring._exact import (
    CPN_INVERSE,
    I_PLANNED,
    I_SKIP,
    I_SPLIT,
    NOTIONAL_GROUP,
    WAD,
    apply_period,
    initial_state,
)

DEAL_ADDRESS = "0x00000000000000000000000000000000000d3a10"
DEALS = 16
PERIODS = 14


@pytest.fixture(autouse=True)
def _rollback() -> Iterator[None]:
    """Overrides the chain conftest's per-test rollback (no shared deal needed)."""
    yield


@pytest.fixture(scope="module")
def lean() -> Iterator[Any]:
    env = boa.Env()
    make_lean(env)
    with boa.swap_env(env):
        yield env


def _path(rnd: random.Random, periods: int) -> list[tuple[int, ...]]:
    """(prepay bp, loss bp, recovery %, interest %, 60+ bp, index bp, subsequent bp)."""
    return [
        (rnd.randint(0, 800), rnd.choice([0, 0, rnd.randint(0, 300), rnd.randint(300, 1200)]), rnd.randint(0, 100),
         rnd.choice([100, 100, rnd.randint(0, 130)]), rnd.randint(1, 1500), rnd.randint(0, 1000),
         rnd.choice([0, 0, rnd.randint(0, 50)]))
        for _ in range(periods)
    ]


def _run(contract: Any, deal: ExactDeal, rnd: random.Random) -> dict[str, int]:
    state = initial_state(deal)
    assert read_state(contract, deal) == state
    seen = {"latched": 0, "accreted": 0, "paid_off": 0}
    for rem in _remittances(deal, _path(rnd, PERIODS), wind_down=True):
        state, want = apply_period(deal, state, rem)
        d30, d90 = _split(rem)
        got = apply_onchain(contract, deal, rem, DEAL_ADDRESS, delinquent_30=d30, delinquent_90_plus=d90)
        assert got == want, f"period {rem.period}"
        assert read_state(contract, deal) == state, f"state after period {rem.period}"
        seen["latched"] += any(state.latch)
        seen["accreted"] += sum(want.accreted) > 0
    seen["paid_off"] += all(b == 0 for b in state.balance)
    return seen


def test_random_rule_deals_on_chain_equal_the_exact_engine(lean: Any) -> None:
    totals = {"latched": 0, "accreted": 0, "paid_off": 0, "split": 0, "planned": 0, "skip": 0,
              "group_rules": 0, "inverse": 0, "multiplier": 0, "io_group": 0,
              "deals": 0}
    builds: set[int] = set()
    for seed in range(DEALS):
        deal = compile_exact(random_rules_deal(500 + seed, max_classes=MAX_TRANCHES))
        assert chain_unsupported(deal) == [], (seed, chain_unsupported(deal))
        contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
        assert contract.rules() != ZERO_ADDRESS
        # the smallest build that holds the deal: up to 8 classes on the 8-class build
        assert int(contract.max_tranches()) == (8 if deal.n_tranches <= 8 else 16)
        builds.add(int(contract.max_tranches()))
        seen = _run(contract, deal, random.Random(seed))
        for k, v in seen.items():
            totals[k] += v
        ops = set(deal.program[0::4])
        totals["split"] += I_SPLIT in ops
        totals["planned"] += I_PLANNED in ops
        totals["skip"] += I_SKIP in ops
        totals["group_rules"] += 2 in deal.grp_mode
        totals["inverse"] += CPN_INVERSE in deal.coupon_kind
        totals["multiplier"] += any(m not in (0, WAD) for m in deal.multiplier)
        totals["io_group"] += any(r >= NOTIONAL_GROUP for r in deal.io_ref)
        totals["deals"] += 1
    # the paths reached what they are meant to (not a vacuous differential), on both builds
    assert all(v >= 3 for v in totals.values()), totals
    assert builds == {8, 16}


def test_the_waterfall_refuses_an_unsealed_or_foreign_rule_program(lean: Any) -> None:
    deal = compile_exact(random_rules_deal(7, max_classes=MAX_TRANCHES))
    from openmbs.chain._rule_program import rule_params, rule_program_deployer

    unsealed = rule_program_deployer().deploy(rule_params(deal))
    w = exact_waterfall_deployer().deploy(exact_params(deal), DEAL_ADDRESS, unsealed.address)
    with boa.reverts(dev="rule program not sealed"):
        w.seal()
    others = (compile_exact(random_rules_deal(s, max_classes=MAX_TRANCHES)) for s in range(8, 99))
    other = next(d for d in others if d.n_tranches != deal.n_tranches)
    foreign = deploy_rule_program(other, bound=MAX_TRANCHES)  # of the waterfall's build
    w = exact_waterfall_deployer().deploy(exact_params(deal), DEAL_ADDRESS, foreign.address)
    with boa.reverts(dev="rule program of another deal"):
        w.seal()


def test_a_rule_program_that_moves_other_money_is_refused(lean: Any) -> None:
    """A program that returned more (or less) than the amount would create (or lose)
    money: the waterfall checks paid + unused == amount. The attacker's program is a
    stand-in with RuleProgram's ABI that reports one unit more unused than it was
    given (without the check, the residual holder would be paid a unit the deal never
    received)."""
    stand_in = boa.loads(STAND_IN)
    deal = compile_exact(random_rules_deal(3, max_classes=MAX_TRANCHES))
    stand_in.set_n(deal.n_tranches)
    w = exact_waterfall_deployer().deploy(exact_params(deal), DEAL_ADDRESS, stand_in.address)
    w.seal()
    rem = next(_remittances(deal, [(300, 0, 0, 100, 10, 0, 0)], wind_down=False))
    with boa.reverts(dev="rule program moved other money"):
        apply_onchain(w, deal, rem, DEAL_ADDRESS)


STAND_IN = f"""
# pragma version ~=0.4.3
n: public(uint256)

@external
def set_n(n_: uint256):
    self.n = n_

@external
@view
def sealed() -> bool:
    return True

@external
@pure
def max_tranches() -> uint256:
    return {MAX_TRANCHES}

@external
@view
def n_classes() -> uint256:
    return self.n

@external
def pay(balances: uint256[{MAX_TRANCHES}], latches: uint256, period: uint256, amount: uint256, which: uint256) -> (uint256[{MAX_TRANCHES}], uint256):
    # pays nothing and reports one unit more unused than it was given
    return empty(uint256[{MAX_TRANCHES}]), amount + 1
"""


def test_fixed_order_deals_keep_no_rule_program(lean: Any) -> None:
    from openmbs.structuring import example_deal

    deal = compile_exact(example_deal("four_tranche"))
    contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
    assert contract.rules() == ZERO_ADDRESS


def test_constructs_the_chain_cannot_run_are_still_refused() -> None:
    big = next(d for d in (compile_exact(random_rules_deal(s, max_classes=40)) for s in range(12, 99))
               if d.n_tranches > MAX_TRANCHES)
    with pytest.raises(SpecError, match=rf"{big.n_tranches} classes \(the contract takes at most {MAX_TRANCHES}\)"):
        exact_params(big)


def test_excess_interest_to_a_class_on_chain_equals_the_exact_engine(lean: Any) -> None:
    """``excess_interest_to``: the interest funds left at the residual step are the
    named class's interest (``_exact._step_residual``); on chain equal to the engine,
    period by period, every figure and the stored state, for random rule deals each
    naming a random class; some periods pay a class more than its coupon (the excess
    reached it, not the residual holder)."""
    excess_periods = 0
    for seed in range(6):
        rnd = random.Random(900 + seed)
        base = compile_exact(random_rules_deal(900 + seed, max_classes=MAX_TRANCHES))
        deal = replace(base, excess_to=rnd.randrange(base.n_tranches))
        assert chain_unsupported(deal) == [], chain_unsupported(deal)
        contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
        state = initial_state(deal)
        k = deal.excess_to
        for rem in _remittances(deal, _path(rnd, PERIODS), wind_down=True):
            state, want = apply_period(deal, state, rem)
            d30, d90 = _split(rem)
            got = apply_onchain(contract, deal, rem, DEAL_ADDRESS, delinquent_30=d30, delinquent_90_plus=d90)
            assert got == want, (seed, rem.period)
            assert read_state(contract, deal) == state, (seed, rem.period)
            excess_periods += want.interest_paid[k] > want.interest_due[k]
    assert excess_periods >= 5, excess_periods


def test_an_excess_interest_class_out_of_range_is_refused(lean: Any) -> None:
    """The constructor takes ``excess_to`` below the class count, or the residual
    holder's code; any other value (a class that does not exist) is refused."""
    deal = compile_exact(random_rules_deal(7, max_classes=4))
    params = list(exact_params(deal))
    assert params[-1] == PENALTY_RESIDUAL  # excess_to, last: the residual holder
    params[-1] = deal.n_tranches
    with boa.reverts(dev="bad excess class"):
        exact_waterfall_deployer().deploy(tuple(params), DEAL_ADDRESS, ZERO_ADDRESS)
    params[-1] = deal.n_tranches - 1
    contract = exact_waterfall_deployer().deploy(tuple(params), DEAL_ADDRESS, ZERO_ADDRESS)
    assert _flat_params(read_params(contract))[-1] == deal.n_tranches - 1


def test_the_class_bound_is_sixteen_and_every_count_up_to_it_runs() -> None:
    """The chain takes every class count up to its bound (the random deals above reach
    it) and refuses the next one, naming both."""
    assert MAX_TRANCHES >= 16
    sizes = {d.n_tranches: d for d in (compile_exact(random_rules_deal(s, max_classes=MAX_TRANCHES + 4))
                                        for s in range(200, 320))}
    assert MAX_TRANCHES in sizes and MAX_TRANCHES + 1 in sizes, sorted(sizes)
    assert chain_unsupported(sizes[MAX_TRANCHES]) == []
    assert chain_unsupported(sizes[MAX_TRANCHES + 1]) == [
        f"{MAX_TRANCHES + 1} classes (the contract takes at most {MAX_TRANCHES})"
    ]


def test_the_agency_remic_example_on_chain_equals_the_exact_engine(lean: Any) -> None:
    """``examples/deals/language/agency_remic.toml`` (13 classes: two PAC groups, a Z
    directed to the second, supports split by percentage, a PO in each group), refused
    on chain while the bound was 8, runs period by period equal to the engine."""
    from openmbs.structuring import example_deal

    deal = compile_exact(example_deal("agency_remic"))
    assert deal.n_tranches > 8 and chain_unsupported(deal) == []
    contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
    assert int(contract.max_tranches()) == 16  # the 16-class build
    seen = _run(contract, deal, random.Random(16))
    assert seen["accreted"] > 0, seen


def test_the_parameters_contract_is_the_waterfall_s_own_and_inert(lean: Any) -> None:
    """The parameters live in a data contract the constructor creates (no address is
    taken from outside, so a deployer cannot point the waterfall at other
    parameters): its code is a STOP byte then ``abi_encode(ExactParams)``, exactly, and
    a call to it, with or without data, runs nothing and changes nothing."""
    from eth_abi import encode

    deal = compile_exact(random_rules_deal(4, max_classes=MAX_TRANCHES))
    contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
    bound = int(contract.max_tranches())  # the build deploy_exact_waterfall chose
    data = contract.params_data()
    code = bytes(boa.env.get_code(data))
    types = [c["type"] for c in params_fields(contract.abi)]
    want = b"\x00" + encode(["(" + ",".join(types) + ")"], [exact_params(deal, bound)])
    assert code == want
    assert _flat_params(read_params(contract)) == _flat_params(exact_params(deal, bound))
    attacker = boa.env.generate_address("attacker")
    boa.env.raw_call(data, sender=attacker, data=b"\xff" * 68)
    assert bytes(boa.env.get_code(data)) == want
    assert _flat_params(read_params(contract)) == _flat_params(exact_params(deal, bound))


def test_a_rate_that_would_spill_into_the_face_is_refused(lean: Any) -> None:
    """The waterfall keeps each class's face and rate in one immutable word (face high
    128 bits | rate low 128 bits, the word its hot path reads): a rate of 2**128 or
    more would add to the face the indices divide by, so the constructor refuses it;
    the largest rate that fits deploys and reads back."""
    deal = compile_exact(random_rules_deal(5, max_classes=4))
    params = list(exact_params(deal))
    rates = list(params[2])
    rates[0] = 2**128
    params[2] = rates
    with boa.reverts(dev="rate too large"):
        exact_waterfall_deployer().deploy(tuple(params), DEAL_ADDRESS, ZERO_ADDRESS)
    rates[0] = 2**128 - 1
    contract = exact_waterfall_deployer().deploy(tuple(params), DEAL_ADDRESS, ZERO_ADDRESS)
    assert _flat_params(read_params(contract)) == _flat_params(params)


def test_a_step_twice_in_the_order_is_refused(lean: Any) -> None:
    """The interest step starts from fresh rows (only the carried shortfalls come in),
    as the deal language's order runs each step once (the spec refuses a repeat): a
    parameter set naming a step twice would run a period no spec describes, so the
    constructor refuses it."""
    deal = compile_exact(random_rules_deal(6, max_classes=4))
    params = list(exact_params(deal))
    n_steps_at = next(k for k, f in enumerate(params_fields(exact_waterfall_deployer().deploy(
        tuple(params), DEAL_ADDRESS, ZERO_ADDRESS).abi)) if f["name"] == "n_steps")
    n, steps = int(params[n_steps_at]), list(params[n_steps_at + 1])
    assert n < len(steps)
    steps[n] = steps[0]  # the first step again, at the end
    params[n_steps_at], params[n_steps_at + 1] = n + 1, steps
    with boa.reverts(dev="step twice"):
        exact_waterfall_deployer().deploy(tuple(params), DEAL_ADDRESS, ZERO_ADDRESS)


def _flat_params(p: Any) -> list[int]:
    out: list[int] = []
    for x in p:
        if isinstance(x, (list, tuple)):
            out.extend(int(v) for v in x)
        else:
            out.append(int(x))
    return out


def test_a_deployed_rules_deal_verifies_and_a_record_with_another_program_is_refused(lean: Any) -> None:
    """``openmbs chain verify``'s checks: the deal read from its address finds the
    waterfall's RuleProgram (its code checked), and a record whose compiled program
    differs (another split, another planned balance) is refused naming the field."""
    import dataclasses
    import json

    from openmbs.chain import config_from_spec, deploy_deal
    from openmbs.chain._verify import check_record, read_deal
    from openmbs.errors import DataIntegrityError

    # the first random deal whose groups have planned balances
    spec = next(sp for sp in (random_rules_deal(s, max_classes=MAX_TRANCHES) for s in range(5, 99))
                if any(compile_exact(sp).grp_schedule))
    cfg = config_from_spec(spec, loan_count=10)
    admin = boa.env.generate_address("rules-admin")
    attestors = [boa.env.generate_address(f"rules-attestor{i}") for i in range(cfg.n_attestors)]
    d = deploy_deal(cfg, attestors=attestors, admin=admin)
    chain = read_deal(str(d.deal.address))
    assert chain.rules == str(d.waterfall.rules()) != ZERO_ADDRESS
    record = json.loads(json.dumps({
        "network": "rpc", "chain_id": d.chain_id(), "test_waterfall": False, "attestors": attestors,
        "config": dataclasses.asdict(d.config), "contracts": d.addresses(),
    }))
    check_record(record, chain, where="file 'd.json'")
    exact = record["config"]["exact"]
    assert exact["program"], "the deal has rules"
    bad = json.loads(json.dumps(record))
    bad["config"]["exact"]["prog_list"][0] ^= 1
    with pytest.raises(DataIntegrityError, match=r"config\.exact\.program"):
        check_record(bad, chain, where="file 'd.json'")
    g = next(i for i, sched in enumerate(exact["grp_schedule"]) if sched)
    last = len(exact["grp_schedule"][g]) - 1
    bad = json.loads(json.dumps(record))
    bad["config"]["exact"]["grp_schedule"][g][last] += 1
    with pytest.raises(DataIntegrityError, match=rf"config\.exact\.grp_schedule\[{g}\]\[{last}\]"):
        check_record(bad, chain, where="file 'd.json'")


def test_the_coupon_codes_of_the_rate_slot_are_the_engine_s() -> None:
    from openmbs.chain import _exact_waterfall
    from openmbs.structuring import _exact

    assert (_exact_waterfall._CPN_FLOAT, _exact_waterfall._CPN_INVERSE) == (_exact.CPN_FLOAT, _exact.CPN_INVERSE)
    assert _exact_waterfall._NOTIONAL_GROUP == _exact.NOTIONAL_GROUP
    src = contract_path("ExactWaterfall").read_text()
    assert f"\nNOTIONAL_GROUP: constant(uint256) = {_exact.NOTIONAL_GROUP}\n" in src


def test_the_deal_s_allocate_runs_the_rules_too(lean: Any) -> None:
    """``allocate`` (what the Deal calls on each remittance) takes the same path as
    ``apply``: on random rule deals its Allocation carries the engine's figures and
    keeps the deal's cash identity."""
    from test_exact_waterfall_diff import _allocation_input

    for seed in range(4):
        deal = compile_exact(random_rules_deal(900 + seed, max_classes=MAX_TRANCHES))
        contract = deploy_exact_waterfall(deal, DEAL_ADDRESS)
        state = initial_state(deal)
        n = deal.n_tranches
        for rem in _remittances(deal, _path(random.Random(seed), 6), wind_down=False):
            inp = _allocation_input(rem, state.reserve + state.dust)
            state, res = apply_period(deal, state, rem)
            a = contract.allocate(inp, sender=DEAL_ADDRESS)
            assert list(a.principal[:n]) == list(res.principal_paid), (seed, rem.period)
            assert list(a.interest[:n]) == list(res.interest_paid), (seed, rem.period)
            assert list(a.balance[:n]) == list(res.ending_balance), (seed, rem.period)
            assert a.residual == res.residual_paid
            credited = sum(a.interest) + sum(a.principal)
            assert credited + a.fee + a.residual + a.reserve_balance == inp[0][13] + inp[1]
            assert read_state(contract, deal) == state
