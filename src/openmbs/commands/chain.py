"""`openmbs chain`: deploy a deal, remit, claim, status, export ABIs.

The embedded chain (titanoboa's in-process EVM) is the default. Its deal persists
between commands through the deployment record (``--state``, default
``deployment.json``): ``deploy`` writes it with a journal of every transaction sent,
and every later command rebuilds the chain by replaying that journal (checking each
entry's outputs and the EVM state root against the record) before it acts, then
appends its own transactions atomically. ``--rpc URL`` targets any JSON-RPC node
instead, on the deal pinned by ``--deal ADDRESS`` or ``$OPENMBS_DEAL``. Either way every
command but ``deploy`` reads the deal's contracts from the chain, checks their code
and back-links and refuses a record that disagrees (``openmbs.chain._verify``,
``docs/chain.md`` Trust model). The operator key comes from ``$OPENMBS_PRIVATE_KEY``
or ``--keystore FILE`` with ``$OPENMBS_KEYSTORE_PASSWORD``. Attestor keys come from ``$OPENMBS_ATTESTOR_KEYS``
or ``--attestor-keystore FILE`` with ``$OPENMBS_ATTESTOR_PASSWORD``. No key or password
is ever a command-line argument. See ``docs/chain.md`` (Command line).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from openmbs.errors import InputError, RemittanceRejected

#: Comma-separated attestor private keys (hex) used to sign reports.
ATTESTOR_KEYS_ENV = "OPENMBS_ATTESTOR_KEYS"
#: Password of every ``--attestor-keystore FILE``.
ATTESTOR_PASSWORD_ENV = "OPENMBS_ATTESTOR_PASSWORD"

chain_app = typer.Typer(
    help="On-chain deal: deploy, remit, claim, status, export.", no_args_is_help=True
)

StateOpt = Annotated[
    Path,
    typer.Option(
        "--state", help="Deployment record (JSON; on the embedded chain it holds the journal)."
    ),
]
RpcOpt = Annotated[
    str | None,
    typer.Option(
        "--rpc",
        envvar="ETH_RPC_URL",
        show_envvar=True,
        help="JSON-RPC URL of a node; default $ETH_RPC_URL, else the embedded chain.",
    ),
]
KeystoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        help=(
            "Operator's encrypted key file (password from $OPENMBS_KEYSTORE_PASSWORD, else asked); "
            "default: the key in $OPENMBS_PRIVATE_KEY or $ETH_PRIVATE_KEY. --rpc only."
        ),
    ),
]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Print every transaction sent to the node.")
]


DealAddrOpt = Annotated[
    str | None,
    typer.Option(
        "--deal",
        help=(
            "The deal's address, from a source you trust (default $OPENMBS_DEAL; required "
            "with --rpc). Every other contract is read from the deal on chain and checked; "
            "a record that disagrees is refused."
        ),
    ),
]

#: The deployment record and the deal's address of the servicer's and keepers' commands
#: (`servicer bond|post-bond|penalize-late|prove`, `sale ...`).
DealFileOpt = Annotated[Path, typer.Option("--deal", help="The deal's deployment record (JSON).")]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="The deal's address, from a source you trust (default $OPENMBS_DEAL)."),
]


def node_session(
    record: Path, rpc: str | None, deal: str | None, keystore: Path | None, verbose: bool, *,
    refusal: str, read_only: bool = False,
) -> Any:
    """The deal on a node (:func:`openmbs.chain.open_deal`) for a command that acts only
    on a node; without ``--rpc`` an :class:`InputError` saying ``refusal``."""
    from openmbs.chain import open_deal

    if rpc is None:
        raise InputError(refusal)
    return open_deal(record, rpc=rpc, deal=deal, keystore=keystore, read_only=read_only, verbose=verbose,
                     echo=typer.echo)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(chain_app, name="chain")


# -- helpers ---------------------------------------------------------------------------------


def _load_spec(deal: str) -> Any:
    from openmbs.structuring import resolve_deal

    return resolve_deal(deal)


def _read_records(path: Path) -> Any:
    """A period's loan-level records (Parquet, or CSV with a header) as a pyarrow table."""
    import pyarrow as pa

    from openmbs.agents import RECORD_FIELDS

    try:
        if path.suffix.lower() == ".csv":
            from pyarrow import csv

            table = csv.read_csv(
                path, convert_options=csv.ConvertOptions(column_types={"loan_id": pa.string()})
            )
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"file {str(path)!r}: cannot read loan records ({exc})") from None
    missing = [c for c in RECORD_FIELDS if c not in table.column_names]
    if missing:
        raise InputError(
            f"file {str(path)!r}: missing column(s) {', '.join(missing)} (need {', '.join(RECORD_FIELDS)})"
        )
    for name in RECORD_FIELDS[1:]:
        if table.column(name).null_count:
            row = next(i for i, v in enumerate(table.column(name).to_pylist()) if v is None)
            raise InputError(f"file {str(path)!r} row {row + 1} field {name!r} value None: empty")
    return table


