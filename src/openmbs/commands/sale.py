"""`openmbs sale`: sales of seriously delinquent loans on a node (``LoanSale``).

A keeper starts the sales the contract accepts from the servicer's published records
of the last accepted period (``start``: every loan 90+ days delinquent or in
foreclosure, or the one ``--loan`` names; the tape's rebuilt root must be the accepted
one); a compliant bidder buys at the current price (``bid``); ``status`` shows a
loan's sale. The servicer's next report must show a sold loan liquidated with the net
proceeds as its recovery: ``openmbs servicer remit`` proves it to the oracle.
Each command signs with ``--keystore FILE`` or ``$OPENMBS_PRIVATE_KEY`` /
``$ETH_PRIVATE_KEY``; docs/chain.md, "Loan sales".
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
from openmbs.errors import ChainError, InputError

sale_app = typer.Typer(help="Sales of seriously delinquent loans on a node: start, bid, status.",
                       no_args_is_help=True)

_STATUS = {0: "none", 1: "open", 2: "sold (awaiting the servicer's report)", 3: "sold and confirmed"}

LoanOpt = Annotated[str, typer.Option("--loan", help="The loan's id as in the records (or 0x + 64 hex digits).")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(sale_app, name="sale")


def _session(what: str, deal: Path, rpc: str | None, address: str | None, keystore: Path | None,
             verbose: bool, *, read_only: bool = False) -> Any:
    return node_session(deal, rpc, address, keystore, verbose, read_only=read_only,
                        refusal=f"sale {what}: pass --rpc URL (or set $ETH_RPC_URL): loan sales run on a node")


def _loan_id(text: str) -> bytes:
    from openmbs.oracle import loan_id_bytes32

    if text.startswith("0x") and len(text) == 66:
        return bytes.fromhex(text[2:])
    return loan_id_bytes32(text)


@sale_app.command("start")
def start(
    records: Annotated[Path, typer.Option("--records", help="The last accepted period's loan records.")],
    loan: Annotated[str | None, typer.Option("--loan", help="Only this loan (default: every one for sale).")] = None,
    deal: DealFileOpt = Path("deployment.json"),
    address: AddressOpt = None,
    rpc: RpcOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Start the sales of the loans 90+ days delinquent or in foreclosure in the last accepted tape (a keeper)."""
    from openmbs.agents import LoanSaleKeeper, loan_records
    from openmbs.commands.chain import _read_records

    recs = loan_records(_read_records(records))
    keeper = LoanSaleKeeper(source=f"file {str(records)!r}")
    with _session("start", deal, rpc, address, keystore, verbose) as s:
        c = s.client
        period = int(c.oracle.last_period())
        orders = keeper.orders(period, bytes(c.oracle.loan_tape_root(period)), recs)
        if loan is not None:
            lid = _loan_id(loan)
            orders = [o for o in orders if o.record.loan_id == lid]
            if not orders:
                raise InputError(f"--loan value {loan!r}: not for sale in period {period}'s tape "
                                 "(not 90+ days delinquent or in foreclosure, liquidated, or absent)")
        started = []
        for o in orders:
            if int(c.loan_sale.status(o.record.loan_id)) >= 2:
                continue  # sold already
            c.start_sale(o.record, o.proof, sender=s.sender)
            started.append(o.record)
        prices = [(r, c.sale_price(r.loan_id)) for r in started]
    for r, price in prices:
        typer.echo(f"loan 0x{r.loan_id.hex()}: sale started at {price} (balance {r.ending_balance}, period {r.period})")
    typer.echo(f"{len(prices)} sale(s) started")


@sale_app.command("bid")
def bid(
    loan: LoanOpt,
    max_price: Annotated[int, typer.Option("--max-price", min=1, help="The most you pay (base units).")],
    deal: DealFileOpt = Path("deployment.json"),
    address: AddressOpt = None,
    rpc: RpcOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Buy a loan at its current price (your account must be allowlisted on the deal)."""
    lid = _loan_id(loan)
    with _session("bid", deal, rpc, address, keystore, verbose) as s:
        paid = s.client.bid(lid, max_price, sender=s.sender)
        net = int(s.client.loan_sale.net_proceeds(lid))
    typer.echo(f"loan {loan}: bought for {paid}; net proceeds {net} to the deal, the rest to the keeper")


@sale_app.command("status")
def status(
    loan: LoanOpt,
    deal: DealFileOpt = Path("deployment.json"),
    address: AddressOpt = None,
    rpc: RpcOpt = None,
) -> None:
    """A loan's sale: state, period, keeper or buyer, price now or net proceeds (read-only)."""
    lid = _loan_id(loan)
    with _session("status", deal, rpc, address, None, False, read_only=True) as s:
        sale = s.client.loan_sale
        st = int(sale.status(lid))
        line = f"loan {loan}: {_STATUS.get(st, st)}"
        if st:
            line += f"; period {int(sale.sale_period(lid))}; account {sale.account_of(lid)}"
        if st == 1:
            try:
                line += f"; price now {s.client.sale_price(lid)}"
            except ChainError:  # the contract refuses the price of an expired sale
                line += "; expired"
        if st >= 2:
            line += f"; net proceeds {int(sale.net_proceeds(lid))}"
        pending = s.client.pending_sales()
    typer.echo(line)
    typer.echo(f"sold loans awaiting the servicer's report: {pending}")
