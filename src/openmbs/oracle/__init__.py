"""Remittance oracle, off-chain side: reports, loan-level Merkle trees, EIP-712 attestations.

A servicer aggregates the period's loan records (:class:`LoanRecord`) into a
:class:`RemittanceReport` whose ``loan_tape_root`` commits to every record; attestors
sign the report's EIP-712 digest (bound to chain id, the oracle contract and the
period, and a deadline after which the oracle refuses them); the servicer submits it
with M of N signatures to ``RemittanceOracle``. Reports and attestations travel as JSON
(:func:`report_to_dict`, :func:`attestation_to_dict` and their readers).
"""

from openmbs.oracle._codec import (
    attestation_from_dict,
    attestation_to_dict,
    report_from_dict,
    report_to_dict,
)
from openmbs.oracle._eip712 import (
    DEFAULT_VALIDITY_SECONDS,
    DOMAIN_NAME,
    DOMAIN_VERSION,
    REPORT_TYPE,
    Attestation,
    attest,
    default_deadline,
    domain_separator,
    recover_signer,
    report_digest,
    report_typed_data,
    sign_report,
)
from openmbs.oracle._merkle import MerkleTree, hash_pair, leaf_of, verify_proof, verify_record
from openmbs.oracle._report import (
    LOAN_RECORD_ABI_TYPES,
    LoanRecord,
    RemittanceReport,
    loan_id_bytes32,
)

__all__ = [
    "DEFAULT_VALIDITY_SECONDS",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "LOAN_RECORD_ABI_TYPES",
    "REPORT_TYPE",
    "Attestation",
    "LoanRecord",
    "MerkleTree",
    "RemittanceReport",
    "attest",
    "attestation_from_dict",
    "attestation_to_dict",
    "default_deadline",
    "domain_separator",
    "hash_pair",
    "leaf_of",
    "loan_id_bytes32",
    "recover_signer",
    "report_digest",
    "report_from_dict",
    "report_to_dict",
    "report_typed_data",
    "sign_report",
    "verify_proof",
    "verify_record",
]
