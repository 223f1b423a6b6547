"""`openmbs chain`: deploy a deal, remit, claim, status, export ABIs.

The embedded chain (titanoboa's in-process EVM, the default) lives only as long as
the command: ``deploy`` without ``--rpc`` deploys, prints the addresses and gas-free
status, and records ``"network": "embedded"`` in the state file, which later commands
refuse (there is nothing left to talk to). Use ``--rpc URL`` (any JSON-RPC node, for
instance anvil) for a deal that persists, or the Python API / ``openmbs demo`` for a
whole life cycle in one process. The operator key comes from ``$OPENMBS_PRIVATE_KEY``
or ``--keystore FILE`` with ``$OPENMBS_KEYSTORE_PASSWORD``, never from an argument.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from openmbs.errors import ChainError, InputError

ATTESTOR_KEYS_ENV = "OPENMBS_ATTESTOR_KEYS"

chain_app = typer.Typer(help="On-chain deal: deploy, remit, claim, status, export.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(chain_app, name="chain")


def _dev_attestor_keys(n: int) -> list[str]:
    # Public, deterministic DEV keys for the embedded chain only.
    return ["0x" + (bytes([0xA0 + i]) * 32).hex() for i in range(n)]


def _load_spec(deal: str) -> Any:
    from openmbs.structuring import example_deal, load_deal

    path = Path(deal)
    return load_deal(path) if path.suffix == ".toml" or path.exists() else example_deal(deal)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"state file {str(path)!r}: {exc}") from None
    if state.get("network") == "embedded":
        raise ChainError(
            f"state file {str(path)!r} records a deal on the embedded chain, which does not persist "
            "between commands; deploy with --rpc URL (for instance anvil) to use remit/claim/status"
        )
    return state


def _attach(state: dict[str, Any], rpc: str, keystore: Path | None) -> Any:
    from openmbs.chain import DealConfig, TrancheConfig, attach_deal
    from openmbs.chain._env import load_account, use_network

    account = load_account(keystore)
    use_network(rpc, account)
    cfg = dict(state["config"])
    cfg["tranches"] = tuple(TrancheConfig(**t) for t in cfg["tranches"])
    return attach_deal(DealConfig(**cfg), state["contracts"], admin=account.address), account


@chain_app.command("deploy")
def deploy(
    deal: Annotated[str, typer.Argument(help="Deal TOML file, or an example name (four_tranche, senior_sub, pac_io).")],
    state: Annotated[Path, typer.Option("--state", help="Where to record the deployment.")] = Path("deployment.json"),
    rpc: Annotated[str | None, typer.Option("--rpc", help="JSON-RPC URL; default: the embedded chain.")] = None,
    keystore: Annotated[Path | None, typer.Option("--keystore", help="Encrypted key file (password in $OPENMBS_KEYSTORE_PASSWORD).")] = None,
    loans: Annotated[int, typer.Option("--loans", help="Number of loans at cut-off (reports may not exceed it).")] = 10_000,
    attestors: Annotated[str | None, typer.Option("--attestors", help="Comma-separated attestor addresses (required with --rpc).")] = None,
    quorum: Annotated[int, typer.Option("--quorum", help="Signatures required per report (M of N).")] = 3,
    test_waterfall: Annotated[bool, typer.Option("--test-waterfall", help="Wire the SequentialTestWaterfall TEST DOUBLE (the exact waterfall is not ported yet).")] = False,
) -> None:
    """Deploy every contract of a deal and record the addresses."""
    import boa
    from eth_account import Account

    from openmbs.chain import config_from_spec, deploy_deal
    from openmbs.chain._env import load_account, use_network

    spec = _load_spec(deal)
    if rpc is None:
        addrs = [Account.from_key(k).address for k in _dev_attestor_keys(5)] if attestors is None else attestors.split(",")
        admin = boa.env.generate_address("admin")
        network = "embedded"
    else:
        if attestors is None:
            raise InputError("--attestors is required with --rpc (comma-separated addresses)")
        addrs = [a.strip() for a in attestors.split(",") if a.strip()]
        account = load_account(keystore)
        use_network(rpc, account)
        admin = account.address
        network = "rpc"
    cfg = config_from_spec(spec, loan_count=loans, quorum=quorum, n_attestors=len(addrs))
    client = deploy_deal(cfg, attestors=addrs, admin=admin, test_waterfall=test_waterfall)
    record = {
        "deal": cfg.name,
        "network": network,
        "chain_id": client.chain_id(),
        "admin": str(admin),
        "attestors": addrs,
        "test_waterfall": test_waterfall,
        "config": dataclasses.asdict(cfg),
        "contracts": client.addresses(),
    }
    state.write_text(json.dumps(record, indent=1))
    typer.echo(f"deployed {cfg.name!r} on {network} chain {record['chain_id']}")
    for k, v in client.addresses().items():
        typer.echo(f"  {k:<12} {v}")
    if network == "embedded":
        typer.echo("note: the embedded chain is discarded when this command exits; use --rpc URL to keep the deal")
    typer.echo(f"recorded in {state}")


@chain_app.command("status")
def status(
    rpc: Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the node holding the deal.")],
    state: Annotated[Path, typer.Option("--state")] = Path("deployment.json"),
    keystore: Annotated[Path | None, typer.Option("--keystore")] = None,
) -> None:
    """Print the deal's figures and each tranche's balance, factor and indices."""
    client, _ = _attach(_read_state(state), rpc, keystore)
    for k, v in client.status().items():
        typer.echo(f"{k:<16} {v}")
    typer.echo(f"{'tranche':<8} {'balance':>20} {'factor':>22} {'interest idx':>22} {'principal idx':>22}")
    for t in client.tranches():
        typer.echo(f"{t.symbol:<8} {t.balance:>20} {t.factor:>22} {t.interest_index:>22} {t.principal_index:>22}")


@chain_app.command("remit")
def remit(
    report: Annotated[Path, typer.Option("--report", help="Report JSON (RemittanceReport fields; loan_tape_root as 0x hex).")],
    rpc: Annotated[str, typer.Option("--rpc")],
    state: Annotated[Path, typer.Option("--state")] = Path("deployment.json"),
    keystore: Annotated[Path | None, typer.Option("--keystore")] = None,
    attestations: Annotated[Path | None, typer.Option("--attestations", help="JSON list of {signer, v, r, s}; default: sign with the keys in $OPENMBS_ATTESTOR_KEYS.")] = None,
) -> None:
    """Submit a servicer report with M-of-N attestations and deposit its cash."""
    from openmbs.oracle import Attestation, RemittanceReport, attest

    client, _ = _attach(_read_state(state), rpc, keystore)
    try:
        raw = json.loads(report.read_text())
        raw["loan_tape_root"] = bytes.fromhex(str(raw["loan_tape_root"]).removeprefix("0x"))
        rep = RemittanceReport(**raw)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"report file {str(report)!r}: {exc}") from None
    if attestations is not None:
        sigs = [
            Attestation(a["signer"], int(a["v"]), bytes.fromhex(a["r"].removeprefix("0x")), bytes.fromhex(a["s"].removeprefix("0x")))
            for a in json.loads(attestations.read_text())
        ]
    else:
        keys = [k for k in os.environ.get(ATTESTOR_KEYS_ENV, "").split(",") if k]
        if not keys:
            raise InputError(f"no attestations: pass --attestations FILE or set {ATTESTOR_KEYS_ENV}")
        sigs = attest(rep, keys, chain_id=client.chain_id(), verifying_contract=str(client.oracle.address))
    client.remit(rep, sigs)
    typer.echo(f"period {rep.period} accepted: cash {rep.cash} distributed")


@chain_app.command("claim")
def claim(
    rpc: Annotated[str, typer.Option("--rpc")],
    state: Annotated[Path, typer.Option("--state")] = Path("deployment.json"),
    keystore: Annotated[Path | None, typer.Option("--keystore")] = None,
    tranche: Annotated[int | None, typer.Option("--tranche", help="Tranche index; default: every tranche.")] = None,
) -> None:
    """Claim what the operator account is owed."""
    client, account = _attach(_read_state(state), rpc, keystore)
    paid = client.claim(account.address, tranche)
    typer.echo(f"claimed {paid} base units")


@chain_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder for <Contract>.json files.")] = Path("abi"),
) -> None:
    """Write ABI + bytecode JSON of every contract (web3.py, ethers, cast)."""
    from openmbs.chain import export_artifacts

    for p in export_artifacts(out):
        typer.echo(str(p))
