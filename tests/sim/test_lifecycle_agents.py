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
    """four_tranche: OC on D at 1.02, tested at one date (the beginning of the period:
    pool_beg / (A+B+C+D) before the period's principal), cumulative loss at 5% net of
    subsequent recoveries, as the exact engine."""
    deal = compile_exact(example_deal("four_tranche").with_pool(balance=1000.0))
    k = TriggerKeeper(deal)
    bal = [800, 80, 50, 40]  # sum 970
    # 990 / 970 = 1.0206 >= 1.02: passes, whatever the ending balance (prepayments
    # during the period do not trip it)
    assert k.observe(1, pool_beg=990, pool_end=900, losses=0, delinquent_60_plus=0, tranche_balances=bal) == []
    # 989 / 970 = 1.01959 < 1.02: trips
    ev = k.observe(2, pool_beg=989, pool_end=989, losses=0, delinquent_60_plus=0, tranche_balances=bal)
    assert [(e.name, e.tripped) for e in ev] == [("oc_test", True)]
    assert ev[0].value == pytest.approx(989 / 970)
    ev = k.observe(3, pool_beg=1000, pool_end=1000, losses=0, delinquent_60_plus=0, tranche_balances=bal)
    assert [(e.name, e.tripped) for e in ev] == [("oc_test", False)]
    # cumulative losses: 5% of the 1000.0 pool (1e9 units) is 5e7 units; 5e7 does not fail, 5e7 + 1 does
    units = deal.pool_original
    assert units == 1_000_000_000
    obs = {"pool_beg": 1000, "pool_end": 1000, "delinquent_60_plus": 0, "tranche_balances": bal}
    assert k.observe(4, losses=50_000_000, **obs) == []
    # a loss recovered later is netted out: losses and recoveries cycling never trip it
    for p in range(5, 9):
        assert k.observe(p, losses=10_000_000, subsequent_recoveries=10_000_000, **obs) == []
    assert k.cum_loss == 50_000_000
    ev = k.observe(9, losses=1, **obs)
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


def test_compiled_keccak_rows_and_levels_equal_eth_utils_and_merkle_tree() -> None:
    """The numba kernels against eth_utils.keccak (pycryptodome) around the 136-byte
    rate boundary, and the levels against the oracle package's MerkleTree (odd sizes,
    equal leaves)."""
    import numpy as np
    from eth_utils.crypto import keccak

    from openmbs.agents._keccak import keccak_rows, merkle_levels
    from openmbs.oracle import MerkleTree

    rng = np.random.default_rng(3)
    for n in (0, 1, 32, 64, 135, 136, 137, 271, 272, 273, 384):
        rows = rng.integers(0, 256, (4, n), dtype=np.uint8)
        got = keccak_rows(rows)
        assert got.shape == (4, 32)
        for i in range(4):
            assert got[i].tobytes() == bytes(keccak(rows[i].tobytes())), n
    for n in (1, 2, 5, 9, 64):
        lv = [bytes(keccak(bytes([i % 3, n]))) for i in range(n)]  # repeated leaves too
        levels = merkle_levels(np.frombuffer(b"".join(lv), np.uint8).reshape(n, 32))
        assert levels[-1].shape == (1, 32)
        assert levels[-1][0].tobytes() == MerkleTree(lv).root
    with pytest.raises(ValueError, match="shape"):
        merkle_levels(np.zeros((0, 32), np.uint8))


def test_artifact_cache_holds_the_compilers_output(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cached artefact equals titanoboa's compiler data (ABI, init and runtime code);
    a corrupt cache file is replaced; the ABI deployer's contract runs that code."""
    from pathlib import Path

    import boa
    from vyper.compiler.output import build_abi_output

    from openmbs.chain import _contracts as cc

    monkeypatch.setenv(cc.CACHE_ENV, str(tmp_path))
    cc._MEMO.clear()
    art = cc.artifact("MockSettlementToken")
    data = cc.deployer("MockSettlementToken").compiler_data
    assert art.abi == list(build_abi_output(data))
    assert art.bytecode == bytes(data.bytecode) and art.runtime == bytes(data.bytecode_runtime)
    path = Path(str(tmp_path)) / "contracts" / f"MockSettlementToken-{cc.sources_fingerprint('MockSettlementToken')}.json"
    assert path.exists()
    path.write_text("{not json")
    cc._MEMO.clear()
    assert cc.artifact("MockSettlementToken") == art
    with boa.swap_env(boa.Env()):
        admin = boa.env.generate_address()
        tok = cc.AbiDeployer("MockSettlementToken").deploy("x", "X", sender=admin)
        assert bytes(boa.env.get_code(tok.address)).startswith(art.runtime)  # + immutables
        tok.mint(admin, 123, sender=admin)
        assert tok.balanceOf(admin) == 123
    # the key follows the sources a contract imports
    assert {p.name for p in cc._dependencies(cc.contract_path("Deal")) or ()} >= {"Deal.vy", "deal_types.vy"}


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
        mine = signers.sign(rep, chosen, chain_id=31337, verifying_contract=contract, deadline=7 + period)
        ref = attest(rep, [keys[i] for i in chosen], chain_id=31337, verifying_contract=contract,
                     deadline=7 + period)
        assert mine == ref
        assert [int(a.signer, 16) for a in mine] == sorted(int(a.signer, 16) for a in mine)
        for a in mine:
            assert recover_signer(rep, a, chain_id=31337, verifying_contract=contract) == a.signer
    with pytest.raises(_InputError, match="chosen twice"):
        signers.sign(rep, [1, 1], chain_id=1, verifying_contract=contract)
    with pytest.raises(_InputError, match="32"):
        AttestorSet([b"short"])
