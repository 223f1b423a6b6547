"""The servicer bridge: loan-level records -> remittance report, Merkle tree, attestations.

The bridge turns one month of :class:`openmbs.sim.LoanSimulator` records (a pyarrow
table in ``LOAN_RECORD_SCHEMA``) into the oracle's :class:`~openmbs.oracle.LoanRecord`
leaves, their sorted-pair Merkle tree and the period's
:class:`~openmbs.oracle.RemittanceReport`, with everything vectorised over loans except
the keccak256 calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from eth_utils.crypto import keccak

from openmbs.agents._keccak import keccak_rows, leaf_rows, merkle_levels
from openmbs.errors import InputError
from openmbs.oracle import LoanRecord, RemittanceReport, loan_id_bytes32

__all__ = [
    "RECORD_FIELDS",
    "SERVICING_FIELDS",
    "LoanTree",
    "ServicerBridge",
    "ServicerPeriod",
    "keccak256",
    "leaves",
    "loan_records",
    "record_columns",
    "record_decimals",
    "record_hash_array",
    "report_from_records",
    "scale_report",
]

#: Columns of the loan-level file written each period (the oracle's ``LoanRecord``
#: fields plus the loan's status code and tape row).
RECORD_FIELDS: tuple[str, ...] = (
    "loan_id",
    "period",
    "beginning_balance",
    "scheduled_principal",
    "prepaid_principal",
    "interest_paid",
    "ending_balance",
    "delinquency",
    "defaulted",
    "liquidated",
    "loss",
    "recovery",
)

#: Servicing-cash columns of the loan-level file, beside the leaf's fields (not in the
#: Merkle leaf): net P&I advanced (``advanced``), advances repaid to the servicer
#: (``advance_reimbursed``; on a liquidated loan's row, out of its proceeds), prepayment
#: penalty and late fee charged. Files without them read as zeros.
SERVICING_FIELDS: tuple[str, ...] = ("advanced", "advance_reimbursed", "prepayment_penalty", "late_fee")

#: At most this many decimals in the loan records' money (64-bit integers).
MAX_RECORD_DECIMALS = 9

#: The report's money fields (the asset's base units; the records' sums times the scale).
_MONEY_FIELDS: tuple[str, ...] = (
    "scheduled_principal", "unscheduled_principal", "interest", "recoveries", "losses",
    "beginning_balance", "ending_balance", "delinquent_30", "delinquent_60", "delinquent_90_plus", "cash",
    "advances", "advance_reimbursements", "liquidation_reimbursements", "prepayment_penalties", "late_fees",
)  # fmt: skip


def record_decimals(decimals: int) -> int:
    """Decimals of the loan records' money unit for an asset of ``decimals`` decimals:
    ``min(decimals, 9)``. Records count money in 64-bit integers of ``10**-r`` currency
    units; a report's aggregates are their sums times ``10**(decimals - r)`` (exact
    integers), in the asset's base units.

    >>> record_decimals(6), record_decimals(18)
    (6, 9)
    """
    if not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0:
        raise InputError(f"decimals value {decimals!r}: need an integer >= 0")
    return min(decimals, MAX_RECORD_DECIMALS)


def scale_report(report: RemittanceReport, unit_scale: int) -> RemittanceReport:
    """``report`` with every money field times ``unit_scale`` (asset base units per
    record unit): a report aggregated from records in record units, in the asset's
    base units. ``unit_scale = 1`` returns ``report`` unchanged."""
    if not isinstance(unit_scale, int) or unit_scale < 1:
        raise InputError(f"unit_scale value {unit_scale!r}: need an integer >= 1")
    if unit_scale == 1:
        return report
    return dataclasses.replace(report, **{f: getattr(report, f) * unit_scale for f in _MONEY_FIELDS})


_STATUS_DEFAULTED = 2
_STATUS_LIQUIDATED = 3


def _make_keccak() -> Callable[[bytes], bytes]:
    """keccak256 with little per-call overhead.

    ``eth_utils.keccak`` (eth-hash on pycryptodome) builds a hash object per call; the
    servicer hashes every loan record and every inner node each month, so this calls
    pycryptodome's keccak C functions on one reused state instead (a few times
    faster). It is checked against ``eth_utils.keccak`` on known inputs and falls back
    to it if pycryptodome's internals differ.
    """
    try:
        import importlib

        lib: Any = importlib.import_module("Crypto.Hash.keccak")._raw_keccak_lib
        raw: Any = importlib.import_module("Crypto.Util._raw_api")
        c_size_t, get_raw_buffer = raw.c_size_t, raw.get_raw_buffer
        state = raw.VoidPointer()
        if lib.keccak_init(state.address_of(), c_size_t(64), raw.c_ubyte(24)):
            raise RuntimeError("keccak_init failed")
        ptr = state.get()
        out = raw.create_string_buffer(32)
        n32 = c_size_t(32)
        pad = raw.c_ubyte(0x01)

        def fast(data: bytes) -> bytes:
            lib.keccak_reset(ptr)
            lib.keccak_absorb(ptr, data, c_size_t(len(data)))
            lib.keccak_digest(ptr, out, n32, pad)
            return bytes(get_raw_buffer(out))

        for probe in (b"", b"openmbs", bytes(range(256)) * 2):
            if fast(probe) != bytes(keccak(probe)):
                raise RuntimeError("mismatch")
        fast.__name__ = "keccak256"
        return fast
    except Exception:  # pragma: no cover - depends on pycryptodome's internals
        return lambda data: bytes(keccak(data))


keccak256 = _make_keccak()


class LoanTree:
    """The sorted-pair keccak256 Merkle tree of ``openmbs.oracle.MerkleTree`` (pairs
    (0,1), (2,3), ...; an odd last node promoted unchanged). Levels of 32-byte nodes
    are built by the compiled kernel :func:`openmbs.agents._keccak.merkle_levels`;
    other leaves with :data:`keccak256`. The tests check root and proofs against
    ``MerkleTree``."""

    def __init__(self, leaves: Sequence[bytes] | npt.NDArray[np.uint8]) -> None:
        if len(leaves) == 0:
            raise InputError("Merkle tree: no leaves")
        self._arrays: list[npt.NDArray[np.uint8]] | None = None
        self._levels: list[list[bytes]] | None = None
        if isinstance(leaves, np.ndarray):
            self._arrays = merkle_levels(leaves)
            self._n = int(leaves.shape[0])
            return
        self._n = len(leaves)
        if all(len(x) == 32 for x in leaves):
            arr = np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(-1, 32)
            self._arrays = merkle_levels(arr)
            return
        levels = [list(leaves)]
        h = keccak256
        while len(levels[-1]) > 1:
            cur = levels[-1]
            nxt = [
                h(a + b) if a < b else h(b + a) for a, b in zip(cur[0::2], cur[1::2], strict=False)
            ]
            if len(cur) % 2:
                nxt.append(cur[-1])
            levels.append(nxt)
        self._levels = levels

    def __len__(self) -> int:
        return self._n

    @property
    def root(self) -> bytes:
        """The root hash."""
        if self._arrays is not None:
            return bytes(self._arrays[-1][0].tobytes())
        assert self._levels is not None
        return self._levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf ``index`` up to the root."""
        if not 0 <= index < len(self):
            raise InputError(f"Merkle tree: leaf index {index} outside 0..{len(self) - 1}")
        out: list[bytes] = []
        levels: Sequence[Any] = self._arrays if self._arrays is not None else self._levels or []
        for level in levels[:-1]:
            sib = index ^ 1
            if sib < len(level):
                node = level[sib]
                out.append(node.tobytes() if isinstance(node, np.ndarray) else node)
            index //= 2
        return out


