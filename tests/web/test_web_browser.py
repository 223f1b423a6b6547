"""The dashboard in a real browser: pages load, figures equal the event store's, a
loan proof verifies and a tampered one fails, bad input gives a clear 4xx page."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from web_helpers import deal_row, distributed, store, units

from openmbs.indexer import holder_claims, holder_positions, pool_performance, tranche_payments
from openmbs.sim import loans_path


def _click(browser: Any, element: Any) -> None:
    """Click a link or button and wait until the next page has replaced this one."""
    old = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 30).until(ec.staleness_of(old))


def _submit(browser: Any, button_id: str) -> None:
    """Submit a form by its button."""
    _click(browser, browser.find_element(By.ID, button_id))


def _cells(browser: Any, row: Any) -> dict[str, str]:
    """Cell text of a table row keyed by each cell's last class name."""
    out = {}
    for td in row.find_elements(By.TAG_NAME, "td"):
        cls = (td.get_attribute("class") or "").split()
        if cls:
            out[cls[-1]] = td.text
    return out


def test_deals_page(browser: Any, served: Any, run_dir: Path) -> None:
    con = store(run_dir / "events.duckdb")
    deal, _oracle, tokens = deal_row(con)
    periods = len(distributed(con))
    browser.get(served.url + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Deals"
    rows = browser.find_elements(By.CSS_SELECTOR, "#deals tr")[1:]
    assert len(rows) == 1
    link = rows[0].find_element(By.TAG_NAME, "a")
    assert link.text == deal
    assert rows[0].find_element(By.CLASS_NAME, "periods").text == str(periods)
    _click(browser, link)
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Deal {deal}"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#classes tr[data-tranche]")) == len(tokens)


def test_class_figures_equal_the_store(browser: Any, served: Any, run_dir: Path) -> None:
    con = store(run_dir / "events.duckdb")
    deal, _oracle, tokens = deal_row(con)
    pay = tranche_payments(con).to_pylist()
    pos = holder_positions(con).to_pylist()
    browser.get(f"{served.url}/deal/{deal}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#classes tr[data-tranche]")
    assert len(rows) == len(tokens) == 4
    for row in rows:
        i = int(row.get_attribute("data-tranche"))
        c = _cells(browser, row)
        last = [r for r in pay if r["tranche"] == i][-1]
        assert units(c["interest"]) == int(last["cumulative_interest"])
        assert units(c["principal"]) == int(last["cumulative_principal"])
        assert units(c["loss"]) == int(last["cumulative_loss"])
        assert units(c["balance"]) == int(last["balance"])
        face = sum(int(p["balance"]) for p in pos if p["contract_address"] == tokens[i])
        assert units(c["original_face"]) == face
        assert float(c["factor"]) == pytest.approx(int(last["balance"]) / face, abs=1e-10)


def test_distributions_equal_the_store(browser: Any, served: Any, run_dir: Path) -> None:
    con = store(run_dir / "events.duckdb")
    deal, _oracle, _tokens = deal_row(con)
    dist = distributed(con)
    pay = {(r["period"], r["tranche"]): r for r in tranche_payments(con).to_pylist()}
    browser.get(f"{served.url}/deal/{deal}/distributions")
    rows = browser.find_elements(By.CSS_SELECTOR, "#distributions tr[data-period]")
    assert [int(r.get_attribute("data-period")) for r in rows] == sorted(dist)
    for row in rows:
        p = int(row.get_attribute("data-period"))
        c = _cells(browser, row)
        for k, v in dist[p].items():
            assert units(c[k]) == v, (p, k)
        for t in range(4):
            for k in ("interest", "principal", "loss", "balance"):
                assert units(c[f"c{t}-{k}"]) == int(pay[(p, t)][k]), (p, t, k)


