"""The loan-sale keeper (``openmbs.agents.LoanSaleKeeper``) against the fixture's deal:
it starts exactly the sales the contract accepts, skips what is sold or still open, and
refuses a tape that is not the accepted one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boa
import pytest
from sales_helpers import DELINQUENT, DURATION, Tape, deploy_sale, loan_id, make_bidder

from openmbs.agents import LoanSaleKeeper
from openmbs.errors import InputError


@pytest.fixture
def tape(world: Any, chain: Any) -> Tape:
    return Tape(world, chain)


def _accepted(world: Any, p: int) -> bytes:
    return bytes(world.d.oracle.loan_tape_root(p))


def test_keeper_starts_the_sales_the_contract_accepts(world, tape):
    sale = deploy_sale(world)
    tape.remit(1, {1: DELINQUENT, 2: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 1}})
    tape.remit(2, {1: DELINQUENT, 2: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 2,
                                      "defaulted": True},
                   3: {"scheduled_principal": 0, "interest_paid": 0, "delinquency": 1}})
    keeper = LoanSaleKeeper(source="tape_p2.csv")
    orders = keeper.orders(2, _accepted(world, 2), tape.records[2])
    # loan 1 is 90+, loan 2 in foreclosure; loan 3 is 30 days late and the rest current
    assert [o.record.loan_id for o in orders] == [loan_id(1), loan_id(2)]
    k = boa.env.generate_address("keeper")
    assert keeper.start_sales(sale, orders, sender=k) == [loan_id(1), loan_id(2)]
    assert all(sale.status(loan_id(n)) == sale.OPEN() and sale.account_of(loan_id(n)) == k for n in (1, 2))
    # a second pass starts nothing (open), and nothing once sold
    assert keeper.start_sales(sale, orders, sender=k) == []
    b = make_bidder(world, "bidder", 10**12, sale)
    sale.bid(loan_id(1), 10**12, sender=b)
    boa.env.time_travel(seconds=DURATION + 1)  # loan 2's sale expired unsold: restarted
    assert keeper.start_sales(sale, orders, sender=k) == [loan_id(2)]
    assert keeper.orders(2, _accepted(world, 2), tape.records[2], sold=[loan_id(1)])[0].record.loan_id == loan_id(2)


def test_keeper_refuses_a_tape_that_is_not_the_accepted_one(world, tape):
    tape.remit(1, {1: DELINQUENT})
    keeper = LoanSaleKeeper(source="tape_p1.csv")
    recs = list(tape.records[1])
    recs[4] = replace(recs[4], delinquency=3)
    with pytest.raises(InputError, match=r"tape_p1.csv: period 1: field 'loan_tape_root' value 0x[0-9a-f]{64}"):
        keeper.orders(1, _accepted(world, 1), recs)
    with pytest.raises(InputError, match=r"tape_p1.csv: row 1: .* field 'period' value 1: the accepted tape is period 2"):
        keeper.orders(2, _accepted(world, 1), tape.records[1])
