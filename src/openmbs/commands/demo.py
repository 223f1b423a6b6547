"""`openmbs demo`: the end-to-end lifecycle of a deal on chain, audited and reported.

tape -> deal -> embedded chain -> monthly remittances (loan-level Merkle roots, 3-of-5
attestations) -> waterfall -> investor claims and trades -> indexer (DuckDB) ->
reconciliation, audit -> report.html and summary.json. See ``docs/demo.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from openmbs.commands._pool_options import decimal_warning_help, percent_callback


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the outputs (created if missing).")
    ] = Path("demo-out"),
    tape: Annotated[
        Path | None,
        typer.Option(
            "--tape", help="Loan tape file (any format `openmbs tape` reads); default: generated."
        ),
    ] = None,
    deal: Annotated[
        str, typer.Option("--deal", help="Example deal name or deal TOML file.")
    ] = "four_tranche",
    loans: Annotated[
        int, typer.Option("--loans", min=1, help="Loans in the generated tape.")
    ] = 2000,
    investors: Annotated[
        int, typer.Option("--investors", min=1, max=200, help="Number of investors.")
    ] = 20,
    months: Annotated[
        int, typer.Option("--months", min=1, max=600, help="Months to simulate at most.")
    ] = 360,
    psa: Annotated[
        float,
        typer.Option("--psa", min=0, help="Prepayment speed, percent of PSA (150 = 150% PSA)."),
    ] = 150.0,
    sda: Annotated[
        float, typer.Option("--sda", min=0, help="Default speed, percent of SDA (100 = 100% SDA).")
    ] = 100.0,
    severity: Annotated[
        float,
        typer.Option(
            "--severity",
            help="Loss severity, percent of the defaulted balance"
            + decimal_warning_help("severity") + ".",
            callback=percent_callback("severity"),
        ),
    ] = 35.0,
    lag: Annotated[
        int, typer.Option("--lag", min=0, help="Months from default to liquidation.")
    ] = 6,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the tape, the simulation and the investors.")
    ] = 7,
    transitions: Annotated[
        Path | None,
        typer.Option(
            "--transitions",
            help="Drive the loans' states with this transition matrix (written by `openmbs model "
            "transitions --out FILE`) instead of --sda; prepayment still follows --psa.",
        ),
    ] = None,
    mitigation: Annotated[
        Path | None,
        typer.Option(
            "--mitigation",
            help="Loss mitigation (modifications, forbearance plans, short and third-party sales) "
            "at the rates of this file (written by `openmbs model mitigation --out FILE`, or a JSON "
            "object of LossMitigation fields).",
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Discard an earlier run in --out instead of resuming it."),
    ] = False,
    chain: Annotated[
        bool,
        typer.Option(
            "--chain/--no-chain",
            help=(
                "Run the deal on chain (the default: titanoboa's embedded EVM, or --rpc). "
                "--no-chain runs the exact engine only (not reconciled on chain)."
            ),
        ),
    ] = True,
    rpc: Annotated[
        str | None,
        typer.Option(
            "--rpc",
            help=(
                "Run on this JSON-RPC node instead of the embedded EVM; the operator's "
                "private key is read from $OPENMBS_PRIVATE_KEY (never a command-line argument); "
                "the attestors' and investors' keys from $OPENMBS_ATTESTOR_KEYS (or "
                "--attestor-keystore) and $OPENMBS_INVESTOR_KEYS, unless --dev-chain."
            ),
        ),
    ] = None,
    dev_chain: Annotated[
        bool,
        typer.Option(
            "--dev-chain",
            help=(
                "With --rpc: the node is a THROWAWAY development chain (anvil); sign and "
                "invest with anvil's PUBLIC development accounts."
            ),
        ),
    ] = False,
    attestor_keystore: Annotated[
        list[Path] | None,
        typer.Option(
            "--attestor-keystore",
            help="With --rpc: an attestor's encrypted key file (repeatable; password in $OPENMBS_ATTESTOR_PASSWORD).",
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="With --rpc: print every transaction sent to the node."),
    ] = False,
    sales: Annotated[
        bool,
        typer.Option(
            "--sales",
            help=(
                "Loan sales: after each period the run indexes the chain into events.duckdb and a "
                "keeper, reading that store and the period's loan file, starts the sale of the "
                "seriously delinquent loans; an investor buys them; the next report confirms each "
                "as a liquidation (embedded chain or --rpc, with --sda or --transitions; try a "
                "stress such as --sda 2000). A node run with sales is not resumed."
            ),
        ),
    ] = False,
) -> None:
    """Run a deal's whole life on the embedded chain; write report.html and summary.json.

    Exits 1 if a reconciliation check fails. Rerunning with the same settings resumes
    after the last period the oracle accepted.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from openmbs.errors import InputError
    from openmbs.sim import LifecycleConfig, run_lifecycle

    if rpc is not None and not chain:
        raise InputError(f"--rpc value {rpc!r} with --no-chain: a node run is on chain")
    if rpc is not None:
        import os

        from openmbs.chain import ETH_KEY_ENV, KEY_ENV

        if not (os.environ.get(KEY_ENV) or os.environ.get(ETH_KEY_ENV)):
            raise InputError(
                f"--rpc value {rpc!r}: set {KEY_ENV} (or {ETH_KEY_ENV}) to the operator's private key"
            )
    elif dev_chain or attestor_keystore:
        raise InputError(
            "--dev-chain / --attestor-keystore are for a run on a node (--rpc); the embedded "
            "chain derives its own keys"
        )
    cfg = LifecycleConfig(
        tape=str(tape) if tape else None,
        deal=deal,
        loans=loans,
        investors=investors,
        months=months,
        psa=psa,
        sda=sda,
        severity=severity / 100.0,  # the flag is in percent, the API a decimal
        lag=lag,
        seed=seed,
        chain=chain,
        rpc=rpc,
        transitions=str(transitions) if transitions else None,
        loan_sales=sales,
        mitigation=str(mitigation) if mitigation else None,
    )
    keys = _node_keys(cfg, dev_chain, list(attestor_keystore or [])) if rpc is not None else None
    console = Console()
    if rpc is not None:
        from openmbs.chain import set_tx_verbosity

        set_tx_verbosity(verbose, lambda line: console.print(f"[dim]{line}[/dim]"))
    lines: list[str] = []
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        def log(line: str) -> None:
            lines.append(line)
            bar.console.print(f"[dim]{line}[/dim]")

        result = run_lifecycle(out, cfg, fresh=fresh, progress=progress, log=log, keys=keys)
    from rich.table import Table

    table = Table(
        title=f"{deal}: {result.periods} periods"
        + (f" (resumed after period {result.resumed_from})" if result.resumed_from else "")
    )
    for col in ("tranche", "interest", "principal", "losses"):
        table.add_column(col, justify="right")
    scale = 10 ** _run_decimals(out)
    for name, t in result.tranche_totals.items():
        table.add_row(name, *(f"{t[k] / scale:,.2f}" for k in ("interest", "principal", "losses")))
    console.print(table)
    for c in result.checks:
        mark = "[green]ok[/green]" if c.ok else "[red]MISMATCH[/red]"
        console.print(f"  {mark}  {c.name}: {c.detail}")
    status = (
        "[green]reconciled[/green]"
        if result.reconciled
        else f"[red]NOT reconciled[/red] {result.note}"
    )
    if sales:
        import json

        life = json.loads((out / "lifecycle.json").read_text())
        console.print(
            f"loan sales: {life['loans_sold']} loan(s) sold, net proceeds "
            f"{life['sale_proceeds'] / scale:,.2f} to the deal, keeper rewards "
            f"{life['sale_keeper_rewards'] / scale:,.2f}"
        )
    events = out / "events.duckdb"
    console.print(
        f"{status}; chain {result.chain_seconds:.1f} s; report: {out / 'report.html'}; "
        f"summary: {out / 'summary.json'}"
        + (f"; events: {events}" if events.exists() else "")
    )
    if any(not c.ok for c in result.checks):
        raise typer.Exit(1)


