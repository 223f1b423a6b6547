"""Reading and writing loan tapes: streaming readers, validation, rejects, writers."""

from __future__ import annotations

import csv
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from openmbs._files import atomic_write
from openmbs.collateral._formats import (
    FORMAT_NAMES,
    FORMATS,
    Converted,
    SourceFormat,
    _Builder,
    _canonical_names,
    _convert_canonical,
    detect_format,
)
from openmbs.collateral._parse import Parsed, mask
from openmbs.collateral._rawio import (
    DEFAULT_BLOCK_BYTES,
    TextLayout,
    iter_blocks,
    read_header,
    split_records,
)
from openmbs.collateral._schema import CANONICAL_FIELDS, CANONICAL_SCHEMA
from openmbs.collateral._tape import LoanTape
from openmbs.collateral._validate import duplicate_problems, duplicate_reason, row_problems
from openmbs.errors import Problem, TapeError, TapeValidationError

__all__ = ["TapeBatch", "iter_tape_batches", "read_tape", "write_tape"]

PARQUET_BATCH_ROWS = 1 << 17
_SPEC = {f.name: f for f in CANONICAL_FIELDS}


@dataclass(frozen=True)
class TapeBatch:
    """One streamed batch of a tape, converted to canonical columns.

    ``table`` holds every record of the batch that could be split into fields (bad
    values are null); ``rows`` the 1-based source row of each; ``problems`` every
    problem of the batch (the duplicate-id check needs the whole tape and is not here).
    """

    table: pa.Table
    rows: npt.NDArray[np.int64]
    problems: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# text formats


def _read_strings_fast(block: bytes, names: list[str], layout: TextLayout) -> pa.Table:
    return pv.read_csv(
        pa.py_buffer(block),
        read_options=pv.ReadOptions(column_names=names, use_threads=True),
        parse_options=pv.ParseOptions(
            delimiter=layout.delimiter,
            quote_char='"' if layout.quoted else False,
            newlines_in_values=layout.quoted,
            ignore_empty_lines=True,
        ),
        convert_options=pv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _read_strings_slow(
    block: bytes, names: list[str], layout: TextLayout, first_row: int, file: str
) -> tuple[pa.Table, npt.NDArray[np.int64], list[Problem], int]:
    """Record by record: splits off the records that cannot be read as a row of fields."""
    records = split_records(block, layout.quoted)
    quoting: Literal[0, 3] = csv.QUOTE_MINIMAL if layout.quoted else csv.QUOTE_NONE
    columns: list[list[str]] = [[] for _ in names]
    rows: list[int] = []
    problems: list[Problem] = []
    for k, rec in enumerate(records):
        row = first_row + k
        try:
            text = rec.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                Problem(
                    file,
                    row,
                    None,
                    rec.decode("utf-8", "replace")[:200],
                    f"not valid UTF-8 text (byte {exc.start})",
                )
            )
            continue
        try:
            fields = next(
                csv.reader([text], delimiter=layout.delimiter, quoting=quoting, strict=True)
            )
        except csv.Error as exc:
            problems.append(Problem(file, row, None, text[:200], f"cannot split the record: {exc}"))
            continue
        if len(fields) != len(names):
            problems.append(
                Problem(
                    file,
                    row,
                    None,
                    text[:200],
                    f"record has {len(fields)} fields, expected {len(names)}",
                )
            )
            continue
        for col, value in zip(columns, fields, strict=True):
            col.append(value)
        rows.append(row)
    table = pa.table({n: pa.array(c, pa.string()) for n, c in zip(names, columns, strict=True)})
    return table, np.asarray(rows, np.int64), problems, len(records)


def _problems_of(
    conv: Converted,
    strings: pa.Table,
    rows: npt.NDArray[np.int64],
    file: str,
    encoded: Mapping[str, pa.DictionaryArray] | None = None,
) -> list[Problem]:
    """Cell problems from conversion, then rule problems, in source terms."""
    out: list[Problem] = []
    seen: set[tuple[int, str | None]] = set()
    for cp in conv.problems:
        seen.add((cp.index, cp.canonical))
        reason = cp.reason
        if cp.canonical and cp.canonical != cp.source:
            reason = f"{reason} [canonical field {cp.canonical}]"
        out.append(Problem(file, int(rows[cp.index]), cp.source, cp.value, reason))
    for rp in row_problems(conv.table, encoded=encoded):
        if (rp.index, rp.field) in seen:
            continue
        src = conv.field_map.get(rp.field or "", rp.field)
        canon_value = conv.table.column(rp.field)[rp.index].as_py() if rp.field else None
        value, reason = canon_value, rp.reason
        if src is not None and src in strings.column_names:
            value = strings.column(src)[rp.index].as_py()  # the text as written
            if src != rp.field:
                reason = f"{rp.reason} [canonical {rp.field} = {canon_value!r}]"
        out.append(Problem(file, int(rows[rp.index]), src, value, reason))
    return out


