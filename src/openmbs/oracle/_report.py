"""Remittance reports and loan-level records, in base units of the settlement asset."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from openmbs.errors import InputError

__all__ = ["LOAN_RECORD_ABI_TYPES", "LoanRecord", "RemittanceReport", "loan_id_bytes32"]

_UINT256_MAX = 2**256 - 1

#: ABI types of a :class:`LoanRecord`, in field order (the on-chain ``LoanRecord``).
LOAN_RECORD_ABI_TYPES: tuple[str, ...] = (
    "bytes32",
    "uint256",
    "uint256",
    "uint256",
    "uint256",
    "uint256",
    "uint256",
    "uint256",
    "bool",
    "bool",
    "uint256",
    "uint256",
)


def loan_id_bytes32(loan_id: str | int | bytes) -> bytes:
    """Encode a loan identifier as the 32 bytes of the on-chain ``loan_id``.

    An ``int`` is big-endian, left-padded; a ``str`` is its UTF-8 bytes right-padded
    with zeros (at most 32 bytes); ``bytes`` must already be 32 long.
    """
    if isinstance(loan_id, bool):
        raise InputError(f"field 'loan_id' value {loan_id!r}: not a loan identifier")
    if isinstance(loan_id, int):
        if not 0 <= loan_id <= _UINT256_MAX:
            raise InputError(f"field 'loan_id' value {loan_id!r}: outside uint256")
        return loan_id.to_bytes(32, "big")
    if isinstance(loan_id, str):
        raw = loan_id.encode("utf-8")
        if len(raw) > 32:
            raise InputError(f"field 'loan_id' value {loan_id!r}: longer than 32 bytes")
        return raw.ljust(32, b"\0")
    if isinstance(loan_id, bytes) and len(loan_id) == 32:
        return loan_id
    raise InputError(f"field 'loan_id' value {loan_id!r}: need str, int or 32 bytes")


def _show_id(loan_id: bytes) -> str:
    stripped = loan_id.rstrip(b"\0")
    try:
        text = stripped.decode("ascii")
    except UnicodeDecodeError:
        return "0x" + loan_id.hex()
    return repr(text) if text.isprintable() and text else "0x" + loan_id.hex()


def _check_uint(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT256_MAX:
        raise InputError(f"{owner} field {name!r} value {value!r}: need an integer in [0, 2**256)")


@dataclass(frozen=True)
class LoanRecord:
    """One loan's performance in one period (a leaf of the loan-level tape).

    Amounts are integers in base units of the settlement asset. ``delinquency`` is
    months past due at the end of the period (0 current, 1 = 30 days, 2 = 60 days,
    3 = 90+ days). The record must roll forward:
    ``ending_balance = beginning_balance - scheduled_principal - prepaid_principal
    - recovery - loss`` (a liquidated loan leaves the pool: its recovery is cash, its
    loss is written off).

    Notes
    -----
    The record hash is ``keccak256(abi.encode(record))`` with the ABI types of
    :data:`LOAN_RECORD_ABI_TYPES`, the same bytes as Solidity's ``abi.encode`` and
    Vyper's ``abi_encode`` of the on-chain ``LoanRecord`` struct. The Merkle leaf is
    ``keccak256(record_hash)``: the hash of a 32-byte message, where an internal node
    of the tree is the hash of a 64-byte pair, so a leaf is never an internal node
    (``RemittanceOracle.verify_loan`` takes the record hash and hashes it once more).
    """

    loan_id: bytes
    period: int
    beginning_balance: int
    scheduled_principal: int
    prepaid_principal: int
    interest_paid: int
    ending_balance: int
    delinquency: int = 0
    defaulted: bool = False
    liquidated: bool = False
    loss: int = 0
    recovery: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "loan_id", loan_id_bytes32(self.loan_id))
        who = f"loan {_show_id(self.loan_id)}"
        for f in fields(self):
            if f.name in ("loan_id", "defaulted", "liquidated"):
                continue
            _check_uint(who, f.name, getattr(self, f.name))
        if self.delinquency > 3:
            raise InputError(f"{who} field 'delinquency' value {self.delinquency}: need 0..3")
        out = self.scheduled_principal + self.prepaid_principal + self.recovery + self.loss
        if self.beginning_balance - out != self.ending_balance:
            raise InputError(
                f"{who} field 'ending_balance' value {self.ending_balance}: does not roll forward "
                f"(beginning {self.beginning_balance} - principal, recovery and loss {out})"
            )

    def as_tuple(self) -> tuple[object, ...]:
        """Field values in ABI order."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def encode(self) -> bytes:
        """``abi.encode`` of the record."""
        return bytes(abi_encode(list(LOAN_RECORD_ABI_TYPES), list(self.as_tuple())))

    def record_hash(self) -> bytes:
        """``keccak256(abi.encode(record))`` (what ``verify_loan`` takes)."""
        return bytes(keccak(self.encode()))

    def leaf(self) -> bytes:
        """The Merkle leaf: ``keccak256(keccak256(abi.encode(record)))``."""
        return bytes(keccak(self.record_hash()))


