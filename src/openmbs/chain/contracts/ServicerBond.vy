# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs ServicerBond: the servicer's bond, late-report penalties, fraud proofs
@custom:contract-name ServicerBond
@license Apache-2.0
@notice The servicer's bond in the settlement asset. A report not accepted by its
        due date (a day of the month, UTC) lets anyone take a late-report penalty
        from the bond, paid to the deal as other income for holders (the next
        distribution adds it to the available interest); a fraud proof (two proven records of one loan that break
        continuity, or a sold loan reported other than liquidated at its sale price)
        slashes the bond, pays the prover a bounty, puts the bond under dispute and
        pauses distributions (the oracle refuses reports) until governance (the
        timelock, DEFAULT_ADMIN_ROLE) resolves it. Slashes net of bounties are
        held as `forfeited`, paid out only by governance.
        Design: docs/chain.md, "Servicer bond".
"""

# ---------------------------------------------------------------- IMPORTS

from ethereum.ercs import IERC20
from snekmate.auth import access_control
from snekmate.utils import ecdsa
from . import deal_types
from . import loan_proof

initializes: access_control

exports: (
    access_control.DEFAULT_ADMIN_ROLE,
    access_control.hasRole,
    access_control.getRoleAdmin,
    access_control.grantRole,
    access_control.revokeRole,
    access_control.renounceRole,
    access_control.supportsInterface,
)

# ---------------------------------------------------------------- INTERFACES

interface IOracle:
    def last_period() -> uint256: view
    def grantRole(role: bytes32, account: address): nonpayable
    def revokeRole(role: bytes32, account: address): nonpayable
    def dispute(): nonpayable
    def lift_dispute(): nonpayable
    def loan_tape_root(period: uint256) -> bytes32: view
    def loan_tape_roots(period_a: uint256, period_b: uint256) -> (bytes32, bytes32): view
    def report_hash(report: deal_types.RemittanceReport, deadline: uint256) -> bytes32: view
    def last_ending_balance() -> uint256: view

interface IDeal:
    def settlement() -> address: view
    def timelock() -> address: view
    def closed() -> bool: view
    def paused() -> bool: view
    def add_other_income(amount: uint256): nonpayable
    def resumed_at() -> uint256: view

interface ILoanSale:
    def status(loan_id: bytes32) -> uint256: view
    def sale_period(loan_id: bytes32) -> uint256: view
    def record_proceeds(loan_id: bytes32) -> uint256: view

# ---------------------------------------------------------------- CONSTANTS

WAD: constant(uint256) = deal_types.WAD
MAX_ATTESTORS: constant(uint256) = 32
MAX_PROOF: constant(uint256) = loan_proof.MAX_DEPTH
# @dev Seconds a servicer has to report once reporting is possible again (the deal
# closed, a guardian's pause lifted, a fraud-proof dispute resolved) before a report
# that fell due meanwhile can be penalized: a pause over a due date must not let
# anyone take the penalty the second it ends (`late_from`).
RESUME_GRACE: public(constant(uint256)) = 5 * 86400
DAY: constant(uint256) = 86400
SOLD: constant(uint256) = 2
SERVICER_ROLE: constant(bytes32) = keccak256("SERVICER_ROLE")
# @dev A sold loan must show as liquidated from the report after the tape the sale was
# started on: a bid is taken only while that tape is the last accepted one, and the
# oracle accepts the next report only if it proves the sale (`submit_with_sales`).
SALE_GRACE_PERIODS: public(constant(uint256)) = 1
# `_funds` word: bond (bits 128..255) | forfeited (0..127); `_counts` word: strikes
# (bits 128..255) | open disputes (0..127). One word each keeps a fraud proof within
# its gas budget (benchmarks/bench_gas.py).
_U128: constant(uint256) = 2**128 - 1

# ---------------------------------------------------------------- EVENTS

# @notice The bond grew. @param payer Who paid. @param amount Added. @param bond After.
event BondPosted:
    payer: indexed(address)
    amount: uint256
    bond: uint256

# @notice Governance released part of the bond. @param to Recipient.
event BondReleased:
    to: indexed(address)
    amount: uint256
    bond: uint256

# @notice A late-report penalty was taken. @param period The late period.
# @param amount Paid from the bond to the deal as other income for holders
# (`Deal.OtherIncomeReceived`). @param strikes Strikes after.
event LatePenalized:
    period: indexed(uint256)
    caller: indexed(address)
    amount: uint256
    strikes: uint256

# @notice A fraud proof slashed the bond. @param kind 1 discontinuity, 2 sold loan
# not shown liquidated at its price. @param slashed Taken from the bond.
# @param bounty Paid to the prover (out of `slashed`).
event FraudProven:
    loan_id: indexed(bytes32)
    period: indexed(uint256)
    prover: indexed(address)
    kind: uint256
    slashed: uint256
    bounty: uint256
    strikes: uint256

# @notice Governance resolved the open disputes.
event DisputesResolved:
    resolved: uint256

# @notice Governance appointed a backup servicer (SERVICER_ROLE moved on the oracle).
# @param servicer The backup. @param previous The servicer replaced.
# @param strikes The strikes that allowed it (reset to 0 for the backup).
event BackupAppointed:
    servicer: indexed(address)
    previous: indexed(address)
    strikes: uint256

# @notice An attestor's bond grew. @param attestor Whose bond. @param amount Added.
# @param bond The attestor's bond after it.
event AttestorBondPosted:
    attestor: indexed(address)
    amount: uint256
    bond: uint256

# @notice Governance released part of an attestor's bond.
event AttestorBondReleased:
    attestor: indexed(address)
    to: indexed(address)
    amount: uint256
    bond: uint256

# @notice An attestor who signed a disproved report was slashed.
# @param period The disproved report's period. @param slashed Taken from its bond.
# @param bounty Paid to the prover out of `slashed`; the rest is forfeited.
event AttestorSlashed:
    attestor: indexed(address)
    period: indexed(uint256)
    prover: indexed(address)
    slashed: uint256
    bounty: uint256

# @notice Governance paid out forfeited money (slashes less bounties). @param to Recipient.
event ForfeitedPaid:
    to: indexed(address)
    amount: uint256

# ---------------------------------------------------------------- STORAGE

oracle: public(immutable(IOracle))
deal: public(immutable(IDeal))
settlement: public(immutable(IERC20))
loan_sale: public(immutable(ILoanSale))
timelock: public(immutable(address))
# @dev Period 1's report is due by the end of `report_day` (UTC) of month
# `first_month` of `first_year`; period n's by the same day n - 1 months later.
first_year: public(immutable(uint256))
first_month: public(immutable(uint256))
report_day: public(immutable(uint256))
late_penalty: public(immutable(uint256))
fraud_slash: public(immutable(uint256))
bounty_wad: public(immutable(uint256))
max_strikes: public(immutable(uint256))

# @dev Internal accounting, base units of the settlement asset (`bond`, `forfeited`).
_funds: uint256
_counts: uint256
# @dev When governance last resolved the disputes (`resolve`): distributions resumed.
_resumed_at: uint256
penalized: public(HashMap[uint256, bool])
# @dev keccak256(abi_encode(loan_id, period)) of each later record already proven fraudulent.
proven: public(HashMap[bytes32, bool])
# @dev Attestors' bonds (internal accounting; this contract holds bond + forfeited +
# attestor_total of the settlement asset) and keccak256(abi_encode(attestor, period))
# of each attestor already slashed for a period's report.
attestor_bond: public(HashMap[address, uint256])
attestor_total: public(uint256)
attestor_slashed: public(HashMap[bytes32, bool])


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(
    oracle_: address,
    deal_: address,
    loan_sale_: address,
    first_year_: uint256,
    first_month_: uint256,
    report_day_: uint256,
    late_penalty_: uint256,
    fraud_slash_: uint256,
    bounty_wad_: uint256,
    max_strikes_: uint256,
):
    """
    @notice Create the servicer's bond of a deal; the deal's timelock gets
            DEFAULT_ADMIN_ROLE.
    @param oracle_ The deal's RemittanceOracle.
    @param deal_ The deal (settlement asset, timelock).
    @param loan_sale_ The deal's LoanSale.
    @param first_year_ Year of period 1's due date.
    @param first_month_ Month (1..12) of period 1's due date.
    @param report_day_ Day of the month (1..28) by whose end a report is due.
    @param late_penalty_ Taken from the bond per late period.
    @param fraud_slash_ Taken from the bond per fraud proof.
    @param bounty_wad_ Prover's share of a slash (1e18 = 100%).
    @param max_strikes_ Strikes after which a backup servicer may be appointed.
    """
    assert first_month_ >= 1 and first_month_ <= 12 and first_year_ >= 1970 and first_year_ < 10000  # dev: bad date
    assert report_day_ >= 1 and report_day_ <= 28  # dev: bad date
    assert bounty_wad_ <= WAD  # dev: bad bounty
    assert max_strikes_ > 0  # dev: bad strikes
    access_control.__init__()
    oracle = IOracle(oracle_)
    deal = IDeal(deal_)
    settlement = IERC20(staticcall IDeal(deal_).settlement())
    loan_sale = ILoanSale(loan_sale_)
    timelock = staticcall IDeal(deal_).timelock()
    first_year = first_year_
    first_month = first_month_
    report_day = report_day_
    late_penalty = late_penalty_
    fraud_slash = fraud_slash_
    bounty_wad = bounty_wad_
    max_strikes = max_strikes_
    access_control._grant_role(access_control.DEFAULT_ADMIN_ROLE, timelock)
    access_control._revoke_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)


# ---------------------------------------------------------------- BOND

@external
def post(amount: uint256):
    """
    @notice Add to the bond (pulled with transferFrom from the caller).
    @param amount Base units of the settlement asset.
    """
    before: uint256 = staticcall settlement.balanceOf(self)
    assert extcall settlement.transferFrom(msg.sender, self, amount, default_return_value=True)  # dev: transfer failed
    assert staticcall settlement.balanceOf(self) - before == amount  # dev: received != amount
    funds: uint256 = self._funds
    bond: uint256 = (funds >> 128) + amount
    # bond + forfeited stays within 128 bits: every other step only moves or removes money
    assert bond + (funds & _U128) <= _U128  # dev: bond too large
    self._funds = (bond << 128) | (funds & _U128)
    log BondPosted(payer=msg.sender, amount=amount, bond=bond)


@external
def release_bond(to: address, amount: uint256):
    """
    @notice Pay part of the bond out. DEFAULT_ADMIN_ROLE (the timelock); never while a
            fraud proof is unresolved.
    @param to Recipient. @param amount Base units.
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    assert self._counts & _U128 == 0  # dev: bond under dispute
    funds: uint256 = self._funds
    assert amount <= funds >> 128  # dev: above bond
    self._funds = funds - (amount << 128)
    log BondReleased(to=to, amount=amount, bond=(funds >> 128) - amount)
    assert extcall settlement.transfer(to, amount, default_return_value=True)  # dev: transfer failed


