"""keccak256 rows and Merkle levels: eth_utils per row vs the previous and the new numba kernel.

Run::

    .venv/bin/python benchmarks/bench_keccak.py [--sizes 2000,20000,200000] [--repeats 5]
        [--threshold] [--load-time]

For each N: N random rows of 384 bytes (one ``abi.encode`` of a 12-word loan record, 3
Keccak-f permutations per row) hashed by

* ``eth_utils``: ``eth_utils.keccak`` (pycryptodome's C Keccak) per row in a Python loop
  (the baseline measured in the same run);
* ``previous``: the kernel this script keeps a copy of below (``_old_*``), the numba
  implementation replaced by ``openmbs.agents._keccak`` (state in small arrays, loops
  with modulo indexing);
* ``new serial`` / ``new parallel`` / ``new default``: ``keccak_rows(...,
  parallel=False / True / None)`` (default: threaded from ``PARALLEL_MIN_PERMUTATIONS``).

and the same for the Merkle levels of N leaves (``openmbs.oracle.MerkleTree`` in pure
Python as the baseline). Figures are medians over the repeats of wall time and of
process CPU time (all threads); on a shared machine compare ratios and CPU times. A
"machine check" line times a fixed pure-Python loop and prints the load average. Every
kernel's output is checked against the baseline's.

``--threshold`` times serial vs parallel kernels on small batches (how
``PARALLEL_MIN_PERMUTATIONS`` was chosen); ``--load-time`` starts fresh processes and
times the first call of each kernel, loaded from numba's cache (run the script once
before, so the caches exist).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numba as nb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from eth_utils.crypto import keccak

from openmbs.agents._keccak import PARALLEL_MIN_PERMUTATIONS, keccak_rows, merkle_levels
from openmbs.agents._servicer import _id_words
from openmbs.oracle import MerkleTree, loan_id_bytes32

# --- previous kernel (copy of openmbs.agents._keccak before the rewrite) -------------

_OLD_RC = np.array(
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
# Rotation offsets of lane (x, y), indexed x + 5y.
_OLD_ROT = np.array(
    [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14],
    dtype=np.uint64,
)
_OLD_RATE = 136


@nb.njit(cache=True)
def _old_permute(
    a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64], c: npt.NDArray[np.uint64]
) -> None:
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
                n = _OLD_ROT[x + 5 * y]
                if n != 0:
                    v = (v << n) | (v >> (np.uint64(64) - n))
                b[y + 5 * ((2 * x + 3 * y) % 5)] = v
        for y in range(5):
            for x in range(5):
                a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y])
        a[0] ^= _OLD_RC[rnd]


@nb.njit(cache=True)
def _old_absorb_lane(a: npt.NDArray[np.uint64], lane: int, byte: int, value: np.uint8) -> None:
    a[lane] ^= np.uint64(value) << np.uint64(8 * byte)


@nb.njit(cache=True)
def _old_hash_into(msg: npt.NDArray[np.uint8], out: npt.NDArray[np.uint8], a: npt.NDArray[np.uint64],
               b: npt.NDArray[np.uint64], c: npt.NDArray[np.uint64]) -> None:  # fmt: skip
    for i in range(25):
        a[i] = 0
    n = msg.shape[0]
    pos = 0
    while n - pos >= _OLD_RATE:
        for k in range(_OLD_RATE):
            _old_absorb_lane(a, k // 8, k % 8, msg[pos + k])
        _old_permute(a, b, c)
        pos += _OLD_RATE
    rem = n - pos
    for k in range(rem):
        _old_absorb_lane(a, k // 8, k % 8, msg[pos + k])
    _old_absorb_lane(a, rem // 8, rem % 8, np.uint8(0x01))
    _old_absorb_lane(a, (_OLD_RATE - 1) // 8, (_OLD_RATE - 1) % 8, np.uint8(0x80))
    _old_permute(a, b, c)
    for k in range(32):
        out[k] = np.uint8((a[k // 8] >> np.uint64(8 * (k % 8))) & np.uint64(0xFF))


@nb.njit(cache=True)
def _old_keccak_rows(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    out = np.empty((data.shape[0], 32), np.uint8)
    a = np.zeros(25, np.uint64)
    b = np.zeros(25, np.uint64)
    c = np.zeros(5, np.uint64)
    for i in range(data.shape[0]):
        _old_hash_into(data[i], out[i], a, b, c)
    return out


@nb.njit(cache=True)
def _old_merkle_level(cur: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
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
        _old_hash_into(buf, out[j], a, b, c)
    if n % 2:
        out[m - 1] = cur[n - 1]
    return out


def old_keccak_rows(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return _old_keccak_rows(np.ascontiguousarray(data, dtype=np.uint8))


def old_merkle_levels(leaves: npt.NDArray[np.uint8]) -> list[npt.NDArray[np.uint8]]:
    cur = np.ascontiguousarray(leaves, dtype=np.uint8)
    levels = [cur]
    while cur.shape[0] > 1:
        cur = _old_merkle_level(cur)
        levels.append(cur)
    return levels


# --- harness ---------------------------------------------------------------------------


@nb.njit(cache=True)
def _warm(x: int) -> int:
    """A trivial cached function: calling it first pays numba's one-off start-up."""
    return x + 1


