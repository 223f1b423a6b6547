"""keccak256 over many equal-length messages, and sorted-pair Merkle levels (numba).

The servicer hashes every loan record (384 bytes) and every inner node of the tree
(64 bytes) each month, and the audit does it again for every period: hundreds of
thousands to millions of hashes. One call per hash costs microseconds of Python
overhead alone; these kernels hash a whole array of rows in compiled code.

Notes
-----
keccak256 as Ethereum uses it: Keccak-f[1600], rate 1088 bits (136 bytes), capacity
512, the original Keccak padding (``0x01 ... 0x80``, not SHA-3's ``0x06``), 32-byte
output (Bertoni, Daemen, Peeters, Van Assche, *The Keccak reference*, v3.0, 2011; the
Ethereum Yellow Paper's KEC). The tests compare it with ``eth_utils.keccak``.

Eight messages are hashed side by side (``_W``): the permutation runs one round at a
time over the eight states, with the round written out in full for one state (theta;
rho and pi with the rotation offsets as literals; chi one output plane at a time;
iota) inside a loop over the eight, and the 25 x 8 lanes stored lane-major (``st[8 *
(x + 5y) + w]``), so LLVM turns that loop into vector code (on AVX-512, one ``vprolq``
per rotation for all eight; about 8x the throughput of a scalar permutation here).
Rows of one call all have the same length, so their blocks stay in step; a last group
of fewer than eight leaves its unused states idle. Batches of at least
:data:`PARALLEL_MIN_PERMUTATIONS` permutations are split over the cores (``prange``
over blocks of groups, each with its own state); smaller ones run on one thread,
which avoids the cost of a parallel launch.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

__all__ = ["PARALLEL_MIN_PERMUTATIONS", "keccak_rows", "leaf_rows", "merkle_levels"]

_RC = np.array(
    [
        0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
        0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
        0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
        0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
        0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
        0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
    ],
    dtype=np.uint64,
)  # fmt: skip
_RATE = 136
_RATE_LANES = 17
_U1 = np.uint64(1)
_U8 = np.uint64(8)
_U63 = np.uint64(63)
_BYTE = np.uint64(0xFF)
_PAD_END = np.uint64(0x80) << np.uint64(56)  # the final 0x80 of the padding, byte 135
#: Below this many permutations in a call (rows x blocks per row, or pairs of a Merkle
#: level) the one-thread kernel runs. On two idle cores threads win from ~200
#: permutations (a launch costs ~10-20 us; ``benchmarks/bench_keccak.py --threshold``),
#: but when the other core is busy a launch can wait a scheduler slice (up to ~8 ms
#: measured on the shared 2-core machine) for it; from 16384 (~3 ms of hashing there)
#: the gain is worth that risk.
PARALLEL_MIN_PERMUTATIONS = 16384
#: Messages hashed side by side by one permutation call (one AVX-512 vector of lanes).
_W = 8
#: The parallel kernels split a call into at most this many blocks of groups of ``_W``
#: rows, spread over the threads (numba's thread id would give one state per thread
#: instead, but a function using it cannot be cached).
_BLOCKS = 64


@nb.njit(cache=True, inline="always")
def _rol(v: np.uint64, n: int) -> np.uint64:
    return (v << np.uint64(n)) | (v >> np.uint64(64 - n))


@nb.njit(cache=True)
def _permute8(st: npt.NDArray[np.uint64]) -> None:
    """Keccak-f[1600] on eight states side by side, in place: lane ``i = x + 5y`` of state
    ``w`` is ``st[8 * i + w]`` (the literal offsets below assume ``_W == 8``)."""
    for rnd in range(24):
        rc = _RC[rnd]
        for w in range(_W):  # independent states: the compiler runs them as one vector
            a0 = st[w]
            a1 = st[8 + w]
            a2 = st[16 + w]
            a3 = st[24 + w]
            a4 = st[32 + w]
            a5 = st[40 + w]
            a6 = st[48 + w]
            a7 = st[56 + w]
            a8 = st[64 + w]
            a9 = st[72 + w]
            a10 = st[80 + w]
            a11 = st[88 + w]
            a12 = st[96 + w]
            a13 = st[104 + w]
            a14 = st[112 + w]
            a15 = st[120 + w]
            a16 = st[128 + w]
            a17 = st[136 + w]
            a18 = st[144 + w]
            a19 = st[152 + w]
            a20 = st[160 + w]
            a21 = st[168 + w]
            a22 = st[176 + w]
            a23 = st[184 + w]
            a24 = st[192 + w]
            c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20
            c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21
            c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22
            c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23
            c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24
            d0 = c4 ^ _rol(c1, 1)
            d1 = c0 ^ _rol(c2, 1)
            d2 = c1 ^ _rol(c3, 1)
            d3 = c2 ^ _rol(c4, 1)
            d4 = c3 ^ _rol(c0, 1)
            b0 = a0 ^ d0
            b1 = _rol(a6 ^ d1, 44)
            b2 = _rol(a12 ^ d2, 43)
            b3 = _rol(a18 ^ d3, 21)
            b4 = _rol(a24 ^ d4, 14)
            st[w] = b0 ^ (~b1 & b2) ^ rc
            st[8 + w] = b1 ^ (~b2 & b3)
            st[16 + w] = b2 ^ (~b3 & b4)
            st[24 + w] = b3 ^ (~b4 & b0)
            st[32 + w] = b4 ^ (~b0 & b1)
            b0 = _rol(a3 ^ d3, 28)
            b1 = _rol(a9 ^ d4, 20)
            b2 = _rol(a10 ^ d0, 3)
            b3 = _rol(a16 ^ d1, 45)
            b4 = _rol(a22 ^ d2, 61)
            st[40 + w] = b0 ^ (~b1 & b2)
            st[48 + w] = b1 ^ (~b2 & b3)
            st[56 + w] = b2 ^ (~b3 & b4)
            st[64 + w] = b3 ^ (~b4 & b0)
            st[72 + w] = b4 ^ (~b0 & b1)
            b0 = _rol(a1 ^ d1, 1)
            b1 = _rol(a7 ^ d2, 6)
            b2 = _rol(a13 ^ d3, 25)
            b3 = _rol(a19 ^ d4, 8)
            b4 = _rol(a20 ^ d0, 18)
            st[80 + w] = b0 ^ (~b1 & b2)
            st[88 + w] = b1 ^ (~b2 & b3)
            st[96 + w] = b2 ^ (~b3 & b4)
            st[104 + w] = b3 ^ (~b4 & b0)
            st[112 + w] = b4 ^ (~b0 & b1)
            b0 = _rol(a4 ^ d4, 27)
            b1 = _rol(a5 ^ d0, 36)
            b2 = _rol(a11 ^ d1, 10)
            b3 = _rol(a17 ^ d2, 15)
            b4 = _rol(a23 ^ d3, 56)
            st[120 + w] = b0 ^ (~b1 & b2)
            st[128 + w] = b1 ^ (~b2 & b3)
            st[136 + w] = b2 ^ (~b3 & b4)
            st[144 + w] = b3 ^ (~b4 & b0)
            st[152 + w] = b4 ^ (~b0 & b1)
            b0 = _rol(a2 ^ d2, 62)
            b1 = _rol(a8 ^ d3, 55)
            b2 = _rol(a14 ^ d4, 39)
            b3 = _rol(a15 ^ d0, 41)
            b4 = _rol(a21 ^ d1, 2)
            st[160 + w] = b0 ^ (~b1 & b2)
            st[168 + w] = b1 ^ (~b2 & b3)
            st[176 + w] = b2 ^ (~b3 & b4)
            st[184 + w] = b3 ^ (~b4 & b0)
            st[192 + w] = b4 ^ (~b0 & b1)


@nb.njit(cache=True, inline="always")
def _load_le(m: npt.NDArray[np.uint8], o: int) -> np.uint64:
    """The little-endian 64-bit lane of bytes ``m[o : o + 8]``."""
    v = np.uint64(0)
    for j in range(8):
        v |= np.uint64(m[o + j]) << np.uint64(8 * j)
    return v


@nb.njit(cache=True, inline="always")
def _digest(st: npt.NDArray[np.uint64], w: int, out: npt.NDArray[np.uint8]) -> None:
    """The 32-byte digest of state ``w`` (lanes 0-3, little-endian) into ``out``."""
    for k in range(4):
        v = st[k * _W + w]
        for j in range(8):
            out[8 * k + j] = np.uint8((v >> np.uint64(8 * j)) & _BYTE)


@nb.njit(cache=True)
def _hash_group(data: npt.NDArray[np.uint8], r0: int, out: npt.NDArray[np.uint8],
                st: npt.NDArray[np.uint64], twice: bool) -> None:  # fmt: skip
    """keccak256 of rows ``r0 .. r0 + 7`` of ``data`` (fewer at the end) into ``out``;
    with ``twice``, keccak256 of that 32-byte digest (a Merkle leaf)."""
    cnt = min(_W, data.shape[0] - r0)
    n = data.shape[1]
    st[:] = 0
    pos = 0
    while n - pos >= _RATE:
        for w in range(cnt):
            msg = data[r0 + w]
            for k in range(_RATE_LANES):
                st[k * _W + w] ^= _load_le(msg, pos + 8 * k)
        _permute8(st)
        pos += _RATE
    rem = n - pos  # 0 <= rem < 136: the last block, padded
    full = rem // 8
    for w in range(cnt):
        msg = data[r0 + w]
        for k in range(full):
            st[k * _W + w] ^= _load_le(msg, pos + 8 * k)
        tail = _U1 << np.uint64(8 * (rem % 8))  # the padding's first byte 0x01
        for j in range(rem % 8):
            tail |= np.uint64(msg[pos + 8 * full + j]) << np.uint64(8 * j)
        st[full * _W + w] ^= tail
        st[(_RATE_LANES - 1) * _W + w] ^= _PAD_END
    _permute8(st)
    if twice:
        # The digest is lanes 0-3 (little-endian, as a message is loaded): absorb it
        # as a 32-byte message, padding 0x01 at byte 32 (lane 4) and 0x80 at byte 135.
        for w in range(cnt):
            for k in range(4, 25):
                st[k * _W + w] = 0
            st[4 * _W + w] = _U1
            st[(_RATE_LANES - 1) * _W + w] = _PAD_END
        _permute8(st)
    for w in range(cnt):
        _digest(st, w, out[r0 + w])


@nb.njit(cache=True)
def _pair_group(cur: npt.NDArray[np.uint8], j0: int, out: npt.NDArray[np.uint8],
                st: npt.NDArray[np.uint64]) -> None:  # fmt: skip
    """Parents ``j0 .. j0 + 7`` (fewer at the end) of the level ``cur`` into ``out``:
    keccak256(min(x, y) || max(x, y)) of the nodes ``2j`` and ``2j + 1``."""
    cnt = min(_W, cur.shape[0] // 2 - j0)
    st[:] = 0
    for w in range(cnt):
        x = cur[2 * (j0 + w)]
        y = cur[2 * (j0 + w) + 1]
        swap = False
        for k in range(32):
            if x[k] != y[k]:
                swap = y[k] < x[k]
                break
        lo, hi = (y, x) if swap else (x, y)
        for k in range(4):
            st[k * _W + w] = _load_le(lo, 8 * k)
            st[(4 + k) * _W + w] = _load_le(hi, 8 * k)
        st[8 * _W + w] = _U1  # 64-byte message: padding 0x01 at byte 64, 0x80 at byte 135
        st[(_RATE_LANES - 1) * _W + w] = _PAD_END
    _permute8(st)
    for w in range(cnt):
        _digest(st, w, out[j0 + w])


@nb.njit(cache=True)
def _keccak_rows_serial(data: npt.NDArray[np.uint8], twice: bool) -> npt.NDArray[np.uint8]:
    out = np.empty((data.shape[0], 32), np.uint8)
    st = np.empty(25 * _W, np.uint64)
    for r0 in range(0, data.shape[0], _W):
        _hash_group(data, r0, out, st, twice)
    return out


@nb.njit(cache=True, parallel=True)
def _keccak_rows_parallel(data: npt.NDArray[np.uint8], twice: bool) -> npt.NDArray[np.uint8]:
    n = data.shape[0]
    out = np.empty((n, 32), np.uint8)
    groups = (n + _W - 1) // _W
    size = max(1, (groups + _BLOCKS - 1) // _BLOCKS)
    for c in nb.prange((groups + size - 1) // size):  # blocks of groups, each its own state
        st = np.empty(25 * _W, np.uint64)
        for g in range(c * size, min(groups, (c + 1) * size)):
            _hash_group(data, g * _W, out, st, twice)
    return out


@nb.njit(cache=True)
def _merkle_level_serial(cur: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    n = cur.shape[0]
    m = (n + 1) // 2
    out = np.empty((m, 32), np.uint8)
    st = np.empty(25 * _W, np.uint64)
    for j0 in range(0, n // 2, _W):
        _pair_group(cur, j0, out, st)
    if n % 2:
        out[m - 1] = cur[n - 1]
    return out


@nb.njit(cache=True, parallel=True)
def _merkle_level_parallel(cur: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    n = cur.shape[0]
    m = (n + 1) // 2
    out = np.empty((m, 32), np.uint8)
    groups = (n // 2 + _W - 1) // _W
    size = max(1, (groups + _BLOCKS - 1) // _BLOCKS)
    for c in nb.prange((groups + size - 1) // size):
        st = np.empty(25 * _W, np.uint64)
        for g in range(c * size, min(groups, (c + 1) * size)):
            _pair_group(cur, g * _W, out, st)
    if n % 2:
        out[m - 1] = cur[n - 1]
    return out


def keccak_rows(
    data: npt.NDArray[np.uint8], *, parallel: bool | None = None
) -> npt.NDArray[np.uint8]:
    """keccak256 of each row of a 2-D ``uint8`` array: an ``(n, 32)`` ``uint8`` array.

    ``parallel`` forces the threaded (``True``) or the one-thread (``False``) kernel; by
    default the threaded one runs for :data:`PARALLEL_MIN_PERMUTATIONS` permutations or
    more. Both give the same bytes.
    """
    return _rows(data, parallel, False, "keccak_rows")


def leaf_rows(
    data: npt.NDArray[np.uint8], *, parallel: bool | None = None
) -> npt.NDArray[np.uint8]:
    """The Merkle leaves ``keccak256(keccak256(row))`` of each row of a 2-D ``uint8``
    array (rows: ``abi.encode(LoanRecord)``): an ``(n, 32)`` ``uint8`` array.

    The second hash, of the 32-byte digest, runs in the same kernel call on the state
    the first leaves (one more permutation per row). Leaves are hashes of 32-byte
    messages, internal nodes of 64-byte ones: a leaf is never an internal node
    (``openmbs.oracle.LoanRecord.leaf``). ``parallel`` as in :func:`keccak_rows`.
    """
    return _rows(data, parallel, True, "leaf_rows")


def _rows(
    data: npt.NDArray[np.uint8], parallel: bool | None, twice: bool, name: str
) -> npt.NDArray[np.uint8]:
    arr = np.ascontiguousarray(data, dtype=np.uint8)
    if arr.ndim != 2:
        raise ValueError(f"{name}: need a 2-D array of rows, got shape {arr.shape}")
    if parallel is None:
        perms = arr.shape[1] // _RATE + 1 + int(twice)
        parallel = arr.shape[0] * perms >= PARALLEL_MIN_PERMUTATIONS
    return _keccak_rows_parallel(arr, twice) if parallel else _keccak_rows_serial(arr, twice)


def merkle_levels(
    leaves: npt.NDArray[np.uint8], *, parallel: bool | None = None
) -> list[npt.NDArray[np.uint8]]:
    """Every level of the sorted-pair keccak256 Merkle tree of ``leaves`` (``(n, 32)``
    ``uint8``), leaves first, root last: a parent is ``keccak256(min(a, b) ||
    max(a, b))`` of the pair (0, 1), (2, 3), ... (bytewise order); an odd last node is
    promoted unchanged (``openmbs.oracle.MerkleTree``).

    ``parallel`` as in :func:`keccak_rows`; by default a level of at least
    :data:`PARALLEL_MIN_PERMUTATIONS` pairs is hashed on all cores."""
    cur = np.ascontiguousarray(leaves, dtype=np.uint8)
    if cur.ndim != 2 or cur.shape[1] != 32 or cur.shape[0] == 0:
        raise ValueError(f"merkle_levels: need an (n >= 1, 32) array, got shape {cur.shape}")
    levels = [cur]
    while cur.shape[0] > 1:
        par = cur.shape[0] // 2 >= PARALLEL_MIN_PERMUTATIONS if parallel is None else parallel
        cur = _merkle_level_parallel(cur) if par else _merkle_level_serial(cur)
        levels.append(cur)
    return levels
