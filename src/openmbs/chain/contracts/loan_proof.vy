# pragma version ~=0.4.3
"""
@title openmbs loan proofs
@custom:contract-name loan_proof
@license Apache-2.0
@notice The root a loan record's Merkle proof reaches in the sorted-pair keccak256
        tree of its loan tape (`RemittanceOracle.verify_loan`, openmbs.oracle
        MerkleTree). The ServicerBond and the LoanSale check their proofs with it
        against roots read from the oracle, so a proof's siblings are read once from
        calldata and never copied into another call. A module without state.
"""

from . import deal_types

# @dev Longest proof taken: a tape of up to 2**32 loans (a 100,000-loan tape has 17).
MAX_DEPTH: constant(uint256) = 32


@internal
@pure
def _root(record: deal_types.LoanRecord, proof: DynArray[bytes32, MAX_DEPTH]) -> bytes32:
    # The leaf is keccak256(keccak256(abi.encode(record))): a hash of a 32-byte message,
    # where an internal node hashes a 64-byte pair, so no subtree proves as a loan. A
    # parent hashes its two children smaller first (as unsigned 256-bit words);
    # abi_encode of two words is their 64 bytes, as concat gives, for less gas.
    node: bytes32 = keccak256(keccak256(abi_encode(record)))
    for sibling: bytes32 in proof:
        if convert(node, uint256) < convert(sibling, uint256):
            node = keccak256(abi_encode(node, sibling))
        else:
            node = keccak256(abi_encode(sibling, node))
    return node
