"""What the dashboard shows, read from the event store (and the run folder) alone.

Every function takes an open DuckDB connection to an event store and returns frozen
dataclasses or ``pyarrow`` tables; none of them writes. Money is in integer base units
of the settlement asset, as the events carry it.

Claimable cash is rebuilt from events with the contracts' arithmetic (see
:func:`wallet_positions`): per class, the cash index ``C = I + P`` grows each period by
``(amount * 10**18 + carry) // face`` for interest and for principal separately, the
remainder carried (the exact engine's ``_accumulate``, which the on-chain waterfall
follows); a holder is settled at every transfer and claim, ``owed += balance *
(C - checkpoint) // 10**18``, rounded down against the claimant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from eth_utils.address import is_address, to_checksum_address

from openmbs.agents import RECORD_FIELDS
from openmbs.errors import DataIntegrityError, InputError
from openmbs.oracle import (
    LoanRecord,
    MerkleTree,
    hash_pair,
    leaf_of,
    loan_id_bytes32,
    verify_proof,
)

__all__ = [
    "ClassRow",
    "Deal",
    "LoanCheck",
    "Position",
    "check_address",
    "deal_classes",
    "deals",
    "distributions",
    "find_deal",
    "onchain_root",
    "verify_loan",
    "wallet_positions",
]

WAD = 10**18
_ZERO = "0x0000000000000000000000000000000000000000"


def _table_of(con: duckdb.DuckDBPyConnection, event: str) -> str | None:
    """Typed table of ``event`` (the first signature with that name), None when never seen."""
    rows = con.execute(
        "SELECT table_name FROM event_types WHERE name = ? ORDER BY table_name", [event]
    ).fetchall()
    return None if not rows else str(rows[0][0])


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def check_address(value: str, *, field: str = "address") -> str:
    """The checksummed form of an Ethereum address typed by a user.

    Raises
    ------
    InputError
        Naming the field and the value when it is not a 20-byte hex address.
    """
    v = value.strip()
    if not is_address(v):
        raise InputError(f"field {field!r} value {value!r}: not an address (0x and 40 hex digits)")
    return str(to_checksum_address(v))


@dataclass(frozen=True)
class Deal:
    """A deal of the store, from its ``DealConfigured`` event.

    ``periods`` counts the distributions indexed; ``last_block`` is the highest block
    of the deal's events.
    """

    address: str
    oracle: str
    issuance: str
    waterfall: str
    tokens: tuple[str, ...]
    configured_block: int
    periods: int
    last_block: int


def deals(con: duckdb.DuckDBPyConnection) -> list[Deal]:
    """Every deal configured in the store, in the order they were configured."""
    table = _table_of(con, "DealConfigured")
    if table is None:
        return []
    dist = _table_of(con, "Distributed")
    out = []
    for addr, oracle, issuance, waterfall, tokens, block in con.execute(
        f"SELECT contract_address, oracle, issuance, waterfall, CAST(tokens AS VARCHAR), "
        f"block_number FROM {_q(table)} ORDER BY block_number, log_index"
    ).fetchall():
        periods = 0
        if dist is not None:
            periods = int(
                con.execute(
                    f"SELECT count(*) FROM {_q(dist)} WHERE contract_address = ?", [addr]
                ).fetchall()[0][0]
            )
        last = con.execute(
            "SELECT max(block_number) FROM events WHERE contract_address IN "
            "(SELECT unnest(?::VARCHAR[]))",
            [[addr, oracle, issuance, *json.loads(tokens)]],
        ).fetchall()[0][0]
        out.append(
            Deal(
                address=str(addr),
                oracle=str(oracle),
                issuance=str(issuance),
                waterfall=str(waterfall),
                tokens=tuple(str(t) for t in json.loads(tokens)),
                configured_block=int(block),
                periods=periods,
                last_block=int(last or block),
            )
        )
    return out


def find_deal(con: duckdb.DuckDBPyConnection, address: str) -> Deal | None:
    """The deal at ``address`` (any case), None when the store has no such deal."""
    want = address.lower()
    return next((d for d in deals(con) if d.address.lower() == want), None)


@dataclass(frozen=True)
class ClassRow:
    """One class (tranche) of a deal, from its token's transfers and the allocations.

    ``original_face`` is the face minted (transfers from the zero address); the
    cumulative figures and ``balance`` are the sums and the last balance of the
    ``TrancheAllocated`` events; ``factor = balance / original_face``.
    """

    index: int
    token: str
    original_face: int
    balance: int
    factor: float
    interest: int
    principal: int
    loss: int
    interest_shortfall: int
    holders: int


def _allocations(con: duckdb.DuckDBPyConnection, deal: Deal) -> list[tuple[int, ...]]:
    """``(period, tranche, interest, principal, loss, balance, shortfall, block, log)``
    of the deal's ``TrancheAllocated`` events, in chain order."""
    table = _table_of(con, "TrancheAllocated")
    if table is None:
        return []
    rows = con.execute(
        "SELECT CAST(period AS BIGINT), CAST(tranche AS BIGINT), CAST(interest AS HUGEINT), "
        "CAST(principal AS HUGEINT), CAST(loss AS HUGEINT), CAST(balance AS HUGEINT), "
        "CAST(interest_shortfall AS HUGEINT), block_number, log_index "
        f"FROM {_q(table)} WHERE contract_address = ? ORDER BY block_number, log_index",
        [deal.address],
    ).fetchall()
    return [tuple(int(v) for v in r) for r in rows]


