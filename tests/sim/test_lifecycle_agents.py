"""Servicer bridge and trigger keeper, against independent computations."""

from __future__ import annotations

import pytest

from openmbs.agents import ServicerBridge, TriggerKeeper, leaves, loan_records, record_columns
from openmbs.collateral import generate_tape
from openmbs.oracle import RemittanceReport
from openmbs.sim import LoanSimulator
from openmbs.structuring import compile_exact, example_deal


def test_bridge_equals_the_oracle_package_record_by_record() -> None:
    """Vectorised leaves and sums == LoanRecord.leaf() and RemittanceReport.from_loans
    (the oracle package's own, per-object implementation)."""
    tape = generate_tape(40, seed=9)
    sim = LoanSimulator(tape, prepayment=0.03, default=0.02, severity=0.4, lag=1, seed=2)
    bridge = ServicerBridge(tape.table.column("loan_id").to_pylist())
    for _ in range(4):
        rec = sim.step()
        rc = record_columns(rec.loans)
        sp = bridge.build(rec.period, rc)
        objs = loan_records(rc)
        assert sp.leaves == [r.leaf() for r in objs]
        assert leaves(rc) == sp.leaves
        assert sp.report == RemittanceReport.from_loans(rec.period, objs)
        # and the cash is what the simulator's pool says the borrowers paid
        p = rec.pool
        assert (
            sp.report.cash
            == p.net_interest + p.scheduled_principal + p.prepaid_principal + p.recovery
        )


def test_keeper_oc_and_loss_tests_by_hand() -> None:
    """four_tranche: OC on D at 1.02 (pool / (A+B+C+D)), cumulative loss at 5%."""
    deal = compile_exact(example_deal("four_tranche").with_pool(balance=1000.0))
    k = TriggerKeeper(deal)
    bal = [800, 80, 50, 40]  # sum 970
    # 990 / 970 = 1.0206 >= 1.02: passes
    assert k.observe(1, pool_end=990, losses=0, delinquent_60_plus=0, tranche_balances=bal) == []
    # 989 / 970 = 1.01959 < 1.02: trips
    ev = k.observe(2, pool_end=989, losses=0, delinquent_60_plus=0, tranche_balances=bal)
    assert [(e.name, e.tripped) for e in ev] == [("oc_test", True)]
    assert ev[0].value == pytest.approx(989 / 970)
    ev = k.observe(3, pool_end=1000, losses=0, delinquent_60_plus=0, tranche_balances=bal)
    assert [(e.name, e.tripped) for e in ev] == [("oc_test", False)]
    # cumulative losses: 5% of the 1000.0 pool (1e9 units) is 5e7 units; 5e7 does not fail, 5e7 + 1 does
    units = deal.pool_original
    assert units == 1_000_000_000
    assert (
        k.observe(4, pool_end=1000, losses=50_000_000, delinquent_60_plus=0, tranche_balances=bal)
        == []
    )
    ev = k.observe(5, pool_end=1000, losses=1, delinquent_60_plus=0, tranche_balances=bal)
    assert [(e.name, e.tripped) for e in ev] == [("cumulative_loss", True)]


def test_fast_keccak_and_tree_equal_the_oracle_package() -> None:
    import numpy as np
    from eth_utils.crypto import keccak

    from openmbs.agents import LoanTree, keccak256
    from openmbs.oracle import MerkleTree, verify_proof

    rng = np.random.default_rng(1)
    for n in (0, 1, 31, 32, 64, 135, 136, 137, 384, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert keccak256(data) == bytes(keccak(data))
    for n in (1, 2, 3, 7, 8, 33):
        lv = [bytes(keccak(bytes([i, n]))) for i in range(n)]
        mine, ref = LoanTree(lv), MerkleTree(lv)
        assert mine.root == ref.root
        for i in range(n):
            assert mine.proof(i) == ref.proof(i)
            assert verify_proof(mine.proof(i), ref.root, lv[i])


def test_attestor_set_signs_what_eth_account_signs() -> None:
    """AttestorSet (digest + libsecp256k1) gives the same signatures as the oracle
    package's eth-account ``attest``, and the signer recovers from each."""
    import hashlib

    from openmbs.agents import AttestorSet
    from openmbs.errors import InputError as _InputError
    from openmbs.oracle import attest, recover_signer

    keys = [hashlib.sha256(f"attestor-test-{i}".encode()).digest() for i in range(5)]
    signers = AttestorSet(keys)
    contract = "0x" + "ab" * 20
    for period, chosen in ((1, [0, 2, 4]), (2, [1, 3, 4]), (7, [0, 1, 2, 3, 4])):
        rep = RemittanceReport(
            period, 10 * period, 3, 5, 1, 0, 10_000, 9_987 - 10 * period, 7, 4, 2, 1, 0,
            19 + 10 * period, bytes([period]) * 32,
        )
        mine = signers.sign(rep, chosen, chain_id=31337, verifying_contract=contract)
        ref = attest(rep, [keys[i] for i in chosen], chain_id=31337, verifying_contract=contract)
        assert mine == ref
        assert [int(a.signer, 16) for a in mine] == sorted(int(a.signer, 16) for a in mine)
        for a in mine:
            assert recover_signer(rep, a, chain_id=31337, verifying_contract=contract) == a.signer
    with pytest.raises(_InputError, match="chosen twice"):
        signers.sign(rep, [1, 1], chain_id=1, verifying_contract=contract)
    with pytest.raises(_InputError, match="32"):
        AttestorSet([b"short"])