def test_statement_pages_equal_the_store(browser: Any, served: Any, run_dir: Path) -> None:
    """Each period links to its distribution statement (``openmbs.report``); the
    statement's class figures equal the events'."""
    con = store(run_dir / "events.duckdb")
    deal, _oracle, _tokens = deal_row(con)
    pay = {(r["period"], r["tranche"]): r for r in tranche_payments(con).to_pylist()}
    period = 6
    browser.get(f"{served.url}/deal/{deal}/distributions")
    link = browser.find_element(By.CSS_SELECTOR, f'tr[data-period="{period}"] td.period a')
    _click(browser, link)
    assert browser.title.endswith(f"distribution statement, period {period}")
    code, body, headers = served.get(f"/deal/{deal}/statements/{period}?format=json")
    assert code == 200 and headers.get_content_type() == "application/json"
    st = json.loads(body)
    assert st["period"] == period
    for t, c in enumerate(st["classes"]):
        assert c["ending_balance"] == int(pay[(period, t)]["balance"])
        assert c["interest_paid"] == int(pay[(period, t)]["interest"])
        assert c["principal_paid"] == int(pay[(period, t)]["principal"])
    code, body, _ = served.get(f"/deal/{deal}/statements/999")
    assert code == 404 and "has no distribution statement for that period" in body


def test_performance_charts_and_figures(browser: Any, served: Any, run_dir: Path) -> None:
    con = store(run_dir / "events.duckdb")
    deal, _oracle, _tokens = deal_row(con)
    perf = {r["period"]: r for r in pool_performance(con).to_pylist()}
    browser.get(f"{served.url}/deal/{deal}/performance")
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == 4
    for svg in charts:
        x_title = svg.find_element(By.CSS_SELECTOR, ".x-title").text
        y_title = svg.find_element(By.CSS_SELECTOR, ".y-title").text
        assert x_title == "Period (months)"
        assert y_title
        assert svg.find_elements(By.TAG_NAME, "path")
    rows = browser.find_elements(By.CSS_SELECTOR, "#performance tr[data-period]")
    assert len(rows) == len(perf)
    for row in rows:
        p = int(row.get_attribute("data-period"))
        c = _cells(browser, row)
        assert units(c["ending_balance"]) == int(perf[p]["ending_balance"])
        assert units(c["beginning_balance"]) == int(perf[p]["beginning_balance"])
        assert int(c["loan_count"]) == perf[p]["loan_count"]


def test_wallet_positions_equal_the_store(browser: Any, served: Any, run_dir: Path) -> None:
    con = store(run_dir / "events.duckdb")
    _deal, _oracle, tokens = deal_row(con)
    pos = [p for p in holder_positions(con).to_pylist() if p["contract_address"] in tokens]
    holders = sorted({p["holder"] for p in pos if p["balance"] > 0})
    assert holders
    for holder in holders:
        browser.get(served.url + "/wallet")
        box = browser.find_element(By.ID, "address")
        box.send_keys(holder.lower())  # any case is accepted
        _submit(browser, "show")
        claims = {r["tranche"]: int(r["claimed"]) for r in holder_claims(con, holder=holder).to_pylist()}
        rows = browser.find_elements(By.CSS_SELECTOR, "table.positions tr[data-tranche]")
        mine = {tokens.index(p["contract_address"]): int(p["balance"]) for p in pos if p["holder"] == holder}
        assert {int(r.get_attribute("data-tranche")) for r in rows} == set(mine)
        for row in rows:
            t = int(row.get_attribute("data-tranche"))
            c = _cells(browser, row)
            assert units(c["balance"]) == mine[t]
            assert units(c["claimed"]) == claims.get(t, 0)
            assert units(c["claimable"]) >= 0


def _loan(run_dir: Path, period: int, row: int) -> str:
    return str(pq.read_table(loans_path(run_dir, period)).column("loan_id")[row])


def _verify(browser: Any, url: str, deal: str, loan: str, period: int) -> None:
    browser.get(f"{url}/deal/{deal}/verify")
    browser.find_element(By.ID, "loan").send_keys(loan)
    browser.find_element(By.ID, "period").send_keys(str(period))
    _submit(browser, "verify")