def _transfers(con: duckdb.DuckDBPyConnection, deal: Deal) -> list[tuple[Any, ...]]:
    """``(block, log, token, sender, receiver, value)`` of the deal's tokens, in order."""
    table = _table_of(con, "Transfer")
    if table is None:
        return []
    return con.execute(
        "SELECT block_number, log_index, contract_address, sender, receiver, "
        f"CAST(value AS HUGEINT) FROM {_q(table)} WHERE contract_address IN "
        "(SELECT unnest(?::VARCHAR[])) ORDER BY block_number, log_index",
        [list(deal.tokens)],
    ).fetchall()


def deal_classes(con: duckdb.DuckDBPyConnection, deal: Deal) -> list[ClassRow]:
    """The deal's classes, in tranche order."""
    alloc = _allocations(con, deal)
    transfers = _transfers(con, deal)
    out = []
    for i, token in enumerate(deal.tokens):
        face = sum(int(v) for _b, _l, t, s, _r, v in transfers if t == token and s == _ZERO)
        mine = [a for a in alloc if a[1] == i]
        balance = mine[-1][5] if mine else face
        bal: dict[str, int] = {}
        for _b, _l, t, s, r, v in transfers:
            if t != token:
                continue
            bal[s] = bal.get(s, 0) - int(v)
            bal[r] = bal.get(r, 0) + int(v)
        out.append(
            ClassRow(
                index=i,
                token=token,
                original_face=face,
                balance=balance,
                factor=balance / face if face else 0.0,
                interest=sum(a[2] for a in mine),
                principal=sum(a[3] for a in mine),
                loss=sum(a[4] for a in mine),
                interest_shortfall=sum(a[6] for a in mine),
                holders=sum(1 for h, b in bal.items() if h != _ZERO and b > 0),
            )
        )
    return out


