"""Attestors: M-of-N EIP-712 signatures of remittance reports, signed with libsecp256k1.

:func:`openmbs.oracle.attest` signs through eth-account's typed-data machinery, which
parses the typed-data document on every call (milliseconds per signature). A servicer
that reports every month signs the same structure again and again, so
:class:`AttestorSet` hashes the report with :func:`openmbs.oracle.report_digest` (the
oracle package's EIP-712 digest) and signs the digest with ``coincurve`` (bindings to
libsecp256k1), keeping each key's parsed form and address. The signatures are the same
bytes as ``attest`` gives (RFC 6979 deterministic nonces, low ``s``; the tests compare
them).
"""

from __future__ import annotations

from collections.abc import Sequence

from openmbs.errors import InputError
from openmbs.oracle import Attestation, RemittanceReport, default_deadline, report_digest

__all__ = ["AttestorSet"]


class AttestorSet:
    """N attestor keys that sign remittance reports (EIP-712, see ``openmbs.oracle``).

    Parameters
    ----------
    private_keys
        The attestors' 32-byte secp256k1 private keys (bytes or ``0x`` hex).

    Notes
    -----
    ``v`` is ``27 + recovery id``; ``s`` is in the lower half of the curve order
    (libsecp256k1 normalises it), as the oracle requires. Signatures are ordered by
    increasing signer address (the oracle's rule, which also rules out duplicates).
    """

    def __init__(self, private_keys: Sequence[str | bytes]) -> None:
        import coincurve
        from eth_account import Account

        self._keys: list[coincurve.PrivateKey] = []
        self.addresses: list[str] = []
        for i, k in enumerate(private_keys):
            raw = bytes.fromhex(k[2:] if k.startswith("0x") else k) if isinstance(k, str) else bytes(k)
            if len(raw) != 32:
                raise InputError(f"attestor {i}: private key of {len(raw)} bytes, need 32")
            self._keys.append(coincurve.PrivateKey(raw))
            self.addresses.append(str(Account.from_key(raw).address))
        if len(set(self.addresses)) != len(self.addresses):
            raise InputError(f"attestors: duplicate keys {self.addresses}")

    def __len__(self) -> int:
        return len(self._keys)

    def sign(
        self,
        report: RemittanceReport,
        chosen: Sequence[int],
        *,
        chain_id: int,
        verifying_contract: str,
        deadline: int | None = None,
    ) -> list[Attestation]:
        """Signatures of attestors ``chosen`` (indices) over ``report``, by address,
        valid until ``deadline`` (default ``openmbs.oracle.default_deadline()``)."""
        if len(set(chosen)) != len(chosen):
            raise InputError(f"attestors: an attestor chosen twice in {list(chosen)}")
        deadline = default_deadline() if deadline is None else deadline
        digest = report_digest(
            report, deadline=deadline, chain_id=chain_id, verifying_contract=verifying_contract
        )
        out = []
        for i in chosen:
            if not 0 <= i < len(self._keys):
                raise InputError(f"attestor index {i}: need 0..{len(self._keys) - 1}")
            sig = self._keys[i].sign_recoverable(digest, hasher=None)
            out.append(
                Attestation(
                    signer=self.addresses[i], v=27 + sig[64], r=sig[:32], s=sig[32:64], deadline=deadline
                )
            )
        out.sort(key=lambda a: int(a.signer, 16))
        return out