def _run_decimals(out: Path) -> int:
    """The settlement asset's decimals of the run in ``out`` (its ``closing.json``)."""
    import json

    from openmbs.errors import DataIntegrityError

    path = out / "closing.json"
    try:
        return int(json.loads(path.read_text())["decimals"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataIntegrityError(f"file {str(path)!r} field 'decimals': unreadable ({exc!r})") from None


def _node_keys(cfg: Any, dev_chain: bool, keystores: list[Path]) -> Any:
    """The attestors' and investors' keys of a run on a node: anvil's public ones with
    ``--dev-chain``, else the user's (refused when none are given: keys derived from
    the seed would be public)."""
    import os

    from openmbs.commands.chain import ATTESTOR_KEYS_ENV, _attestor_keys
    from openmbs.errors import InputError
    from openmbs.sim import INVESTOR_KEYS_ENV, dev_chain_keys, node_keys_from_env

    if dev_chain:
        return dev_chain_keys(cfg.attestors, cfg.investors)
    attestors = _attestor_keys(keystores)
    if not attestors and not os.environ.get(INVESTOR_KEYS_ENV):
        raise InputError(
            f"--rpc value {cfg.rpc!r}: on a node the attestors and investors sign with your keys, "
            f"never keys derived from --seed (public): set {ATTESTOR_KEYS_ENV} ({cfg.attestors} keys) "
            f"or --attestor-keystore, and {INVESTOR_KEYS_ENV} ({cfg.investors} keys); or pass "
            "--dev-chain for a throwaway anvil chain (its public development accounts)"
        )
    return node_keys_from_env(cfg.attestors, cfg.investors, attestors)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("demo")(demo)
