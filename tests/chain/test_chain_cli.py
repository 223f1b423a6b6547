"""`openmbs chain` on the embedded chain: a deal that lives across CLI invocations.

Each command rebuilds the embedded EVM by replaying the deployment record's journal.
The deal is the shipped four-tranche example; its loan-level records are built here by
hand (8 loans summing to the deal's 500,000,000 USDC pool), the expected figures come
from the exact Python waterfall (``compile_exact`` / ``apply_period``) on aggregates
summed here, and the expected Merkle root from ``openmbs.oracle`` (``LoanRecord.leaf``,
``MerkleTree``), not from the CLI's vectorised bridge.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from eth_account import Account
from typer.testing import CliRunner

from openmbs.cli import app, main
from openmbs.errors import DataIntegrityError, InputError
from openmbs.oracle import LoanRecord, MerkleTree
from openmbs.structuring import (
    ExactRemittance,
    apply_period,
    compile_exact,
    initial_state,
    load_deal,
)

REPO = Path(__file__).resolve().parents[2]
DEAL = REPO / "examples" / "deals" / "four_tranche.toml"
WAD = 10**18
#: The public development attestor keys the embedded deploy uses without --attestors.
DEV_KEYS = ["0x" + (bytes([0xA0 + i]) * 32).hex() for i in range(5)]
N_LOANS = 8
#: Extra deploy flags (none: the real, default deployment).
DEPLOY_FLAGS: list[str] = []


@pytest.fixture(autouse=True)
def _rollback() -> Iterator[None]:
    """Overrides the chain conftest's rollback: the CLI runs on its own embedded EVM."""
    yield


# -- loan-level records, by hand ------------------------------------------------------------