def distributions(con: duckdb.DuckDBPyConnection, deal: Deal) -> list[dict[str, Any]]:
    """Per period: the ``Distributed`` figures (cash, fee, residual, reserve balance,
    credited to holders) and, per class, interest, principal, loss, balance and
    shortfall from ``TrancheAllocated``; with the block and transaction."""
    table = _table_of(con, "Distributed")
    if table is None:
        return []
    by_period: dict[int, list[tuple[int, ...]]] = {}
    for a in _allocations(con, deal):
        by_period.setdefault(a[0], []).append(a)
    out = []
    for period, cash, fee, residual, reserve, credited, block, tx in con.execute(
        "SELECT CAST(period AS BIGINT), CAST(cash AS HUGEINT), CAST(fee AS HUGEINT), "
        "CAST(residual AS HUGEINT), CAST(reserve_balance AS HUGEINT), CAST(credited AS HUGEINT), "
        f"block_number, tx_hash FROM {_q(table)} WHERE contract_address = ? "
        "ORDER BY block_number, log_index",
        [deal.address],
    ).fetchall():
        classes = [
            {
                "tranche": a[1],
                "interest": a[2],
                "principal": a[3],
                "loss": a[4],
                "balance": a[5],
                "interest_shortfall": a[6],
            }
            for a in sorted(by_period.get(int(period), []), key=lambda a: a[1])
        ]
        out.append(
            {
                "period": int(period),
                "cash": int(cash),
                "fee": int(fee),
                "residual": int(residual),
                "reserve_balance": int(reserve),
                "credited": int(credited),
                "block_number": int(block),
                "tx_hash": str(tx),
                "classes": classes,
            }
        )
    return out


@dataclass(frozen=True)
class Position:
    """A wallet's position in one class.

    ``balance`` in token units (one unit of original face); ``current_face =
    balance x factor`` rounded down; ``claimed`` the sum of its ``Claimed`` events;
    ``claimable`` what ``Deal.claimable(tranche, holder)`` returns at the last indexed
    block, rebuilt from events (module docstring).
    """

    tranche: int
    token: str
    balance: int
    current_face: int
    claimed: int
    claimable: int


def wallet_positions(
    con: duckdb.DuckDBPyConnection, deal: Deal, holder: str
) -> list[Position]:
    """``holder``'s positions in the deal's classes (classes it never held are left out).

    Raises
    ------
    DataIntegrityError
        When a ``Claimed`` amount in the store differs from the amount the rebuilt
        indices give (the events do not follow the contracts' arithmetic).
    """
    holder = check_address(holder, field="holder")
    classes = deal_classes(con, deal)
    faces = [c.original_face for c in classes]
    ntr = len(deal.tokens)
    token_ix = {t: i for i, t in enumerate(deal.tokens)}
    claimed_table = _table_of(con, "Claimed")
    events: list[tuple[int, int, str, tuple[Any, ...]]] = []
    for a in _allocations(con, deal):
        events.append((a[7], a[8], "alloc", a))
    for b, li, t, s, r, v in _transfers(con, deal):
        events.append((int(b), int(li), "transfer", (token_ix[t], str(s), str(r), int(v))))
    if claimed_table is not None:
        for b, li, h, tr, amt in con.execute(
            "SELECT block_number, log_index, holder, CAST(tranche AS BIGINT), "
            f"CAST(amount AS HUGEINT) FROM {_q(claimed_table)} WHERE contract_address = ?",
            [deal.address],
        ).fetchall():
            events.append((int(b), int(li), "claim", (int(tr), str(h), int(amt))))
    events.sort(key=lambda e: (e[0], e[1]))

    iidx, pidx = [0] * ntr, [0] * ntr
    icarry, pcarry = [0] * ntr, [0] * ntr
    # per tranche, per holder (lower case): [balance, checkpoint index, owed]
    book: list[dict[str, list[int]]] = [{} for _ in range(ntr)]
    claimed = [0] * ntr
    me = holder.lower()

    def settle(t: int, who: str) -> list[int]:
        acct = book[t].setdefault(who, [0, 0, 0])
        idx = iidx[t] + pidx[t]
        acct[2] += acct[0] * (idx - acct[1]) // WAD
        acct[1] = idx
        return acct

    for block, log, kind, data in events:
        if kind == "alloc":
            t, face = data[1], faces[data[1]]
            if face:
                num = data[2] * WAD + icarry[t]
                iidx[t] += num // face
                icarry[t] = num % face
                num = data[3] * WAD + pcarry[t]
                pidx[t] += num // face
                pcarry[t] = num % face
        elif kind == "transfer":
            t, s, r, v = data
            if s != _ZERO:
                settle(t, s.lower())[0] -= v
            if r != _ZERO:
                settle(t, r.lower())[0] += v
        else:
            t, who, amt = data
            acct = settle(t, who.lower())
            if acct[2] != amt:
                raise DataIntegrityError(
                    f"Claimed event at block {block} log {log}: holder {who} tranche {t} "
                    f"amount {amt}, but the rebuilt indices give {acct[2]}"
                )
            acct[2] = 0
            if who.lower() == me:
                claimed[t] += amt
    out = []
    for t in range(ntr):
        mine = book[t].get(me)
        if mine is None:
            continue
        idx = iidx[t] + pidx[t]
        claimable = mine[2] + mine[0] * (idx - mine[1]) // WAD
        face = faces[t]
        current = mine[0] * classes[t].balance // face if face else 0
        out.append(
            Position(
                tranche=t,
                token=deal.tokens[t],
                balance=mine[0],
                current_face=current,
                claimed=claimed[t],
                claimable=claimable,
            )
        )
    return out


