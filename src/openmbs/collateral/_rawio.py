"""Streaming access to delimited text tapes: header, blocks of whole records, raw records.

A block is a run of bytes that ends on a record boundary, so it can be parsed on its
own. Records end at a newline (``\\n`` or ``\\r\\n``); in quoted formats a newline inside
a quoted field does not end the record (quotes are counted: RFC 4180 doubles a quote
inside a quoted field, so the parity of the count tells whether we are inside one).
Empty lines are not records and are not counted as rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from openmbs.errors import TapeError

__all__ = ["DEFAULT_BLOCK_BYTES", "TextLayout", "iter_blocks", "read_header", "split_records"]

DEFAULT_BLOCK_BYTES = 8 << 20


@dataclass(frozen=True)
class TextLayout:
    """How a delimited file is laid out."""

    delimiter: str
    quoted: bool
    header: bool


def _open(path: Path) -> io.BufferedReader:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise TapeError(f"cannot open the file: {exc.strerror}", file=str(path)) from exc


def read_header(path: Path, layout: TextLayout) -> tuple[list[str], int]:
    """The header's field names and the byte offset where data starts.

    Without a header, returns the first record's fields (to count them) and offset 0.
    """
    with _open(path) as fh:
        first = fh.readline()
    offset = len(first) if layout.header else 0
    raw = first.rstrip(b"\r\n")
    if first.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark: not part of the data
        raw = raw[3:]
        if not layout.header:
            offset = 3
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TapeError(
            "the first line is not valid UTF-8 text", file=str(path), row=None, value=raw[:80]
        ) from exc
    if not text.strip():
        raise TapeError("the file is empty (no header and no records)", file=str(path))
    fields = next(
        csv.reader(
            [text],
            delimiter=layout.delimiter,
            quoting=csv.QUOTE_MINIMAL if layout.quoted else csv.QUOTE_NONE,
        )
    )
    return fields, offset


def _boundary(data: bytes, quoted: bool) -> int:
    """Index just past the last record boundary in ``data`` (0 if none)."""
    pos = data.rfind(b"\n")
    if not quoted or b'"' not in data:
        return pos + 1
    while pos >= 0:
        if data.count(b'"', 0, pos) % 2 == 0:
            return pos + 1
        pos = data.rfind(b"\n", 0, pos)
    return 0


def iter_blocks(
    path: Path, layout: TextLayout, *, start: int, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[bytes]:
    """Blocks of whole records from byte ``start`` to the end of the file."""
    with _open(path) as fh:
        fh.seek(start)
        carry = b""
        while True:
            chunk = fh.read(block_bytes)
            if not chunk:
                break
            data = carry + chunk
            cut = _boundary(data, layout.quoted)
            if cut == 0:  # one record longer than a block: keep reading
                carry = data
                continue
            carry = data[cut:]
            yield data[:cut]
        if carry:
            yield carry if carry.endswith(b"\n") else carry + b"\n"


def split_records(block: bytes, quoted: bool) -> list[bytes]:
    """The records of a block, without their line endings; empty lines are skipped."""
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out: list[bytes] = []
    if not quoted or b'"' not in block:
        for line in lines:
            rec = line[:-1] if line.endswith(b"\r") else line
            if rec:
                out.append(rec)
        return out
    pending: list[bytes] = []
    parity = 0
    for line in lines:
        pending.append(line)
        parity = (parity + line.count(b'"')) % 2
        if parity == 0:
            rec = b"\n".join(pending)
            pending = []
            rec = rec[:-1] if rec.endswith(b"\r") else rec
            if rec:
                out.append(rec)
    if pending:
        out.append(b"\n".join(pending))
    return out