# ---------------------------------------------------------------- LATE REPORTS

@external
def penalize_late(period: uint256) -> uint256:
    """
    @notice Take the late-report penalty for `period`, whose report was not accepted
            by its due date, and pay it to the deal for holders (`Deal.add_other_income`:
            the next distribution adds it to the available interest). Anyone; once per
            period; at most the bond. Refused while no report could be accepted
            (distributions paused by a fraud proof or by the deal's guardian, the
            offering not closed) and once the pool is paid off (no report is due).
    @param period The late period (above the oracle's last accepted period).
    @return uint256 The amount paid from the bond to the deal.
    """
    last: uint256 = staticcall oracle.last_period()
    assert period > last  # dev: report accepted
    assert block.timestamp >= self._late_from(period)  # dev: not late
    assert not self.penalized[period]  # dev: already penalized
    # while a fraud proof has paused distributions no report can be accepted
    assert self._counts & _U128 == 0  # dev: bond under dispute
    # nor while the guardian has paused the deal, nor before its offering closed: the
    # servicer could not have reported (and the deal would not take the income)
    assert not staticcall deal.paused()  # dev: deal paused
    assert staticcall deal.closed()  # dev: deal not closed
    # after the final distribution no report is due and no distribution would carry
    # the penalty to holders
    assert last == 0 or staticcall oracle.last_ending_balance() != 0  # dev: pool paid off
    self.penalized[period] = True
    funds: uint256 = self._funds
    amount: uint256 = min(late_penalty, funds >> 128)
    self._funds = funds - (amount << 128)
    strikes: uint256 = self._strike(0)
    log LatePenalized(period=period, caller=msg.sender, amount=amount, strikes=strikes)
    if amount != 0:
        # the deal pulls the penalty itself and checks what arrived
        assert extcall settlement.approve(deal.address, amount, default_return_value=True)  # dev: approve failed
        extcall deal.add_other_income(amount)
    return amount