def record_unit_scale(deal: Path) -> int:
    """Asset base units per record unit of the deal at ``deal`` (its deployment record):
    ``10**(decimals - record_decimals)``; the record's ``record_decimals``, else
    ``min(decimals, 9)`` (the convention: 1 up to 9 decimals)."""
    from openmbs.agents import record_decimals
    from openmbs.chain import read_deployment_record
    from openmbs.errors import InputError

    rec = read_deployment_record(deal)
    dec = (rec.get("settlement") or {}).get("decimals")
    if dec is None:
        dec = ((rec.get("config") or {}).get("exact") or {}).get("decimals", 6)
    if not isinstance(dec, int) or isinstance(dec, bool) or not 0 <= dec <= 36:
        raise InputError(f"file {str(deal)!r} field 'settlement.decimals' value {dec!r}: need an integer 0..36")
    rdec = rec.get("record_decimals", record_decimals(dec))
    if not isinstance(rdec, int) or isinstance(rdec, bool) or not 0 <= rdec <= dec:
        raise InputError(f"file {str(deal)!r} field 'record_decimals' value {rdec!r}: need an integer 0..{dec}")
    return int(10 ** (dec - rdec))


def _report_from_records(path: Path, index_rate: float) -> Any:
    """The period's report from its loan-level records: aggregates and the Merkle root
    of the leaves (``keccak256(keccak256(abi.encode(LoanRecord)))`` in file order). A ``leaf``
    column, if present (the lifecycle writes one), must match the recomputed leaves."""
    import numpy as np

    from openmbs.agents import LoanTree, leaves, report_from_records
    from openmbs.errors import DataIntegrityError

    table = _read_records(path)
    periods = np.unique(table.column("period").to_numpy())
    if len(periods) != 1:
        raise InputError(
            f"file {str(path)!r} field 'period': several periods {periods.tolist()[:5]}; need one per file"
        )
    try:
        lv = leaves(table)
    except InputError as exc:
        raise InputError(f"file {str(path)!r}: {exc}") from None
    if "leaf" in table.column_names:
        stored = table.column("leaf").to_pylist()
        for i, (a, b) in enumerate(zip(lv, stored, strict=True)):
            if bytes(b or b"") != a:
                lid = table.column("loan_id")[i].as_py()
                raise DataIntegrityError(
                    f"file {str(path)!r} row {i + 1} (loan {lid!r}) field 'leaf' value 0x{bytes(b or b'').hex()}: "
                    f"the record hashes to 0x{a.hex()}"
                )
    period = int(periods[0])
    try:
        return report_from_records(
            period, table, LoanTree(lv).root, index_rate=round(index_rate * 10**18)
        )
    except InputError as exc:
        raise InputError(f"file {str(path)!r}: {exc}") from None


