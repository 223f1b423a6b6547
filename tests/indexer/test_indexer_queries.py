"""Query functions over an indexed titanoboa scenario; expected values from the scenario."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from indexer_helpers import Scenario

from openmbs.errors import InputError
from openmbs.indexer import (
    DEFAULT_EVENT_MAP,
    ContractRegistry,
    EventBinding,
    EventStore,
    Indexer,
    MemoryLogSource,
    holder_claims,
    holder_positions,
    pool_performance,
    tranche_payments,
)


@pytest.fixture
def store(scenario: Scenario) -> EventStore:
    source = MemoryLogSource("boa", scenario.logs)
    source.seal(scenario.last_block)
    reg = ContractRegistry()
    reg.add(scenario.address, "Fixture", scenario.abi)
    st = EventStore()
    Indexer(st, source, reg).run()
    return st


def test_tranche_payment_history(store: EventStore, scenario: Scenario) -> None:
    t = tranche_payments(store)
    rows = [
        (r["period"], r["tranche"], int(r["interest"]), int(r["principal"]), int(r["loss"]), int(r["balance"]))
        for r in t.to_pylist()
    ]
    expected = sorted(scenario.allocations, key=lambda a: (a[1], a[0]))
    assert rows == expected
    t0 = tranche_payments(store, tranche=0).to_pylist()
    assert [int(r["cumulative_interest"]) for r in t0] == [40, 120, 240]
    assert [int(r["cumulative_principal"]) for r in t0] == [700, 1400, 2100]
    t1 = tranche_payments(store, tranche=1).to_pylist()
    assert [int(r["cumulative_loss"]) for r in t1] == [5, 15, 30]


def test_holder_positions_and_claims(store: EventStore, scenario: Scenario) -> None:
    pos = {r["holder"]: int(r["balance"]) for r in holder_positions(store).to_pylist()}
    assert pos == scenario.balances
    claims = holder_claims(store).to_pylist()
    expected: dict[tuple[str, int], tuple[int, int]] = {}
    for who, tranche, amount in scenario.claims:
        n, tot = expected.get((who, tranche), (0, 0))
        expected[who, tranche] = (n + 1, tot + amount)
    got = {(r["holder"], r["tranche"]): (r["claims"], int(r["claimed"])) for r in claims}
    assert got == expected
    only_bob = holder_claims(store, holder=scenario.bob.lower()).to_pylist()
    assert {r["holder"] for r in only_bob} == {scenario.bob}


def test_pool_performance_rates_and_projection(store: EventStore, scenario: Scenario) -> None:
    proj = pa.table({"period": [1, 2, 3], "loss": [0.5, 1.5, 2.5]})
    perf = pool_performance(store, projection=proj, decimals=6).to_pylist()
    assert [r["period"] for r in perf] == [1, 2, 3]
    cum = 0
    for row, rep in zip(perf, scenario.reports, strict=True):
        smm = rep["unscheduled_principal"] / (rep["beginning_balance"] - rep["scheduled_principal"])
        assert row["smm"] == pytest.approx(smm, rel=1e-12)
        assert row["cpr"] == pytest.approx(1 - (1 - smm) ** 12, rel=1e-12)
        mdr = (rep["recoveries"] + rep["losses"]) / rep["beginning_balance"]
        assert row["mdr"] == pytest.approx(mdr, rel=1e-12)
        assert row["cdr"] == pytest.approx(1 - (1 - mdr) ** 12, rel=1e-12)
        assert row["dq90_plus"] == pytest.approx(
            rep["delinquent_90_plus"] / rep["ending_balance"], rel=1e-12
        )
        cum += rep["losses"]
        assert int(row["cumulative_loss"]) == cum
        assert row["new_defaults"] is None
    assert [r["projected_loss"] for r in perf] == [500_000, 1_500_000, 2_500_000]
    assert [r["projected_cumulative_loss"] for r in perf] == [500_000, 2_000_000, 4_500_000]
    # a PoolCashflows-like object with period and loss arrays also works
    class Proj:
        period = np.array([1, 2, 3])
        loss = np.array([1.0, 0.0, 0.0])

    again = pool_performance(store, projection=Proj()).to_pylist()
    assert [r["projected_cumulative_loss"] for r in again] == [1_000_000] * 3


def test_event_map_drives_the_queries(store: EventStore, scenario: Scenario) -> None:
    # Read "claims" from the Transfer event instead: receiver as holder, value as amount.
    custom = dict(DEFAULT_EVENT_MAP)
    custom["claim"] = EventBinding("Transfer", {"holder": "receiver", "tranche": None, "amount": "value"})
    got = {r["holder"]: int(r["claimed"]) for r in holder_claims(store, event_map=custom).to_pylist()}
    assert got[scenario.carol] == 250
    bad = dict(DEFAULT_EVENT_MAP)
    bad["claim"] = EventBinding("Claimed", {"holder": "nobody", "tranche": None, "amount": "amount"})
    with pytest.raises(InputError, match="'nobody'"):
        holder_claims(store, event_map=bad)
    with pytest.raises(InputError, match="no meaning"):
        tranche_payments(store, event_map={})


def test_queries_on_an_empty_store() -> None:
    st = EventStore()
    assert tranche_payments(st).num_rows == 0
    assert holder_positions(st).num_rows == 0
    assert holder_claims(st).num_rows == 0
    perf = pool_performance(st)
    assert perf.num_rows == 0 and "cpr" in perf.column_names