@dataclass(frozen=True)
class LoanCheck:
    """A loan's record in one period and its Merkle proof against the on-chain root.

    ``record`` holds the fields of the run's loan file (``loans/period=NNNN/part-0.parquet``);
    ``record_hash`` and ``leaf`` are recomputed from them (never read from the file);
    ``proof`` is the list of sibling hashes checked; ``onchain_root`` is the
    ``loan_tape_root`` of the period's ``RemittanceAccepted`` event; ``computed_root``
    is where the leaf hashes up to along the proof. ``verified`` is true only when
    the two roots are equal. The record's money counts units of
    ``10**-record_decimals`` of the asset (``min(decimals, 9)``: the asset's base
    units up to 9 decimals); ``record_decimals`` is the loan file's (its Parquet
    metadata, else the run's ``closing.json``), None when neither states it.
    """

    loan_id: str
    period: int
    record: dict[str, Any]
    record_hash: str
    leaf: str
    stored_leaf: str | None
    proof: tuple[str, ...]
    onchain_root: str
    computed_root: str
    verified: bool
    record_decimals: int | None = None

    @property
    def leaf_matches_file(self) -> bool:
        """Whether the file's stored leaf equals the leaf recomputed from its fields."""
        return self.stored_leaf == self.leaf




def onchain_root(con: duckdb.DuckDBPyConnection, deal: Deal, period: int) -> str | None:
    """The ``loan_tape_root`` the deal's oracle accepted for ``period`` (None if none)."""
    table = _table_of(con, "RemittanceAccepted")
    if table is None:
        return None
    rows = con.execute(
        f"SELECT loan_tape_root FROM {_q(table)} WHERE contract_address = ? "
        "AND CAST(period AS BIGINT) = ? ORDER BY block_number DESC, log_index DESC",
        [deal.oracle, int(period)],
    ).fetchall()
    return None if not rows else str(rows[0][0]).lower()


#: Periods beyond this are refused before any query (the oracle's period fits far below).
_MAX_PERIOD = 2**32
#: Longest proof accepted from a user (a tree of 2^64 leaves).
_MAX_PROOF = 64


def _hex32(text: str, where: str) -> bytes:
    t = text.strip().lower()
    t = t[2:] if t.startswith("0x") else t
    try:
        raw = bytes.fromhex(t)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InputError(f"{where} value {text!r}: not a 32-byte hex hash")
    return raw