def _report(
    records: Path | None,
    report: Path | None,
    index_rate: float,
    *,
    unit_scale: int | Callable[[], int] = 1,
) -> Any:
    """The period's report: from ``records`` (money scaled by ``unit_scale``, asset base
    units per record unit; a callable is asked only once the records have been read, so
    a bad records file is named before anything else) and/or a report JSON file, which
    must then agree."""
    from openmbs.agents import scale_report
    from openmbs.chain import report_from_dict, report_to_dict

    if records is None and report is None:
        raise InputError(
            "no report: pass --records FILE (loan-level records) and/or --report FILE (report JSON)"
        )
    rep = None
    if records is not None:
        rep = _report_from_records(records, index_rate)
        rep = scale_report(rep, unit_scale() if callable(unit_scale) else unit_scale)
    if report is not None:
        try:
            raw = json.loads(report.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"file {str(report)!r}: {exc}") from None
        if not isinstance(raw, dict):
            raise InputError(f"file {str(report)!r}: need a JSON object of report fields")
        given = report_from_dict(raw, where=f"file {str(report)!r}")
        if rep is not None:
            a, b = report_to_dict(given), report_to_dict(rep)
            diff = [k for k in a if a[k] != b[k]]
            if diff:
                k = diff[0]
                raise InputError(
                    f"file {str(report)!r} field {k!r} value {a[k]!r}: the records in {str(records)!r} give {b[k]!r}"
                    + (f" (and {len(diff) - 1} more field(s) differ)" if len(diff) > 1 else "")
                )
        rep = given
    return rep


def _attestor_keys(keystores: list[Path]) -> list[str]:
    from eth_account import Account

    keys = [k.strip() for k in os.environ.get(ATTESTOR_KEYS_ENV, "").split(",") if k.strip()]
    if keystores:
        password = os.environ.get(ATTESTOR_PASSWORD_ENV)
        if password is None:
            raise InputError(
                f"--attestor-keystore: set {ATTESTOR_PASSWORD_ENV} to the keystores' password"
            )
        for ks in keystores:
            try:
                keys.append(
                    "0x" + bytes(Account.decrypt(json.loads(ks.read_text()), password)).hex()
                )
            except (OSError, ValueError) as exc:
                raise InputError(f"keystore {str(ks)!r}: {exc}") from None
    return keys


def _signatures(
    rep: Any,
    attestations: Path | None,
    keystores: list[Path],
    *,
    chain_id: int,
    oracle: str,
    dev_quorum: int | None,
) -> list[Any]:
    """The report's attestations: a file of signatures, or signatures made here with the
    attestor keys from the environment / keystores (the embedded chain's public
    development keys when the deal was deployed with them and no key is given)."""
    from openmbs.chain import attestation_from_dict, dev_attestor_keys
    from openmbs.oracle import attest

    if attestations is not None:
        try:
            raw = json.loads(attestations.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"file {str(attestations)!r}: {exc}") from None
        if not isinstance(raw, list):
            raise InputError(f"file {str(attestations)!r}: need a JSON list of {{signer, v, r, s, deadline}}")
        return [
            attestation_from_dict(a, where=f"file {str(attestations)!r} item {i}")
            for i, a in enumerate(raw)
        ]
    keys = _attestor_keys(keystores)
    if not keys:
        if dev_quorum is None:
            raise InputError(
                f"no attestations: set {ATTESTOR_KEYS_ENV}, pass --attestor-keystore FILE or --attestations FILE"
            )
        typer.echo(
            f"signing with the first {dev_quorum} PUBLIC development attestor keys (embedded chain)"
        )
        keys = dev_attestor_keys(dev_quorum)
    try:
        return attest(rep, keys, chain_id=chain_id, verifying_contract=oracle)
    except ValueError as exc:
        raise InputError(f"{ATTESTOR_KEYS_ENV} / --attestor-keystore: {exc}") from None


