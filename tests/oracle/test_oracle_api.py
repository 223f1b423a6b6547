"""The public API of ``openmbs.oracle`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.oracle as oracle
from api_pin import check_public_api

PUBLIC = [
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

SIGNATURES = {
    "sign_report": "(report: 'RemittanceReport', private_key: 'str | bytes', *, chain_id: 'int', verifying_contract: 'str', deadline: 'int | None' = None) -> 'Attestation'",
    "report_to_dict": "(report: 'RemittanceReport') -> 'dict[str, Any]'",
    "report_from_dict": "(data: 'Mapping[str, Any]', *, where: 'str' = 'report') -> 'RemittanceReport'",
    "attestation_to_dict": "(a: 'Attestation') -> 'dict[str, Any]'",
    "attestation_from_dict": "(data: 'Mapping[str, Any]', *, where: 'str' = 'attestation') -> 'Attestation'",
    "verify_proof": "(proof: 'Sequence[bytes]', root: 'bytes', leaf: 'bytes') -> 'bool'",
}


def test_oracle_public_api() -> None:
    check_public_api(oracle, PUBLIC, SIGNATURES)
