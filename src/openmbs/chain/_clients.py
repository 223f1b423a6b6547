"""Typed Python clients of a deployed deal (thin wrappers over titanoboa contracts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openmbs.errors import ChainError, InputError, RemittanceRejected

if TYPE_CHECKING:
    from openmbs.chain._deploy import DealConfig
    from openmbs.oracle import Attestation, LoanRecord, RemittanceReport

__all__ = ["DealClient", "TrancheStatus", "WaterfallState", "revert_reason"]

#: ``LoanSale.status`` of a sold loan not yet confirmed by a report.
_SOLD = 2


@dataclass(frozen=True)
class TrancheStatus:
    """A tranche as the deal reports it (amounts in base units, indices scaled 1e18)."""

    index: int
    token: str
    symbol: str
    original_face: int
    balance: int
    factor: int
    interest_index: int
    principal_index: int
    loss_index: int
    interest_shortfall: int


@dataclass(frozen=True)
class WaterfallState:
    """The exact waterfall's deal-level state (``Deal.waterfall_state``, words 0..3).

    ``realized_losses`` is the net cumulative loss to date (base units),
    ``last_period`` the last period the waterfall applied, ``triggers_latched`` the
    bits of the triggers latched so far (bit ``i``: trigger ``i``), ``effects`` the
    effects of the latched triggers (the ``ExactWaterfall`` flag bits) and ``dust``
    the rounding remainder the deal holds (base units, never lost)."""

    realized_losses: int
    last_period: int
    triggers_latched: int
    effects: int
    dust: int

    @classmethod
    def from_words(cls, words: Sequence[int]) -> WaterfallState:
        """Decode the four state words (word 2 packs the trigger bits in its low byte
        and the effects above them)."""
        if len(words) != 4:
            raise ChainError(f"waterfall state: {len(words)} word(s), need 4")
        return cls(
            realized_losses=int(words[0]),
            last_period=int(words[1]),
            triggers_latched=int(words[2]) & 0xFF,
            effects=int(words[2]) >> 8,
            dust=int(words[3]),
        )


@dataclass(frozen=True)
class DealClient:
    """Handles on every contract of a deployed deal, with typed operations.

    Each method sends from the account given (``sender``); on a node that account
    must be known to the boa network environment.
    """

    config: DealConfig
    settlement: Any
    timelock: Any
    deal: Any
    issuance: Any
    tokens: tuple[Any, ...]
    oracle: Any
    waterfall: Any
    admin: str
    servicer: str
    test_waterfall: bool = False
    #: The deal's ``LoanSale`` and ``ServicerBond`` (``None`` when attached from a
    #: record written before they were deployed). Left out of the repr: titanoboa
    #: cannot print the bond's storage (its maps are keyed by hashes of pairs).
    loan_sale: Any = field(default=None, repr=False)
    bond: Any = field(default=None, repr=False)
    #: The class bound of the build the deal's contracts come from (8 or 16,
    #: ``openmbs.chain._contracts.BOUNDS``; :func:`openmbs.chain.deploy_deal` sets it).
    bound: int = 16

    # -- addresses -------------------------------------------------------------------
    def addresses(self) -> dict[str, Any]:
        """Contract addresses, for a deployment record."""
        return {
            "settlement": str(self.settlement.address),
            "timelock": str(self.timelock.address),
            "deal": str(self.deal.address),
            "issuance": str(self.issuance.address),
            "oracle": str(self.oracle.address),
            "waterfall": str(self.waterfall.address),
            "tokens": [str(t.address) for t in self.tokens],
        } | (
            {"loan_sale": str(self.loan_sale.address), "servicer_bond": str(self.bond.address)}
            if self.loan_sale is not None and self.bond is not None
            else {}
        )

    # -- compliance and offering --------------------------------------------------------
    def allow(self, holders: Sequence[str], valid_until: int, *, sender: str | None = None) -> None:
        """Allowlist ``holders`` until ``valid_until`` (COMPLIANCE_ROLE)."""
        for i in range(0, len(holders), 64):
            self.deal.set_allowed(list(holders[i : i + 64]), valid_until, sender=sender or self.admin)

    def subscription_cost(self, tranche: int, amount: int) -> int:
        """The cash a subscription of ``amount`` units of ``tranche``'s face costs at its
        offering price (rounded up, as the escrow charges it)."""
        return int(self.issuance.cost_of(tranche, amount))

    def subscribe(self, investor: str, tranche: int, amount: int) -> int:
        """Approve the cost and subscribe ``amount`` of ``tranche``'s face from
        ``investor``; returns the cash paid."""
        cost = self.subscription_cost(tranche, amount)
        self.settlement.approve(self.issuance.address, cost, sender=investor)
        return int(self.issuance.subscribe(tranche, amount, sender=investor))

    def close(self, *, sender: str | None = None) -> None:
        """Close the fully subscribed offering (mint, fix supply, fund the reserve,
        credit the seller). When the closer is the seller it also pulls its proceeds
        (:meth:`withdraw_proceeds`)."""
        who = sender or self.admin
        self.issuance.close(sender=who)
        if str(self.issuance.seller()).lower() == str(who).lower():
            self.withdraw_proceeds(sender=who)

    def withdraw_proceeds(self, receiver: str | None = None, *, sender: str | None = None) -> int:
        """The seller (``sender``, default the admin) pulls its proceeds to ``receiver``
        (default itself); returns the amount paid."""
        who = sender or self.admin
        return int(self.issuance.withdraw_proceeds(receiver or who, sender=who))

    def settle(self, investor: str) -> int:
        """Deliver ``investor``'s tokens after closing."""
        return int(self.issuance.settle(sender=investor))

    def fail(self, *, sender: str | None = None) -> None:
        """Fail the offering (after the window with a class short, or after the close
        deadline whatever its state)."""
        self.issuance.fail(sender=sender or self.admin)

    def withdraw(self, investor: str) -> int:
        """Refund ``investor``'s payments after a failed offering."""
        return int(self.issuance.withdraw(sender=investor))

    # -- remittance -------------------------------------------------------------------
    def chain_id(self) -> int:
        import boa

        return int(boa.env.evm.patch.chain_id)

    def remit(self, report: RemittanceReport, attestations: Sequence[Attestation], *, sender: str | None = None) -> None:
        """Approve the report's cash and submit the report with its attestations (all
        signed with the same deadline, which is submitted with them)."""
        import boa

        deadline = attestation_deadline(attestations)
        who = sender or self.servicer
        self.settlement.approve(self.oracle.address, report.cash, sender=who)
        try:
            self.oracle.submit(
                report.as_tuple(), deadline, [a.as_tuple() for a in attestations], sender=who
            )
        except boa.BoaError as exc:
            raise RemittanceRejected(_reason(exc), period=report.period) from None

    def remit_with_sales(
        self,
        report: RemittanceReport,
        attestations: Sequence[Attestation],
        sold: Sequence[tuple[LoanRecord, Sequence[bytes]]],
        *,
        sender: str | None = None,
    ) -> None:
        """:meth:`remit` for a report that confirms the sold loans awaiting
        confirmation (``RemittanceOracle.submit_with_sales``): ``sold`` gives each
        one's record in the report's tape and its Merkle proof. The LoanSale pays the
        sales' net proceeds to the deal; the servicer deposits the rest of the cash."""
        import boa

        deadline = attestation_deadline(attestations)
        who = sender or self.servicer
        prepaid = sum(r.recovery for r, _ in sold)
        self.settlement.approve(self.oracle.address, max(report.cash - prepaid, 0), sender=who)
        try:
            self.oracle.submit_with_sales(
                report.as_tuple(),
                deadline,
                [a.as_tuple() for a in attestations],
                [r.as_tuple() for r, _ in sold],
                [list(p) for _, p in sold],
                sender=who,
            )
        except boa.BoaError as exc:
            raise RemittanceRejected(_reason(exc), period=report.period) from None

    def other_income_pending(self) -> int:
        """Other income the deal holds for its next distribution (late-report penalties
        the servicer's bond paid in), base units: the next accepted report's period
        adds it to the available interest (``Deal.other_income``)."""
        return int(self.deal.other_income())

    def pending_sales(self) -> int:
        """Sold loans the next report must confirm (:meth:`remit_with_sales`)."""
        return int(self.oracle.pending_sales())

    def awaiting_confirmation(self, loan_ids: Sequence[bytes]) -> list[bytes]:
        """Those of ``loan_ids`` sold and not yet confirmed by a report (``LoanSale``
        status SOLD), in the order given."""
        sale = self._sales()
        return [lid for lid in loan_ids if int(sale.status(lid)) == _SOLD]

    # -- loan sales (LoanSale) ----------------------------------------------------------
    def _sales(self) -> Any:
        if self.loan_sale is None:
            raise ChainError(f"deal {self.config.name!r}: no LoanSale contract (deployed before loan sales)")
        return self.loan_sale

    def start_sale(self, record: LoanRecord, proof: Sequence[bytes], *, sender: str | None = None) -> None:
        """Start the sale of a loan 90+ days delinquent or in foreclosure, proved by its
        record in the last accepted tape (anyone: a keeper)."""
        self._send(self._sales(), "start_sale", f"sale of loan 0x{record.loan_id.hex()}", record.as_tuple(),
                   list(proof), sender=sender)

    def sale_price(self, loan_id: bytes) -> int:
        """The price a bid must reach now (base units)."""
        return int(self._send(self._sales(), "current_price", f"price of loan 0x{loan_id.hex()}", loan_id,
                              sender=None))

    def bid(self, loan_id: bytes, max_price: int, *, sender: str) -> int:
        """Approve ``max_price`` and buy the loan at the current price from the compliant
        ``sender``; returns the price paid."""
        sale = self._sales()
        self.settlement.approve(sale.address, max_price, sender=sender)
        return int(self._send(sale, "bid", f"bid on loan 0x{loan_id.hex()}", loan_id, max_price, sender=sender))

    # -- the servicer's bond (ServicerBond) ----------------------------------------------
    def _bond(self) -> Any:
        if self.bond is None:
            raise ChainError(f"deal {self.config.name!r}: no ServicerBond contract (deployed before the bond)")
        return self.bond

    def bond_amount(self) -> int:
        """The bond the deal asks its servicer to post (``config.servicing``)."""
        return self.config.servicing.bond_amount(self.config.initial_pool_balance)

    def post_bond(self, amount: int | None = None, *, sender: str | None = None) -> int:
        """Approve and post ``amount`` (default :meth:`bond_amount`) to the bond from
        ``sender`` (default the servicer); returns the amount."""
        bond = self._bond()
        amount = self.bond_amount() if amount is None else amount
        who = sender or self.servicer
        self.settlement.approve(bond.address, amount, sender=who)
        self._send(bond, "post", "post bond", amount, sender=who)
        return amount

    def penalize_late(self, period: int, *, sender: str | None = None) -> int:
        """Take the late-report penalty for ``period`` (anyone, once the report is
        late); returns the amount paid from the bond to the deal, where it waits as
        other income (:meth:`other_income_pending`) for the next distribution."""
        return int(self._send(self._bond(), "penalize_late", f"late penalty of period {period}", period,
                              sender=sender))

    def prove_discontinuity(
        self,
        a: LoanRecord,
        proof_a: Sequence[bytes],
        b: LoanRecord,
        proof_b: Sequence[bytes],
        *,
        sender: str | None = None,
    ) -> int:
        """Fraud proof: two accepted records of one loan that break continuity; returns
        the bounty paid to ``sender``."""
        return int(self._send(self._bond(), "prove_discontinuity", f"fraud proof on loan 0x{b.loan_id.hex()}",
                              a.as_tuple(), list(proof_a), b.as_tuple(), list(proof_b), sender=sender))

    def prove_sold_performing(self, b: LoanRecord, proof_b: Sequence[bytes], *, sender: str | None = None) -> int:
        """Fraud proof: a sold loan reported other than liquidated at its net proceeds;
        returns the bounty."""
        return int(self._send(self._bond(), "prove_sold_performing", f"fraud proof on loan 0x{b.loan_id.hex()}",
                              b.as_tuple(), list(proof_b), sender=sender))

    def bond_status(self) -> dict[str, Any]:
        """The bond's figures: bond, forfeited, strikes, open disputes, whether a backup
        servicer may be appointed (base units)."""
        bond = self._bond()
        return {
            "bond": int(bond.bond()),
            "forfeited": int(bond.forfeited()),
            "strikes": int(bond.strikes()),
            "open_disputes": int(bond.open_disputes()),
            "backup_eligible": bool(bond.backup_eligible()),
            "max_strikes": int(bond.max_strikes()),
        }

    def _send(self, contract: Any, fn: str, what: str, *args: Any, sender: str | None) -> Any:
        import boa

        try:
            return getattr(contract, fn)(*args, sender=sender or self.admin)
        except boa.BoaError as exc:
            raise ChainError(f"{what}: {_reason(exc)}") from None

    # -- claims --------------------------------------------------------------------------
    def claimable(self, tranche: int, holder: str) -> int:
        """What ``holder`` could claim on ``tranche`` now."""
        return int(self.deal.claimable(tranche, holder))

    def claim(self, holder: str, tranche: int | None = None) -> int:
        """Claim one tranche (or all with ``None``) for ``holder``; returns the amount paid."""
        import boa

        try:
            if tranche is None:
                return int(self.deal.claim_all(sender=holder))
            return int(self.deal.claim(tranche, sender=holder))
        except boa.BoaError as exc:
            raise ChainError(f"claim by {holder}: {_reason(exc)}") from None

    # -- views ---------------------------------------------------------------------------
    def tranches(self) -> list[TrancheStatus]:
        """Status of every tranche."""
        out = []
        for i, tok in enumerate(self.tokens):
            out.append(
                TrancheStatus(
                    index=i,
                    token=str(tok.address),
                    symbol=str(tok.symbol()),
                    original_face=int(self.deal.original_face(i)),
                    balance=int(self.deal.tranche_balance(i)),
                    factor=int(self.deal.tranche_factor(i)),
                    interest_index=int(self.deal.interest_index(i)),
                    principal_index=int(self.deal.principal_index(i)),
                    loss_index=int(self.deal.loss_index(i)),
                    interest_shortfall=int(self.deal.interest_shortfall(i)),
                )
            )
        return out

    def waterfall_state(self) -> WaterfallState | None:
        """The exact waterfall's state; ``None`` on a deal wired to the
        SequentialTestWaterfall test double (it keeps no such state)."""
        if self.test_waterfall:
            return None
        return WaterfallState.from_words([int(self.deal.waterfall_state(w)) for w in range(4)])

    def status(self) -> dict[str, Any]:
        """Deal-level figures: period, cash held, credited, claimed, reserve, pause."""
        return {
            "closed": bool(self.deal.closed()),
            "paused": bool(self.deal.paused()),
            "last_period": int(self.deal.last_period()),
            "pool_balance": int(self.oracle.last_ending_balance()),
            "cash_held": int(self.deal.cash_held()),
            "cash_credited": int(self.deal.cash_credited()),
            "cash_claimed": int(self.deal.cash_claimed()),
            "reserve_balance": int(self.deal.reserve_balance()),
        }