# ---------------------------------------------------------------- FRAUD PROOFS

@external
def prove_discontinuity(
    a: deal_types.LoanRecord,
    proof_a: DynArray[bytes32, MAX_PROOF],
    b: deal_types.LoanRecord,
    proof_b: DynArray[bytes32, MAX_PROOF],
) -> uint256:
    """
    @notice Prove that two accepted records of one loan break continuity: `b` (the
            next period) does not begin where `a` ended, or `a` left the pool
            (liquidated or paid off) and `b` (any later period) shows it with a balance.
    @param a The earlier record. @param proof_a Its proof against its period's root.
    @param b The later record. @param proof_b Its proof against its period's root.
    @return uint256 The bounty paid to the caller.
    """
    assert a.loan_id == b.loan_id  # dev: different loans
    assert b.period > a.period  # dev: periods not in order
    # each proof reaches the root the oracle accepted for its record's period (a period
    # not accepted has none); one call reads both roots
    root_a: bytes32 = empty(bytes32)
    root_b: bytes32 = empty(bytes32)
    root_a, root_b = staticcall oracle.loan_tape_roots(a.period, b.period)
    assert root_a != empty(bytes32) and loan_proof._root(a, proof_a) == root_a  # dev: loan not proven
    assert root_b != empty(bytes32) and loan_proof._root(b, proof_b) == root_b  # dev: loan not proven
    if a.liquidated or a.ending_balance == 0:
        assert b.beginning_balance != 0 or b.ending_balance != 0  # dev: records consistent
    else:
        assert b.period == a.period + 1  # dev: periods not consecutive
        assert b.beginning_balance != a.ending_balance  # dev: records consistent
    return self._slash(b.loan_id, b.period, 1)


