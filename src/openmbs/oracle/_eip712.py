"""EIP-712 typed data of remittance reports, and M-of-N attestor signatures.

Attestors sign a report together with a deadline (a timestamp in seconds): the typed
data is the report's fields followed by ``deadline``, and the oracle refuses the
signatures after it, so a quorum's signatures cannot be held back and used later.
"""

from __future__ import annotations

import time
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
    "DEFAULT_VALIDITY_SECONDS",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "REPORT_TYPE",
    "Attestation",
    "attest",
    "default_deadline",
    "domain_separator",
    "recover_signer",
    "report_digest",
    "report_typed_data",
    "sign_report",
]

#: EIP-712 domain of the RemittanceOracle contract.
DOMAIN_NAME = "openmbs RemittanceOracle"
DOMAIN_VERSION = "1"
#: Validity of attestations signed without an explicit deadline: one day from the
#: signing machine's clock (pass ``deadline`` when the chain's clock differs).
DEFAULT_VALIDITY_SECONDS = 24 * 3600

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
    ("advances", "uint256"),
    ("advanceReimbursements", "uint256"),
    ("liquidationReimbursements", "uint256"),
    ("prepaymentPenalties", "uint256"),
    ("lateFees", "uint256"),
)
#: The signed message: the report's fields, then the attestations' deadline.
_SIGNED = (*_FIELDS, ("deadline", "uint256"))

#: The EIP-712 type string attestors sign: the ``RemittanceReport`` fields in order,
#: then ``uint256 deadline``.
REPORT_TYPE = "RemittanceReport(" + ",".join(f"{t} {n}" for n, t in _SIGNED) + ")"
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


def _check_deadline(deadline: object) -> int:
    if isinstance(deadline, bool) or not isinstance(deadline, int) or not 0 <= deadline < 2**256:
        raise InputError(f"attestation field 'deadline' value {deadline!r}: need a timestamp in [0, 2**256)")
    return deadline


def default_deadline() -> int:
    """``now + DEFAULT_VALIDITY_SECONDS`` by this machine's clock (seconds)."""
    return int(time.time()) + DEFAULT_VALIDITY_SECONDS


def report_digest(
    report: RemittanceReport, *, deadline: int, chain_id: int, verifying_contract: str
) -> bytes:
    """The 32-byte digest attestors sign: ``keccak256(0x1901 || domain || structHash)``.

    Parameters
    ----------
    deadline
        Last block timestamp (seconds) at which the oracle accepts the signatures.

    Notes
    -----
    EIP-712: ``structHash = keccak256(typeHash || encodeData)``; every field is a
    static 32-byte word, so ``encodeData`` is the ABI encoding of the report's fields
    followed by the deadline.
    """
    types = ["bytes32"] + [t for _, t in _SIGNED]
    values = [keccak(text=REPORT_TYPE), *report.as_tuple(), _check_deadline(deadline)]
    struct_hash = keccak(abi_encode(types, values))
    return bytes(
        keccak(
            b"\x19\x01"
            + domain_separator(chain_id=chain_id, verifying_contract=verifying_contract)
            + struct_hash
        )
    )


def report_typed_data(
    report: RemittanceReport, *, deadline: int, chain_id: int, verifying_contract: str
) -> dict[str, Any]:
    """The report and its deadline as an EIP-712 typed-data document (what a wallet
    displays and signs)."""
    values = (*report.as_tuple(), _check_deadline(deadline))
    message = {n: v for (n, _), v in zip(_SIGNED, values, strict=True)}
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "RemittanceReport": [{"name": n, "type": t} for n, t in _SIGNED],
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
    """One attestor's signature over a report digest (``v`` is 27 or 28, low ``s``),
    valid until ``deadline`` (a block timestamp in seconds, part of the signed data)."""

    signer: str
    v: int
    r: bytes
    s: bytes
    deadline: int

    def as_tuple(self) -> tuple[int, bytes, bytes]:
        """``(v, r, s)``: the on-chain ``Signature`` struct."""
        return (self.v, self.r, self.s)


def sign_report(
    report: RemittanceReport,
    private_key: str | bytes,
    *,
    chain_id: int,
    verifying_contract: str,
    deadline: int | None = None,
) -> Attestation:
    """Sign ``report`` with an attestor key (eth-account, EIP-712), valid until
    ``deadline`` (default :func:`default_deadline`: one day by this machine's clock)."""
    deadline = default_deadline() if deadline is None else _check_deadline(deadline)
    signed = Account.sign_typed_data(
        private_key,
        full_message=report_typed_data(
            report, deadline=deadline, chain_id=chain_id, verifying_contract=verifying_contract
        ),
    )
    signer = Account.from_key(private_key).address
    return Attestation(
        signer=signer,
        v=int(signed.v),
        r=int(signed.r).to_bytes(32, "big"),
        s=int(signed.s).to_bytes(32, "big"),
        deadline=deadline,
    )


def recover_signer(
    report: RemittanceReport, attestation: Attestation, *, chain_id: int, verifying_contract: str
) -> str:
    """The address that produced ``attestation`` over ``report`` and its deadline
    (checksummed)."""
    digest = report_digest(
        report, deadline=attestation.deadline, chain_id=chain_id, verifying_contract=verifying_contract
    )
    vrs = (attestation.v, int.from_bytes(attestation.r, "big"), int.from_bytes(attestation.s, "big"))
    return str(Account._recover_hash(digest, vrs=vrs))


def attest(
    report: RemittanceReport,
    private_keys: Sequence[str | bytes],
    *,
    chain_id: int,
    verifying_contract: str,
    quorum: int | None = None,
    deadline: int | None = None,
) -> list[Attestation]:
    """Signatures of several attestors, ordered by increasing signer address, all valid
    until the same ``deadline`` (default :func:`default_deadline`).

    The oracle requires strictly increasing signers (which rules out duplicates).
    ``quorum`` (M) checks that at least M distinct keys signed.
    """
    deadline = default_deadline() if deadline is None else _check_deadline(deadline)
    sigs = [
        sign_report(
            report, k, chain_id=chain_id, verifying_contract=verifying_contract, deadline=deadline
        )
        for k in private_keys
    ]
    sigs.sort(key=lambda a: int(a.signer, 16))
    signers = [a.signer for a in sigs]
    if len(set(signers)) != len(signers):
        raise InputError(f"attestation: duplicate attestor keys {signers}")
    if quorum is not None and len(sigs) < quorum:
        raise InputError(f"attestation: {len(sigs)} signature(s) for a quorum of {quorum}")
    return sigs
