"""A deal written in the deal language with constructs ``ExactWaterfall`` cannot run yet
must be refused at deployment, never deployed to run the fixed order silently.

The attack: a structurer (or a careless issuer) writes a two-class deal whose principal
rule pays pro rata; the contract only knows the fixed order and would pay sequentially,
so holders would receive what no document promised. Deployment must refuse it naming the
construct.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from openmbs.chain._exact_waterfall import deploy_exact_waterfall, exact_params
from openmbs.errors import SpecError
from openmbs.structuring import compile_exact

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "structuring"))
from structuring_helpers import build_deal


def _rules_deal() -> object:
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


def test_a_rules_deal_is_refused_before_it_reaches_the_chain() -> None:
    deal = _rules_deal()
    with pytest.raises(SpecError, match="principal_rules"):
        exact_params(deal)  # type: ignore[arg-type]


def test_deploying_a_rules_deal_is_refused() -> None:
    deal = _rules_deal()
    with pytest.raises(SpecError, match="cannot run this deal yet"):
        deploy_exact_waterfall(deal, "0x" + "11" * 20)  # type: ignore[arg-type]