@external
def prove_sold_performing(b: deal_types.LoanRecord, proof_b: DynArray[bytes32, MAX_PROOF]) -> uint256:
    """
    @notice Prove that a sold loan is reported other than liquidated at its net sale
            proceeds, in any report after the tape its sale was started on (the first
            of them the oracle checks itself; a later one may show the loan again).
    @param b The record. @param proof_b Its proof against its period's root.
    @return uint256 The bounty paid to the caller.
    """
    assert staticcall loan_sale.status(b.loan_id) >= SOLD  # dev: loan not sold
    assert b.period >= staticcall loan_sale.sale_period(b.loan_id) + SALE_GRACE_PERIODS  # dev: sale not yet due
    root: bytes32 = staticcall oracle.loan_tape_root(b.period)
    assert root != empty(bytes32) and loan_proof._root(b, proof_b) == root  # dev: loan not proven
    assert not b.liquidated or b.recovery != staticcall loan_sale.record_proceeds(b.loan_id)  # dev: records consistent
    return self._slash(b.loan_id, b.period, 2)


# ---------------------------------------------------------------- ATTESTORS' BONDS

@external
def post_attestor(amount: uint256):
    """
    @notice Add to the caller's attestor bond (pulled with transferFrom).
    @param amount Base units of the settlement asset.
    """
    before: uint256 = staticcall settlement.balanceOf(self)
    assert extcall settlement.transferFrom(msg.sender, self, amount, default_return_value=True)  # dev: transfer failed
    assert staticcall settlement.balanceOf(self) - before == amount  # dev: received != amount
    bond_: uint256 = self.attestor_bond[msg.sender] + amount
    self.attestor_bond[msg.sender] = bond_
    self.attestor_total += amount
    log AttestorBondPosted(attestor=msg.sender, amount=amount, bond=bond_)


