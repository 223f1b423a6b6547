"""The on-chain oracle agrees with the Python oracle (digest, leaves, proofs)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from openmbs.oracle import LoanRecord, MerkleTree, RemittanceReport, report_digest


def test_onchain_digest_equals_python(world):
    r = world.report()
    o = world.d.oracle
    assert bytes(o.report_hash(r.as_tuple(), 1_800_000_000)) == report_digest(
        r, deadline=1_800_000_000, chain_id=world.d.chain_id(), verifying_contract=str(o.address)
    )


def _records(n: int, period: int = 1) -> list[LoanRecord]:
    return [
        LoanRecord(loan_id=i + 1, period=period, beginning_balance=100_000 + i, scheduled_principal=1_000,
                   prepaid_principal=i % 3, interest_paid=400 + i, ending_balance=100_000 + i - 1_000 - i % 3,
                   delinquency=i % 4, defaulted=i % 5 == 0)
        for i in range(n)
    ]


def test_onchain_leaf_equals_python(world):
    rec = _records(3)[2]
    assert bytes(world.d.oracle.loan_leaf(rec.as_tuple())) == rec.leaf()


@settings(max_examples=8)
@given(st.integers(1, 33), st.data())
def test_verify_loan_against_stored_root(world, n, data):
    with world.anchor():
        recs = _records(n)
        tree = MerkleTree([r.leaf() for r in recs])
        r = world.report(root=tree.root)
        world.remit(r)
        i = data.draw(st.integers(0, n - 1))
        o = world.d.oracle
        assert o.verify_loan(1, recs[i].record_hash(), tree.proof(i))
        assert not o.verify_loan(2, recs[i].record_hash(), tree.proof(i))  # no root for period 2
        forged = LoanRecord(loan_id=recs[i].loan_id, period=1, beginning_balance=recs[i].beginning_balance,
                            scheduled_principal=0, prepaid_principal=0, interest_paid=0,
                            ending_balance=recs[i].beginning_balance)
        assert not o.verify_loan(1, forged.record_hash(), tree.proof(i))


def test_report_from_loans_with_more_loans_is_rejected(world):
    import dataclasses

    import boa

    # current loans (the deal had none delinquent 30-59 days at cut-off)
    recs = [dataclasses.replace(r, delinquency=0, defaulted=False) for r in _records(10)]
    # scale to the deal's pool: the first period's beginning balance must match
    total = sum(r.beginning_balance for r in recs)
    first = recs[0]
    pad = LoanRecord(loan_id=999, period=1, beginning_balance=10**12 - total, scheduled_principal=0,
                     prepaid_principal=0, interest_paid=0, ending_balance=10**12 - total)
    r = RemittanceReport.from_loans(1, [*recs, pad])
    assert r.loan_count == 11 - sum(1 for x in recs if x.ending_balance == 0)
    # the deal's oracle expects at most 10 loans: the padded tape has 11
    with boa.env.anchor():
        import pytest

        from openmbs.errors import RemittanceRejected

        with pytest.raises(RemittanceRejected, match="loan count grew"):
            world.remit(r)
    assert first.period == 1
