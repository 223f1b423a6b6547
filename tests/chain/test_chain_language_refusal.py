"""A deal written in the deal language never runs the fixed order silently on chain.

The attack: a structurer (or a careless issuer) writes a two-class deal whose principal
rule pays pro rata; a waterfall that only knew the fixed order would pay sequentially,
so holders would receive what no document promised. The deal's rules now run on chain
(its ``RuleProgram``, called by ``ExactWaterfall``): the pro-rata deal pays pro rata,
to the unit of the exact engine. A construct the chain still cannot run is refused at
deployment, naming it.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from openmbs.chain._exact_waterfall import (
    ZERO_ADDRESS,
    apply_onchain,
    deploy_exact_waterfall,
    exact_params,
)
from openmbs.errors import SpecError
from openmbs.structuring import MAX_TRANCHES, ExactDeal, compile_exact
from openmbs.structuring._exact import apply_period, initial_state

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "structuring"))
from structuring_helpers import build_deal, rem

DEAL = "0x" + "11" * 20


def _rules_deal() -> ExactDeal:
    tranches = [
        {"name": "A", "balance": 600.0, "rate": 0.05, "priority": 1},
        {"name": "B", "balance": 400.0, "rate": 0.05, "priority": 2},
    ]
    spec = build_deal(
        tranches,
        pool={"balance": 1000.0},
        principal_rules=[{"pay": "pro_rata", "classes": ["A", "B"]}],
    )
    return compile_exact(spec)


def test_a_rules_deal_pays_by_its_rules_on_chain() -> None:
    deal = _rules_deal()
    contract = deploy_exact_waterfall(deal, DEAL)
    assert contract.rules() != ZERO_ADDRESS
    r = rem(1, interest=4, sched=100, beg=1000)
    _state, want = apply_period(deal, initial_state(deal), r)
    got = apply_onchain(contract, deal, r, DEAL)
    # pro rata by balance (60/40), not the fixed order's senior first
    assert got.principal_paid == want.principal_paid == (60, 40)
    assert got == want


def test_a_construct_the_chain_cannot_run_is_refused_naming_it() -> None:
    # (excess_interest_to runs on chain since the 16-class bound; an accretion target
    # past the contract's class bound does not)
    base = _rules_deal()
    deal = dataclasses.replace(base, accretion_mask=(1 << MAX_TRANCHES, *base.accretion_mask[1:]))
    with pytest.raises(SpecError, match="accretion target beyond class"):
        exact_params(deal)
    with pytest.raises(SpecError, match="cannot run this deal yet"):
        deploy_exact_waterfall(deal, DEAL)