def machine_check() -> str:
    t0 = time.perf_counter()
    acc = 0
    for i in range(3_000_000):
        acc += i * i % 7
    dt = time.perf_counter() - t0
    load = os.getloadavg()
    return (
        f"machine check: 3e6-iteration Python loop {dt:.2f} s; load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cpu; numba threads "
        f"{nb.get_num_threads()}"
    )


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``repeats`` calls, and the last result."""
    walls, cpus = [], []
    out: object = None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def table(title: str, n: int, rows: list[tuple[str, float, float]], unit: str) -> None:
    base_wall = rows[0][1]
    prev = dict((name, (w, c)) for name, w, c in rows)["previous"]
    print(f"\n{title}, N = {n:,}")
    print(
        f"  {'method':<13} {'wall ms':>10} {'cpu ms':>10} {unit + '/s (wall)':>16} "
        f"{'x eth_utils':>12} {'x previous':>11} {'cpu x prev':>11}"
    )
    for name, w, c in rows:
        print(
            f"  {name:<13} {w * 1e3:10.1f} {c * 1e3:10.1f} {n / w:16,.0f} {base_wall / w:12.1f} "
            f"{prev[0] / w:11.2f} {prev[1] / c:11.2f}"
        )


def bench_rows(n: int, repeats: int, rng: np.random.Generator) -> None:
    data = rng.integers(0, 256, (n, 384), dtype=np.uint8)
    rows_b = [r.tobytes() for r in data]
    w, c, ref = timed(lambda: [bytes(keccak(r)) for r in rows_b], max(1, min(repeats, 3)))
    results = [("eth_utils", w, c)]
    want = np.frombuffer(b"".join(ref), np.uint8).reshape(n, 32)  # type: ignore[arg-type]
    runs: list[tuple[str, Callable[[], object]]] = [
        ("previous", lambda: old_keccak_rows(data)),
        ("new serial", lambda: keccak_rows(data, parallel=False)),
        ("new parallel", lambda: keccak_rows(data, parallel=True)),
        ("new default", lambda: keccak_rows(data)),
    ]
    for name, fn in runs:
        w, c, got = timed(fn, repeats)
        assert np.array_equal(got, want), name  # type: ignore[arg-type]
        results.append((name, w, c))
    table("keccak256 of 384-byte rows", n, results, "rows")


def bench_merkle(n: int, repeats: int, rng: np.random.Generator) -> None:
    leaves = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    leaves_b = [r.tobytes() for r in leaves]
    w, c, tree = timed(lambda: MerkleTree(leaves_b), max(1, min(repeats, 3)))
    results = [("eth_utils", w, c)]
    root = tree.root  # type: ignore[attr-defined]
    runs: list[tuple[str, Callable[[], object]]] = [
        ("previous", lambda: old_merkle_levels(leaves)),
        ("new serial", lambda: merkle_levels(leaves, parallel=False)),
        ("new parallel", lambda: merkle_levels(leaves, parallel=True)),
        ("new default", lambda: merkle_levels(leaves)),
    ]
    for name, fn in runs:
        w, c, got = timed(fn, repeats)
        assert got[-1][0].tobytes() == root, name  # type: ignore[index]
        results.append((name, w, c))
    table("Merkle levels (MerkleTree in Python as baseline)", n, results, "leaves")


def _id_cells(xs: list[str], repeats: int) -> list[str]:
    n = len(xs)
    want = np.frombuffer(b"".join(loan_id_bytes32(x) for x in xs), np.uint8).reshape(n, 32)
    arr = pa.array(xs)
    cells = []
    for fn in (
        lambda: np.frombuffer(b"".join(loan_id_bytes32(x) for x in xs), np.uint8),
        lambda: _id_words(xs),
        lambda: _id_words(arr),
    ):
        w, c, got = timed(fn, repeats)
        assert np.array_equal(np.asarray(got).reshape(n, 32), want)
        cells.append(f"{w * 1e3:8.1f} ({c * 1e3:6.1f})")
    return cells


def bench_ids(n: int, repeats: int) -> None:
    """Loan-id words: ``loan_id_bytes32`` per id (what ``_id_words`` did) vs ``_id_words``."""
    ids = [f"LN{i:08d}" for i in range(n)]
    mixed = [f"L{i}-é" for i in range(n)]  # several byte lengths, non-ASCII
    print(f"\nloan-id words, N = {n:,}: median wall ms (cpu ms)")
    for label, xs in (("10-byte ids", ids), ("mixed-length UTF-8 ids", mixed)):
        c = _id_cells(xs, repeats)
        print(f"  {label:<23} per id {c[0]}  _id_words(list) {c[1]}  _id_words(arrow) {c[2]}")


def threshold(repeats: int) -> None:
    """Serial vs parallel wall time on small batches: where threads start to pay."""
    from openmbs.agents import _keccak as k

    rng = np.random.default_rng(5)
    print("\nparallel threshold: wall us per call, min / median of the repeats")
    print(f"  {'rows':>6} {'perms':>6} {'rows serial':>14} {'rows parallel':>14}   "
          f"{'pairs':>6} {'merkle serial':>14} {'merkle par.':>14}")  # fmt: skip
    reps = max(repeats, 31)
    for n in (16, 64, 128, 256, 512, 1024, 2048, 4096):
        data = rng.integers(0, 256, (n, 384), dtype=np.uint8)
        nodes = rng.integers(0, 256, (2 * n, 32), dtype=np.uint8)
        cells = []
        for fn, arg in (
            (lambda x: k._keccak_rows_serial(x, False), data),
            (lambda x: k._keccak_rows_parallel(x, False), data),
            (k._merkle_level_serial, nodes),
            (k._merkle_level_parallel, nodes),
        ):
            walls = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn(arg)
                walls.append(time.perf_counter() - t0)
            cells.append(f"{min(walls) * 1e6:6.0f} /{statistics.median(walls) * 1e6:6.0f}")
        print(
            f"  {n:6d} {3 * n:6d} {cells[0]:>14} {cells[1]:>14}   {n:6d} {cells[2]:>14} {cells[3]:>14}"
        )


_CHILD = """
import sys, time
sys.path.insert(0, {bench!r}); sys.path.insert(0, {src!r})
import numpy as np
import bench_keccak as b
from openmbs.agents import _keccak
t = time.perf_counter(); b._warm(1); init = time.perf_counter() - t
small, big = np.zeros((4, 384), np.uint8), np.zeros((2048, 384), np.uint8)
old = {old}
out = [init]
for fn, arg in ((b.old_keccak_rows if old else lambda x: _keccak.keccak_rows(x, parallel=False), small),
                (b.old_merkle_levels if old else lambda x: _keccak.merkle_levels(x, parallel=False), small[:, :32]),
                (None if old else lambda x: _keccak.keccak_rows(x, parallel=True), big),
                (None if old else lambda x: _keccak.merkle_levels(x, parallel=True), big[:, :32])):
    if fn is None:
        out.append(float("nan")); continue
    t = time.perf_counter(); fn(arg); out.append(time.perf_counter() - t)