def record_columns(loans: pa.Table) -> pa.Table:
    """The oracle's loan-record columns of one period of simulator records.

    Mapping (``openmbs.sim.LOAN_RECORD_SCHEMA`` -> ``LoanRecord``): ``balance_begin`` ->
    ``beginning_balance``; ``scheduled_principal``; ``prepaid_principal`` (prepayments
    in full and curtailments); ``net_interest`` -> ``interest_paid`` (interest net of
    the servicing fee, the cash the pool receives); ``balance_end`` ->
    ``ending_balance``; ``delinquency``; ``defaulted`` = status defaulted or liquidated;
    ``liquidated`` = ``liquidation_flag``; ``loss``; ``recovery``. The loan id is the
    tape's identifier (text), with the tape row in ``tape_row`` and the simulator's
    ``status`` code kept for the report. The :data:`SERVICING_FIELDS` follow when the
    simulator's records have them: ``advanced = advanced_principal`` plus the net
    interest of a loan whose interest was advanced (servicers advance interest net of
    their fee), ``advance_reimbursed``, ``prepayment_penalty``, ``late_fee``.
    """
    lid = loans.column("loan_id")
    if pa.types.is_dictionary(lid.type):
        rows = pc.cast(
            pa.chunked_array([c.indices for c in lid.chunks], type=lid.type.index_type), pa.int32()
        )
        ids = pc.cast(lid, pa.string())
    else:
        rows = pa.array(np.arange(loans.num_rows, dtype=np.int32))
        ids = pc.cast(lid, pa.string())
    status = loans.column("status").to_numpy()
    defaulted = (status == _STATUS_DEFAULTED) | (status == _STATUS_LIQUIDATED)
    return pa.table(
        {
            "loan_id": ids,
            "tape_row": rows,
            "period": pc.cast(loans.column("period"), pa.int32()),
            "status": loans.column("status"),
            "beginning_balance": loans.column("balance_begin"),
            "scheduled_principal": loans.column("scheduled_principal"),
            "prepaid_principal": loans.column("prepaid_principal"),
            "interest_paid": loans.column("net_interest"),
            "ending_balance": loans.column("balance_end"),
            "delinquency": pc.cast(loans.column("delinquency"), pa.int8()),
            "defaulted": pa.array(defaulted),
            "liquidated": loans.column("liquidation_flag"),
            "loss": loans.column("loss"),
            "recovery": loans.column("recovery"),
            **_servicing_columns(loans),
        }
    )