def _holders(deal: Any, holder: str | None) -> list[str]:
    from eth_utils.address import is_address, to_checksum_address

    investors: list[str] = deal.investors
    if holder is None or holder == "all":
        return investors
    if holder.startswith("investor") and holder[8:].isdigit():
        j = int(holder[8:])
        if j >= len(investors):
            raise InputError(
                f"--holder value {holder!r}: the offering had {len(investors)} investors (investor0..)"
            )
        return [investors[j]]
    if is_address(holder):
        return [to_checksum_address(holder)]
    raise InputError(f"--holder value {holder!r}: need an address, investorN or all")


def _status_doc(session: Any, holders: list[str]) -> dict[str, Any]:
    client, record = session.client, session.record
    tranches = []
    names = [t["name"] for t in record["config"]["tranches"]]
    for t in client.tranches():
        d = dataclasses.asdict(t)
        d["name"] = names[t.index]
        tranches.append(d)
    doc: dict[str, Any] = {
        "deal": record.get("deal"),
        "network": session.network,
        "chain_id": client.chain_id(),
        "status": client.status(),
        "tranches": tranches,
    }
    state = client.waterfall_state()  # None: the test-double waterfall keeps none
    if state is not None:
        doc["waterfall"] = dataclasses.asdict(state)
    if holders:
        n = len(client.tokens)
        doc["holders"] = [
            {
                "address": h,
                "tokens": [int(tok.balanceOf(h)) for tok in client.tokens],
                "claimable": [client.claimable(i, h) for i in range(n)],
            }
            for h in holders
        ]
    if session.journal_entries is not None:
        doc["journal_entries"] = session.journal_entries
    return doc


def _print_status(doc: dict[str, Any]) -> None:
    typer.echo(f"deal {doc['deal']!r} on {doc['network']} chain {doc['chain_id']}")
    for k, v in doc["status"].items():
        typer.echo(f"  {k:<16} {v}")
    for k, v in doc.get("waterfall", {}).items():
        typer.echo(f"  waterfall {k:<16} {v}")
    typer.echo(
        f"  {'tranche':<8} {'balance':>20} {'factor (1e18)':>22} {'interest idx':>22} {'principal idx':>22} {'loss idx':>22}"
    )
    for t in doc["tranches"]:
        typer.echo(
            f"  {t['symbol']:<8} {t['balance']:>20} {t['factor']:>22} {t['interest_index']:>22} "
            f"{t['principal_index']:>22} {t['loss_index']:>22}"
        )
    for j, h in enumerate(doc.get("holders", [])):
        typer.echo(f"  investor{j} {h['address']} tokens {h['tokens']} claimable {h['claimable']}")


# -- commands --------------------------------------------------------------------------------


