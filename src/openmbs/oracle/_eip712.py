"""EIP-712 typed data of remittance reports, and M-of-N attestor signatures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from openmbs.errors import InputError
from openmbs.oracle._report import RemittanceReport

__all__ = [
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "REPORT_TYPE",
    "Attestation",
    "attest",
    "domain_separator",
    "recover_signer",
    "report_digest",
    "report_typed_data",
    "sign_report",
]

#: EIP-712 domain of the RemittanceOracle contract.
DOMAIN_NAME = "openmbs RemittanceOracle"
DOMAIN_VERSION = "1"

_FIELDS: tuple[tuple[str, str], ...] = (
    ("period", "uint256"),
    ("scheduledPrincipal", "uint256"),
    ("unscheduledPrincipal", "uint256"),
    ("interest", "uint256"),
    ("recoveries", "uint256"),
    ("losses", "uint256"),
    ("beginningBalance", "uint256"),
    ("endingBalance", "uint256"),
    ("loanCount", "uint256"),
    ("delinquent30", "uint256"),
    ("delinquent60", "uint256"),
    ("delinquent90Plus", "uint256"),
    ("indexRate", "uint256"),
    ("cash", "uint256"),
    ("loanTapeRoot", "bytes32"),
    ("subsequentRecoveries", "uint256"),
)

#: The EIP-712 type string of a report (field order = ``RemittanceReport`` order).
REPORT_TYPE = "RemittanceReport(" + ",".join(f"{t} {n}" for n, t in _FIELDS) + ")"
_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"


def domain_separator(*, chain_id: int, verifying_contract: str) -> bytes:
    """The oracle's EIP-712 domain separator on ``chain_id`` at ``verifying_contract``."""
    return bytes(
        keccak(
            abi_encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    keccak(text=_DOMAIN_TYPE),
                    keccak(text=DOMAIN_NAME),
                    keccak(text=DOMAIN_VERSION),
                    chain_id,
                    to_checksum_address(verifying_contract),
                ],
            )
        )
    )


def report_digest(report: RemittanceReport, *, chain_id: int, verifying_contract: str) -> bytes:
    """The 32-byte digest attestors sign: ``keccak256(0x1901 || domain || structHash)``.

    Notes
    -----
    EIP-712: ``structHash = keccak256(typeHash || encodeData)``; every field is a
    static 32-byte word, so ``encodeData`` is the ABI encoding of the fields.
    """
    types = ["bytes32"] + [t for _, t in _FIELDS]
    struct_hash = keccak(abi_encode(types, [keccak(text=REPORT_TYPE), *report.as_tuple()]))
    return bytes(
        keccak(
            b"\x19\x01"
            + domain_separator(chain_id=chain_id, verifying_contract=verifying_contract)
            + struct_hash
        )
    )


def report_typed_data(
    report: RemittanceReport, *, chain_id: int, verifying_contract: str
) -> dict[str, Any]:
    """The report as an EIP-712 typed-data document (what a wallet displays and signs)."""
    message = {n: v for (n, _), v in zip(_FIELDS, report.as_tuple(), strict=True)}
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "RemittanceReport": [{"name": n, "type": t} for n, t in _FIELDS],
        },
        "primaryType": "RemittanceReport",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(verifying_contract),
        },
        "message": message,
    }


@dataclass(frozen=True)
class Attestation:
    """One attestor's signature over a report digest (``v`` is 27 or 28, low ``s``)."""

    signer: str
    v: int
    r: bytes
    s: bytes

    def as_tuple(self) -> tuple[int, bytes, bytes]:
        """``(v, r, s)``: the on-chain ``Signature`` struct."""
        return (self.v, self.r, self.s)


def sign_report(
    report: RemittanceReport, private_key: str | bytes, *, chain_id: int, verifying_contract: str
) -> Attestation:
    """Sign ``report`` with an attestor key (eth-account, EIP-712)."""
    signed = Account.sign_typed_data(
        private_key,
        full_message=report_typed_data(
            report, chain_id=chain_id, verifying_contract=verifying_contract
        ),
    )
    signer = Account.from_key(private_key).address
    return Attestation(
        signer=signer, v=int(signed.v), r=int(signed.r).to_bytes(32, "big"), s=int(signed.s).to_bytes(32, "big")
    )


def recover_signer(
    report: RemittanceReport, attestation: Attestation, *, chain_id: int, verifying_contract: str
) -> str:
    """The address that produced ``attestation`` over ``report`` (checksummed)."""
    digest = report_digest(report, chain_id=chain_id, verifying_contract=verifying_contract)
    vrs = (attestation.v, int.from_bytes(attestation.r, "big"), int.from_bytes(attestation.s, "big"))
    return str(Account._recover_hash(digest, vrs=vrs))


def attest(
    report: RemittanceReport,
    private_keys: Sequence[str | bytes],
    *,
    chain_id: int,
    verifying_contract: str,
    quorum: int | None = None,
) -> list[Attestation]:
    """Signatures of several attestors, ordered by increasing signer address.

    The oracle requires strictly increasing signers (which rules out duplicates).
    ``quorum`` (M) checks that at least M distinct keys signed.
    """
    sigs = [
        sign_report(report, k, chain_id=chain_id, verifying_contract=verifying_contract)
        for k in private_keys
    ]
    sigs.sort(key=lambda a: int(a.signer, 16))
    signers = [a.signer for a in sigs]
    if len(set(signers)) != len(signers):
        raise InputError(f"attestation: duplicate attestor keys {signers}")
    if quorum is not None and len(sigs) < quorum:
        raise InputError(f"attestation: {len(sigs)} signature(s) for a quorum of {quorum}")
    return sigs
