"""The report the oracle accepts reaches the waterfall with the meaning the exact
engine gives it.

``ExactRemittance.delinquent_60`` is the 60+ day delinquent balance (the delinquency
trigger's input); a report carries it in two buckets, 60-89 days and 90+ days. The
Python side (``openmbs.structuring.exact_remittance``) adds them; ``ExactWaterfall``
once passed only the 60-day bucket (``delinquent_60=r.delinquent_60``), so loans 90+
days late did not count. Found by the stateful suite; fixed in ExactWaterfall (the 60+ balance is 60-89 + 90+).
"""

from __future__ import annotations

from collections.abc import Iterator

import boa
import pytest
from eth_account import Account

from openmbs.chain import config_from_spec, deploy_deal
from openmbs.oracle import RemittanceReport, attest
from openmbs.structuring import example_deal
from openmbs.structuring._exact import ExactRemittance, apply_period, initial_state

KEYS = [Account.from_key(bytes([i + 1]) * 32) for i in range(5)]


@pytest.fixture(autouse=True)
def _rollback() -> Iterator[None]:
    """Overrides the chain conftest's per-test rollback (this test deploys its own deal)."""
    with boa.env.anchor():
        yield


def test_delinquency_trigger_counts_the_90_plus_bucket() -> None:
    spec = example_deal("senior_sub")
    pool_units = int(spec.pool.balance * 10**spec.asset.decimals)
    # the pool at cut-off is 15% 60-89 days late (they may be 90+ next month)
    cfg = config_from_spec(spec, loan_count=100, initial_delinquent=(0, pool_units * 15 // 100, 0))
    ex = cfg.exact
    assert ex.pool_original == pool_units
    admin = boa.env.generate_address("dq-admin")
    d = deploy_deal(cfg, attestors=[k.address for k in KEYS], admin=admin)
    d.allow([admin], 2**40)
    for t in range(ex.n_tranches):
        d.settlement.mint(admin, ex.face[t], sender=admin)
        d.subscribe(admin, t, ex.face[t])
    d.close()
    d.settle(admin)
    d.settlement.mint(admin, 10**20, sender=admin)
    pool = ex.pool_original
    sched, prepaid, interest = pool // 360, pool // 100, pool * 5 // 1200
    end = pool - sched - prepaid
    # all delinquent loans are 90+ days late: 10% of the pool, above the 5% threshold
    dq90 = end // 10
    rep = RemittanceReport(1, sched, prepaid, interest, 0, 0, pool, end, 100, 0, 0, dq90, 0,
                           interest + sched + prepaid, b"\x01" * 32, 0)
    d.remit(rep, attest(rep, [k.key for k in KEYS[:3]], chain_id=d.chain_id(), verifying_contract=str(d.oracle.address)))
    rem = ExactRemittance(1, interest, sched, prepaid, 0, 0, pool, end, delinquent_60=0 + dq90)
    state, res = apply_period(ex, initial_state(ex), rem)
    assert res.trigger_failing[1] == 1  # the engine trips the delinquency trigger: sequential
    assert [int(d.deal.tranche_balance(t)) for t in range(ex.n_tranches)] == list(state.balance)