@external
def release_attestor(attestor: address, to: address, amount: uint256):
    """
    @notice Pay part of an attestor's bond out. DEFAULT_ADMIN_ROLE (the timelock);
            never while a fraud proof is unresolved (an attestor cannot leave ahead
            of its slash).
    @param attestor Whose bond. @param to Recipient. @param amount Base units.
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    assert self._counts & _U128 == 0  # dev: bond under dispute
    bond_: uint256 = self.attestor_bond[attestor]
    assert amount <= bond_  # dev: above bond
    self.attestor_bond[attestor] = bond_ - amount
    self.attestor_total -= amount
    log AttestorBondReleased(attestor=attestor, to=to, amount=amount, bond=bond_ - amount)
    assert extcall settlement.transfer(to, amount, default_return_value=True)  # dev: transfer failed


@external
def slash_attestors(
    loan_id: bytes32,
    report: deal_types.RemittanceReport,
    deadline: uint256,
    signatures: DynArray[deal_types.Signature, MAX_ATTESTORS],
) -> uint256:
    """
    @notice Slash the attestors who signed a disproved report: a fraud proof already
            proved `loan_id`'s record of `report.period` (`proven`), `report` carries
            that period's accepted root, and each signature recovers, over the
            oracle's EIP-712 digest of `report` and `deadline`, to an attestor with a
            bond. Each is slashed `min(fraud_slash, its bond)` once per period; the
            caller takes `bounty_wad` of it, the rest is forfeited. The signers are
            proved here rather than stored at remittance time (no gas on a remittance).
    @param loan_id The loan the fraud proof was about.
    @param report The disproved report, as signed. @param deadline Signed with it.
    @param signatures The signatures, ordered by strictly increasing signer address.
    @return uint256 The bounty paid to the caller.
    """
    assert self.proven[keccak256(abi_encode(loan_id, report.period))]  # dev: report not disproved
    assert report.loan_tape_root == staticcall oracle.loan_tape_root(report.period)  # dev: report not accepted
    digest: bytes32 = staticcall oracle.report_hash(report, deadline)
    previous: uint160 = 0
    slashed: uint256 = 0
    bounties: uint256 = 0
    for sig: deal_types.Signature in signatures:
        assert sig.v == 27 or sig.v == 28  # dev: bad signature v
        signer: address = ecdsa._try_recover_vrs(
            digest, convert(sig.v, uint256), convert(sig.r, uint256), convert(sig.s, uint256)
        )
        assert convert(signer, uint160) > previous  # dev: signers not sorted and unique
        previous = convert(signer, uint160)
        key: bytes32 = keccak256(abi_encode(signer, report.period))
        bond_: uint256 = self.attestor_bond[signer]
        if self.attestor_slashed[key] or bond_ == 0:
            continue
        self.attestor_slashed[key] = True
        amount: uint256 = min(fraud_slash, bond_)
        bounty: uint256 = amount * bounty_wad // WAD
        self.attestor_bond[signer] = bond_ - amount
        slashed += amount
        bounties += bounty
        log AttestorSlashed(attestor=signer, period=report.period, prover=msg.sender, slashed=amount, bounty=bounty)
    assert slashed != 0  # dev: no attestor to slash
    self.attestor_total -= slashed
    funds: uint256 = self._funds
    assert (funds >> 128) + (funds & _U128) + slashed - bounties <= _U128  # dev: bond too large
    self._funds = funds + slashed - bounties
    if bounties != 0:
        assert extcall settlement.transfer(msg.sender, bounties, default_return_value=True)  # dev: transfer failed
    return bounties


# ---------------------------------------------------------------- GOVERNANCE (TIMELOCK)

@external
def resolve():
    """
    @notice Close the open disputes (after governance acted on them) and lift the
            oracle's pause of distributions. DEFAULT_ADMIN_ROLE (the timelock).
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    counts: uint256 = self._counts
    assert counts & _U128 != 0  # dev: no dispute
    self._counts = counts & ~_U128
    self._resumed_at = block.timestamp
    log DisputesResolved(resolved=counts & _U128)
    extcall oracle.lift_dispute()  # distributions resume