def _balances(pool: int) -> list[int]:
    weights = [3, 5, 7, 11, 13, 17, 19, 25]  # sum 100
    b = [pool * w // 100 for w in weights]
    b[-1] += pool - sum(b)
    return b


def _periods(pool: int) -> list[list[dict[str, object]]]:
    """Three periods of records. Every live loan pays 6%/12 net interest and 0.25% of
    its balance as scheduled principal, except: loan 0 prepays in full in period 2;
    loan 2 misses its payments from period 2 (30 then 60 days delinquent); loan 1
    misses them from period 1 (30, then 60 days: the oracle accepts a loss only on a
    loan reported 60+ days delinquent the month before) and is liquidated in period 3
    with a 40% loss."""
    bal = _balances(pool)
    out = []
    for period in (1, 2, 3):
        rows = []
        for i, b in enumerate(bal):
            if b == 0:
                continue
            r: dict[str, object] = {
                "loan_id": f"LN{i:04d}",
                "tape_row": i,
                "period": period,
                "status": 0,
                "beginning_balance": b,
                "scheduled_principal": b // 400,
                "prepaid_principal": 0,
                "interest_paid": b * 6 // 1200,
                "delinquency": 0,
                "defaulted": False,
                "liquidated": False,
                "loss": 0,
                "recovery": 0,
            }
            if i == 0 and period == 2:
                r["prepaid_principal"] = b - b // 400
            if i == 2 and period >= 2:
                r.update(scheduled_principal=0, interest_paid=0, delinquency=period - 1)
            if i == 1 and period <= 2:
                r.update(scheduled_principal=0, interest_paid=0, delinquency=period)
            if i == 1 and period == 3:
                loss = b * 40 // 100
                r.update(
                    scheduled_principal=0,
                    interest_paid=0,
                    loss=loss,
                    recovery=b - loss,
                    defaulted=True,
                    liquidated=True,
                    status=3,
                )
            out_ = (
                b
                - int(r["scheduled_principal"])
                - int(r["prepaid_principal"])
                - int(r["loss"])
                - int(r["recovery"])
            )  # type: ignore[call-overload]
            r["ending_balance"] = out_
            bal[i] = out_
            rows.append(r)
        out.append(rows)
    return out


def _table(rows: list[dict[str, object]]) -> pa.Table:
    t = pa.Table.from_pylist(rows)
    return t.set_column(
        t.schema.get_field_index("delinquency"),
        "delinquency",
        pa.array([r["delinquency"] for r in rows], pa.int8()),
    )


def _loan_records(rows: list[dict[str, object]]) -> list[LoanRecord]:
    keep = (
        "loan_id",
        "period",
        "beginning_balance",
        "scheduled_principal",
        "prepaid_principal",
        "interest_paid",
        "ending_balance",
        "delinquency",
        "defaulted",
        "liquidated",
        "loss",
        "recovery",
    )
    return [LoanRecord(**{k: r[k] for k in keep}) for r in rows]  # type: ignore[arg-type]


def _expected_remittance(rows: list[dict[str, object]]) -> ExactRemittance:
    """The exact engine's remittance, summed here from the records (the 60+ day
    balance is the ending balance of loans 2+ months delinquent)."""

    def s(k: str) -> int:
        return sum(int(r[k]) for r in rows)  # type: ignore[call-overload]

    return ExactRemittance(
        period=int(rows[0]["period"]),  # type: ignore[call-overload]
        interest=s("interest_paid"),
        scheduled_principal=s("scheduled_principal"),
        prepaid_principal=s("prepaid_principal"),
        recoveries=s("recovery"),
        realized_losses=s("loss"),
        beginning_balance=s("beginning_balance"),
        ending_balance=s("ending_balance"),
        delinquent_60=sum(int(r["ending_balance"]) for r in rows if int(r["delinquency"]) >= 2),  # type: ignore[call-overload]
    )


# -- running the CLI ------------------------------------------------------------------------


def _ok(args: list[str], env: dict[str, str] | None = None) -> str:
    res = CliRunner().invoke(app, ["chain", *args], env=env)
    assert res.exit_code == 0, (res.output, res.exception)
    return res.output


def _exit_code(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """Run ``openmbs.cli.main`` (the console entry point) in-process: exit code, stderr."""
    monkeypatch.setattr(sys, "argv", ["openmbs", "chain", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0), capsys.readouterr().err


@pytest.fixture(scope="module")
def cli_deal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A deployed deal (record after deploy), the records files of periods 1..3, and the
    record after period 1 was remitted."""
    root = tmp_path_factory.mktemp("chaincli")
    spec = load_deal(DEAL)
    exact = compile_exact(spec)
    periods = _periods(exact.pool_original)
    files = {}
    for k, rows in enumerate(periods, start=1):
        t = _table(rows)
        if k == 1:  # the lifecycle's format: records + their leaves
            t = t.append_column(
                "leaf", pa.array([r.leaf() for r in _loan_records(rows)], pa.binary(32))
            )
        files[k] = root / f"period={k:04d}.parquet"
        pq.write_table(t, files[k])
    files[2] = root / "period=0002.csv"  # the CSV form of the same columns
    pacsv.write_csv(_table(periods[1]), files[2])
    deployed = root / "deployed.json"
    out = _ok(
        [
            "deploy",
            "--deal",
            str(DEAL),
            "--state",
            str(deployed),
            "--loans",
            str(N_LOANS),
            *DEPLOY_FLAGS,
        ]
    )
    assert "offering subscribed by 2 investor(s) and closed" in out
    after1 = root / "after1.json"
    shutil.copy(deployed, after1)
    _ok(
        ["remit", "--records", str(files[1]), "--state", str(after1)],
        env={"OPENMBS_ATTESTOR_KEYS": ",".join(DEV_KEYS[2:5])},
    )
    return {
        "deployed": deployed,
        "after1": after1,
        "files": files,
        "periods": periods,
        "exact": exact,
    }


def _copy(cli_deal: dict[str, object], name: str, tmp_path: Path) -> Path:
    dst = tmp_path / f"{name}.json"
    shutil.copy(cli_deal[name], dst)  # type: ignore[arg-type]
    return dst


def _status(state: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads(_ok(["status", "--state", str(state), "--json"]))
    return doc


# -- tests ----------------------------------------------------------------------------------


def test_deploy_records_a_journal(cli_deal):
    record = json.loads(Path(cli_deal["deployed"]).read_text())
    assert record["network"] == "embedded" and record["format"] == "openmbs-chain-deployment/2"
    assert [e["op"] for e in record["journal"]] == ["deploy", "offering"]
    # the fields every deployment record has: per contract and per class symbol
    contracts = record["contracts"]
    assert {k: v["address"] for k, v in record["deployments"].items()} == {
        k: v for k, v in contracts.items() if k != "tokens"
    }
    symbols = [t["symbol"] for t in record["config"]["tranches"]]
    assert [(s, c["index"], c["address"]) for s, c in record["classes"].items()] == [
        (sym, i, a) for i, (sym, a) in enumerate(zip(symbols, contracts["tokens"], strict=True))
    ]
    assert record["settlement"] == {
        "address": contracts["settlement"], "symbol": "mUSD", "decimals": 6, "mock": True
    }
    assert record["rpc"] is None
    assert [t["face"] for t in record["config"]["tranches"]] == [
        400_000_000_000_000,
        40_000_000_000_000,
        25_000_000_000_000,
        20_000_000_000_000,
    ]  # 80/8/5/4% of the 500,000,000 USDC pool in 6-decimal units
    assert record["attestors"] == [Account.from_key(k).address for k in DEV_KEYS]
    # each investor holds half of every tranche
    assert (
        record["journal"][1]["output"]["holdings"]
        == [[f // 2 for f in (4 * 10**14, 4 * 10**13, 25 * 10**12, 2 * 10**13)]] * 2
    )


def test_deal_lives_across_invocations_and_matches_the_exact_waterfall(cli_deal, tmp_path):
    state = _copy(cli_deal, "after1", tmp_path)
    files, periods, exact = cli_deal["files"], cli_deal["periods"], cli_deal["exact"]
    # period 2 in a separate process (.venv/bin/openmbs): it can only know period 1
    # from the journal it replays
    exe = Path(sys.executable).parent / "openmbs"
    env = {**os.environ, "OPENMBS_ATTESTOR_KEYS": ",".join(DEV_KEYS[:3])}
    proc = subprocess.run(
        [str(exe), "chain", "remit", "--records", str(files[2]), "--state", str(state)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "period 2 accepted" in proc.stdout
    # period 3 with encrypted keystores for three attestors, and the report JSON too
    keystores = []
    for i in (0, 2, 4):
        ks = tmp_path / f"attestor{i}.json"
        ks.write_text(json.dumps(Account.encrypt(DEV_KEYS[i], "pw", kdf="pbkdf2", iterations=1000)))
        keystores += ["--attestor-keystore", str(ks)]
    root3 = MerkleTree([r.leaf() for r in _loan_records(periods[2])]).root
    e3 = _expected_remittance(periods[2])
    report3 = {
        "period": 3,
        "scheduled_principal": e3.scheduled_principal,
        "unscheduled_principal": e3.prepaid_principal,
        "interest": e3.interest,
        "recoveries": e3.recoveries,
        "losses": e3.realized_losses,
        "beginning_balance": e3.beginning_balance,
        "ending_balance": e3.ending_balance,
        "loan_count": 6,
        "delinquent_30": 0,
        "delinquent_60": e3.delinquent_60,
        "delinquent_90_plus": 0,
        "index_rate": 0,
        "cash": e3.interest + e3.scheduled_principal + e3.prepaid_principal + e3.recoveries,
        "loan_tape_root": "0x" + root3.hex(),
    }
    rfile = tmp_path / "report3.json"
    rfile.write_text(json.dumps(report3))
    out = _ok(
        [
            "remit",
            "--records",
            str(files[3]),
            "--report",
            str(rfile),
            "--state",
            str(state),
            *keystores,
        ],
        env={"OPENMBS_ATTESTOR_PASSWORD": "pw", "OPENMBS_ATTESTOR_KEYS": ""},
    )
    assert "period 3 accepted" in out

    record = json.loads(state.read_text())
    remits = [e for e in record["journal"] if e["op"] == "remit"]
    assert [e["input"]["report"]["period"] for e in remits] == [1, 2, 3]
    for e, rows in zip(remits, periods, strict=True):  # roots by the oracle package's slow path
        assert (
            e["input"]["report"]["loan_tape_root"]
            == "0x" + MerkleTree([r.leaf() for r in _loan_records(rows)]).root.hex()
        )
        assert len(e["input"]["attestations"]) == 3

    # the exact Python waterfall on the same three periods
    st = initial_state(exact)
    results = []
    for rows in periods:
        st, res = apply_period(exact, st, _expected_remittance(rows))
        results.append(res)
    doc = _status(state)
    s = doc["status"]
    assert s["last_period"] == 3 and s["closed"] is True
    assert s["pool_balance"] == _expected_remittance(periods[2]).ending_balance
    assert s["reserve_balance"] == st.reserve + st.dust  # the deal's reserve account holds the dust
    w = doc["waterfall"]
    assert (w["realized_losses"], w["last_period"], w["dust"]) == (st.cum_loss, 3, st.dust)
    assert w["triggers_latched"] == sum(1 << k for k, x in enumerate(st.latch) if x)
    tr = doc["tranches"]
    assert [t["balance"] for t in tr] == list(st.balance)
    assert [t["factor"] for t in tr] == [
        b * WAD // f for b, f in zip(st.balance, exact.face, strict=True)
    ]
    assert [t["interest_index"] for t in tr] == list(st.interest_index)
    assert [t["principal_index"] for t in tr] == list(st.principal_index)
    assert [t["loss_index"] for t in tr] == list(st.loss_index)

    # claims: investor1 on tranche 0 first, then everyone on everything
    halves = [f // 2 for f in exact.face]
    owed = [
        h * (i + p) // WAD
        for h, i, p in zip(halves, st.interest_index, st.principal_index, strict=True)
    ]
    out = _ok(["claim", "--state", str(state), "--holder", "investor1", "--tranche", "0"])
    assert f"claimed {owed[0]} base units" in out
    out = _ok(["claim", "--state", str(state)])
    inv = record["investors"]
    assert f"{inv[0]} claimed {sum(owed)} base units" in out
    assert f"{inv[1]} claimed {sum(owed[1:])} base units" in out
    paid_by_waterfall = sum(sum(r.interest_paid) + sum(r.principal_paid) for r in results)
    assert 0 <= paid_by_waterfall - 2 * sum(owed) < 2 * len(owed) * len(periods) + 2 * len(owed)
    doc = _status(state)
    assert doc["status"]["cash_claimed"] == 2 * sum(owed)
    assert [h["claimable"] for h in doc["holders"]] == [[0, 0, 0, 0]] * 2
    assert doc["journal_entries"] == 2 + 3 + 2


def test_rejected_remittance_exits_2_and_leaves_the_journal_untouched(
    cli_deal, tmp_path, monkeypatch, capsys
):
    state = _copy(cli_deal, "after1", tmp_path)
    before = state.read_bytes()
    files = cli_deal["files"]
    monkeypatch.setenv("OPENMBS_ATTESTOR_KEYS", ",".join(DEV_KEYS[:3]))
    code, err = _exit_code(
        ["remit", "--records", str(files[3]), "--state", str(state)], monkeypatch, capsys
    )
    assert code == 2 and "period 3: period out of order" in err and "unchanged" in err
    assert state.read_bytes() == before
    monkeypatch.setenv("OPENMBS_ATTESTOR_KEYS", ",".join(DEV_KEYS[:2]))  # 2 of a quorum of 3
    code, err = _exit_code(
        ["remit", "--records", str(files[2]), "--state", str(state)], monkeypatch, capsys
    )
    assert code == 2 and "period 2: below quorum" in err and "unchanged" in err
    assert state.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("edit", ["report", "state_root", "offering_output", "contracts"])
def test_a_tampered_journal_is_detected(cli_deal, tmp_path, edit):
    state = _copy(cli_deal, "after1", tmp_path)
    record = json.loads(state.read_text())
    if edit == "report":  # a figure of the signed report: the signatures no longer match
        record["journal"][2]["input"]["report"]["interest"] += 1
        expect = "journal entry 2 (remit period 1) fails on replay"
    elif edit == "state_root":
        record["journal"][1]["state_root"] = "0x" + "11" * 32
        expect = "journal entry 1 (offering) field 'state_root'"
    elif edit == "offering_output":  # the recorded holdings of the offering
        record["journal"][1]["output"]["holdings"][0][0] += 1
        expect = "journal entry 1 (offering): replay gives holdings="
    else:
        record["contracts"]["deal"] = record["contracts"]["oracle"]
        expect = "field 'contracts'"
    state.write_text(json.dumps(record))
    before = state.read_bytes()
    res = CliRunner().invoke(app, ["chain", "status", "--state", str(state)])
    assert isinstance(res.exception, DataIntegrityError), res.output
    assert expect in str(res.exception)
    assert state.read_bytes() == before


def test_records_file_problems_are_named(tmp_path, cli_deal):
    rows = cli_deal["periods"][0]
    bad = _table(rows).append_column("leaf", pa.array([b"\x01" * 32] * len(rows), pa.binary(32)))
    pq.write_table(bad, tmp_path / "bad.parquet")
    res = CliRunner().invoke(
        app,
        [
            "chain",
            "remit",
            "--records",
            str(tmp_path / "bad.parquet"),
            "--state",
            str(tmp_path / "x.json"),
        ],
    )
    assert isinstance(res.exception, DataIntegrityError)
    assert "row 1 (loan 'LN0000') field 'leaf'" in str(res.exception)
    pq.write_table(_table(rows).drop_columns(["loss"]), tmp_path / "short.parquet")
    res = CliRunner().invoke(
        app,
        [
            "chain",
            "remit",
            "--records",
            str(tmp_path / "short.parquet"),
            "--state",
            str(tmp_path / "x.json"),
        ],
    )
    assert isinstance(res.exception, InputError) and "missing column(s) loss" in str(res.exception)
    res = CliRunner().invoke(app, ["chain", "status", "--state", str(tmp_path / "nothing.json")])
    assert isinstance(res.exception, InputError) and "deploy first" in str(res.exception)
    res = CliRunner().invoke(
        app, ["chain", "deploy", "--deal", str(DEAL), "--state", str(cli_deal["deployed"])]
    )
    assert isinstance(res.exception, InputError) and "--force" in str(res.exception)


def test_export_writes_abi_bytecode_and_addresses(tmp_path, cli_deal):
    _ok(["export", "--out", str(tmp_path), "--state", str(cli_deal["deployed"])])
    doc = json.loads((tmp_path / "Deal.json").read_text())
    names = {e.get("name") for e in doc["abi"]}
    assert {"claim", "claim_all", "distribute", "on_transfer", "Distributed"} <= names
    assert doc["bytecode"].startswith("0x") and len(doc["bytecode"]) > 1000
    addresses = json.loads((tmp_path / "addresses.json").read_text())
    record = json.loads(Path(cli_deal["deployed"]).read_text())
    assert addresses["contracts"]["deal"] == {
        "address": record["contracts"]["deal"],
        "abi": "Deal.json",
    }
    for c in addresses["contracts"].values():
        assert (tmp_path / c["abi"]).exists()


def test_dataclass_round_trips():
    from openmbs.chain import (
        attestation_from_dict,
        attestation_to_dict,
        report_from_dict,
        report_to_dict,
    )
    from openmbs.oracle import RemittanceReport, attest

    r = RemittanceReport(1, 2, 3, 4, 0, 0, 100, 95, 3, 0, 0, 0, 0, 9, b"\x07" * 32)
    assert report_from_dict(report_to_dict(r)) == r
    a = attest(r, DEV_KEYS[:1], chain_id=1337, verifying_contract="0x" + "12" * 20)[0]
    assert attestation_from_dict(json.loads(json.dumps(attestation_to_dict(a)))) == a
    with pytest.raises(InputError, match="missing field"):
        report_from_dict({k: v for k, v in report_to_dict(r).items() if k != "cash"})
    short = {k: v for k, v in report_to_dict(r).items() if k != "subsequent_recoveries"}
    assert report_from_dict(short) == r  # a field with a default may be left out


def test_the_embedded_record_is_checked_against_the_replayed_chain(cli_deal, tmp_path, monkeypatch):
    """The replayed chain is checked as a node's deal is: a pinned --deal must be the
    deal the journal deployed, and fields outside the journal must agree with it."""
    state = _copy(cli_deal, "deployed", tmp_path)
    record = json.loads(state.read_text())
    deal = record["contracts"]["deal"]
    monkeypatch.delenv("OPENMBS_DEAL", raising=False)
    assert json.loads(_ok(["status", "--state", str(state), "--json", "--deal", deal]))["status"]["closed"]
    res = CliRunner().invoke(app, ["chain", "status", "--state", str(state), "--deal", "0x" + "11" * 20])
    assert isinstance(res.exception, DataIntegrityError) and "'deal'" in str(res.exception)
    record["attestors"][0] = "0x" + "33" * 20  # not in the journal, so the replay cannot see it
    state.write_text(json.dumps(record, indent=1))
    res = CliRunner().invoke(app, ["chain", "claim", "--state", str(state)])
    assert isinstance(res.exception, DataIntegrityError), res.output
    assert "field 'attestors[0]'" in str(res.exception) and "0x" + "33" * 20 in str(res.exception)
    record = json.loads(Path(cli_deal["deployed"]).read_text())
    record["config"]["exact"]["rate"][0] += 1  # the record's rules are not the waterfall's
    state.write_text(json.dumps(record, indent=1))
    res = CliRunner().invoke(app, ["chain", "status", "--state", str(state)])
    assert isinstance(res.exception, DataIntegrityError), res.output
    assert "field 'config.exact.rate'" in str(res.exception) and "parameters contract" in str(res.exception)
