# pragma version ~=0.4.3
"""
@title openmbs shared types
@custom:contract-name deal_types
@license Apache-2.0
@notice Structs and constants shared by the deal contracts (Deal, RemittanceOracle,
        ExactWaterfall). A module of declarations only: it holds no state.
"""

# ---------------------------------------------------------------- CONSTANTS

# @dev Largest number of tranches a deal may have (bounds every loop). The one source
# of the class bound: every contract with a bound derives it from here, and openmbs
# builds the contracts once per bound (8 and 16, this line rewritten; docs/chain.md,
# "Maximum classes on chain"), so it must stay the only line of its kind.
MAX_TRANCHES: constant(uint256) = 16

# @dev Number of free-form words of waterfall state reported with each allocation
# (trigger flags, cumulative figures); their meaning belongs to the waterfall contract.
STATE_WORDS: constant(uint256) = 4

# @dev Scale of the per-unit indices and of rates (1e18 = 1.0).
WAD: constant(uint256) = 10**18


# ---------------------------------------------------------------- STRUCTS

# @dev The servicer's monthly remittance report: pool aggregates in base units of
# the settlement asset, plus the Merkle root of the loan-level tape. Field order is
# the EIP-712 type order (see `RemittanceOracle.REPORT_TYPEHASH`).
# `subsequent_recoveries` is cash recovered on loans already written off (it does not
# reduce the pool balance; it writes tranches back up and is paid as principal).
# The servicing-cash fields come last (docs/chain.md, "Advances and penalties"):
# `advances` (P&I advanced, inside interest and scheduled principal),
# `advance_reimbursements` (advances repaid to the servicer), of which
# `liquidation_reimbursements` out of the liquidation proceeds (`recoveries` are
# gross), `prepayment_penalties` (paid to the deal's named class or the residual) and
# `late_fees` (the servicer's, reported only).
# `cash` = interest + scheduled + unscheduled principal + recoveries - liquidation
# reimbursements + subsequent recoveries + prepayment penalties.
struct RemittanceReport:
    period: uint256
    scheduled_principal: uint256
    unscheduled_principal: uint256
    interest: uint256
    recoveries: uint256
    losses: uint256
    beginning_balance: uint256
    ending_balance: uint256
    loan_count: uint256
    delinquent_30: uint256
    delinquent_60: uint256
    delinquent_90_plus: uint256
    index_rate: uint256
    cash: uint256
    loan_tape_root: bytes32
    subsequent_recoveries: uint256
    advances: uint256
    advance_reimbursements: uint256
    liquidation_reimbursements: uint256
    prepayment_penalties: uint256
    late_fees: uint256


# @dev One attestor's secp256k1 signature over the report's EIP-712 digest.
struct Signature:
    v: uint8
    r: bytes32
    s: bytes32


# @dev What the deal hands the waterfall each period: the verified report and the
# deal's reserve account before the period (the waterfall keeps every other figure
# of the deal's state in its own storage, and checks the reserve against it).
struct WaterfallInput:
    report: RemittanceReport
    reserve_balance: uint256


# @dev What the waterfall returns. Cash: every unit available (remitted cash plus the
# reserve account before the period) must land in exactly one of interest, principal,
# fee, residual or the new reserve account; the deal checks this identity. Face:
# `loss` is written down and `writeup` written back up (subsequent recoveries, Z
# accretion); `balance` is each tranche's current face after the period (an IO
# strip's notional). Indices: the new cumulative per-unit indices (per unit of
# ORIGINAL face, scaled 1e18, floored with the remainders carried by the waterfall);
# the deal checks that each grows by no more than its cash allows and stores them.
struct Allocation:
    interest: uint256[MAX_TRANCHES]
    principal: uint256[MAX_TRANCHES]
    loss: uint256[MAX_TRANCHES]
    writeup: uint256[MAX_TRANCHES]
    balance: uint256[MAX_TRANCHES]
    interest_shortfall: uint256[MAX_TRANCHES]
    interest_index: uint256[MAX_TRANCHES]
    principal_index: uint256[MAX_TRANCHES]
    loss_index: uint256[MAX_TRANCHES]
    writeup_index: uint256[MAX_TRANCHES]
    fee: uint256
    residual: uint256
    reserve_balance: uint256
    state: uint256[STATE_WORDS]


# @dev One loan's performance in one period, as committed to by the Merkle root of
# the loan-level tape. Leaf = keccak256(keccak256(abi.encode(LoanRecord))): hashing
# the record's 32-byte hash again keeps leaves apart from internal nodes (hashes of
# 64-byte pairs), so no internal node proves as a loan. Amounts in base
# units of the settlement asset; `delinquency` is months past due (0 current,
# 1 = 30 days, 2 = 60 days, 3 = 90+ days).
struct LoanRecord:
    loan_id: bytes32
    period: uint256
    beginning_balance: uint256
    scheduled_principal: uint256
    prepaid_principal: uint256
    interest_paid: uint256
    ending_balance: uint256
    delinquency: uint256
    defaulted: bool
    liquidated: bool
    loss: uint256
    recovery: uint256