@external
def appoint_backup(backup: address, previous: address):
    """
    @notice Appoint a backup servicer once the servicer has `max_strikes` strikes
            (missed or disproved reports): SERVICER_ROLE moves from `previous` to
            `backup` on the oracle (this contract holds APPOINTER_ROLE there, the
            role's only admin) and the strikes start again at 0 for the backup,
            whose duty the bond now secures. DEFAULT_ADMIN_ROLE (the timelock).
    @param backup The backup servicer. @param previous The servicer replaced.
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    counts: uint256 = self._counts
    assert counts >> 128 >= max_strikes  # dev: too few strikes
    assert backup != empty(address) and backup != previous  # dev: bad backup
    self._counts = counts & _U128
    log BackupAppointed(servicer=backup, previous=previous, strikes=counts >> 128)
    extcall oracle.revokeRole(SERVICER_ROLE, previous)
    extcall oracle.grantRole(SERVICER_ROLE, backup)


@external
def pay_forfeited(to: address, amount: uint256):
    """
    @notice Pay forfeited money (fraud-proof slashes less bounties) out, to the
            holders' benefit as governance decides.
            DEFAULT_ADMIN_ROLE (the timelock).
    @param to Recipient. @param amount Base units.
    """
    access_control._check_role(access_control.DEFAULT_ADMIN_ROLE, msg.sender)
    funds: uint256 = self._funds
    assert amount <= funds & _U128  # dev: above forfeited
    self._funds = funds - amount
    log ForfeitedPaid(to=to, amount=amount)
    assert extcall settlement.transfer(to, amount, default_return_value=True)  # dev: transfer failed


# ---------------------------------------------------------------- VIEWS

@external
@view
def due(period: uint256) -> uint256:
    """
    @notice First second (UTC) at which period `period`'s report is late.
    @param period The period (from 1).
    @return uint256 Unix timestamp.
    """
    return self._due(period)


@external
@view
def late_from(period: uint256) -> uint256:
    """
    @notice First second (UTC) at which `penalize_late(period)` may be called: the due
            date, or RESUME_GRACE after reporting last became possible (the deal's
            closing or the end of its last pause, the last resolution of disputes),
            whichever is later.
    @param period The period (from 1).
    @return uint256 Unix timestamp.
    """
    return self._late_from(period)


@external
@view
def bond() -> uint256:
    """
    @notice The bond (base units of the settlement asset).
    @return uint256 The bond.
    """
    return self._funds >> 128


@external
@view
def forfeited() -> uint256:
    """
    @notice Slashes less bounties (fraud proofs), held until governance pays them
            out (late penalties go to the deal instead).
    @return uint256 Base units of the settlement asset.
    """
    return self._funds & _U128


@external
@view
def strikes() -> uint256:
    """
    @notice Late penalties and fraud proofs to date.
    @return uint256 The count.
    """
    return self._counts >> 128


@external
@view
def open_disputes() -> uint256:
    """
    @notice Fraud proofs not yet resolved by governance.
    @return uint256 The count.
    """
    return self._counts & _U128


@external
@view
def backup_eligible() -> bool:
    """
    @notice Whether the servicer has `max_strikes` strikes (a backup servicer may be
            appointed).
    @return bool True if so.
    """
    return self._counts >> 128 >= max_strikes


# ---------------------------------------------------------------- INTERNALS

@internal
def _strike(dispute: uint256) -> uint256:
    counts: uint256 = self._counts + (1 << 128) + dispute
    self._counts = counts
    return counts >> 128


@internal
def _slash(loan_id: bytes32, period: uint256, kind: uint256) -> uint256:
    key: bytes32 = keccak256(abi_encode(loan_id, period))
    assert not self.proven[key]  # dev: already proven
    self.proven[key] = True
    funds: uint256 = self._funds
    amount: uint256 = min(fraud_slash, funds >> 128)
    bounty: uint256 = amount * bounty_wad // WAD
    self._funds = funds - (amount << 128) + (amount - bounty)
    strikes: uint256 = self._strike(1)
    log FraudProven(
        loan_id=loan_id, period=period, prover=msg.sender, kind=kind, slashed=amount, bounty=bounty, strikes=strikes
    )
    # distributions stop until governance resolves the disputes (the oracle's flag,
    # set by the first open one)
    if self._counts & _U128 == 1:
        extcall oracle.dispute()
    if bounty != 0:
        assert extcall settlement.transfer(msg.sender, bounty, default_return_value=True)  # dev: transfer failed
    return bounty


@internal
@view
def _late_from(period: uint256) -> uint256:
    resumed: uint256 = max(staticcall deal.resumed_at(), self._resumed_at)
    return max(self._due(period), resumed + RESUME_GRACE)


@internal
@view
def _due(period: uint256) -> uint256:
    # The day after `report_day` of the period's month, at 00:00 UTC; days from the
    # civil date by the proleptic Gregorian calendar (March-based years).
    assert period >= 1 and period < 12000  # dev: bad period
    months: uint256 = first_year * 12 + first_month - 1 + period - 1
    y: uint256 = months // 12
    m: uint256 = months % 12 + 1
    if m <= 2:
        y -= 1
        m += 9
    else:
        m -= 3
    era: uint256 = y // 400
    yoe: uint256 = y - era * 400
    doy: uint256 = (153 * m + 2) // 5 + report_day - 1
    doe: uint256 = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468 + 1) * DAY