def _servicing_columns(loans: pa.Table) -> dict[str, Any]:
    if "advance_reimbursed" not in loans.column_names:
        return {}
    adv_i = loans.column("advanced_interest").to_numpy()
    net = loans.column("net_interest").to_numpy()
    advanced = loans.column("advanced_principal").to_numpy() + np.where(adv_i > 0, net, 0)
    return {
        "advanced": pa.array(advanced.astype(np.int64)),
        "advance_reimbursed": loans.column("advance_reimbursed"),
        "prepayment_penalty": loans.column("prepayment_penalty"),
        "late_fee": loans.column("late_fee"),
    }


def _id_words(
    ids: Sequence[str | int | bytes] | pa.Array | pa.ChunkedArray,
) -> npt.NDArray[np.uint8]:
    """The on-chain ``loan_id`` words (``oracle.loan_id_bytes32``) of ``ids``: ``(n, 32)``
    ``uint8``.

    Parameters
    ----------
    ids
        Loan identifiers: a sequence (``str``, ``int`` or 32-byte ``bytes``), or a pyarrow
        string array.

    Returns
    -------
    numpy.ndarray
        Row ``i`` is ``loan_id_bytes32(ids[i])``.

    Raises
    ------
    InputError
        The error of ``loan_id_bytes32`` for the first id it rejects (e.g. a text id
        longer than 32 UTF-8 bytes, named with its value).

    Notes
    -----
    A text id is its UTF-8 bytes right-padded with zeros. When every id is a ``str``
    they are joined with NUL separators and encoded in one call (UTF-8 has no zero byte
    except for U+0000, so the separators give each id's byte length); an arrow string
    array gives its bytes and offsets directly. The bytes are then scattered into the
    zeroed ``(n, 32)`` array with array operations, with no Python call per id. Other
    types, ids containing U+0000, nulls, text that does not encode, or an id over 32
    bytes go through ``loan_id_bytes32`` one by one, which gives its exact result or
    error.
    """

    def each(values: Sequence[str | int | bytes]) -> npt.NDArray[np.uint8]:
        flat = b"".join(loan_id_bytes32(v) for v in values)
        return np.frombuffer(flat, dtype=np.uint8).reshape(len(values), 32)

    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if isinstance(ids, pa.Array):
        if (
            not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type))
            or ids.null_count
            or len(ids) == 0
        ):
            return each(ids.to_pylist())
        n = len(ids)
        wide = pa.types.is_large_string(ids.type)
        offsets = np.frombuffer(
            ids.buffers()[1], dtype=np.int64 if wide else np.int32, count=ids.offset + n + 1
        )[ids.offset :].astype(np.int64)
        raw = ids.buffers()[2]
        data = (
            np.frombuffer(raw, dtype=np.uint8)[offsets[0] : offsets[-1]]
            if raw is not None
            else np.zeros(0, dtype=np.uint8)
        )
        lengths = np.diff(offsets)
        stride = 0  # data holds the ids back to back
    else:
        n = len(ids)
        try:
            text = "\0".join(ids) + "\0"  # type: ignore[arg-type]  # TypeError if not all str
            joined = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        except (TypeError, UnicodeEncodeError):
            return each(ids)  # not all str, or not encodable: per id, as loan_id_bytes32
        ends = np.flatnonzero(joined == 0)
        if n == 0 or len(ends) != n:  # an id holds U+0000: let loan_id_bytes32 judge
            return each(ids)
        lengths = np.diff(ends, prepend=-1) - 1
        data, stride = joined, 1  # each id followed by its separator
    if int(lengths.max()) > 32:
        return each(ids.to_pylist() if isinstance(ids, pa.Array) else ids)  # its error
    words = np.zeros((n, 32), dtype=np.uint8)
    w = int(lengths[0])
    if bool((lengths == w).all()):  # ids of one byte length (the usual tape)
        words[:, :w] = data.reshape(n, w + stride)[:, :w]
    else:
        if stride:
            data = data[data != 0]
        starts = np.cumsum(lengths) - lengths
        dest = np.arange(data.shape[0]) + np.repeat(np.arange(n) * 32 - starts, lengths)
        words.reshape(-1)[dest] = data
    return words