def verify_loan(
    con: duckdb.DuckDBPyConnection,
    deal: Deal,
    run: str | Path,
    loan_id: str,
    period: int,
    *,
    proof: list[str] | None = None,
) -> LoanCheck:
    """Check a loan's record of one period against the root the oracle accepted.

    The record comes from ``run/loans/period=NNNN/part-0.parquet`` (or an older run's
    ``loans/period=NNNN.parquet``); its leaf is recomputed
    from its fields (``keccak256(keccak256(abi.encode(record)))``,
    :meth:`openmbs.oracle.LoanRecord.leaf`); the proof is built from the file's
    leaves in file order (the servicer's tree), or taken from ``proof`` (hex sibling
    hashes, leaf first) when given; the leaf is then hashed up the proof and compared
    with the on-chain ``loan_tape_root``.

    Raises
    ------
    InputError
        Naming the value: a period the deal has no accepted report for, a period with
        no loan file, a loan id not in the file, a proof entry that is not 32 bytes of
        hex, a record whose fields do not form a valid loan record.
    """
    if not 1 <= period <= _MAX_PERIOD:
        raise InputError(f"field 'period' value {period!r}: need a period from 1 to {_MAX_PERIOD}")
    if proof is not None and len(proof) > _MAX_PROOF:
        raise InputError(
            f"field 'proof': {len(proof)} sibling hashes; a tree of at most 2^{_MAX_PROOF} "
            f"loans has at most {_MAX_PROOF}"
        )
    root = onchain_root(con, deal, period)
    if root is None:
        raise InputError(
            f"field 'period' value {period}: the deal's oracle {deal.oracle} accepted no "
            "report for that period"
        )
    path = Path(run) / "loans" / f"period={period:04d}" / "part-0.parquet"
    if not path.is_file():  # a run written before the partition folders
        path = Path(run) / "loans" / f"period={period:04d}.parquet"
    if not path.is_file():
        raise InputError(f"file {str(path)!r}: no loan file for period {period}")
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"file {str(path)!r}: not a readable Parquet loan file ({exc})") from exc
    missing = [f for f in (*RECORD_FIELDS, "leaf") if f not in table.column_names]
    if missing:
        raise InputError(f"file {str(path)!r}: no column {missing[0]!r}")
    ids = table.column("loan_id").to_pylist()
    want = loan_id.strip()
    try:
        row = ids.index(want)
    except ValueError:
        raise InputError(
            f"file {str(path)!r}: field 'loan_id' value {loan_id!r}: no such loan in period {period}"
        ) from None
    raw = table.slice(row, 1).to_pylist()[0]
    fields = {k: raw[k] for k in RECORD_FIELDS}
    try:
        rec = LoanRecord(**fields)
    except InputError as exc:
        raise InputError(f"file {str(path)!r} row {row + 1}: {exc}") from exc
    rhash = rec.record_hash()
    leaf = leaf_of(rhash)
    if proof is None:
        leaves = [bytes(x) for x in table.column("leaf").to_pylist()]
        leaves[row] = leaf  # the record's own fields, never the file's word for it
        siblings = MerkleTree(leaves).proof(row)
    else:
        siblings = [_hex32(p, f"field 'proof' entry {i + 1}") for i, p in enumerate(proof)]
    node = leaf
    for s in siblings:
        node = hash_pair(node, s)
    stored = raw.get("leaf")
    rdec = _record_decimals(table, Path(run))
    record = dict(fields)
    record["loan_id_bytes32"] = "0x" + loan_id_bytes32(want).hex()
    return LoanCheck(
        loan_id=want,
        period=period,
        record=record,
        record_hash="0x" + rhash.hex(),
        leaf="0x" + leaf.hex(),
        stored_leaf=None if stored is None else "0x" + bytes(stored).hex(),
        proof=tuple("0x" + s.hex() for s in siblings),
        onchain_root=root,
        computed_root="0x" + node.hex(),
        verified=verify_proof(siblings, _hex32(root, "on-chain root"), leaf),
        record_decimals=rdec,
    )


def _record_decimals(table: Any, run: Path) -> int | None:
    """The loan file's money unit: its ``openmbs.record_decimals`` metadata, else
    ``closing.json``'s ``record_decimals``, else None (an older run: the asset's
    decimals)."""
    raw = (table.schema.metadata or {}).get(b"openmbs.record_decimals")
    try:
        if raw is not None:
            return int(json.loads(raw))
        closing = json.loads((run / "closing.json").read_text())
        v = closing.get("record_decimals")
        return int(v) if isinstance(v, int) else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None