@chain_app.command("deploy")
def deploy(
    deal_arg: Annotated[
        str | None,
        typer.Argument(metavar="[DEAL]", help="Deal TOML file or example name (same as --deal)."),
    ] = None,
    deal: Annotated[
        str | None,
        typer.Option(
            "--deal", help="Deal TOML file, or an example name (four_tranche, senior_sub, pac_io)."
        ),
    ] = None,
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    keystore: KeystoreOpt = None,
    loans: Annotated[
        int,
        typer.Option("--loans", help="Number of loans at cut-off (reports may not count more)."),
    ] = 10_000,
    attestors: Annotated[
        str | None,
        typer.Option(
            "--attestors",
            help="Comma-separated attestor addresses (required with --rpc; default on the embedded chain: 5 public development keys).",
        ),
    ] = None,
    quorum: Annotated[
        int, typer.Option("--quorum", help="Signatures required per report (M of N).")
    ] = 3,
    investors: Annotated[
        int,
        typer.Option(
            "--investors",
            help="Embedded chain: accounts that subscribe the whole offering, which then closes.",
        ),
    ] = 2,
    test_waterfall: Annotated[
        bool,
        typer.Option(
            "--test-waterfall",
            help="Wire the SequentialTestWaterfall TEST DOUBLE instead of the exact waterfall.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing --state file.")
    ] = False,
    max_net_rate: Annotated[
        float | None,
        typer.Option(
            "--max-net-rate",
            help="Highest net loan rate on the tape (decimal): the oracle's interest bound is it + 0.25%. Default: a 25% bound.",
        ),
    ] = None,
    delinquent_at_cutoff: Annotated[
        str,
        typer.Option(
            "--delinquent-at-cutoff",
            help="Tape balances 30-59,60-89,90+ days delinquent at cut-off, in base units (bound period 1's roll and losses).",
        ),
    ] = "0,0,0",
    settlement: Annotated[
        str | None,
        typer.Option(
            "--settlement",
            help=(
                "--rpc: the settlement asset's address (an ERC-20; its decimals() must be the deal's "
                "asset.decimals). Default: deploy a mock stablecoin of the deal's decimals."
            ),
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Deploy every contract of a deal and record the deployment.

    On the embedded chain the offering is also subscribed (by --investors development accounts, in the mock settlement asset) and closed, so the deal is ready to remit.
    """
    if (deal_arg is None) == (deal is None):
        raise InputError("give the deal once: --deal FILE|NAME (or as the argument)")
    spec = _load_spec(str(deal if deal is not None else deal_arg))
    cutoff = _cutoff_delinquency(delinquent_at_cutoff)
    addrs = (
        [a.strip() for a in attestors.split(",") if a.strip()] if attestors is not None else None
    )
    if rpc is None and settlement is not None:
        raise InputError(
            f"--settlement value {settlement!r}: the embedded chain deploys its own mock asset; "
            "--settlement is for a node (--rpc)"
        )
    if rpc is None:
        from openmbs.chain import deploy_embedded

        d = deploy_embedded(
            state,
            spec,
            loans=loans,
            quorum=quorum,
            attestors=addrs,
            investors=investors,
            test_waterfall=test_waterfall,
            overwrite=force,
            max_net_rate=max_net_rate,
            initial_delinquent=cutoff,
        )
        with d:
            typer.echo(
                f"deployed {d.record['deal']!r} on the embedded chain {d.record['chain_id']}"
            )
            for k, v in d.client.addresses().items():
                typer.echo(f"  {k:<12} {v}")
            typer.echo(f"offering subscribed by {len(d.investors)} investor(s) and closed")
        typer.echo(
            f"recorded in {state} (journal of {len(d.journal)} entries; later commands replay it)"
        )
        return
    from openmbs.chain import (
        DeploymentRecord,
        config_from_spec,
        deploy_deal,
        load_account,
        set_tx_verbosity,
        use_network,
        write_deployment_record,
    )

    if addrs is None:
        raise InputError("--attestors is required with --rpc (comma-separated addresses)")
    if state.exists() and not force:
        raise InputError(
            f"file {str(state)!r} exists: choose another --state or pass --force to replace it"
        )
    account = load_account(keystore, prompt=True)
    set_tx_verbosity(verbose, typer.echo)
    env = use_network(rpc, account)
    log = env.openmbs_tx_log
    cfg = config_from_spec(
        spec,
        loan_count=loans,
        quorum=quorum,
        n_attestors=len(addrs),
        max_net_rate=max_net_rate,
        initial_delinquent=cutoff,
    )
    client = deploy_deal(
        cfg,
        attestors=addrs,
        admin=account.address,
        test_waterfall=test_waterfall,
        settlement=settlement,
    )
    record = DeploymentRecord.from_client(
        client,
        network="rpc",
        attestors=addrs,
        rpc=rpc,
        receipts=log.receipts(),
        settlement_mock=settlement is None,
    )
    write_deployment_record(state, record)
    typer.echo(
        f"deployed {cfg.name!r} on rpc chain {record.chain_id} ({len(log.sent)} transactions)"
    )
    for k, v in client.addresses().items():
        typer.echo(f"  {k:<12} {v}")
    typer.echo(f"recorded in {state}")
    typer.echo(
        f"keep the deal's address outside {state} and give it to every later command: "
        f"--deal {client.deal.address} (or $OPENMBS_DEAL)"
    )


@chain_app.command("status")
def status(
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    deal: DealAddrOpt = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document (amounts in base units, indices and factors scaled 1e18).",
        ),
    ] = False,
) -> None:
    """Print the deal's figures and each tranche's balance, factor and indices."""
    from openmbs.chain import open_deal

    with open_deal(state, rpc=rpc, deal=deal, read_only=True) as session:
        doc = _status_doc(session, session.investors)
    if as_json:
        typer.echo(json.dumps(doc, indent=1))
    else:
        _print_status(doc)


def _cutoff_delinquency(text: str) -> tuple[int, int, int]:
    """``--delinquent-at-cutoff 30-59,60-89,90+`` as three base-unit integers."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 0:
        raise InputError(
            f"--delinquent-at-cutoff value {text!r}: need three balances 30-59,60-89,90+ "
            "(non-negative integers, base units)"
        )
    return (values[0], values[1], values[2])


@chain_app.command("remit")
def remit(
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            help="The period's loan-level records (Parquet or CSV; the lifecycle's loans/period=NNNN/part-0.parquet).",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Report JSON (RemittanceReport fields; loan_tape_root as 0x hex); checked against --records if both.",
        ),
    ] = None,
    attestations: Annotated[
        Path | None,
        typer.Option(
            "--attestations",
            help="JSON list of {signer, v, r, s, deadline}; default: sign with the attestor keys (valid for a day).",
        ),
    ] = None,
    attestor_keystore: Annotated[
        list[Path] | None,
        typer.Option(
            "--attestor-keystore",
            help="Encrypted attestor key file (repeatable; password in $OPENMBS_ATTESTOR_PASSWORD).",
        ),
    ] = None,
    index_rate: Annotated[
        float, typer.Option("--index-rate", help="Floater index reported with --records (decimal).")
    ] = 0.0,
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    keystore: KeystoreOpt = None,
    deal: DealAddrOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Submit a period's servicer report with M-of-N attestations and deposit its cash.

    Attestor keys: $OPENMBS_ATTESTOR_KEYS (comma-separated) and/or --attestor-keystore. A rejected report (wrong period, under quorum, figures off) exits 2 and records nothing.
    """
    from openmbs.chain import open_deal

    rep = _report(records, report, index_rate, unit_scale=lambda: record_unit_scale(state))
    with open_deal(state, rpc=rpc, deal=deal, keystore=keystore, verbose=verbose, echo=typer.echo) as session:
        _remit_checked(session, rep, attestations, list(attestor_keystore or []))
        session.save()
        st = session.client.status()
    typer.echo(
        f"period {rep.period} accepted: cash {rep.cash} distributed; pool balance {st['pool_balance']}"
    )
    if session.journal_entries is not None:
        typer.echo(f"recorded in {state} (journal of {session.journal_entries} entries)")


def _remit_checked(
    session: Any, rep: Any, attestations: Path | None, keystores: list[Path], sold: list[Any] | None = None
) -> None:
    """Sign (or read) the attestations and submit (confirming the ``sold`` loans'
    records, when given: ``submit_with_sales``); a rejection says what disagrees and
    that nothing was recorded."""
    sigs = _signatures(
        rep,
        attestations,
        keystores,
        chain_id=session.client.chain_id(),
        oracle=str(session.client.oracle.address),
        dev_quorum=session.dev_quorum,
    )
    try:
        if sold:
            session.remit_with_sales(rep, sigs, sold)
        else:
            session.remit(rep, sigs)
    except RemittanceRejected as exc:
        from openmbs.chain import explain_rejection

        where = f"{session.path} is unchanged" if session.network == "embedded" else "no cash moved"
        detail = explain_rejection(session.client, rep)
        raise RemittanceRejected(
            f"{exc.reason}{'; ' + detail if detail else ''}; nothing recorded ({where})",
            period=exc.period,
        ) from None


@chain_app.command("claim")
def claim(
    state: StateOpt = Path("deployment.json"),
    tranche: Annotated[
        int | None, typer.Option("--tranche", help="Tranche index; default: every tranche.")
    ] = None,
    holder: Annotated[
        str | None,
        typer.Option("--holder", help="Embedded chain: an address, investorN, or all (default)."),
    ] = None,
    rpc: RpcOpt = None,
    keystore: KeystoreOpt = None,
    deal: DealAddrOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Claim what holders are owed.

    On the embedded chain for the offering's investors (or one --holder); with --rpc for the operator account.
    """
    from openmbs.chain import open_deal

    with open_deal(state, rpc=rpc, deal=deal, keystore=keystore, verbose=verbose, echo=typer.echo) as session:
        who = _holders(session, holder) if session.network == "embedded" else None
        if who is None and holder is not None:
            raise InputError("--holder is for the embedded chain; with --rpc the operator account claims")
        paid = session.claim(who, tranche)
        session.save()
    for h, amount in paid:
        typer.echo(f"{h} claimed {amount} base units")
    if session.journal_entries is not None:
        typer.echo(f"recorded in {state} (journal of {session.journal_entries} entries)")


@chain_app.command("artifacts")
def artifacts(
    out: Annotated[Path, typer.Option("--out", help="Folder for <Contract>.json.")] = Path("out"),
) -> None:
    """Write Foundry-style artifacts (abi, bytecode, methodIdentifiers, NatSpec, metadata) of every deployable contract."""
    from openmbs.chain import write_foundry_artifacts

    for p in write_foundry_artifacts(out):
        typer.echo(str(p))


@chain_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder for <Contract>.json files.")] = Path(
        "abi"
    ),
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="Also write addresses.json for this deployment record, as the chain confirms it.",
        ),
    ] = None,
    rpc: RpcOpt = None,
    deal: DealAddrOpt = None,
) -> None:
    """Write ABI + bytecode JSON of every contract, and a deployment's addresses.

    The files are what web3.py, ethers and cast expect; --state adds addresses.json, written from the chain (the embedded journal replayed, or --rpc with --deal) after the record is checked against it.
    """
    from openmbs.chain import export_artifacts

    for p in export_artifacts(out):
        typer.echo(str(p))
    if state is None:
        return
    from openmbs._files import atomic_write_text
    from openmbs.chain import open_deal, read_deployment_record

    network = read_deployment_record(state)["network"]
    if rpc is None and network != "embedded":
        raise InputError(
            f"file {str(state)!r} field 'network' value {network!r}: pass --rpc URL and --deal ADDRESS "
            "so that the addresses are read from the chain"
        )
    with open_deal(state, rpc=rpc, deal=deal, read_only=True) as session:
        contracts = session.client.addresses()
        record = session.record
        chain_id = session.client.chain_id()
    waterfall = "SequentialTestWaterfall" if record.get("test_waterfall") else "ExactWaterfall"
    abi = {
        "settlement": "MockSettlementToken",
        "timelock": "Timelock",
        "deal": "Deal",
        "issuance": "Issuance",
        "oracle": "RemittanceOracle",
        "waterfall": waterfall,
        "tokens": "TrancheToken",
        "loan_sale": "LoanSale",
        "servicer_bond": "ServicerBond",
    }
    doc = {
        "deal": record["deal"],
        "network": record["network"],
        "chain_id": chain_id,
        "contracts": {
            k: {"address": v, "abi": f"{abi.get(k, k)}.json"} for k, v in contracts.items()
        },
        "classes": record.get("classes", {}),
        "deployments": record.get("deployments", {}),
    }
    target = out / "addresses.json"
    atomic_write_text(target, json.dumps(doc, indent=1))
    typer.echo(str(target))