def _encode(records: pa.Table, id_words: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """``abi.encode`` of every record: one row of 12 x 32 bytes per loan."""
    n = records.num_rows
    buf = np.zeros((n, 12, 32), dtype=np.uint8)
    buf[:, 0, :] = id_words
    for w, name in enumerate(RECORD_FIELDS[1:], start=1):
        col = records.column(name).to_numpy().astype(np.int64)
        if n and int(col.min()) < 0:
            bad = int(np.argmin(col))
            raise InputError(
                f"loan {records.column('loan_id')[bad].as_py()!r} period "
                f"{records.column('period')[bad].as_py()} field {name!r} value {int(col[bad])}: negative"
            )
        buf[:, w, 24:] = col.astype(">u8").view(np.uint8).reshape(n, 8)
    return buf.reshape(n, 384)


def leaf_array(
    records: pa.Table, id_words: npt.NDArray[np.uint8] | None = None
) -> npt.NDArray[np.uint8]:
    """The Merkle leaves ``keccak256(keccak256(abi.encode(LoanRecord)))`` of a record
    table (columns of :func:`record_columns`), in table order, as an ``(n, 32)``
    ``uint8`` array (``openmbs.oracle.LoanRecord.leaf``: a leaf hashes a 32-byte
    message, an internal node a 64-byte pair, so the two never coincide)."""
    if id_words is None:
        id_words = _id_words(records.column("loan_id"))
    return leaf_rows(_encode(records, id_words))


def record_hash_array(
    records: pa.Table, id_words: npt.NDArray[np.uint8] | None = None
) -> npt.NDArray[np.uint8]:
    """The record hashes ``keccak256(abi.encode(LoanRecord))`` of a record table (what
    ``RemittanceOracle.verify_loan`` takes; the leaf is their keccak256), ``(n, 32)``."""
    if id_words is None:
        id_words = _id_words(records.column("loan_id"))
    return keccak_rows(_encode(records, id_words))


def leaves(records: pa.Table, id_words: npt.NDArray[np.uint8] | None = None) -> list[bytes]:
    """:func:`leaf_array` as a list of 32-byte strings."""
    return _rows(leaf_array(records, id_words))


def _rows(arr: npt.NDArray[np.uint8]) -> list[bytes]:
    flat = arr.tobytes()
    return [flat[i : i + 32] for i in range(0, len(flat), 32)]


def loan_records(records: pa.Table) -> list[LoanRecord]:
    """The records as :class:`~openmbs.oracle.LoanRecord` objects (slow: for checks)."""
    cols = {name: records.column(name).to_pylist() for name in RECORD_FIELDS}
    return [
        LoanRecord(
            loan_id=cols["loan_id"][i],
            period=int(cols["period"][i]),
            beginning_balance=int(cols["beginning_balance"][i]),
            scheduled_principal=int(cols["scheduled_principal"][i]),
            prepaid_principal=int(cols["prepaid_principal"][i]),
            interest_paid=int(cols["interest_paid"][i]),
            ending_balance=int(cols["ending_balance"][i]),
            delinquency=int(cols["delinquency"][i]),
            defaulted=bool(cols["defaulted"][i]),
            liquidated=bool(cols["liquidated"][i]),
            loss=int(cols["loss"][i]),
            recovery=int(cols["recovery"][i]),
        )
        for i in range(records.num_rows)
    ]


@dataclass(frozen=True, eq=False)
class ServicerPeriod:
    """One period as the servicer reports it: the records, their tree and the report."""

    period: int
    records: pa.Table
    leaves: list[bytes]
    tree: LoanTree
    report: RemittanceReport


def report_from_records(
    period: int, records: pa.Table, root: bytes, *, index_rate: int = 0, unit_scale: int = 1
) -> RemittanceReport:
    """Aggregate a period's records into its report (the sums of
    ``RemittanceReport.from_loans``, vectorised), its money fields times
    ``unit_scale`` (asset base units per record unit, ``10**(decimals -
    record_decimals)``; 1 for assets of at most 9 decimals).

    ``loan_count`` counts loans with a positive ending balance; the delinquency buckets
    sum ending balances by ``delinquency`` (1, 2, 3). The servicing-cash fields sum the
    :data:`SERVICING_FIELDS` columns (0 when absent): ``advances``,
    ``advance_reimbursements``, ``liquidation_reimbursements`` (the reimbursements on
    liquidated loans' rows), ``prepayment_penalties``, ``late_fees``; ``cash =
    interest + scheduled + unscheduled + recoveries - liquidation_reimbursements +
    prepayment_penalties`` (``RemittanceReport.collections``).
    """
    if records.num_rows == 0:
        raise InputError(f"report for period {period}: no loan records")
    periods = records.column("period").to_numpy()
    if (periods != period).any():
        bad = int(np.flatnonzero(periods != period)[0])
        raise InputError(
            f"loan {records.column('loan_id')[bad].as_py()!r} field 'period' value "
            f"{int(periods[bad])}: report is for period {period}"
        )

    def total(name: str, mask: npt.NDArray[np.bool_] | None = None) -> int:
        if name not in records.column_names and name in SERVICING_FIELDS:
            return 0  # a file written before the servicing-cash columns
        col = records.column(name).to_numpy().astype(np.int64)
        if mask is not None:
            col = col[mask]
        return int(col.sum(dtype=np.int64))

    end = records.column("ending_balance").to_numpy()
    dq = records.column("delinquency").to_numpy()
    sched = total("scheduled_principal")
    unsched = total("prepaid_principal")
    interest = total("interest_paid")
    recov = total("recovery")
    _check_servicing(records)
    liquidated = records.column("liquidated").to_numpy(zero_copy_only=False).astype(np.bool_)
    liq_reimb = total("advance_reimbursed", liquidated)
    penalties = total("prepayment_penalty")
    return scale_report(RemittanceReport(
        period=period,
        scheduled_principal=sched,
        unscheduled_principal=unsched,
        interest=interest,
        recoveries=recov,
        losses=total("loss"),
        beginning_balance=total("beginning_balance"),
        ending_balance=int(end.sum(dtype=np.int64)),
        loan_count=int(np.count_nonzero(end > 0)),
        delinquent_30=total("ending_balance", dq == 1),
        delinquent_60=total("ending_balance", dq == 2),
        delinquent_90_plus=total("ending_balance", dq >= 3),
        index_rate=index_rate,
        cash=interest + sched + unsched + recov - liq_reimb + penalties,
        loan_tape_root=root,
        advances=total("advanced"),
        advance_reimbursements=total("advance_reimbursed"),
        liquidation_reimbursements=liq_reimb,
        prepayment_penalties=penalties,
        late_fees=total("late_fee"),
    ), unit_scale)


def _check_servicing(records: pa.Table) -> None:
    """The servicing-cash columns present: integers >= 0, and a liquidated loan's
    reimbursement within its proceeds (else an error naming the loan, period, field
    and value)."""

    def bad(i: int, name: str, value: int, why: str) -> InputError:
        return InputError(
            f"loan {records.column('loan_id')[i].as_py()!r} period {records.column('period')[i].as_py()} "
            f"field {name!r} value {value}: {why}"
        )

    for name in SERVICING_FIELDS:
        if name not in records.column_names:
            continue
        col = records.column(name)
        if col.null_count:
            i = next(k for k, v in enumerate(col.to_pylist()) if v is None)
            raise InputError(
                f"loan {records.column('loan_id')[i].as_py()!r} period {records.column('period')[i].as_py()} "
                f"field {name!r} value None: empty"
            )
        arr = col.to_numpy().astype(np.int64)
        if arr.size and int(arr.min()) < 0:
            i = int(np.argmin(arr))
            raise bad(i, name, int(arr[i]), "negative")
    if "advance_reimbursed" in records.column_names:
        back = records.column("advance_reimbursed").to_numpy().astype(np.int64)
        rec = records.column("recovery").to_numpy().astype(np.int64)
        liq = records.column("liquidated").to_numpy(zero_copy_only=False).astype(np.bool_)
        over = liq & (back > rec)
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise bad(i, "advance_reimbursed", int(back[i]), f"above the liquidation proceeds {int(rec[i])}")


class ServicerBridge:
    """Builds each period's records, Merkle tree and report from simulator output.

    Parameters
    ----------
    loan_ids
        The tape's loan identifiers, in tape order (each at most 32 UTF-8 bytes).
    index_rate
        The floater index reported each period (decimal; 0 for a fixed-rate deal).
    unit_scale
        Asset base units per record unit (``10**(decimals - record_decimals(decimals))``):
        the report's money fields are the records' sums times it.

    Notes
    -----
    Leaves are in the order of the simulator's records (tape order of the loans live
    at the start of the period); the tree is ``openmbs.oracle.MerkleTree``.
    """

    def __init__(self, loan_ids: Sequence[str], *, index_rate: float = 0.0, unit_scale: int = 1) -> None:
        if not isinstance(unit_scale, int) or unit_scale < 1:
            raise InputError(f"unit_scale value {unit_scale!r}: need an integer >= 1")
        self.unit_scale = unit_scale
        self._ids = list(loan_ids)
        self._words = _id_words(self._ids)
        self.index_rate = round(index_rate * 10**18)

    def id_words(self, rows: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.uint8]:
        """The on-chain ``loan_id`` words of tape rows ``rows``: ``(len(rows), 32)``."""
        out: npt.NDArray[np.uint8] = self._words[rows]
        return out

    def build(self, period: int, records: pa.Table) -> ServicerPeriod:
        """The period's tree and report from its records (``record_columns`` output)."""
        rows = records.column("tape_row").to_numpy()
        arr = leaf_array(records, self._words[rows])
        tree = LoanTree(arr)
        report = report_from_records(
            period, records, tree.root, index_rate=self.index_rate, unit_scale=self.unit_scale
        )
        return ServicerPeriod(
            period=period, records=records, leaves=_rows(arr), tree=tree, report=report
        )