@dataclass(frozen=True)
class RemittanceReport:
    """The servicer's report for one period: pool aggregates and the tape's root.

    Amounts in base units of the settlement asset; ``index_rate`` is a decimal scaled
    by 1e18 (0.05e18 is 5%). ``subsequent_recoveries`` is cash recovered on loans
    already written off in earlier periods (it writes tranches back up and is paid as
    principal; it does not change the pool balance; default 0). The pool rolls forward
    as ``ending = beginning - scheduled - unscheduled - recoveries - losses``
    (``recoveries`` are the GROSS liquidation proceeds). Delinquency buckets are
    balances at the end of the period.

    Servicing cash (docs/chain.md, "Advances and penalties"; all default 0):
    ``advances`` is the P&I the servicer advanced on loans that did not pay (already
    inside ``interest`` and ``scheduled_principal``); ``advance_reimbursements`` the
    advances repaid to the servicer this period, ``liquidation_reimbursements`` the part
    of them taken out of liquidation proceeds (the rest came out of reinstated loans'
    catch-up payments, which never reach the deal); ``prepayment_penalties`` the
    penalties collected (paid to the deal's named class); ``late_fees`` the late fees
    charged (kept by the servicer, reported only). ``cash`` is what the servicer
    deposits with the report (:meth:`collections`): ``interest + scheduled_principal +
    unscheduled_principal + recoveries - liquidation_reimbursements +
    subsequent_recoveries + prepayment_penalties`` (interest net of servicing fees).

    Notes
    -----
    Field order is the on-chain struct's and the EIP-712 type's;
    ``subsequent_recoveries`` and the servicing-cash fields come last so that
    positional construction of the other fields keeps working.
    """

    period: int
    scheduled_principal: int
    unscheduled_principal: int
    interest: int
    recoveries: int
    losses: int
    beginning_balance: int
    ending_balance: int
    loan_count: int
    delinquent_30: int
    delinquent_60: int
    delinquent_90_plus: int
    index_rate: int
    cash: int
    loan_tape_root: bytes
    subsequent_recoveries: int = 0
    advances: int = 0
    advance_reimbursements: int = 0
    liquidation_reimbursements: int = 0
    prepayment_penalties: int = 0
    late_fees: int = 0

    def __post_init__(self) -> None:
        who = f"report for period {self.period!r}"
        for f in fields(self):
            if f.name != "loan_tape_root":
                _check_uint(who, f.name, getattr(self, f.name))
        if not isinstance(self.loan_tape_root, bytes) or len(self.loan_tape_root) != 32:
            raise InputError(
                f"{who} field 'loan_tape_root' value {self.loan_tape_root!r}: need 32 bytes"
            )

    def collections(self) -> int:
        """The cash the report's figures say the servicer deposits (what ``cash`` must
        be): collections less the advances reimbursed out of liquidation proceeds, plus
        prepayment penalties (negative when the reimbursements exceed the proceeds)."""
        return (
            self.interest
            + self.scheduled_principal
            + self.unscheduled_principal
            + self.recoveries
            - self.liquidation_reimbursements
            + self.subsequent_recoveries
            + self.prepayment_penalties
        )

    def as_tuple(self) -> tuple[object, ...]:
        """Field values in the order of the on-chain struct (and of the EIP-712 type)."""
        return tuple(getattr(self, f.name) for f in fields(self))

    @classmethod
    def from_loans(
        cls,
        period: int,
        records: Iterable[LoanRecord],
        *,
        index_rate: int = 0,
        subsequent_recoveries: int = 0,
        advances: int = 0,
        advance_reimbursements: int = 0,
        liquidation_reimbursements: int = 0,
        prepayment_penalties: int = 0,
        late_fees: int = 0,
    ) -> RemittanceReport:
        """Aggregate loan records of one period into a report (root of their tape).

        ``loan_count`` counts loans with a positive ending balance; the delinquency
        buckets sum ending balances by ``delinquency`` (1, 2, 3+).
        ``subsequent_recoveries`` (cash on loans written off earlier, which are no
        longer on the tape) is added to the cash; the servicing-cash sums (not in the
        loan record) are passed as they are and enter the cash as the class says.
        """
        from openmbs.oracle._merkle import MerkleTree

        recs = list(records)
        if not recs:
            raise InputError(f"report for period {period}: no loan records")
        for r in recs:
            if r.period != period:
                raise InputError(
                    f"loan {_show_id(r.loan_id)} field 'period' value {r.period}: "
                    f"report is for period {period}"
                )
        sched = sum(r.scheduled_principal for r in recs)
        unsched = sum(r.prepaid_principal for r in recs)
        interest = sum(r.interest_paid for r in recs)
        recov = sum(r.recovery for r in recs)
        return cls(
            period=period,
            scheduled_principal=sched,
            unscheduled_principal=unsched,
            interest=interest,
            recoveries=recov,
            losses=sum(r.loss for r in recs),
            beginning_balance=sum(r.beginning_balance for r in recs),
            ending_balance=sum(r.ending_balance for r in recs),
            loan_count=sum(1 for r in recs if r.ending_balance > 0),
            delinquent_30=sum(r.ending_balance for r in recs if r.delinquency == 1),
            delinquent_60=sum(r.ending_balance for r in recs if r.delinquency == 2),
            delinquent_90_plus=sum(r.ending_balance for r in recs if r.delinquency >= 3),
            index_rate=index_rate,
            cash=interest + sched + unsched + recov - liquidation_reimbursements
            + subsequent_recoveries + prepayment_penalties,
            loan_tape_root=MerkleTree([r.leaf() for r in recs]).root,
            subsequent_recoveries=subsequent_recoveries,
            advances=advances,
            advance_reimbursements=advance_reimbursements,
            liquidation_reimbursements=liquidation_reimbursements,
            prepayment_penalties=prepayment_penalties,
            late_fees=late_fees,
        )