def _text_batches(path: Path, fmt: SourceFormat, block_bytes: int) -> Iterator[TapeBatch]:
    file = str(path)
    layout = fmt.layout
    header, offset = read_header(path, layout)
    names = fmt.names(header, file)
    next_row = 1
    for block in iter_blocks(path, layout, start=offset, block_bytes=block_bytes):
        try:
            strings = _read_strings_fast(block, names, layout)
            rows = np.arange(next_row, next_row + strings.num_rows, dtype=np.int64)
            problems: list[Problem] = []
            n_records = strings.num_rows
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            strings, rows, problems, n_records = _read_strings_slow(
                block, names, layout, next_row, file
            )
        next_row += n_records
        conv = fmt.convert(strings)
        problems.extend(_problems_of(conv, strings, rows, file))
        yield TapeBatch(conv.table, rows, problems)


# ---------------------------------------------------------------------------------------
# Parquet


def _convert_parquet_batch(batch: pa.RecordBatch, file: str) -> Converted:
    """Canonical columns of one Parquet record batch.

    A column already of its canonical type is taken as is (no copy); other types are
    cast where the cast cannot lose information, text is parsed like a CSV cell.
    """
    b = _Builder(batch)
    for name in batch.schema.names:
        spec = _SPEC[name]
        col = b.src(name)
        t = col.type
        if t == spec.type:
            b.cols[name] = col
            b.field_map[name] = name
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            sub = _convert_canonical(pa.table({name: pc.cast(col, pa.string())}))
            b.cols[name] = sub.table.column(name).combine_chunks()
            b.field_map[name] = name
            b.problems.extend(sub.problems)
        elif spec.type == pa.int32() and pa.types.is_integer(t):
            wide = pc.cast(col, pa.int64())
            out_of_range = pc.or_(pc.less(wide, -(2**31)), pc.greater(wide, 2**31 - 1))
            if int(out_of_range.true_count) == 0:
                b.cols[name] = pc.cast(wide, pa.int32())
                b.field_map[name] = name
                continue
            bad = mask(out_of_range)
            safe = pc.if_else(pa.array(~bad), wide, pa.scalar(None, pa.int64()))
            b.put(name, name, Parsed(pc.cast(safe, pa.int32()), bad, "whole number out of range"))
        elif spec.type == pa.float64() and (pa.types.is_integer(t) or pa.types.is_floating(t)):
            b.cols[name] = pc.cast(col, pa.float64())
            b.field_map[name] = name
        elif spec.type == pa.date32() and (pa.types.is_date(t) or pa.types.is_timestamp(t)):
            b.cols[name] = pc.cast(col, pa.date32())
            b.field_map[name] = name
        elif pa.types.is_null(t):
            b.cols[name] = pa.nulls(len(col), spec.type)
        else:
            raise TapeError(
                f"column has Arrow type {t}, expected {spec.type}",
                file=file,
                field=name,
                value=str(t),
            )
    return b.finish()


def _open_parquet(path: Path) -> pq.ParquetFile:
    try:
        # pre_buffer: each row group's column chunks are fetched in a few large,
        # coalesced reads instead of one small read per page
        pf = pq.ParquetFile(path, pre_buffer=True)
        # text columns other than the loan id have few distinct values and Parquet
        # writers store them dictionary-encoded: read them as Arrow dictionaries, so the
        # checks look at each distinct value once (see _split_dictionaries)
        text = [
            f.name
            for f in pf.schema_arrow
            if f.name in _DICTIONARY_FIELDS and pa.types.is_string(f.type)
        ]
        if text:
            pf = pq.ParquetFile(path, pre_buffer=True, read_dictionary=text)
        return pf
    except (pa.ArrowInvalid, OSError) as exc:
        raise TapeError(f"not a readable Parquet file: {exc}", file=str(path)) from exc


