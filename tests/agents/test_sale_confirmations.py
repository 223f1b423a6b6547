"""``agents.sale_confirmations``: the sold loans' records and proofs a confirming report
sends to the oracle, and the refusals that name the file, row, loan, field and value."""

from __future__ import annotations

import pytest

from openmbs.agents import sale_confirmations
from openmbs.errors import InputError
from openmbs.oracle import LoanRecord, MerkleTree, loan_id_bytes32, verify_proof


def _tape() -> list[LoanRecord]:
    recs = [LoanRecord(loan_id=f"L{i}", period=4, beginning_balance=1_000, scheduled_principal=10,
                       prepaid_principal=0, interest_paid=5, ending_balance=990) for i in range(5)]
    recs[2] = LoanRecord(loan_id="L2", period=4, beginning_balance=1_000, scheduled_principal=0, prepaid_principal=0,
                         interest_paid=0, ending_balance=0, delinquency=3, liquidated=True, recovery=700, loss=300)
    return recs


def test_the_proofs_verify_against_the_root():
    recs = _tape()
    tree = MerkleTree([r.leaf() for r in recs])
    [(rec, proof)] = sale_confirmations(recs, tree.root, [loan_id_bytes32("L2")], source="file 'p4.csv'")
    assert rec == recs[2] and list(proof) == tree.proof(2)
    assert verify_proof(list(proof), tree.root, rec.leaf())


def test_refusals_name_the_source_and_the_value():
    recs = _tape()
    root = MerkleTree([r.leaf() for r in recs]).root
    with pytest.raises(InputError, match=r"file 'p4.csv': field 'loan_tape_root' value 0x[0-9a-f]{64}: the report's root"):
        sale_confirmations(recs, b"\x01" * 32, [loan_id_bytes32("L2")], source="file 'p4.csv'")
    with pytest.raises(InputError, match=r"file 'p4.csv': loan 0x[0-9a-f]{64} field 'loan_id': sold .* not in the tape"):
        sale_confirmations(recs, root, [loan_id_bytes32("L9")], source="file 'p4.csv'")
    with pytest.raises(InputError, match=r"file 'p4.csv': row 2: loan 0x[0-9a-f]{64} field 'liquidated' value False"):
        sale_confirmations(recs, root, [loan_id_bytes32("L1")], source="file 'p4.csv'")
    with pytest.raises(InputError, match="no loan records"):
        sale_confirmations([], root, [], source="file 'p4.csv'")
