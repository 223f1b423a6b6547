"""Off-chain oracle: loan records, Merkle trees, EIP-712 digests and signatures."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from openmbs.errors import InputError
from openmbs.oracle import (
    LoanRecord,
    MerkleTree,
    RemittanceReport,
    attest,
    default_deadline,
    hash_pair,
    leaf_of,
    recover_signer,
    report_digest,
    report_typed_data,
    verify_proof,
    verify_record,
)

CONTRACT = "0x" + "ab" * 20


def _report(**kw: object) -> RemittanceReport:
    base = dict(period=1, scheduled_principal=2, unscheduled_principal=3, interest=4, recoveries=5,
                losses=6, beginning_balance=100, ending_balance=84, loan_count=1, delinquent_30=0,
                delinquent_60=0, delinquent_90_plus=0, index_rate=0, cash=14, loan_tape_root=b"\x11" * 32)
    base.update(kw)
    return RemittanceReport(**base)  # type: ignore[arg-type]


def test_three_leaf_tree_by_hand():
    a, b, c = (keccak(bytes([i])) for i in range(3))
    ab = keccak(min(a, b) + max(a, b))
    root = keccak(min(ab, c) + max(ab, c))  # c is promoted unchanged, then paired
    t = MerkleTree([a, b, c])
    assert t.root == root
    assert t.proof(2) == [ab]
    assert t.proof(0) == [b, c]
    assert MerkleTree([a]).root == a and MerkleTree([a]).proof(0) == []


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40), st.data())
def test_every_proof_verifies_and_a_wrong_leaf_does_not(leaves, data):
    t = MerkleTree(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    assert verify_proof(t.proof(i), t.root, leaves[i])
    wrong = bytes(32 - len(b"x")) + b"x"
    if wrong not in leaves:
        assert not verify_proof(t.proof(i), t.root, wrong)


def test_hash_pair_is_symmetric():
    a, b = b"\x01" * 32, b"\x02" * 32
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(a + b)


def test_loan_record_encoding_and_roll_forward():
    r = LoanRecord(loan_id="L1", period=3, beginning_balance=1000, scheduled_principal=10,
                   prepaid_principal=5, interest_paid=4, ending_balance=985)
    enc = r.encode()
    assert len(enc) == 12 * 32
    assert enc[:2] == b"L1" and enc[32:64] == (3).to_bytes(32, "big")
    assert r.record_hash() == keccak(enc)
    assert r.leaf() == keccak(keccak(enc)) == leaf_of(r.record_hash())
    with pytest.raises(InputError, match="ending_balance"):
        LoanRecord(loan_id="L2", period=3, beginning_balance=1000, scheduled_principal=10,
                   prepaid_principal=5, interest_paid=4, ending_balance=990)
    with pytest.raises(InputError, match="loan_id"):
        LoanRecord(loan_id="x" * 33, period=1, beginning_balance=0, scheduled_principal=0,
                   prepaid_principal=0, interest_paid=0, ending_balance=0)


def test_report_from_loans_aggregates():
    recs = [
        LoanRecord("A", 1, 1000, 10, 0, 5, 990, delinquency=1),
        LoanRecord("B", 1, 500, 0, 0, 0, 0, delinquency=3, defaulted=True, liquidated=True, loss=200, recovery=300),
        LoanRecord("C", 1, 200, 5, 195, 1, 0),
    ]
    r = RemittanceReport.from_loans(1, recs)
    assert (r.scheduled_principal, r.unscheduled_principal, r.interest) == (15, 195, 6)
    assert (r.recoveries, r.losses, r.beginning_balance, r.ending_balance) == (300, 200, 1700, 990)
    assert r.loan_count == 1 and r.delinquent_30 == 990 and r.delinquent_90_plus == 0
    assert r.cash == 6 + 15 + 195 + 300
    assert r.loan_tape_root == MerkleTree([x.leaf() for x in recs]).root


def test_digest_matches_eth_account_and_binds_domain():
    r = _report()
    td = report_typed_data(r, deadline=1000, chain_id=1, verifying_contract=CONTRACT)
    assert td["message"]["deadline"] == 1000 and td["types"]["RemittanceReport"][-1]["name"] == "deadline"
    msg = encode_typed_data(full_message=td)
    independent = keccak(b"\x19" + msg.version + msg.header + msg.body)
    assert report_digest(r, deadline=1000, chain_id=1, verifying_contract=CONTRACT) == independent
    assert report_digest(r, deadline=1000, chain_id=2, verifying_contract=CONTRACT) != independent
    assert report_digest(r, deadline=1000, chain_id=1, verifying_contract="0x" + "cd" * 20) != independent
    assert report_digest(_report(period=2), deadline=1000, chain_id=1, verifying_contract=CONTRACT) != independent
    assert report_digest(r, deadline=1001, chain_id=1, verifying_contract=CONTRACT) != independent
    with pytest.raises(InputError, match="deadline"):
        report_digest(r, deadline=-1, chain_id=1, verifying_contract=CONTRACT)


def test_attest_sorts_signers_and_recovers():
    keys = [Account.from_key(bytes([i + 7]) * 32) for i in range(4)]
    r = _report()
    sigs = attest(r, [k.key for k in keys], chain_id=5, verifying_contract=CONTRACT, quorum=3)
    assert [int(s.signer, 16) for s in sigs] == sorted(int(k.address, 16) for k in keys)
    assert len({s.deadline for s in sigs}) == 1  # one deadline: a day by this clock
    assert abs(sigs[0].deadline - default_deadline()) <= 5
    for s in sigs:
        assert recover_signer(r, s, chain_id=5, verifying_contract=CONTRACT) == s.signer
        assert int.from_bytes(s.s, "big") <= 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
    with pytest.raises(InputError, match="quorum"):
        attest(r, [keys[0].key], chain_id=5, verifying_contract=CONTRACT, quorum=2)
    with pytest.raises(InputError, match="duplicate"):
        attest(r, [keys[0].key, keys[0].key], chain_id=5, verifying_contract=CONTRACT)


def test_bad_report_fields_are_named():
    with pytest.raises(InputError, match="'interest'"):
        _report(interest=-1)
    with pytest.raises(InputError, match="loan_tape_root"):
        _report(loan_tape_root=b"short")


def test_leaves_are_not_internal_nodes():
    """A leaf hashes a 32-byte record hash, a node a 64-byte pair: an internal node
    presented as a record hash does not verify; every record does."""
    recs = [LoanRecord(loan_id=f"L{i}", period=1, beginning_balance=1000 + i, scheduled_principal=10,
                       prepaid_principal=0, interest_paid=4, ending_balance=990 + i) for i in range(6)]
    t = MerkleTree([r.leaf() for r in recs])
    for i, r in enumerate(recs):
        assert verify_record(t.proof(i), t.root, r.record_hash())
    node = hash_pair(recs[0].leaf(), recs[1].leaf())
    assert verify_proof(t.proof(0)[1:], t.root, node)  # the raw tree would take it as a leaf
    assert not verify_record(t.proof(0)[1:], t.root, node)  # not as a record
    with pytest.raises(InputError, match="record hash"):
        leaf_of(b"short")


@pytest.mark.parametrize("parallel", [False, True])
def test_leaf_kernel_equals_double_keccak(parallel):
    """The compiled leaf kernel (two hashes in one pass) against eth_utils, for record
    rows and around the rate boundary."""
    import numpy as np

    from openmbs.agents._keccak import keccak_rows, leaf_rows

    rng = np.random.default_rng(11)
    for n in (0, 32, 135, 136, 137, 384):
        rows = rng.integers(0, 256, (11, n), dtype=np.uint8)
        got = leaf_rows(rows, parallel=parallel)
        assert [g.tobytes() for g in got] == [keccak(keccak(r.tobytes())) for r in rows]
        assert np.array_equal(keccak_rows(keccak_rows(rows)), got)
