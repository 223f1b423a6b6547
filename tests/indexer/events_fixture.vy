# pragma version ~=0.4.3
"""
@title Event emitter for the indexer tests
@notice Emits events shaped like the deal contracts' (token transfers, tranche
        allocations, claims, remittance reports) plus odd types, on demand.
"""

struct Report:
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

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event TrancheAllocated:
    period: indexed(uint256)
    tranche: indexed(uint256)
    interest: uint256
    principal: uint256
    loss: uint256
    balance: uint256
    interest_shortfall: uint256

event Claimed:
    holder: indexed(address)
    tranche: indexed(uint256)
    amount: uint256

event RemittanceAccepted:
    period: indexed(uint256)
    digest: bytes32
    report: Report
    signers: DynArray[address, 4]

event Misc:
    label: indexed(String[32])
    note: String[32]
    big: uint256
    neg: int128
    small: uint8
    flag: bool
    blob: Bytes[40]

balanceOf: public(HashMap[address, uint256])


@deploy
def __init__(supply: uint256):
    self.balanceOf[msg.sender] = supply
    log Transfer(sender=empty(address), receiver=msg.sender, value=supply)


@external
def transfer(receiver: address, amount: uint256):
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=msg.sender, receiver=receiver, value=amount)


@external
def allocate(period: uint256, tranche: uint256, interest: uint256, principal: uint256, loss: uint256, balance: uint256):
    log TrancheAllocated(period=period, tranche=tranche, interest=interest, principal=principal, loss=loss, balance=balance, interest_shortfall=0)


@external
def claim(tranche: uint256, amount: uint256):
    log Claimed(holder=msg.sender, tranche=tranche, amount=amount)


@external
def remit(report: Report, digest: bytes32, signers: DynArray[address, 4]):
    log RemittanceAccepted(period=report.period, digest=digest, report=report, signers=signers)


@external
def misc(label: String[32], note: String[32], big: uint256, neg: int128, small: uint8, flag: bool, blob: Bytes[40]):
    log Misc(label=label, note=note, big=big, neg=neg, small=small, flag=flag, blob=blob)
