"""The public API of ``openmbs.chain.fastevm`` changes only on purpose (see tests/api_pin.py)."""

from __future__ import annotations

import openmbs.chain.fastevm as chain_fastevm
from api_pin import check_public_api

PUBLIC = [
    "MAX_MEMORY",
    "analyse",
    "make_lean",
    "run_code",
]

SIGNATURES = {
    "make_lean": "(env: 'Any') -> 'bool'",
    "analyse": "(code: 'bytes') -> 'tuple[frozenset[int], list[int]]'",
}


def test_chain_fastevm_public_api() -> None:
    check_public_api(chain_fastevm, PUBLIC, SIGNATURES)
