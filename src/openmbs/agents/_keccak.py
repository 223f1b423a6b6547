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
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

__all__ = ["keccak_rows", "merkle_levels"]

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
#: Rotation offsets of lane (x, y), indexed x + 5y.
_ROT = np.array(
    [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14],
    dtype=np.uint64,
)
_RATE = 136


@nb.njit(cache=True)
def _permute(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64], c: npt.NDArray[np.uint64]) -> None:
    one = np.uint64(1)
    s63 = np.uint64(63)
    for rnd in range(24):
        for x in range(5):
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20]
        for x in range(5):
            r = c[(x + 1) % 5]
            d = c[(x + 4) % 5] ^ ((r << one) | (r >> s63))
            for y in range(5):
                a[x + 5 * y] ^= d
        for x in range(5):
            for y in range(5):
                v = a[x + 5 * y]
                n = _ROT[x + 5 * y]
                if n != 0:
                    v = (v << n) | (v >> (np.uint64(64) - n))
                b[y + 5 * ((2 * x + 3 * y) % 5)] = v
        for y in range(5):
            for x in range(5):
                a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y])
        a[0] ^= _RC[rnd]


@nb.njit(cache=True)
def _absorb_lane(a: npt.NDArray[np.uint64], lane: int, byte: int, value: np.uint8) -> None:
    a[lane] ^= np.uint64(value) << np.uint64(8 * byte)


@nb.njit(cache=True)
def _hash_into(msg: npt.NDArray[np.uint8], out: npt.NDArray[np.uint8], a: npt.NDArray[np.uint64],
               b: npt.NDArray[np.uint64], c: npt.NDArray[np.uint64]) -> None:  # fmt: skip
    for i in range(25):
        a[i] = 0
    n = msg.shape[0]
    pos = 0
    while n - pos >= _RATE:
        for k in range(_RATE):
            _absorb_lane(a, k // 8, k % 8, msg[pos + k])
        _permute(a, b, c)
        pos += _RATE
    rem = n - pos
    for k in range(rem):
        _absorb_lane(a, k // 8, k % 8, msg[pos + k])
    _absorb_lane(a, rem // 8, rem % 8, np.uint8(0x01))
    _absorb_lane(a, (_RATE - 1) // 8, (_RATE - 1) % 8, np.uint8(0x80))
    _permute(a, b, c)
    for k in range(32):
        out[k] = np.uint8((a[k // 8] >> np.uint64(8 * (k % 8))) & np.uint64(0xFF))


@nb.njit(cache=True)
def _keccak_rows(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    out = np.empty((data.shape[0], 32), np.uint8)
    a = np.zeros(25, np.uint64)
    b = np.zeros(25, np.uint64)
    c = np.zeros(5, np.uint64)
    for i in range(data.shape[0]):
        _hash_into(data[i], out[i], a, b, c)
    return out


@nb.njit(cache=True)
def _merkle_level(cur: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    n = cur.shape[0]
    m = (n + 1) // 2
    out = np.empty((m, 32), np.uint8)
    buf = np.empty(64, np.uint8)
    a = np.zeros(25, np.uint64)
    b = np.zeros(25, np.uint64)
    c = np.zeros(5, np.uint64)
    for j in range(n // 2):
        x = cur[2 * j]
        y = cur[2 * j + 1]
        less = False
        for k in range(32):
            if x[k] != y[k]:
                less = x[k] < y[k]
                break
        if less:
            buf[:32] = x
            buf[32:] = y
        else:
            buf[:32] = y
            buf[32:] = x
        _hash_into(buf, out[j], a, b, c)
    if n % 2:
        out[m - 1] = cur[n - 1]
    return out


def keccak_rows(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """keccak256 of each row of a 2-D ``uint8`` array: an ``(n, 32)`` ``uint8`` array."""
    arr = np.ascontiguousarray(data, dtype=np.uint8)
    if arr.ndim != 2:
        raise ValueError(f"keccak_rows: need a 2-D array of rows, got shape {arr.shape}")
    return _keccak_rows(arr)


def merkle_levels(leaves: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.uint8]]:
    """Every level of the sorted-pair keccak256 Merkle tree of ``leaves`` (``(n, 32)``
    ``uint8``), leaves first, root last: a parent is ``keccak256(min(a, b) ||
    max(a, b))`` of the pair (0, 1), (2, 3), ... (bytewise order); an odd last node is
    promoted unchanged (``openmbs.oracle.MerkleTree``)."""
    cur = np.ascontiguousarray(leaves, dtype=np.uint8)
    if cur.ndim != 2 or cur.shape[1] != 32 or cur.shape[0] == 0:
        raise ValueError(f"merkle_levels: need an (n >= 1, 32) array, got shape {cur.shape}")
    levels = [cur]
    while cur.shape[0] > 1:
        cur = _merkle_level(cur)
        levels.append(cur)
    return levels