_DICTIONARY_FIELDS = frozenset(
    f.name for f in CANONICAL_FIELDS if f.type == pa.string() and f.name != "loan_id"
)


def _split_dictionaries(
    batch: pa.RecordBatch,
) -> tuple[pa.RecordBatch, dict[str, pa.DictionaryArray]]:
    """The batch with dictionary text columns decoded, and those columns as read.

    The decoded batch has the canonical types; the dictionary form lets the checks run
    on each distinct value once and map the result to the rows by the indices.
    """
    encoded: dict[str, pa.DictionaryArray] = {}
    columns = []
    changed = False
    for name, col in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_dictionary(col.type):
            if col.type.value_type == pa.string():
                encoded[name] = col
            col = col.dictionary_decode()
            changed = True
        columns.append(col)
    if not changed:
        return batch, encoded
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names), encoded


def _parquet_batches(path: Path, batch_rows: int) -> Iterator[TapeBatch]:
    file = str(path)
    pf = _open_parquet(path)
    names = pf.schema_arrow.names
    _canonical_names(list(names), file)
    next_row = 1
    # use_threads: the columns of each batch are decoded in parallel on Arrow's pool
    batches = pf.iter_batches(batch_size=batch_rows, use_threads=True)
    with closing(_prefetch(_decoded(batches, file))) as ahead:
        for batch, encoded in ahead:
            rows = np.arange(next_row, next_row + batch.num_rows, dtype=np.int64)
            next_row += batch.num_rows
            conv = _convert_parquet_batch(batch, file)
            problems = _problems_of(conv, conv.table, rows, file, encoded)
            yield TapeBatch(conv.table, rows, problems)


def _decoded(
    batches: Iterator[pa.RecordBatch], file: str
) -> Iterator[tuple[pa.RecordBatch, dict[str, pa.DictionaryArray]]]:
    """Batches as read (in the prefetch thread), dictionary text columns decoded."""
    try:
        for batch in batches:
            yield _split_dictionaries(batch)
    except (pa.ArrowInvalid, OSError) as exc:  # a corrupt page or a truncated file
        raise TapeError(f"not a readable Parquet file: {exc}", file=file) from exc


_DONE = object()
_T = TypeVar("_T")


