# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs RemittanceOracle: M-of-N attested servicer reports
@custom:contract-name RemittanceOracle
@license Apache-2.0
@notice The servicer submits period n's report (pool aggregates and the Merkle root
        of the loan-level tape) with EIP-712 signatures of at least `quorum` of the
        attestors over the report and a deadline (signatures expire), and deposits the reported cash in the same transaction (pulled
        with transferFrom into the deal). The oracle rejects replays, out-of-order
        periods, a beginning balance that is not the last ending balance, figures
        out of their bounds, and cash received different from cash reported; then
        it hands the report to the deal for distribution.
        The bounds are what the pool can produce: interest at most the pool's
        highest net rate (plus a stated tolerance, set at deployment) on the
        beginning balance; delinquency rolls at most one bucket a month (cures are
        free); losses and liquidation recoveries come out of the balance last
        reported 60+ days delinquent; subsequent recoveries out of losses not yet
        recovered; the index moves within a band a period. Within those bounds the
        attestors are trusted (docs/chain.md, "Trust model").
        The signed digest is bound to the chain id, this contract, the period and
        the deadline after which the attestations are refused.
        Attestor set, quorum and bounds change only with DEFAULT_ADMIN_ROLE, which
        the timelock holds (docs/chain.md, "Authority model").
"""

# ---------------------------------------------------------------- IMPORTS

from ethereum.ercs import IERC20
from snekmate.auth import access_control
from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator
from snekmate.utils import merkle_proof_verification
from . import deal_types

initializes: access_control
initializes: eip712_domain_separator

exports: (
    access_control.DEFAULT_ADMIN_ROLE,
    access_control.hasRole,
    access_control.getRoleAdmin,
    access_control.grantRole,
    access_control.revokeRole,
    access_control.renounceRole,
    access_control.supportsInterface,
    eip712_domain_separator.eip712Domain,
)

# ---------------------------------------------------------------- INTERFACES

interface IDeal:
    def distribute(report: deal_types.RemittanceReport): nonpayable
    def settlement() -> address: view
    def initial_pool_balance() -> uint256: view
    def timelock() -> address: view

interface ILoanSale:
    def record_proceeds(loan_id: bytes32) -> uint256: view
    def confirm(loan_id: bytes32, period: uint256) -> uint256: nonpayable

# ---------------------------------------------------------------- CONSTANTS

WAD: constant(uint256) = deal_types.WAD
MAX_ATTESTORS: constant(uint256) = 32
# @dev Months of missed interest a loan that leaves the 60+ day buckets may pay at once
# (a reinstatement or a payoff pays every missed installment): the interest bound
# allows this many months on the balance that left 60+ since the last report.
MAX_ARREARS_MONTHS: public(constant(uint256)) = 36
MAX_PROOF: constant(uint8) = max_value(uint8)

SERVICER_ROLE: public(constant(bytes32)) = keccak256("SERVICER_ROLE")
# @dev Admin of SERVICER_ROLE once the servicing contracts are wired (and its own
# admin): only the ServicerBond holds it, so only its `appoint_backup` (governance,
# after enough strikes) moves SERVICER_ROLE; the timelock cannot grant it.
APPOINTER_ROLE: public(constant(bytes32)) = keccak256("APPOINTER_ROLE")
# @dev Sold loans a report may confirm (LoanSale refuses a bid beyond them).
MAX_PENDING_SALES: public(constant(uint256)) = 8

REPORT_TYPEHASH: public(constant(bytes32)) = keccak256(
    "RemittanceReport(uint256 period,uint256 scheduledPrincipal,uint256 unscheduledPrincipal,uint256 interest,uint256 recoveries,uint256 losses,uint256 beginningBalance,uint256 endingBalance,uint256 loanCount,uint256 delinquent30,uint256 delinquent60,uint256 delinquent90Plus,uint256 indexRate,uint256 cash,bytes32 loanTapeRoot,uint256 subsequentRecoveries,uint256 advances,uint256 advanceReimbursements,uint256 liquidationReimbursements,uint256 prepaymentPenalties,uint256 lateFees,uint256 deadline)"
)

# ---------------------------------------------------------------- EVENTS

# @dev NatSpec of events, in comments (vyper 0.4.3's userdoc/devdoc cover functions only).
# @notice A report passed every check and was handed to the deal.
# @param period The period. @param digest The EIP-712 digest signed.
# @param loan_tape_root The loan tape's Merkle root. @param report The report.
# @param signers The attestors whose signatures were counted.
event RemittanceAccepted:
    period: indexed(uint256)
    digest: bytes32
    loan_tape_root: bytes32
    report: deal_types.RemittanceReport
    signers: DynArray[address, MAX_ATTESTORS]

# @notice An attestor was added or removed.
# @param attestor The attestor. @param active True if added.
# @param attestor_count The number of attestors after the change.
event AttestorSet:
    attestor: indexed(address)
    active: bool
    attestor_count: uint256

# @notice The number of signatures required changed.
# @param quorum The new quorum.
event QuorumSet:
    quorum: uint256

# @notice The bounds on reported figures changed (1e18 = 100%).
# @param max_annual_rate Bound on the implied annual interest rate.
# @param max_index_change Largest move of the index rate in one period.
event BoundsSet:
    max_annual_rate: uint256
    max_index_change: uint256

# @notice The deployer wired the deal's LoanSale and ServicerBond (once).
event ServicingWired:
    loan_sale: address
    servicer_bond: address

# @notice A fraud proof paused distributions (`disputed` true: `submit` refuses every
# report), or governance lifted the pause through the ServicerBond's `resolve`.
event DisputeSet:
    disputed: bool

# @notice A report confirmed a sold loan: its record in the report's tape shows it
# liquidated with the sale's net proceeds as its recovery, paid to the deal.
event SaleConfirmed:
    loan_id: indexed(bytes32)
    period: indexed(uint256)
    net_proceeds: uint256

# ---------------------------------------------------------------- STORAGE

# @dev The deal (receives the cash and the report), its settlement asset and its
# governance timelock (given DEFAULT_ADMIN_ROLE here at deployment).
deal: public(immutable(address))
settlement: public(immutable(IERC20))
timelock: public(immutable(address))
_DEPLOYER: immutable(address)
# @dev The deal's LoanSale (reports sold loans, `note_sale`) and ServicerBond (holds
# APPOINTER_ROLE), wired once by the deployer (`wire_servicing`).
loan_sale: public(address)
servicer_bond: public(address)

# @dev The attestor set and its size.
is_attestor: public(HashMap[address, bool])
attestor_count: public(uint256)

# @dev Packed, read once per report: the quorum (bits 248-255), the dispute flag (bit
# 240: a fraud proof paused distributions, `dispute`), sold loans awaiting a report's
# confirmation (bits 192-239; LoanSale's `note_sale` adds one), the upper bound of the
# annual interest rate implied by a report (bits 128-191; interest <= beginning
# balance x rate / 12), the largest move of the index rate in one period (bits
# 64-127) and the last reported index rate (bits 0-63); rates 1e18 = 100%. Written
# by a report only when the index moves.
_bounds: uint256

# @dev Packed delinquency of the last report (at deployment: of the pool at cut-off):
# the 30-59 day balance (high 128 bits) and the 60+ day balance, 60-89 plus 90+
# (which includes foreclosure; low 128 bits). Written by a report only when it changes.
_delinquency: uint256

# @dev Packed progress: last period (high 64 bits), loan count (next 64 bits), last
# ending balance (low 128 bits).
_progress: uint256
# @dev Per period: the Merkle root of the loan-level tape (`verify_loan`).
loan_tape_root: public(HashMap[uint256, bytes32])
# @dev Losses reported to date less subsequent recoveries reported to date: the bound
# on a period's subsequent recoveries.
unrecovered_losses: public(uint256)
# @dev Advances the servicer made and was not yet reimbursed: the accepted reports'
# advances less their advance reimbursements.
outstanding_advances: public(uint256)

# @dev The fields of the packed words above. Cold paths (views, governance) read
# them through the helpers under PACKED STORAGE; `submit` and `_check_figures` read
# them inline with the same constants (vyper 0.4.3 does not inline internal
# functions: each call costs about 140 gas on the remittance's 250k budget).
# `_bounds`: quorum (bits 248..255) | disputed (bit 240) | pending sales (192..239) |
# max annual rate (128..191) | max index move (64..127) | last index rate (0..63).
# `submit` tests bits 192..247 at once (`_HOLD_MAX`): either stops a remittance.
_QUORUM_SHIFT: constant(uint256) = 248
_QUORUM_CLEAR: constant(uint256) = 2**248 - 1
_PENDING_SHIFT: constant(uint256) = 192
_PENDING_MAX: constant(uint256) = 2**48 - 1
_PENDING_ONE: constant(uint256) = 2**192
_DISPUTED_BIT: constant(uint256) = 2**240
_HOLD_MAX: constant(uint256) = 2**56 - 1
_BOUNDS_LOW: constant(uint256) = 2**192 - 1
_MAX_RATE_SHIFT: constant(uint256) = 128
_INDEX_BAND_SHIFT: constant(uint256) = 64
_RATE_MAX: constant(uint256) = 2**64 - 1
# `_delinquency`: 30-59 day balance (bits 128..255) | 60+ day balance (0..127).
_DELINQUENT_30_SHIFT: constant(uint256) = 128
_BALANCE_MAX: constant(uint256) = 2**128 - 1
# `_progress`: last period (bits 192..255) | loan count (128..191) | last ending
# balance (0..127).
_PERIOD_SHIFT: constant(uint256) = 192
_LOAN_COUNT_SHIFT: constant(uint256) = 128
_COUNT_MAX: constant(uint256) = 2**64 - 1


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(
    deal_: address,
    servicer_: address,
    attestors_: DynArray[address, MAX_ATTESTORS],
    quorum_: uint256,
    initial_loan_count_: uint256,
    max_annual_rate_: uint256,
    initial_index_rate_: uint256,
    max_index_change_: uint256,
    initial_delinquent_: uint256[3],
):
    """
    @notice Create the oracle of a deal.
    @param deal_ The deal contract (receives the cash and the report).
    @param servicer_ Holder of SERVICER_ROLE (submits reports, deposits cash).
    @param attestors_ The initial attestor set.
    @param quorum_ Signatures required (M of N).
    @param initial_loan_count_ Number of loans at cut-off.
    @param max_annual_rate_ Bound on interest / beginning balance x 12 (1e18 = 100%):
           the pool's highest net loan rate plus a tolerance.
    @param initial_index_rate_ The index rate at cut-off (1e18 = 100%).
    @param max_index_change_ Largest move of the index rate in one period (1e18 = 100%).
    @param initial_delinquent_ Pool balances 30-59, 60-89 and 90+ days delinquent at
           cut-off (bound period 1's roll and liquidations).
    """
    access_control.__init__()
    eip712_domain_separator.__init__("openmbs RemittanceOracle", "1")
    _DEPLOYER = msg.sender
    deal = deal_
    settlement = IERC20(staticcall IDeal(deal_).settlement())
    timelock = staticcall IDeal(deal_).timelock()
    for a: address in attestors_:
        assert a != empty(address)  # dev: zero attestor
        assert not self.is_attestor[a]  # dev: duplicate attestor
        self.is_attestor[a] = True
        log AttestorSet(attestor=a, active=True, attestor_count=self.attestor_count + 1)
        self.attestor_count += 1
    self._check_quorum(quorum_, len(attestors_))
    self._bounds = self._with_quorum(0, quorum_)
    log QuorumSet(quorum=quorum_)
    assert initial_index_rate_ <= _RATE_MAX  # dev: figure too large
    self._set_bounds(max_annual_rate_, max_index_change_, initial_index_rate_)
    self._delinquency = self._delinquency_word(
        initial_delinquent_[0], initial_delinquent_[1] + initial_delinquent_[2]
    )
    self._progress = self._progress_word(0, initial_loan_count_, staticcall IDeal(deal_).initial_pool_balance())
    access_control._grant_role(access_control.DEFAULT_ADMIN_ROLE, timelock)
    access_control._grant_role(SERVICER_ROLE, servicer_)
    access_control._revoke_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)


# ---------------------------------------------------------------- REMITTANCE

@external
def submit(
    report: deal_types.RemittanceReport,
    deadline: uint256,
    signatures: DynArray[deal_types.Signature, MAX_ATTESTORS],
):
    """
    @notice Submit period n's report with M-of-N attestations and deposit its cash.
            The caller (SERVICER_ROLE) must have approved this contract for
            `report.cash` of the settlement asset.
    @param report The remittance report.
    @param deadline Last timestamp (seconds) at which the attestations are valid;
           signed with the report.
    @param signatures Attestor signatures over `report_hash(report, deadline)`,
           ordered by strictly increasing signer address.
    """
    # `_accept`'s steps with nothing prepaid, written out: an internal call would copy
    # the report and the signatures (measured: +500 gas on every remittance).
    # tests/chain/test_chain_wiring.py checks the two stay the same.
    access_control._check_role(SERVICER_ROLE, msg.sender)
    assert block.timestamp <= deadline  # dev: attestation expired
    progress: uint256 = self._progress
    assert report.period == (progress >> _PERIOD_SHIFT) + 1  # dev: period out of order
    bounds: uint256 = self._bounds
    # A fraud proof's pause and a sold loan awaiting confirmation each stop a report
    # (one test of bits already in memory; the reasons only on the refusal path).
    if (bounds >> _PENDING_SHIFT) & _HOLD_MAX != 0:
        assert bounds & _DISPUTED_BIT == 0  # dev: distributions paused by a fraud proof
        raise "sold loan awaits confirmation"  # dev: sold loan awaits confirmation
    delinquency: uint256 = self._delinquency
    self._check_figures(report, progress, bounds, delinquency)
    digest: bytes32 = self._digest(report, deadline)
    signers: DynArray[address, MAX_ATTESTORS] = self._check_signatures(digest, signatures, bounds >> _QUORUM_SHIFT)

    self._progress = self._progress_word(report.period, report.loan_count, report.ending_balance)
    new_delinquency: uint256 = self._delinquency_word(
        report.delinquent_30, report.delinquent_60 + report.delinquent_90_plus
    )
    if new_delinquency != delinquency:
        self._delinquency = new_delinquency
    if report.index_rate != bounds & _RATE_MAX:
        assert report.index_rate <= _RATE_MAX  # dev: figure too large
        self._bounds = (bounds & ~_RATE_MAX) | report.index_rate
    self.loan_tape_root[report.period] = report.loan_tape_root
    if report.losses != 0 or report.subsequent_recoveries != 0:
        self.unrecovered_losses = self.unrecovered_losses + report.losses - report.subsequent_recoveries
    if report.advances != 0 or report.advance_reimbursements != 0:
        self.outstanding_advances = self.outstanding_advances + report.advances - report.advance_reimbursements

    # Pull the cash into the deal and check what actually arrived (a receipt check,
    # not accounting: the deal keeps its own books).
    before: uint256 = staticcall settlement.balanceOf(deal)
    assert extcall settlement.transferFrom(msg.sender, deal, report.cash, default_return_value=True)  # dev: cash transfer failed
    assert staticcall settlement.balanceOf(deal) - before == report.cash  # dev: cash received != cash reported
    log RemittanceAccepted(
        period=report.period, digest=digest, loan_tape_root=report.loan_tape_root, report=report, signers=signers
    )
    extcall IDeal(deal).distribute(report)


@external
def submit_with_sales(
    report: deal_types.RemittanceReport,
    deadline: uint256,
    signatures: DynArray[deal_types.Signature, MAX_ATTESTORS],
    sold: DynArray[deal_types.LoanRecord, MAX_PENDING_SALES],
    proofs: DynArray[DynArray[bytes32, MAX_PROOF], MAX_PENDING_SALES],
):
    """
    @notice `submit`, confirming every sold loan awaiting confirmation: each one's
            record in this report's tape (proven against `report.loan_tape_root`)
            shows it liquidated with the sale's net proceeds as its recovery. The deal
            already holds those proceeds (the LoanSale paid them in at the bid); the
            caller deposits the rest of `report.cash` (approve `report.cash` less the
            proceeds).
    @param report The remittance report.
    @param deadline Last timestamp at which the attestations are valid.
    @param signatures Attestor signatures, as for `submit`.
    @param sold The sold loans' records in this report's tape, one per pending sale.
    @param proofs Their Merkle proofs against `report.loan_tape_root`.
    """
    access_control._check_role(SERVICER_ROLE, msg.sender)
    assert len(sold) == len(proofs)  # dev: one proof per record
    bounds: uint256 = self._bounds
    assert len(sold) == (bounds >> _PENDING_SHIFT) & _PENDING_MAX  # dev: not every sold loan confirmed
    sale: ILoanSale = ILoanSale(self.loan_sale)
    prepaid: uint256 = 0
    for i: uint256 in range(len(sold), bound=MAX_PENDING_SALES):
        r: deal_types.LoanRecord = sold[i]
        assert r.period == report.period  # dev: record of another period
        assert merkle_proof_verification._verify(
            proofs[i], report.loan_tape_root, keccak256(keccak256(abi_encode(r)))
        )  # dev: loan not proven
        assert r.liquidated and r.recovery == staticcall sale.record_proceeds(r.loan_id)  # dev: report does not show the sale
        # `confirm` refuses a loan not sold or already confirmed (no loan counts twice)
        prepaid += extcall sale.confirm(r.loan_id, report.period)
        log SaleConfirmed(loan_id=r.loan_id, period=report.period, net_proceeds=r.recovery)
    assert prepaid <= report.recoveries  # dev: sale proceeds above recoveries
    self._bounds = bounds & ~(_PENDING_MAX << _PENDING_SHIFT)  # the dispute flag stays
    self._accept(report, deadline, signatures, prepaid)


@internal
def _accept(
    report: deal_types.RemittanceReport,
    deadline: uint256,
    signatures: DynArray[deal_types.Signature, MAX_ATTESTORS],
    prepaid: uint256,
):
    # `submit`'s checks and effects (the same lines: tests/chain/test_chain_wiring.py);
    # `prepaid` of the cash is in the deal already (sale proceeds, `submit_with_sales`).
    access_control._check_role(SERVICER_ROLE, msg.sender)
    assert block.timestamp <= deadline  # dev: attestation expired
    progress: uint256 = self._progress
    assert report.period == (progress >> _PERIOD_SHIFT) + 1  # dev: period out of order
    bounds: uint256 = self._bounds
    # A fraud proof's pause and a sold loan awaiting confirmation each stop a report
    # (one test of bits already in memory; the reasons only on the refusal path).
    if (bounds >> _PENDING_SHIFT) & _HOLD_MAX != 0:
        assert bounds & _DISPUTED_BIT == 0  # dev: distributions paused by a fraud proof
        raise "sold loan awaits confirmation"  # dev: sold loan awaits confirmation
    delinquency: uint256 = self._delinquency
    self._check_figures(report, progress, bounds, delinquency)
    digest: bytes32 = self._digest(report, deadline)
    signers: DynArray[address, MAX_ATTESTORS] = self._check_signatures(digest, signatures, bounds >> _QUORUM_SHIFT)

    self._progress = self._progress_word(report.period, report.loan_count, report.ending_balance)
    new_delinquency: uint256 = self._delinquency_word(
        report.delinquent_30, report.delinquent_60 + report.delinquent_90_plus
    )
    if new_delinquency != delinquency:
        self._delinquency = new_delinquency
    if report.index_rate != bounds & _RATE_MAX:
        assert report.index_rate <= _RATE_MAX  # dev: figure too large
        self._bounds = (bounds & ~_RATE_MAX) | report.index_rate
    self.loan_tape_root[report.period] = report.loan_tape_root
    if report.losses != 0 or report.subsequent_recoveries != 0:
        self.unrecovered_losses = self.unrecovered_losses + report.losses - report.subsequent_recoveries
    if report.advances != 0 or report.advance_reimbursements != 0:
        self.outstanding_advances = self.outstanding_advances + report.advances - report.advance_reimbursements

    # Pull the cash into the deal and check what actually arrived (a receipt check,
    # not accounting: the deal keeps its own books).
    deposit: uint256 = report.cash - prepaid
    before: uint256 = staticcall settlement.balanceOf(deal)
    assert extcall settlement.transferFrom(msg.sender, deal, deposit, default_return_value=True)  # dev: cash transfer failed
    assert staticcall settlement.balanceOf(deal) - before == deposit  # dev: cash received != cash reported
    log RemittanceAccepted(
        period=report.period, digest=digest, loan_tape_root=report.loan_tape_root, report=report, signers=signers
    )
    extcall IDeal(deal).distribute(report)


@internal
@view
def _check_figures(r: deal_types.RemittanceReport, progress: uint256, bounds: uint256, delinquency: uint256):
    last_30: uint256 = delinquency >> _DELINQUENT_30_SHIFT
    last_60_plus: uint256 = delinquency & _BALANCE_MAX
    liquidated: uint256 = r.losses + r.recoveries
    last_index: uint256 = bounds & _RATE_MAX
    max_rate: uint256 = (bounds >> _MAX_RATE_SHIFT) & _RATE_MAX
    band: uint256 = (bounds >> _INDEX_BAND_SHIFT) & _RATE_MAX
    assert r.beginning_balance == progress & _BALANCE_MAX  # dev: beginning balance != last ending balance
    assert r.cash + r.liquidation_reimbursements == r.interest + r.scheduled_principal + r.unscheduled_principal + r.recoveries + r.subsequent_recoveries + r.prepayment_penalties  # dev: cash != collections
    # Subsequent recoveries come from loans already written off.
    if r.subsequent_recoveries != 0:
        assert r.subsequent_recoveries <= self.unrecovered_losses + r.losses  # dev: subsequent recoveries above losses
    # Servicing cash (docs/chain.md, "Advances and penalties"): an advance is a
    # scheduled installment not collected; the servicer is repaid only what it
    # advanced, out of proceeds only what they hold; a penalty is part of a prepayment.
    if r.advances != 0 or r.advance_reimbursements != 0:
        assert r.advances <= r.interest + r.scheduled_principal  # dev: advances above scheduled collections
        assert r.advance_reimbursements <= self.outstanding_advances + r.advances  # dev: reimbursements above advances outstanding
    assert r.liquidation_reimbursements <= r.recoveries  # dev: reimbursements above liquidation proceeds
    assert r.liquidation_reimbursements <= r.advance_reimbursements  # dev: liquidation reimbursements above reimbursements
    assert r.prepayment_penalties <= r.unscheduled_principal  # dev: penalties above prepayments
    removed: uint256 = r.scheduled_principal + r.unscheduled_principal + r.recoveries + r.losses
    assert removed <= r.beginning_balance  # dev: principal above beginning balance
    assert r.ending_balance == r.beginning_balance - removed  # dev: ending balance does not roll forward
    assert r.delinquent_30 + r.delinquent_60 + r.delinquent_90_plus <= r.ending_balance  # dev: delinquencies above ending balance
    # Delinquency rolls at most one bucket a month (a loan misses one payment a month);
    # cures and amortisation only lower a bucket.
    assert r.delinquent_60 <= last_30  # dev: 60-89 above last 30-59
    # Liquidated loans (losses and their recoveries) were 60+ days delinquent last
    # month, and a loan is either liquidated or still counted, not both.
    assert liquidated <= last_60_plus  # dev: liquidations above last 60+
    assert r.delinquent_90_plus + liquidated <= last_60_plus  # dev: 90+ above last 60+ less liquidations
    # Interest: a month at the bound rate on the beginning balance, plus the missed
    # installments of loans that left delinquency (one month on what left 30-59 days,
    # at most MAX_ARREARS_MONTHS on what left 60+ without being liquidated); the two
    # differences are >= 0 by the roll checks above.
    arrears: uint256 = (last_30 - r.delinquent_60) + MAX_ARREARS_MONTHS * (last_60_plus - r.delinquent_90_plus - liquidated)
    assert r.interest * 12 * WAD <= (r.beginning_balance + arrears) * max_rate  # dev: interest above balance x max rate
    assert r.loan_count <= (progress >> _LOAN_COUNT_SHIFT) & _COUNT_MAX  # dev: loan count grew
    assert r.index_rate <= last_index + band  # dev: index moved more than the band
    assert last_index <= r.index_rate + band  # dev: index moved more than the band
    assert r.loan_tape_root != empty(bytes32)  # dev: empty loan tape root


@internal
@view
def _digest(report: deal_types.RemittanceReport, deadline: uint256) -> bytes32:
    # Every member is a static word, so abi_encode is EIP-712's encodeData of the
    # report's fields followed by the deadline.
    return eip712_domain_separator._hash_typed_data_v4(keccak256(abi_encode(REPORT_TYPEHASH, report, deadline)))


@internal
@view
def _check_signatures(
    digest: bytes32, signatures: DynArray[deal_types.Signature, MAX_ATTESTORS], quorum: uint256
) -> DynArray[address, MAX_ATTESTORS]:
    signers: DynArray[address, MAX_ATTESTORS] = []
    previous: uint160 = 0
    for sig: deal_types.Signature in signatures:
        assert sig.v == 27 or sig.v == 28  # dev: bad signature v
        # snekmate rejects high-s (malleable) signatures and a zero signer.
        signer: address = ecdsa._try_recover_vrs(
            digest, convert(sig.v, uint256), convert(sig.r, uint256), convert(sig.s, uint256)
        )
        assert convert(signer, uint160) > previous  # dev: signers not sorted and unique
        previous = convert(signer, uint160)
        assert self.is_attestor[signer]  # dev: signer is not an attestor
        signers.append(signer)
    assert len(signers) >= quorum  # dev: below quorum
    return signers


# ---------------------------------------------------------------- VIEWS

@external
@view
def last_period() -> uint256:
    """
    @notice The last period accepted (0 before the first report).
    @return uint256 The period.
    """
    return self._period_of(self._progress)


@external
@view
def last_loan_count() -> uint256:
    """
    @notice Loan count of the last report (at cut-off before the first).
    @return uint256 The count.
    """
    return self._loan_count_of(self._progress)


@external
@view
def last_ending_balance() -> uint256:
    """
    @notice Pool ending balance of the last report (cut-off balance before the first).
    @return uint256 The balance, in settlement base units.
    """
    return self._ending_balance_of(self._progress)


@external
@view
def max_annual_rate() -> uint256:
    """
    @notice Bound on the annual interest rate implied by a report (1e18 = 100%).
    @return uint256 The bound.
    """
    return self._max_rate_of(self._bounds)


@external
@view
def quorum() -> uint256:
    """
    @notice Signatures required (M of N).
    @return uint256 The quorum.
    """
    return self._quorum_of(self._bounds)


@external
@view
def max_index_change() -> uint256:
    """
    @notice Largest move of the index rate from one report to the next (1e18 = 100%).
    @return uint256 The band.
    """
    return self._index_band_of(self._bounds)


@external
@view
def last_index_rate() -> uint256:
    """
    @notice Index rate of the last report (at cut-off before the first; 1e18 = 100%).
    @return uint256 The rate.
    """
    return self._index_rate_of(self._bounds)


@external
@view
def last_delinquent_30() -> uint256:
    """
    @notice The 30-59 day delinquent balance of the last report (at cut-off before
            the first): the bound on the next report's 60-89 day balance.
    @return uint256 The balance, in settlement base units.
    """
    return self._delinquent_30_of(self._delinquency)


@external
@view
def last_seriously_delinquent() -> uint256:
    """
    @notice The 60+ day delinquent balance (60-89 plus 90+, foreclosure included) of
            the last report (at cut-off before the first): the bound on the next
            report's 90+ balance plus its losses and liquidation recoveries.
    @return uint256 The balance, in settlement base units.
    """
    return self._delinquent_60_plus_of(self._delinquency)


@external
@view
def report_hash(report: deal_types.RemittanceReport, deadline: uint256) -> bytes32:
    """
    @notice The EIP-712 digest attestors sign for `report` valid until `deadline`
            (domain: this contract, this chain).
    @param report The report.
    @param deadline Last timestamp at which the attestations are valid.
    @return bytes32 The digest.
    """
    return self._digest(report, deadline)


@external
@view
def last_loan_tape() -> (uint256, bytes32):
    """
    @notice The last period accepted and its loan tape root, in one call (a sale
            checks a record against them; (0, 0) before the first report).
    @return (uint256, bytes32) The period and its root.
    """
    period: uint256 = self._period_of(self._progress)
    return period, self.loan_tape_root[period]


@external
@view
def loan_tape_roots(period_a: uint256, period_b: uint256) -> (bytes32, bytes32):
    """
    @notice The loan tape roots of two periods in one call (a fraud proof checks a
            record of each against them; zero for a period not accepted).
    @param period_a The first period. @param period_b The second.
    @return (bytes32, bytes32) Their roots.
    """
    return self.loan_tape_root[period_a], self.loan_tape_root[period_b]


@external
@view
def verify_loan(period: uint256, record_hash: bytes32, proof: DynArray[bytes32, MAX_PROOF]) -> bool:
    """
    @notice Whether the loan record whose hash is `record_hash` belongs to the
            loan-level tape of `period` (sorted-pair keccak256 Merkle proof against
            the stored root).
    @dev The leaf is keccak256(record_hash), the hash of a 32-byte message; internal
         nodes are hashes of 64-byte messages, so an internal node passed as
         `record_hash` hashes to a value that is not in the tree: no subtree can be
         proven as a loan.
    @param period The period.
    @param record_hash keccak256(abi.encode(LoanRecord)).
    @param proof Sibling hashes from the leaf up.
    @return bool True if proven.
    """
    root: bytes32 = self.loan_tape_root[period]
    if root == empty(bytes32):
        return False
    return merkle_proof_verification._verify(proof, root, keccak256(record_hash))


@external
@pure
def loan_leaf(record: deal_types.LoanRecord) -> bytes32:
    """
    @notice The Merkle leaf of a loan record:
            keccak256(keccak256(abi.encode(record))).
    @param record The loan record.
    @return bytes32 The leaf.
    """
    return keccak256(keccak256(abi_encode(record)))


# ---------------------------------------------------------------- SERVICING (LOAN SALES, BOND)

@external
def wire_servicing(loan_sale_: address, servicer_bond_: address):
    """
    @notice Wire the deal's LoanSale and ServicerBond; once, by the deployer. From
            then on SERVICER_ROLE is administered by APPOINTER_ROLE, which only the
            ServicerBond holds (and which administers itself): the servicer is
            replaced only through `ServicerBond.appoint_backup`.
    @param loan_sale_ The LoanSale (the only caller of `note_sale`).
    @param servicer_bond_ The ServicerBond.
    """
    assert msg.sender == _DEPLOYER  # dev: only deployer
    assert self.loan_sale == empty(address)  # dev: already wired
    assert loan_sale_ != empty(address) and servicer_bond_ != empty(address)  # dev: zero address
    self.loan_sale = loan_sale_
    self.servicer_bond = servicer_bond_
    access_control._set_role_admin(APPOINTER_ROLE, APPOINTER_ROLE)
    access_control._set_role_admin(SERVICER_ROLE, APPOINTER_ROLE)
    access_control._grant_role(APPOINTER_ROLE, servicer_bond_)
    log ServicingWired(loan_sale=loan_sale_, servicer_bond=servicer_bond_)


@external
def note_sale():
    """
    @notice A loan was sold: the next report must confirm it (`submit_with_sales`).
            Only the LoanSale.
    """
    assert msg.sender == self.loan_sale and msg.sender != empty(address)  # dev: caller not loan sale
    bounds: uint256 = self._bounds
    assert (bounds >> _PENDING_SHIFT) & _PENDING_MAX < MAX_PENDING_SALES  # dev: too many pending sales
    self._bounds = bounds + _PENDING_ONE


@external
def dispute():
    """
    @notice Pause distributions: `submit` refuses every report until `lift_dispute`.
            Only the ServicerBond, on a fraud proof.
    """
    assert msg.sender == self.servicer_bond and msg.sender != empty(address)  # dev: caller not servicer bond
    bounds: uint256 = self._bounds
    if bounds & _DISPUTED_BIT == 0:
        self._bounds = bounds | _DISPUTED_BIT
        log DisputeSet(disputed=True)


@external
def lift_dispute():
    """
    @notice Lift the pause of a fraud proof. Only the ServicerBond, whose `resolve`
            only governance (the timelock) calls.
    """
    assert msg.sender == self.servicer_bond and msg.sender != empty(address)  # dev: caller not servicer bond
    bounds: uint256 = self._bounds
    assert bounds & _DISPUTED_BIT != 0  # dev: not disputed
    self._bounds = bounds & ~_DISPUTED_BIT
    log DisputeSet(disputed=False)


@external
@view
def disputed() -> bool:
    """
    @notice Whether a fraud proof has paused distributions (until governance resolves it).
    @return bool True while paused.
    """
    return self._bounds & _DISPUTED_BIT != 0


@external
@view
def pending_sales() -> uint256:
    """
    @notice Sold loans the next report must confirm.
    @return uint256 The count.
    """
    return (self._bounds >> _PENDING_SHIFT) & _PENDING_MAX


# ---------------------------------------------------------------- GOVERNANCE (TIMELOCK)

@external
def set_attestor(attestor: address, active: bool):
    """
    @notice Add or remove an attestor. DEFAULT_ADMIN_ROLE (the timelock); the set holds at most
            MAX_ATTESTORS (what `submit` accepts) and the quorum must stay reachable.
    @param attestor The attestor.
    @param active True to add, False to remove.
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    assert attestor != empty(address)  # dev: zero attestor
    assert self.is_attestor[attestor] != active  # dev: no change
    self.is_attestor[attestor] = active
    if active:
        self.attestor_count += 1
        assert self.attestor_count <= MAX_ATTESTORS  # dev: too many attestors
    else:
        self.attestor_count -= 1
        assert self.attestor_count >= self._quorum_of(self._bounds)  # dev: quorum unreachable
    log AttestorSet(attestor=attestor, active=active, attestor_count=self.attestor_count)


@external
def set_quorum(quorum_: uint256):
    """
    @notice Change the number of signatures required. DEFAULT_ADMIN_ROLE (the
            timelock).
    @param quorum_ The new quorum (1..attestor_count; at most MAX_ATTESTORS, the
           signatures `submit` accepts).
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    self._check_quorum(quorum_, self.attestor_count)
    self._bounds = self._with_quorum(self._bounds, quorum_)
    log QuorumSet(quorum=quorum_)


@external
def set_bounds(max_annual_rate_: uint256, max_index_change_: uint256):
    """
    @notice Change the bounds on reported figures. DEFAULT_ADMIN_ROLE (the timelock).
    @param max_annual_rate_ Bound on the implied annual interest rate (1e18 = 100%).
    @param max_index_change_ Largest move of the index rate in one period (1e18 = 100%).
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    self._set_bounds(max_annual_rate_, max_index_change_, self._index_rate_of(self._bounds))


@internal
@pure
def _check_quorum(quorum_: uint256, attestor_count_: uint256):
    # 1 <= quorum <= attestors <= MAX_ATTESTORS: `submit` takes at most MAX_ATTESTORS
    # signatures, and the quorum is packed in 8 bits (256 would read as 0).
    assert quorum_ > 0 and quorum_ <= attestor_count_ and attestor_count_ <= MAX_ATTESTORS  # dev: bad quorum


@internal
def _set_bounds(max_annual_rate_: uint256, max_index_change_: uint256, index_rate_: uint256):
    assert max_annual_rate_ <= _RATE_MAX and max_index_change_ <= _RATE_MAX  # dev: bound too large
    self._bounds = (
        (self._bounds & ~_BOUNDS_LOW)
        | (max_annual_rate_ << _MAX_RATE_SHIFT)
        | (max_index_change_ << _INDEX_BAND_SHIFT)
        | index_rate_
    )
    log BoundsSet(max_annual_rate=max_annual_rate_, max_index_change=max_index_change_)


@internal
@pure
def _delinquency_word(delinquent_30: uint256, delinquent_60_plus: uint256) -> uint256:
    assert delinquent_30 <= _BALANCE_MAX and delinquent_60_plus <= _BALANCE_MAX  # dev: figure too large
    return (delinquent_30 << _DELINQUENT_30_SHIFT) | delinquent_60_plus


@internal
@pure
def _progress_word(period: uint256, loan_count: uint256, ending_balance: uint256) -> uint256:
    assert period <= _COUNT_MAX and loan_count <= _COUNT_MAX and ending_balance <= _BALANCE_MAX  # dev: figure too large
    return (period << _PERIOD_SHIFT) | (loan_count << _LOAN_COUNT_SHIFT) | ending_balance


# ---------------------------------------------------------------- PACKED STORAGE

# @dev Readers of the packed words' fields (layouts under STORAGE); `_progress_word`,
# `_delinquency_word`, `_set_bounds` and `_with_quorum` write them.


@internal
@pure
def _period_of(progress: uint256) -> uint256:
    """@dev `_progress`: the last period accepted."""
    return progress >> _PERIOD_SHIFT


@internal
@pure
def _loan_count_of(progress: uint256) -> uint256:
    """@dev `_progress`: the loan count of the last report."""
    return (progress >> _LOAN_COUNT_SHIFT) & _COUNT_MAX


@internal
@pure
def _ending_balance_of(progress: uint256) -> uint256:
    """@dev `_progress`: the pool's ending balance in the last report."""
    return progress & _BALANCE_MAX


@internal
@pure
def _quorum_of(bounds: uint256) -> uint256:
    """@dev `_bounds`: signatures required."""
    return bounds >> _QUORUM_SHIFT


@internal
@pure
def _with_quorum(bounds: uint256, quorum_: uint256) -> uint256:
    """@dev `bounds` with its quorum set (the caller checked it fits 8 bits)."""
    return (quorum_ << _QUORUM_SHIFT) | (bounds & _QUORUM_CLEAR)


@internal
@pure
def _max_rate_of(bounds: uint256) -> uint256:
    """@dev `_bounds`: the bound on the annual interest rate (1e18 = 100%)."""
    return (bounds >> _MAX_RATE_SHIFT) & _RATE_MAX


@internal
@pure
def _index_band_of(bounds: uint256) -> uint256:
    """@dev `_bounds`: the largest move of the index rate in a period."""
    return (bounds >> _INDEX_BAND_SHIFT) & _RATE_MAX


@internal
@pure
def _index_rate_of(bounds: uint256) -> uint256:
    """@dev `_bounds`: the index rate of the last report."""
    return bounds & _RATE_MAX


@internal
@pure
def _delinquent_30_of(delinquency: uint256) -> uint256:
    """@dev `_delinquency`: the 30-59 day balance of the last report."""
    return delinquency >> _DELINQUENT_30_SHIFT


@internal
@pure
def _delinquent_60_plus_of(delinquency: uint256) -> uint256:
    """@dev `_delinquency`: the 60+ day balance of the last report."""
    return delinquency & _BALANCE_MAX