print(" ".join(f"{{x:.4f}}" for x in out))
"""


def load_time(repeats: int) -> None:
    """First call of each kernel in a fresh process, loaded from numba's cache."""
    here = Path(__file__).resolve()
    print("\nfirst call in a fresh process (cached), median ms; 'numba init' = first call of a")
    print("trivial cached function, paid once per process by whichever kernel runs first")
    print(
        f"  {'kernel':<9} {'numba init':>10} {'rows ser':>9} {'merkle ser':>10} {'rows par':>9} {'merkle par':>10}"
    )
    for old in (True, False):
        code = _CHILD.format(bench=str(here.parent), src=str(here.parents[1] / "src"), old=old)
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # fill caches
        vals = []
        for _ in range(repeats):
            res = subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True
            )
            vals.append([float(x) for x in res.stdout.split()])
        med = [statistics.median(col) * 1e3 for col in zip(*vals, strict=True)]
        name = "previous" if old else "new"
        print(f"  {name:<9} " + " ".join(f"{m:>10.1f}" if m == m else f"{'-':>10}" for m in med))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--sizes", default="2000,20000,200000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threshold", action="store_true", help="serial vs parallel on small batches")
    ap.add_argument("--load-time", action="store_true", help="first call in fresh processes")
    args = ap.parse_args()
    print(machine_check())
    print(f"PARALLEL_MIN_PERMUTATIONS = {PARALLEL_MIN_PERMUTATIONS}")
    rng = np.random.default_rng(2024)
    warm = rng.integers(0, 256, (4, 384), dtype=np.uint8)  # compile or load every kernel
    old_keccak_rows(warm), keccak_rows(warm, parallel=False), keccak_rows(warm, parallel=True)
    old_merkle_levels(warm[:, :32]), merkle_levels(warm[:, :32], parallel=False)
    merkle_levels(warm[:, :32], parallel=True)
    if args.threshold:
        threshold(args.repeats)
    if args.load_time:
        load_time(args.repeats)
    if args.threshold or args.load_time:
        return
    for n in (int(s) for s in args.sizes.split(",")):
        bench_rows(n, args.repeats, rng)
        bench_merkle(n, args.repeats, rng)
        bench_ids(n, args.repeats)
    print("\n" + machine_check())


if __name__ == "__main__":
    main()
