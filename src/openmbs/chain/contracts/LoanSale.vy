# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs LoanSale: descending-price sales of seriously delinquent loans
@custom:contract-name LoanSale
@license Apache-2.0
@notice A keeper proves, against the last accepted loan tape, that a loan is 90+ days
        delinquent or in foreclosure and starts a descending-price auction of it; the
        first compliant bidder at or above the current price buys it in the
        settlement asset. The keeper gets `reward_wad` of the price; the rest (the net
        proceeds) goes straight to the deal, which holds it off its books, and the
        oracle refuses the servicer's next report unless it proves the loan's record
        in its tape liquidated with exactly those proceeds as its recovery
        (`RemittanceOracle.submit_with_sales`): they are that report's cash, less
        what the servicer deposits. This contract never holds money. Design and
        money flow: docs/chain.md, "Loan sales".
"""

# ---------------------------------------------------------------- IMPORTS

from ethereum.ercs import IERC20
from . import deal_types
from . import loan_proof

# ---------------------------------------------------------------- INTERFACES

interface IOracle:
    def last_period() -> uint256: view
    def last_loan_tape() -> (uint256, bytes32): view
    def note_sale(): nonpayable

interface IDeal:
    def settlement() -> address: view
    def allowed_until(holder: address) -> uint256: view
    def frozen(holder: address) -> bool: view

# ---------------------------------------------------------------- CONSTANTS

WAD: constant(uint256) = deal_types.WAD
MAX_PROOF: constant(uint256) = loan_proof.MAX_DEPTH

# @dev Sale status (bits 0..7 of the sale word; 0: no sale).
OPEN: public(constant(uint256)) = 1
SOLD: public(constant(uint256)) = 2
RELEASED: public(constant(uint256)) = 3

# `_sale` word: account (bits 96..255: the keeper while open, the buyer once sold) |
# start time (48..95) | period (8..47) | status (0..7).
_ACCOUNT_SHIFT: constant(uint256) = 96
_START_SHIFT: constant(uint256) = 48
_PERIOD_SHIFT: constant(uint256) = 8
_U48: constant(uint256) = 2**48 - 1
_U40: constant(uint256) = 2**40 - 1
# `_prices` word: start price (bits 128..255) | floor price (0..127) while open; the
# net proceeds (0..127) once sold.
_U128: constant(uint256) = 2**128 - 1

# ---------------------------------------------------------------- EVENTS

# @notice A sale started. @param loan_id The loan. @param period The tape proven.
# @param keeper Who started it. @param start_price @param floor_price Prices (base units).
# @param ends_at Last second at which a bid is accepted.
event SaleStarted:
    loan_id: indexed(bytes32)
    period: uint256
    keeper: indexed(address)
    start_price: uint256
    floor_price: uint256
    ends_at: uint256

# @notice A loan was sold. @param price Paid by the buyer. @param keeper_reward Paid to
# the keeper. @param net_proceeds Held until the servicer's report shows them.
event LoanSold:
    loan_id: indexed(bytes32)
    buyer: indexed(address)
    period: uint256
    price: uint256
    keeper_reward: uint256
    net_proceeds: uint256

# @notice A report confirmed the sale: the deal booked the net proceeds it held.
# @param to The deal. @param period The confirming report's period.
event ProceedsReleased:
    loan_id: indexed(bytes32)
    to: indexed(address)
    period: uint256
    amount: uint256

# ---------------------------------------------------------------- STORAGE

oracle: public(immutable(IOracle))
deal: public(immutable(IDeal))
settlement: public(immutable(IERC20))
# @dev Start and floor price as fractions of the loan's ending balance (1e18 = 100%),
# the auction's length in seconds and the keeper's share of the price.
start_wad: public(immutable(uint256))
floor_wad: public(immutable(uint256))
duration: public(immutable(uint256))
reward_wad: public(immutable(uint256))
# @dev Base units of the settlement asset per loan-record unit: the tapes count money
# in record units (10**-min(decimals, 9) of the asset; 1 up to 9 decimals). Prices
# are computed in record units and paid as whole record units, so the net proceeds
# are exactly `record_proceeds` record units, the recovery the tape must show.
unit_scale: public(immutable(uint256))

_sale: HashMap[bytes32, uint256]
_prices: HashMap[bytes32, uint256]
# @dev Net proceeds of sold loans the deal holds but has not booked yet (awaiting the
# confirming report; internal accounting).
held: public(uint256)


# ---------------------------------------------------------------- CONSTRUCTOR

@deploy
def __init__(
    oracle_: address,
    deal_: address,
    start_wad_: uint256,
    floor_wad_: uint256,
    duration_: uint256,
    reward_wad_: uint256,
    unit_scale_: uint256,
):
    """
    @notice Create the loan-sale contract of a deal.
    @param oracle_ The deal's RemittanceOracle (accepted roots, SERVICER_ROLE).
    @param deal_ The deal (settlement asset, compliance of bidders).
    @param start_wad_ Start price / loan balance (1e18 = 100%).
    @param floor_wad_ Floor price / loan balance, at most the start.
    @param duration_ Seconds from start to floor (the sale ends then).
    @param reward_wad_ Keeper's share of the price, below 100%.
    @param unit_scale_ Base units per loan-record unit (10**(decimals - min(decimals, 9))).
    """
    assert floor_wad_ <= start_wad_ and start_wad_ <= 10 * WAD  # dev: bad prices
    assert floor_wad_ > 0  # dev: bad prices
    assert duration_ > 0 and duration_ <= _U40  # dev: bad duration
    assert reward_wad_ < WAD  # dev: bad reward
    assert unit_scale_ > 0 and unit_scale_ <= WAD  # dev: bad unit scale
    oracle = IOracle(oracle_)
    deal = IDeal(deal_)
    settlement = IERC20(staticcall IDeal(deal_).settlement())
    start_wad = start_wad_
    floor_wad = floor_wad_
    duration = duration_
    reward_wad = reward_wad_
    unit_scale = unit_scale_


# ---------------------------------------------------------------- SALES

@external
def start_sale(record: deal_types.LoanRecord, proof: DynArray[bytes32, MAX_PROOF]):
    """
    @notice Start the sale of a loan 90+ days delinquent or in foreclosure in the last
            accepted tape. Anyone (a keeper); restarts an expired sale or one whose
            period a newer report superseded.
    @param record The loan's record in the last accepted period.
    @param proof Its Merkle proof against that period's root.
    """
    period: uint256 = 0
    root: bytes32 = empty(bytes32)
    period, root = staticcall oracle.last_loan_tape()
    assert record.period == period and period != 0  # dev: proof of another period
    # the proof reaches the root the oracle accepted for the period (checked here: the
    # siblings are not copied into another call)
    assert root != empty(bytes32) and loan_proof._root(record, proof) == root  # dev: loan not proven
    # In foreclosure (`defaulted`) counts only from 60 days late: the oracle takes a
    # liquidation only out of the last report's 60+ day balance, so no report could
    # confirm the sale of a loan reported 30 days late, and every report waits for it.
    assert record.delinquency >= 3 or (record.defaulted and record.delinquency >= 2)  # dev: loan not seriously delinquent
    assert not record.liquidated and record.ending_balance != 0  # dev: loan liquidated
    word: uint256 = self._sale[record.loan_id]
    status: uint256 = word & 255
    assert status != SOLD and status != RELEASED  # dev: loan already sold
    if status == OPEN:
        expired: bool = block.timestamp > ((word >> _START_SHIFT) & _U48) + duration
        assert expired or (word >> _PERIOD_SHIFT) & _U40 != period  # dev: sale already open
    assert record.ending_balance <= _U128 and period <= _U40  # dev: figure too large
    start_price: uint256 = record.ending_balance * start_wad // WAD
    floor_price: uint256 = record.ending_balance * floor_wad // WAD
    assert floor_price != 0 and start_price <= _U128  # dev: bad prices
    self._sale[record.loan_id] = (
        (convert(msg.sender, uint256) << _ACCOUNT_SHIFT) | (block.timestamp << _START_SHIFT) | (period << _PERIOD_SHIFT) | OPEN
    )
    self._prices[record.loan_id] = (start_price << 128) | floor_price
    log SaleStarted(
        loan_id=record.loan_id, period=period, keeper=msg.sender, start_price=start_price * unit_scale,
        floor_price=floor_price * unit_scale, ends_at=block.timestamp + duration,
    )


@external
def bid(loan_id: bytes32, max_price: uint256) -> uint256:
    """
    @notice Buy the loan at the current price. The caller must be allowlisted on the
            deal (unexpired, not frozen) and have approved this contract for the price
            (pulled twice: the net proceeds to the deal, the reward to the keeper).
    @param loan_id The loan.
    @param max_price The most the bidder pays; below the current price it is refused.
    @return uint256 The price paid (the current price, at most `max_price`).
    """
    word: uint256 = self._sale[loan_id]
    assert word & 255 == OPEN  # dev: no open sale
    assert (staticcall deal.allowed_until(msg.sender)) >= block.timestamp  # dev: bidder not compliant
    assert not staticcall deal.frozen(msg.sender)  # dev: bidder not compliant
    period: uint256 = (word >> _PERIOD_SHIFT) & _U40
    assert staticcall oracle.last_period() == period  # dev: sale period superseded
    elapsed: uint256 = block.timestamp - ((word >> _START_SHIFT) & _U48)
    assert elapsed <= duration  # dev: sale expired
    prices: uint256 = self._prices[loan_id]
    # in record units, paid in base units (whole record units)
    price_r: uint256 = self._price(prices >> 128, prices & _U128, elapsed)
    reward_r: uint256 = price_r * reward_wad // WAD
    price: uint256 = price_r * unit_scale
    assert max_price >= price  # dev: bid below current price
    reward: uint256 = reward_r * unit_scale
    net: uint256 = price - reward
    assert net <= _U128  # dev: figure too large
    keeper: address = convert(convert(word >> _ACCOUNT_SHIFT, uint160), address)

    self._sale[loan_id] = (convert(msg.sender, uint256) << _ACCOUNT_SHIFT) | (word & (2**_ACCOUNT_SHIFT - 256)) | SOLD
    self._prices[loan_id] = net
    self.held += net
    # the oracle refuses the next report unless it confirms this sale
    extcall oracle.note_sale()
    log LoanSold(loan_id=loan_id, buyer=msg.sender, period=period, price=price, keeper_reward=reward, net_proceeds=net)
    # the net proceeds straight to the deal (held off its books until the confirming
    # report), the reward to the keeper: nothing rests here
    before: uint256 = staticcall settlement.balanceOf(deal.address)
    assert extcall settlement.transferFrom(msg.sender, deal.address, net, default_return_value=True)  # dev: payment failed
    assert staticcall settlement.balanceOf(deal.address) - before == net  # dev: payment received != price
    if reward != 0:
        assert extcall settlement.transferFrom(msg.sender, keeper, reward, default_return_value=True)  # dev: reward transfer failed
    return price


@external
def confirm(loan_id: bytes32, period: uint256) -> uint256:
    """
    @notice Mark a sold loan's sale confirmed: the oracle calls it while accepting the
            report of `period`, after proving the loan's record in that report's tape
            shows the sale; the deal books the net proceeds it holds as part of that
            report's cash. Only the oracle.
    @param loan_id The loan. @param period The confirming report's period.
    @return uint256 The net proceeds (already in the deal).
    """
    assert msg.sender == oracle.address  # dev: caller not oracle
    word: uint256 = self._sale[loan_id]
    assert word & 255 == SOLD  # dev: loan not sold
    net: uint256 = self._prices[loan_id]
    self._sale[loan_id] = (word & ~convert(255, uint256)) | RELEASED
    self.held -= net
    log ProceedsReleased(loan_id=loan_id, to=deal.address, period=period, amount=net)
    return net


# ---------------------------------------------------------------- VIEWS

@external
@view
def status(loan_id: bytes32) -> uint256:
    """
    @notice The loan's sale status: 0 none, 1 open, 2 sold, 3 proceeds released.
    @param loan_id The loan.
    @return uint256 The status.
    """
    return self._sale[loan_id] & 255


@external
@view
def sale_period(loan_id: bytes32) -> uint256:
    """
    @notice The period of the tape the loan's sale was started on (0 if none).
    @param loan_id The loan.
    @return uint256 The period.
    """
    return (self._sale[loan_id] >> _PERIOD_SHIFT) & _U40


@external
@view
def account_of(loan_id: bytes32) -> address:
    """
    @notice The keeper of an open sale, the buyer of a sold loan.
    @param loan_id The loan.
    @return address The account.
    """
    return convert(convert(self._sale[loan_id] >> _ACCOUNT_SHIFT, uint160), address)


@external
@view
def net_proceeds(loan_id: bytes32) -> uint256:
    """
    @notice Net proceeds of a sold loan (0 unless sold or released).
    @param loan_id The loan.
    @return uint256 Base units of the settlement asset.
    """
    if self._sale[loan_id] & 255 < SOLD:
        return 0
    return self._prices[loan_id]


@external
@view
def record_proceeds(loan_id: bytes32) -> uint256:
    """
    @notice Net proceeds of a sold loan in loan-record units: the recovery the
            confirming tape must show (0 unless sold or released).
    @param loan_id The loan.
    @return uint256 Record units (base units / `unit_scale`, exact).
    """
    if self._sale[loan_id] & 255 < SOLD:
        return 0
    return self._prices[loan_id] // unit_scale


@external
@view
def current_price(loan_id: bytes32) -> uint256:
    """
    @notice The price a bid must reach now (reverts unless the sale is open and live).
    @param loan_id The loan.
    @return uint256 Base units of the settlement asset.
    """
    word: uint256 = self._sale[loan_id]
    assert word & 255 == OPEN  # dev: no open sale
    elapsed: uint256 = block.timestamp - ((word >> _START_SHIFT) & _U48)
    assert elapsed <= duration  # dev: sale expired
    prices: uint256 = self._prices[loan_id]
    return self._price(prices >> 128, prices & _U128, elapsed) * unit_scale


@internal
@view
def _price(start_price: uint256, floor_price: uint256, elapsed: uint256) -> uint256:
    # Linear from start to floor; the decline is floored, so the price rounds up
    # (in the deal's favour).
    return start_price - (start_price - floor_price) * elapsed // duration