def attestation_deadline(attestations: Sequence[Attestation]) -> int:
    """The deadline submitted with ``attestations``: the one they were all signed with.

    With no attestation (a submission the oracle refuses for want of a quorum) the
    deadline is ``2**256 - 1``, so that the refusal names the quorum.

    Raises
    ------
    InputError
        The attestations carry different deadlines (the oracle takes one per
        submission, so some of them could not verify).
    """
    deadlines = sorted({a.deadline for a in attestations})
    if len(deadlines) > 1:
        raise InputError(
            f"attestations: signed with different deadlines {deadlines}; one submission takes one"
        )
    return deadlines[0] if deadlines else 2**256 - 1


def revert_reason(exc: Exception) -> str:
    """The reason a titanoboa call reverted (see :func:`_reason`), for messages."""
    return _reason(exc)


def _reason(exc: Exception) -> str:
    """The revert reason of a titanoboa error: the ``# dev:`` comments on the failing
    lines (innermost call last) and the revert string, if any."""
    reasons: list[str] = []
    for frame in getattr(exc, "stack_trace", None) or []:
        dev = getattr(frame, "dev_reason", None)
        text = getattr(dev, "reason_str", None)
        if text and text not in reasons:
            reasons.append(str(text))
    try:
        text = str(exc)
    except Exception:  # titanoboa may fail to print a frame's arguments; the reasons above stand
        text = ""
    lines = text.splitlines()
    bars = [i for i, line in enumerate(lines) if line.startswith("=====")]
    if len(bars) >= 2:
        msg = next((line.strip() for line in lines[bars[1] + 1 :] if line.strip()), "")
        if msg and not msg.startswith("Revert(b") and msg not in reasons:
            reasons.append(msg)
    if reasons:
        return "; ".join(reasons)
    return lines[0] if lines else type(exc).__name__
