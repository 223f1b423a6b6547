"""Sorted-pair keccak256 Merkle trees over loan-record leaves.

A leaf is ``keccak256(record_hash)`` with ``record_hash = keccak256(abi.encode(record))``
(:meth:`openmbs.oracle.LoanRecord.leaf`), the hash of a 32-byte message; an internal
node is the hash of a 64-byte pair. The two never coincide (short of a keccak256
collision), so an internal node cannot be proven as a loan.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_utils.crypto import keccak

from openmbs.errors import InputError

__all__ = ["MerkleTree", "hash_pair", "leaf_of", "verify_proof", "verify_record"]


def hash_pair(a: bytes, b: bytes) -> bytes:
    """keccak256 of the two 32-byte nodes concatenated smaller first.

    Notes
    -----
    Comparing 32-byte big-endian strings orders them as the uint256 they encode, which
    is the order used by snekmate's ``merkle_proof_verification._hash_pair``.
    """
    return bytes(keccak(a + b if a < b else b + a))


def leaf_of(record_hash: bytes) -> bytes:
    """The leaf of a record hash: ``keccak256(record_hash)`` (32 bytes in, 32 out)."""
    if not isinstance(record_hash, bytes) or len(record_hash) != 32:
        raise InputError(f"Merkle leaf: record hash {record_hash!r}: need 32 bytes")
    return bytes(keccak(record_hash))


def verify_record(proof: Sequence[bytes], root: bytes, record_hash: bytes) -> bool:
    """Whether the record with hash ``record_hash`` is in the tree of ``root`` (as
    ``RemittanceOracle.verify_loan``: the leaf is ``keccak256(record_hash)``)."""
    return verify_proof(proof, root, leaf_of(record_hash))


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """Whether ``leaf`` hashes up to ``root`` along ``proof`` (sibling hashes, leaf first)."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


class MerkleTree:
    """A sorted-pair keccak256 Merkle tree, built over leaves in the given order.

    Pairs are (0,1), (2,3), ... at each level; a level with an odd number of nodes
    promotes its last node unchanged to the next level (it is not hashed with
    itself), so its proof has no sibling at that level. A tree of one leaf has that
    leaf as root and an empty proof. Proofs verify with snekmate's
    ``merkle_proof_verification._verify`` and :func:`verify_proof`.

    Parameters
    ----------
    leaves
        32-byte leaf hashes (``LoanRecord.leaf()``).
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise InputError("Merkle tree: no leaves")
        for i, leaf in enumerate(leaves):
            if not isinstance(leaf, bytes) or len(leaf) != 32:
                raise InputError(f"Merkle tree: leaf {i} value {leaf!r}: need 32 bytes")
        levels = [list(leaves)]
        while len(levels[-1]) > 1:
            cur = levels[-1]
            nxt = [hash_pair(cur[i], cur[i + 1]) for i in range(0, len(cur) - 1, 2)]
            if len(cur) % 2:
                nxt.append(cur[-1])
            levels.append(nxt)
        self._levels = levels

    def __len__(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        """The root hash."""
        return self._levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf ``index`` up to the root."""
        n = len(self)
        if not 0 <= index < n:
            raise InputError(f"Merkle tree: leaf index {index} outside 0..{n - 1}")
        out: list[bytes] = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                out.append(level[sibling])
            index //= 2
        return out