def _prefetch(source: Iterator[_T], depth: int = 1) -> Generator[_T, None, None]:
    """Decode the next batch in a background thread while the caller checks this one.

    Arrow releases the GIL while it decodes and while its compute kernels run, so the
    decoding of batch k+1 overlaps the validation of batch k on the second core. At
    most ``depth`` batches wait in the queue; an exception in the reader is re-raised
    here; if the caller stops early the thread stops at its next batch.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, re-raised there
            put(_Raised(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=work, name="openmbs-parquet-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield cast(_T, item)
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class _Raised:
    exc: BaseException


# ---------------------------------------------------------------------------------------
# allocator


def _preferred_pool() -> pa.MemoryPool | None:
    """The Arrow memory pool to read with, or ``None`` to keep the current one.

    Reading and checking a tape allocates and frees a few hundred MiB of Arrow
    buffers. With mimalloc (pyarrow's default on Linux) on a machine whose transparent
    huge pages are on (``always``), those come as 2 MiB pages that are zeroed on first
    touch and handed back soon after: measured here, that is 4-5 s of kernel time per
    1,000,000 loans, against about 1 s with jemalloc or the system allocator. A pool
    the user chose (``ARROW_DEFAULT_MEMORY_POOL`` or ``pyarrow.set_memory_pool``) is
    kept.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return None
    if pa.default_memory_pool().backend_name != "mimalloc":
        return None
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a build without jemalloc
        return pa.system_memory_pool()


@contextmanager
def _allocator() -> Iterator[None]:
    """Make :func:`_preferred_pool` Arrow's default pool for the duration of a read.

    Buffers remember the pool they came from, so the tape's table stays valid (and is
    freed correctly) after the previous default is restored.
    """
    pool = _preferred_pool()
    if pool is None:
        yield
        return
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


# ---------------------------------------------------------------------------------------
# public API


def _resolve_format(path: Path, format: str | None) -> str:
    if format is None:
        return detect_format(path)
    if format not in FORMAT_NAMES:
        raise TapeError(
            f"unknown tape format (known: {', '.join(FORMAT_NAMES)})", file=str(path), value=format
        )
    return format


def iter_tape_batches(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    batch_rows: int = PARQUET_BATCH_ROWS,
) -> Generator[TapeBatch, None, None]:
    """Stream a tape as canonical batches with their per-row problems.

    Parameters
    ----------
    path
        The tape file.
    format
        One of ``canonical-csv``, ``parquet``, ``freddie-sflld``, ``freddie-sflld-csv``,
        ``umbs-disclosure``; detected from the file when ``None``.
    block_bytes
        Size of the text blocks parsed at a time (text formats).
    batch_rows
        Rows per batch (Parquet).

    Yields
    ------
    TapeBatch
        Canonical table of the batch, source row numbers, problems of the batch.

    Notes
    -----
    Memory is bounded by one block/batch plus what the caller keeps. The check that
    loan ids are unique needs the whole tape; :func:`read_tape` does it.
    """
    p = Path(path)
    name = _resolve_format(p, format)
    if name == "parquet":
        yield from _parquet_batches(p, batch_rows)
    else:
        yield from _text_batches(p, FORMATS[name], block_bytes)


def read_tape(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    keep_good: bool = False,
    rejects: str | os.PathLike[str] | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> LoanTape:
    """Read, convert and validate a loan tape.

    Parameters
    ----------
    path
        The tape file (CSV, Parquet, Freddie Mac SF loan-level or UMBS disclosure).
    format
        Format name (see :func:`iter_tape_batches`); detected when ``None``.
    keep_good
        If true, keep the valid rows and write the invalid ones, unchanged, to
        ``rejects`` with a reason column; if false (default), any problem rejects
        the whole tape with :class:`~openmbs.errors.TapeValidationError`.
    rejects
        Where to write rejected rows (default ``<name>.rejects<suffix>`` beside the tape).
    block_bytes
        Text block size for the streaming reader.

    Returns
    -------
    LoanTape
        The canonical table; ``rejected`` lists the problems of rejected rows.

    Raises
    ------
    TapeError
        The file cannot be read at all (missing column, unknown format, empty).
    TapeValidationError
        One or more rows are invalid and ``keep_good`` is false; lists them all.

    Notes
    -----
    Source codes, sentinels and units are mapped as documented in docs/collateral.md.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from openmbs.collateral import generate_tape, read_tape, write_tape
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_tape(generate_tape(10, seed=3), d / "t.csv")
    >>> len(read_tape(d / "t.csv"))
    10
    """
    p = Path(path)
    file = str(p)
    fmt = _resolve_format(p, format)
    tables: list[pa.Table] = []
    row_arrays: list[npt.NDArray[np.int64]] = []
    problems: list[Problem] = []
    batches = iter_tape_batches(
        p, format=fmt, block_bytes=block_bytes, batch_rows=PARQUET_BATCH_ROWS
    )
    # closing: on an error the reader thread and the file are released at once
    with _allocator(), closing(batches):
        for batch in batches:
            tables.append(batch.table)
            row_arrays.append(batch.rows)
            problems.extend(batch.problems)
    if tables:
        table = pa.concat_tables(tables)
        rows = np.concatenate(row_arrays)
    else:
        table = CANONICAL_SCHEMA.empty_table()
        rows = np.zeros(0, np.int64)
    if table.num_rows == 0 and not problems:
        raise TapeError("the tape has no loan records", file=file)
    id_source = {
        "freddie-sflld": "id_loan",
        "freddie-sflld-csv": "id_loan",
        "umbs-disclosure": "Loan Identifier",
    }.get(fmt, "loan_id")
    loan_id = table.column("loan_id")
    for i, others, n_others in duplicate_problems(loan_id):
        problems.append(
            Problem(
                file,
                int(rows[i]),
                id_source,
                loan_id[i].as_py(),
                duplicate_reason([int(rows[j]) for j in others], n_others),
            )
        )
    problems.sort(key=lambda q: q.row or 0)
    if problems and not keep_good:
        raise TapeValidationError(problems, file=file)
    if problems:
        bad_rows = {q.row for q in problems if q.row is not None}
        keep = ~np.isin(rows, np.fromiter(bad_rows, np.int64, len(bad_rows)))
        table = table.filter(pa.array(keep))
        target = (
            Path(rejects) if rejects is not None else p.with_name(f"{p.stem}.rejects{p.suffix}")
        )
        if target.resolve() == p.resolve():
            raise TapeError("the rejects file must not be the tape itself", file=file)
        write_rejects(p, fmt, problems, target)
    return LoanTape(
        table=table.cast(CANONICAL_SCHEMA), source=file, format=fmt, rejected=tuple(problems)
    )


# ---------------------------------------------------------------------------------------
# rejects and writers


def _atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, write)


def _reasons(problems: list[Problem]) -> dict[int, str]:
    out: dict[int, list[str]] = {}
    for q in problems:
        if q.row is None:
            continue
        where = f"field {q.field!r} value {q.value!r}: " if q.field is not None else ""
        out.setdefault(q.row, []).append(f"{where}{q.reason}")
    return {r: "; ".join(v) for r, v in out.items()}


def write_rejects(path: Path, fmt: str, problems: list[Problem], target: Path) -> None:
    """Write the rejected records of ``path``, unchanged, with a reason column.

    Text tapes: the header (if any) plus ``reject_reason``; each rejected record's
    original text followed by the delimiter and the reason (quoted in CSV formats; in
    the unquoted pipe formats ``|`` and newlines in the reason become ``/`` and spaces).
    Parquet tapes: the rejected rows with their original columns plus ``reject_reason``
    (Parquet, or CSV if ``target`` ends in ``.csv``).
    """
    reasons = _reasons(problems)
    if fmt == "parquet":
        pf = pq.ParquetFile(path)
        parts = []
        start = 1
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            idx = [r - start for r in range(start, start + batch.num_rows) if r in reasons]
            if idx:
                sub = pa.Table.from_batches([batch]).take(pa.array(idx))
                sub = sub.append_column(
                    "reject_reason", pa.array([reasons[start + i] for i in idx], pa.string())
                )
                parts.append(sub)
            start += batch.num_rows
        out = (
            pa.concat_tables(parts)
            if parts
            else pa.table({"reject_reason": pa.array([], pa.string())})
        )

        def _w_parquet(tmp: Path) -> None:
            if target.suffix.lower() == ".csv":
                pv.write_csv(out, tmp)
            else:
                pq.write_table(out, tmp)

        _atomic_write(target, _w_parquet)
        return
    layout = FORMATS[fmt].layout
    delim = layout.delimiter.encode()

    def enc(reason: str) -> bytes:
        if layout.quoted:
            return b'"' + reason.replace('"', '""').encode() + b'"'
        return reason.replace(layout.delimiter, "/").replace("\n", " ").replace("\r", " ").encode()

    def _w_text(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            if layout.header:
                with open(path, "rb") as fh:
                    head = fh.readline().rstrip(b"\r\n")
                out.write(head + delim + enc("reject_reason") + b"\n")
            _, offset = read_header(path, layout)
            row = 1
            for block in iter_blocks(path, layout, start=offset):
                for rec in split_records(block, layout.quoted):
                    if row in reasons:
                        out.write(rec + delim + enc(reasons[row]) + b"\n")
                    row += 1

    _atomic_write(target, _w_text)


def write_tape(tape: LoanTape, path: str | os.PathLike[str], *, format: str | None = None) -> None:
    """Write a tape as canonical Parquet or canonical CSV (by suffix or ``format``).

    Parameters
    ----------
    tape
        The tape to write.
    path
        ``*.parquet`` / ``*.pq`` for Parquet, ``*.csv`` for CSV (else give ``format``).
    format
        ``"parquet"`` or ``"canonical-csv"`` to override the suffix.

    Notes
    -----
    The file is written to a temporary name and renamed, so an existing file is never
    left half-written. CSV: dates ``YYYY-MM-DD``, flags ``true``/``false``, null = blank,
    floats in shortest round-trip form, so reading it back gives the same table.
    """
    p = Path(path)
    fmt = format
    if fmt is None:
        suffix = p.suffix.lower()
        fmt = {".parquet": "parquet", ".pq": "parquet", ".csv": "canonical-csv"}.get(suffix)
        if fmt is None:
            raise TapeError(
                "cannot tell the output format from the suffix (use .csv or .parquet)",
                file=str(p),
                value=p.suffix,
            )
    if fmt not in ("parquet", "canonical-csv"):
        raise TapeError("tapes are written as 'parquet' or 'canonical-csv'", file=str(p), value=fmt)

    def _w(tmp: Path) -> None:
        if fmt == "parquet":
            pq.write_table(tape.table, tmp)
        else:
            pv.write_csv(tape.table, tmp)

    _atomic_write(p, _w)
