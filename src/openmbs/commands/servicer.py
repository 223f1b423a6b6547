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
from typing import Annotated, Any

import typer

from openmbs.commands.chain import (
    AddressOpt,
    DealFileOpt,
    KeystoreOpt,
    RpcOpt,
    VerboseOpt,
    node_session,
)
from openmbs.commands.sale import LoanOpt, _loan_id

servicer_app = typer.Typer(
    help="The servicer's monthly remittance on a node, its bond, late penalties and fraud proofs.",
    no_args_is_help=True,
)


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
        sold = _sale_confirmations(s.client, records, rep)
        if sold:
            typer.echo(f"confirming {len(sold)} sold loan(s): their net proceeds are already in the deal")
        _remit_checked(s, rep, None, list(attestor_keystore or []), sold)
        balances = [(t.symbol, t.balance) for t in s.client.tranches()]
        pool = s.client.status()["pool_balance"]
    typer.echo(f"period {rep.period} accepted: cash {rep.cash} distributed; pool balance {pool}")
    typer.echo("  " + ", ".join(f"{sym} {bal}" for sym, bal in balances))


def _sale_confirmations(client: Any, records: Path, rep: Any) -> list[Any]:
    """The (record, proof) of each sold loan awaiting confirmation in the period's
    records (``submit_with_sales``); none when no sale is pending."""
    from openmbs.agents import loan_records, sale_confirmations
    from openmbs.commands.chain import _read_records
    from openmbs.errors import InputError

    if client.loan_sale is None:
        return []
    pending = client.pending_sales()
    if pending == 0:
        return []
    recs = loan_records(_read_records(records))
    candidates = [r.loan_id for r in recs if r.liquidated]
    sold = client.awaiting_confirmation(candidates)
    if len(sold) != pending:
        raise InputError(
            f"file {str(records)!r} field 'liquidated': {pending} sold loan(s) await confirmation, the records show "
            f"{len(sold)} of them liquidated; report every sold loan liquidated with its net proceeds as its recovery"
        )
    return sale_confirmations(recs, rep.loan_tape_root, sold, source=f"file {str(records)!r}")


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


def _node_session(what: str, deal: Path, rpc: str | None, address: str | None, keystore: Path | None,
                  verbose: bool, *, read_only: bool = False) -> Any:
    return node_session(deal, rpc, address, keystore, verbose, read_only=read_only,
                        refusal=f"servicer {what}: pass --rpc URL (or set $ETH_RPC_URL): the bond acts on a node")


@servicer_app.command("bond")
def bond_cmd(
    deal: DealFileOpt = Path("deployment.json"),
    address: AddressOpt = None,
    rpc: RpcOpt = None,
) -> None:
    """The servicer's bond: posted, forfeited, strikes, open disputes (read-only)."""
    with _node_session("bond", deal, rpc, address, None, False, read_only=True) as s:
        st = s.client.bond_status()
        asked = s.client.bond_amount()
    typer.echo(
        f"bond {st['bond']} (the deal asks {asked}); forfeited {st['forfeited']}; strikes {st['strikes']} of "
        f"{st['max_strikes']}; open disputes {st['open_disputes']}"
        + ("; a backup servicer may be appointed" if st["backup_eligible"] else "")
    )


@servicer_app.command("post-bond")
def post_bond_cmd(
    amount: Annotated[
        int | None, typer.Option("--amount", min=1, help="Base units; default: the bond the deal asks for.")
    ] = None,
    deal: DealFileOpt = Path("deployment.json"),
    address: AddressOpt = None,
    rpc: RpcOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Post to the servicer's bond from the signing account (approves and pulls the amount)."""
    with _node_session("post-bond", deal, rpc, address, keystore, verbose) as s:
        paid = s.client.post_bond(amount, sender=s.sender)
        st = s.client.bond_status()
    typer.echo(f"posted {paid}; bond {st['bond']}")


@servicer_app.command("penalize-late")
def penalize_late_cmd(
    period: Annotated[int, typer.Option("--period", min=1, help="The period whose report is late.")],
    deal: DealFileOpt = Path("deployment.json"),
    address: AddressOpt = None,
    rpc: RpcOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Take the late-report penalty of a period not reported by its due date (anyone):
    it is paid from the bond to the deal, which distributes it to holders with the next
    accepted report's interest."""
    with _node_session("penalize-late", deal, rpc, address, keystore, verbose) as s:
        taken = s.client.penalize_late(period, sender=s.sender)
        st = s.client.bond_status()
        pending = s.client.other_income_pending()
        deal_address = str(s.client.deal.address)
    typer.echo(
        f"period {period}: late-report penalty {taken} paid from the bond to the deal {deal_address} for holders "
        f"(other income pending there: {pending}, distributed with the next accepted report's interest); "
        f"bond left {st['bond']}; strikes {st['strikes']}"
    )


@servicer_app.command("prove")
def prove_cmd(
    before: Annotated[Path, typer.Option("--before", help="The earlier period's loan records (accepted tape).")],
    after: Annotated[Path, typer.Option("--after", help="The later period's loan records (accepted tape).")],
    loan: LoanOpt,
    deal: DealFileOpt = Path("deployment.json"),
    address: AddressOpt = None,
    rpc: RpcOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Fraud proof: the loan's records in two accepted tapes break continuity; slashes the bond, pays you the bounty."""
    from openmbs.agents import loan_records
    from openmbs.commands.chain import _read_records

    lid = _loan_id(loan)
    proven = []
    with _node_session("prove", deal, rpc, address, keystore, verbose) as s:
        for path in (before, after):
            recs = loan_records(_read_records(path))
            period = recs[0].period if recs else 0
            root = bytes(s.client.oracle.loan_tape_root(period))
            proven.append(_record_and_proof(recs, root, lid, path))
        (a, pa), (b, pb) = proven
        bounty = s.client.prove_discontinuity(a, pa, b, pb, sender=s.sender)
    typer.echo(f"loan {loan}: periods {a.period} and {b.period} break continuity; bounty {bounty} paid")


def _record_and_proof(recs: list[Any], root: bytes, lid: bytes, path: Path) -> tuple[Any, Any]:
    """The loan's record in ``recs`` and its proof against ``root`` (the tape's root must be it)."""
    from openmbs.errors import InputError
    from openmbs.oracle import MerkleTree

    tree = MerkleTree([r.leaf() for r in recs])
    if tree.root != root:
        raise InputError(
            f"file {str(path)!r} field 'loan_tape_root' value 0x{tree.root.hex()}: the accepted root is 0x{root.hex()}"
        )
    for i, r in enumerate(recs):
        if r.loan_id == lid:
            return r, tree.proof(i)
    raise InputError(f"file {str(path)!r} field 'loan_id' value 0x{lid.hex()}: no such loan in the records")
