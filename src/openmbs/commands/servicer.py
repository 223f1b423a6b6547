"""`openmbs servicer remit`: the servicer's month on a node, as one command.

A period's loan-level records (Parquet, or CSV with a header: the columns of
``openmbs.agents.RECORD_FIELDS``) -> the report (pool aggregates) -> the Merkle root
of the records' leaves -> the attestors' EIP-712 signatures (M of N, keys from
``$OPENMBS_ATTESTOR_KEYS`` or ``--attestor-keystore``) -> ``RemittanceOracle.submit``
(approve the cash, submit; the oracle checks the figures and the signatures and the
deal runs the waterfall) -> the tranches after the remittance. A refusal names the
oracle's check, the reported value and its limit, and nothing moves.

The records' money columns count record units (``10**-record_decimals`` of the asset,
``record_decimals`` from the deployment record: ``min(decimals, 9)``); the report's
money fields are their sums times ``10**(decimals - record_decimals)``, in the asset's
base units (the same numbers up to 9 decimals).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openmbs.commands.chain import KeystoreOpt, RpcOpt, VerboseOpt

servicer_app = typer.Typer(help="The servicer's monthly remittance on a node.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(servicer_app, name="servicer")


@servicer_app.command("remit")
def remit(
    records: Annotated[
        Path,
        typer.Option("--records", help="The period's loan-level records (Parquet or CSV with a header)."),
    ],
    deal: Annotated[
        Path, typer.Option("--deal", help="The deal's deployment record (JSON).")
    ] = Path("deployment.json"),
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="The deal's address, from a source you trust (default $OPENMBS_DEAL); the record is checked against it.",
        ),
    ] = None,
    index_rate: Annotated[
        float, typer.Option("--index-rate", help="Floater index reported this period (decimal).")
    ] = 0.0,
    attestor_keystore: Annotated[
        list[Path] | None,
        typer.Option(
            "--attestor-keystore",
            help="Encrypted attestor key file (repeatable; password in $OPENMBS_ATTESTOR_PASSWORD).",
        ),
    ] = None,
    rpc: RpcOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Records -> report -> Merkle root -> attestations -> submit -> waterfall, on a node.

    The servicer (SERVICER_ROLE) signs with --keystore or $OPENMBS_PRIVATE_KEY / $ETH_PRIVATE_KEY and must hold the period's cash. A refused report exits 2, names the failing bound with its value and limit, and moves nothing.
    """
    from openmbs.chain import open_deal
    from openmbs.commands.chain import _remit_checked, _report, record_unit_scale
    from openmbs.errors import InputError

    if rpc is None:
        raise InputError(
            "servicer remit: pass --rpc URL (or set $ETH_RPC_URL); on the embedded chain use "
            "`openmbs chain remit --records FILE`"
        )
    rep = _report(records, None, index_rate, unit_scale=lambda: record_unit_scale(deal))
    typer.echo(
        f"period {rep.period}: {rep.loan_count} loans, balance {rep.beginning_balance} -> {rep.ending_balance}, "
        f"cash {rep.cash} (interest {rep.interest}, principal {rep.scheduled_principal + rep.unscheduled_principal}, "
        f"recoveries {rep.recoveries}, losses {rep.losses})"
    )
    typer.echo(f"loan tape root 0x{rep.loan_tape_root.hex()}")
    with open_deal(deal, rpc=rpc, deal=address, keystore=keystore, verbose=verbose, echo=typer.echo) as s:
        _remit_checked(s, rep, None, list(attestor_keystore or []))
        balances = [(t.symbol, t.balance) for t in s.client.tranches()]
        pool = s.client.status()["pool_balance"]
    typer.echo(f"period {rep.period} accepted: cash {rep.cash} distributed; pool balance {pool}")
    typer.echo("  " + ", ".join(f"{sym} {bal}" for sym, bal in balances))


@servicer_app.command("records")
def records_cmd(
    out: Annotated[Path, typer.Option("--out", help="The period's records (CSV).")],
    deal: Annotated[
        Path, typer.Option("--deal", help="The deal's deployment record (JSON).")
    ] = Path("deployment.json"),
    previous: Annotated[
        Path | None,
        typer.Option("--previous", help="The previous period's records (CSV): this period continues them."),
    ] = None,
    rate: Annotated[
        float, typer.Option("--rate", min=0.0, max=0.2, help="Loans' net coupon (decimal).")
    ] = 0.05,
    term: Annotated[int, typer.Option("--term", min=1, help="Loans' remaining term at cut-off (months).")] = 360,
) -> None:
    """EXAMPLE records: one period of SYNTHETIC level-pay loans making up the deal's pool.

    The record's pool balance split equally among its loan count, each paying one level monthly installment at --rate (no prepayments, delinquencies or defaults). For walkthroughs and tests of a deployed deal; a servicer reports its real loans.
    """
    import csv

    from openmbs.chain import read_deployment_record
    from openmbs.commands.chain import record_unit_scale
    from openmbs.errors import InputError

    cfg = read_deployment_record(deal)["config"]
    if previous is None:
        period, n = 1, int(cfg["initial_loan_count"])
        scale = record_unit_scale(deal)  # the records count record units, not base units
        pool, dust = divmod(int(cfg["initial_pool_balance"]), scale)
        if dust:
            raise InputError(
                f"file {str(deal)!r} field 'config.initial_pool_balance' value "
                f"{cfg['initial_pool_balance']}: not a whole number of record units ({scale} base units each)"
            )
        balances = [pool // n + (1 if i < pool % n else 0) for i in range(n)]
    else:
        try:
            with previous.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
            period = int(rows[0]["period"]) + 1
            balances = [int(r["ending_balance"]) for r in rows]
        except (OSError, KeyError, IndexError, ValueError) as exc:
            raise InputError(f"file {str(previous)!r}: not a records file of this command ({exc!r})") from None
    monthly = rate / 12
    left = term - (period - 1)
    if left < 1:
        raise InputError(f"--term value {term}: period {period} is past the loans' term")
    fields = ("loan_id", "period", "beginning_balance", "scheduled_principal", "prepaid_principal",
              "interest_paid", "ending_balance", "delinquency", "defaulted", "liquidated", "loss", "recovery")
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        for i, b in enumerate(balances):
            interest = b * round(monthly * 10**12) // 10**12  # exact integers at any size
            factor = monthly / (1 - (1 + monthly) ** -left) if monthly > 0 else 1 / left
            sched = min(b, max(b * round(factor * 10**12) // 10**12 - interest, 0))
            w.writerow([f"L{i + 1:05d}", period, b, sched, 0, interest, b - sched, 0, "false", "false", 0, 0])
    typer.echo(f"wrote period {period}: {len(balances)} synthetic loans, balance {sum(balances)} -> {out}")