def test_loan_proof_verifies_and_a_tampered_proof_fails(
    browser: Any, served: Any, run_dir: Path
) -> None:
    con = store(run_dir / "events.duckdb")
    deal, oracle, _tokens = deal_row(con)
    period = 5
    root = con.execute(
        "SELECT loan_tape_root FROM ev_remittance_accepted WHERE contract_address = ? "
        "AND CAST(period AS BIGINT) = ?",
        [oracle, period],
    ).fetchall()[0][0]
    loan = _loan(run_dir, period, 7)
    _verify(browser, served.url, deal, loan, period)
    assert browser.find_element(By.ID, "result").text == "VERIFIED"
    assert browser.find_element(By.ID, "onchain-root").text == root.lower()
    assert browser.find_element(By.ID, "computed-root").text == root.lower()
    proof = browser.find_element(By.ID, "proof")
    lines = proof.get_attribute("value").split("\n")
    assert len(lines) >= 6  # 120 loans: a tree of depth 7
    # flip the last hex digit of one sibling and check the edited proof
    lines[2] = lines[2][:-1] + ("0" if lines[2][-1] != "0" else "1")
    proof.clear()
    proof.send_keys("\n".join(lines))
    _submit(browser, "verify")
    assert browser.find_element(By.ID, "result").text == "FAILED"
    assert browser.find_element(By.ID, "computed-root").text != root.lower()
    # typing another period clears the (tampered) proof box: the next check builds the
    # proof of that period's record from the loan file, which verifies
    box = browser.find_element(By.ID, "period")
    box.clear()
    box.send_keys(str(period + 1))
    assert browser.find_element(By.ID, "proof").get_attribute("value") == ""
    _submit(browser, "verify")
    assert browser.find_element(By.ID, "result").text == "VERIFIED"


def test_tampered_record_fails(
    browser: Any, serve: Any, run_dir: Path, tmp_path: Path
) -> None:
    """A loan file whose record was altered after the root went on chain."""
    con = store(run_dir / "events.duckdb")
    deal, _oracle, _tokens = deal_row(con)
    period = 4
    tampered = tmp_path / "run"
    loans_path(tampered, period).parent.mkdir(parents=True)
    shutil.copy(run_dir / "closing.json", tampered / "closing.json")
    src = loans_path(run_dir, period)
    table = pq.read_table(src)
    row = 11
    paid = table.column("interest_paid").to_pylist()
    paid[row] += 1  # one base unit more interest than was reported
    i = table.column_names.index("interest_paid")
    table = table.set_column(i, "interest_paid", pa.array(paid, table.schema.field(i).type))
    pq.write_table(table, loans_path(tampered, period))
    s = serve(run_dir / "events.duckdb", tampered)
    loan = _loan(run_dir, period, row)
    _verify(browser, s.url, deal, loan, period)
    assert browser.find_element(By.ID, "result").text == "FAILED"
    assert browser.find_element(By.ID, "leaf-mismatch").is_displayed()
    # an untouched record of the same file still verifies
    _verify(browser, s.url, deal, _loan(run_dir, period, 0), period)
    assert browser.find_element(By.ID, "result").text == "VERIFIED"


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/deal/0x000000000000000000000000000000000000dEaD", 404, "no deal at that address"),
        ("/deal/0x12345", 400, "field 'deal' value '0x12345': not an address"),
        ("/wallet?address=0xnothex", 400, "field 'address' value '0xnothex': not an address"),
        ("/deal/{deal}/verify?loan=NO-SUCH-LOAN&period=3", 404, "'NO-SUCH-LOAN': no such loan in period 3"),
        ("/deal/{deal}/verify?loan=x&period=abc", 400, "field 'period' value 'abc': not a whole number"),
        ("/deal/{deal}/verify?loan=x&period=999", 400, "field 'period' value 999"),
        ("/no/such/page", 404, "no page at '/no/such/page'"),
    ],
)
def test_bad_input_gives_a_clear_4xx_page(
    browser: Any, served: Any, run_dir: Path, path: str, status: int, says: str
) -> None:
    deal, _oracle, _tokens = deal_row(store(run_dir / "events.duckdb"))
    path = path.format(deal=deal)
    code, body, _headers = served.get(path)
    assert code == status
    assert says in html.unescape(body)
    browser.get(served.url + path)
    assert says in browser.find_element(By.ID, "error-message").text
