"""The compiled keccak256 / Merkle kernels and the vectorised loan-id words.

Expected values come from independent code: ``eth_utils.keccak`` (pycryptodome's C
Keccak), ``openmbs.oracle.MerkleTree`` (pure Python over eth_utils) and
``openmbs.oracle.loan_id_bytes32`` (one id at a time).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from eth_utils.crypto import keccak

from openmbs.agents._keccak import PARALLEL_MIN_PERMUTATIONS, keccak_rows, merkle_levels
from openmbs.agents._servicer import _id_words
from openmbs.errors import InputError
from openmbs.oracle import MerkleTree, loan_id_bytes32

#: Around the 136-byte rate: empty, one byte, one block less/exactly/more, two blocks.
LENGTHS = (0, 1, 7, 8, 9, 135, 136, 137, 271, 272, 273, 384, 1000)


def _ref_rows(rows: np.ndarray) -> list[bytes]:
    return [bytes(keccak(r.tobytes())) for r in rows]


@pytest.mark.parametrize("parallel", [False, True, None])
@pytest.mark.parametrize("n", LENGTHS)
def test_keccak_rows_equal_eth_utils(n: int, parallel: bool | None) -> None:
    rng = np.random.default_rng(100 + n)
    rows = rng.integers(0, 256, (5, n), dtype=np.uint8)
    got = keccak_rows(rows, parallel=parallel)
    assert got.shape == (5, 32) and got.dtype == np.uint8
    assert [g.tobytes() for g in got] == _ref_rows(rows)


def test_keccak_known_digests() -> None:
    """Published keccak256 values (Ethereum): of the empty string and of b"abc"."""
    empty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    abc = "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    got = keccak_rows(np.zeros((1, 0), np.uint8))
    assert got[0].tobytes().hex() == empty
    got = keccak_rows(np.frombuffer(b"abc", np.uint8).reshape(1, 3), parallel=True)
    assert got[0].tobytes().hex() == abc


def test_keccak_rows_above_the_parallel_threshold_and_views() -> None:
    """A batch the default picks the threaded kernel for, a strided (non-contiguous)
    input, and zero rows."""
    rng = np.random.default_rng(7)
    n = PARALLEL_MIN_PERMUTATIONS // 3 + 37  # 384-byte rows: 3 permutations each
    rows = rng.integers(0, 256, (n, 384), dtype=np.uint8)
    assert n * 3 >= PARALLEL_MIN_PERMUTATIONS
    got = keccak_rows(rows)
    sample = rng.choice(n, 40, replace=False)
    for i in sample:
        assert got[i].tobytes() == bytes(keccak(rows[i].tobytes()))
    assert np.array_equal(keccak_rows(rows, parallel=False), got)
    strided = rows[::3, 10:150]
    assert [g.tobytes() for g in keccak_rows(strided)] == _ref_rows(strided)
    assert keccak_rows(np.zeros((0, 384), np.uint8), parallel=True).shape == (0, 32)
    with pytest.raises(ValueError, match="shape"):
        keccak_rows(np.zeros(384, np.uint8))


def _leaves(n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [bytes(keccak(bytes(rng.integers(0, 6, 4, dtype=np.uint8)))) for _ in range(n)]


@pytest.mark.parametrize("parallel", [False, True, None])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9, 64, 101])
def test_merkle_levels_equal_the_oracle_tree(n: int, parallel: bool | None) -> None:
    lv = _leaves(n, n)  # few distinct leaves: equal pairs occur too
    levels = merkle_levels(np.frombuffer(b"".join(lv), np.uint8).reshape(n, 32), parallel=parallel)
    ref = MerkleTree(lv)
    assert levels[-1].shape == (1, 32)
    assert levels[-1][0].tobytes() == ref.root
    assert levels[0].shape[0] == n
    for i in range(n):  # every sibling on every level, through the oracle's proofs
        sibs = []
        index = i
        for lvl in levels[:-1]:
            if index ^ 1 < lvl.shape[0]:
                sibs.append(lvl[index ^ 1].tobytes())
            index //= 2
        assert sibs == ref.proof(i)


def test_merkle_levels_above_the_parallel_threshold() -> None:
    """An odd count whose first level has enough pairs for the threaded kernel."""
    n = 2 * PARALLEL_MIN_PERMUTATIONS + 5
    arr = np.random.default_rng(11).integers(0, 256, (n, 32), dtype=np.uint8)
    lv = [r.tobytes() for r in arr]
    levels = merkle_levels(arr)
    assert levels[-1][0].tobytes() == MerkleTree(lv).root
    serial = merkle_levels(arr, parallel=False)
    assert all(np.array_equal(a, b) for a, b in zip(levels, serial, strict=True))
    with pytest.raises(ValueError, match="shape"):
        merkle_levels(np.zeros((0, 32), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        merkle_levels(np.zeros((4, 31), np.uint8))


ODD_IDS = [
    "LN00000001",
    "é" * 16,  # 32 UTF-8 bytes from 16 characters
    "x" * 32,  # exactly 32 bytes
    "",
    "ü€😀",  # 2-, 3- and 4-byte UTF-8
    "Kredit-Nr. 7",
    "a\0",  # U+0000 inside: per-id path
]


@pytest.mark.parametrize(
    "ids",
    [
        [f"LN{i:08d}" for i in range(300)],  # one byte length: the reshape path
        [f"L{i}" for i in range(300)],  # lengths 2..4: the scatter path
        ODD_IDS,
        [s for s in ODD_IDS if "\0" not in s],
        [],
        [7, 2**256 - 1, b"\x01" * 32],  # other types: per id
        ["A1", 5],
    ],
)
def test_id_words_equal_loan_id_bytes32(ids: list[str | int | bytes]) -> None:
    got = _id_words(ids)
    assert got.shape == (len(ids), 32) and got.dtype == np.uint8
    assert [g.tobytes() for g in got] == [loan_id_bytes32(x) for x in ids]


def test_id_words_from_arrow_arrays() -> None:
    ids = [s for s in ODD_IDS if s] + [f"L{i}" for i in range(50)] + ["a\0b"]
    want = [loan_id_bytes32(x) for x in ids]
    for arr in (
        pa.array(ids),
        pa.array(ids, type=pa.large_string()),
        pa.chunked_array([pa.array(ids[:4]), pa.array(ids[4:])]),
    ):
        assert [g.tobytes() for g in _id_words(arr)] == want
    sliced = pa.array(ids).slice(3, 20)
    assert [g.tobytes() for g in _id_words(sliced)] == want[3:23]
    assert _id_words(pa.array([], type=pa.string())).shape == (0, 32)
    with pytest.raises(InputError, match="None"):
        _id_words(pa.array(["A", None]))


@pytest.mark.parametrize(
    "ids, bad",
    [
        (["LN1", "y" * 33, "z" * 40], "y" * 33),
        (["LN1", "é" * 17], "é" * 17),  # 17 characters, 34 bytes
        (["x" * 32 + "\0"], "x" * 32 + "\0"),  # 33 bytes with the trailing U+0000
    ],
)
def test_id_words_too_long_raises_loan_id_bytes32_error(ids: list[str], bad: str) -> None:
    with pytest.raises(InputError) as want:
        loan_id_bytes32(bad)
    with pytest.raises(InputError) as got:
        _id_words(ids)
    assert str(got.value) == str(want.value)
    assert repr(bad) in str(got.value) and "longer than 32 bytes" in str(got.value)
    with pytest.raises(InputError) as got_arrow:
        _id_words(pa.array(ids))
    assert str(got_arrow.value) == str(want.value)
