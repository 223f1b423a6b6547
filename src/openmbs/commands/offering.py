"""`openmbs offering`: the primary offering of a deal deployed on a node.

``openmbs chain deploy --rpc`` leaves the offering open (the escrow ``Issuance``
window starts at deployment). These commands run it to the end from the command line,
each signed by the account whose key is given (``--keystore FILE``, else
``$OPENMBS_PRIVATE_KEY`` / ``$ETH_PRIVATE_KEY``): the operator allowlists investors
(``open``), each investor subscribes with its own key (``subscribe``), anyone closes a
fully subscribed offering (``close``; the seller then pulls its proceeds), each
investor takes its tokens (``settle``). An offering that cannot close is failed
(``fail``, after the window with a class short, or after the close deadline) and each
investor takes its money back (``withdraw``). ``status`` reads it all.

On the embedded chain ``openmbs chain deploy`` runs the whole offering itself (its
journal records it); these commands are for a node (``--rpc`` or ``$ETH_RPC_URL``).
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer

from openmbs.commands.chain import (
    DealAddrOpt,
    KeystoreOpt,
    RpcOpt,
    StateOpt,
    VerboseOpt,
    node_session,
)
from openmbs.errors import ChainError, InputError

offering_app = typer.Typer(
    help="A deal's primary offering on a node: open, subscribe, close, settle, status.",
    no_args_is_help=True,
)

_STATES = {0: "open", 1: "closed", 2: "failed"}


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(offering_app, name="offering")


def _session(
    state: Path, rpc: str | None, deal: str | None, keystore: Path | None, verbose: bool, *, read_only: bool = False
) -> AbstractContextManager[Any]:
    return node_session(  # type: ignore[no-any-return]
        state, rpc, deal, keystore, verbose, read_only=read_only,
        refusal=(
            "offering: the embedded chain's `openmbs chain deploy` runs the offering itself; these "
            "commands act on a node: pass --rpc URL (or set $ETH_RPC_URL)"
        ),
    )


def _send(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Send one transaction; a revert becomes a one-line error naming its reason."""
    import boa

    from openmbs.chain import revert_reason

    try:
        return fn(*args, **kwargs)
    except boa.BoaError as exc:
        raise ChainError(f"{what}: refused by the contract ({revert_reason(exc)})") from None


def _tranche(client: Any, tranche: str) -> int:
    """A tranche given by index, token symbol or class name (the deal's)."""
    symbols = [t.symbol for t in client.config.tranches]
    exact = client.config.exact
    names = list(exact.names) if exact is not None and exact.names else []
    if tranche.isdigit() and int(tranche) < len(symbols):
        return int(tranche)
    for labels in (symbols, names):
        if tranche in labels:
            return labels.index(tranche)
    raise InputError(
        f"--tranche value {tranche!r}: need an index 0..{len(symbols) - 1}, a symbol {symbols} or a class {names}"
    )


@offering_app.command("open")
def open_(
    allow: Annotated[
        str,
        typer.Option("--allow", help="Comma-separated investor addresses to allowlist (COMPLIANCE_ROLE)."),
    ],
    days: Annotated[
        int, typer.Option("--days", min=1, help="Days the allowlisting lasts (holding and transfers).")
    ] = 365,
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    deal: DealAddrOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Allowlist investors so they may subscribe (and later hold and trade the tokens)."""
    from eth_utils.address import is_address, to_checksum_address

    holders = [a.strip() for a in allow.split(",") if a.strip()]
    bad = [a for a in holders if not is_address(a)]
    if bad or not holders:
        raise InputError(f"--allow value {allow!r}: need comma-separated addresses ({bad[0] if bad else 'none given'})")
    with _session(state, rpc, deal, keystore, verbose) as s:
        c = s.client
        until = int(time.time()) + days * 86400
        _send("allowlisting", c.allow, [to_checksum_address(h) for h in holders], until, sender=s.sender)
        window = (int(c.issuance.opens_at()), int(c.issuance.closes_at()), int(c.issuance.close_deadline()))
    typer.echo(f"allowlisted {len(holders)} investor(s) until {until} (unix seconds)")
    typer.echo(f"subscriptions open {window[0]} .. {window[1]}; close by {window[2]}")


@offering_app.command("subscribe")
def subscribe(
    tranche: Annotated[str, typer.Option("--tranche", help="Class name (e.g. A), token symbol or index.")],
    amount: Annotated[
        int, typer.Option("--amount", min=1, help="Face (or notional) subscribed, in base units.")
    ],
    mint: Annotated[
        bool,
        typer.Option(
            "--mint",
            help="TEST NETWORKS: first mint the cost in the deployment's MOCK settlement asset (the signer must own the mock).",
        ),
    ] = False,
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    deal: DealAddrOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Subscribe part of a class: approve its cost (at the offering price, rounded up) and pay it into escrow."""
    with _session(state, rpc, deal, keystore, verbose) as s:
        c = s.client
        t = _tranche(c, tranche)
        cost = c.subscription_cost(t, amount)
        if mint:
            if not s.record.get("settlement", {}).get("mock"):
                raise InputError(
                    f"--mint: the settlement asset {s.record['contracts']['settlement']} of file "
                    f"{str(state)!r} is not the deployment's mock (no minting a real asset)"
                )
            _send("minting the mock asset", c.settlement.mint, s.sender, cost, sender=s.sender)
        have = int(c.settlement.balanceOf(s.sender))
        if have < cost:
            raise InputError(
                f"--amount value {amount}: costs {cost} base units of the settlement asset, "
                f"{s.sender} holds {have}"
            )
        paid = _send(f"subscription to class {tranche}", c.subscribe, s.sender, t, amount)
        face = int(c.deal.original_face(t))
        total = int(c.issuance.subscribed(t))
    typer.echo(f"{s.sender} subscribed {amount} of class {c.config.tranches[t].symbol}, paid {paid}")
    typer.echo(f"class {c.config.tranches[t].symbol}: {total} of {face} subscribed")


@offering_app.command("close")
def close(
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    deal: DealAddrOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Close a fully subscribed offering: mint the classes, fund the reserve, credit the seller (who pulls its proceeds when it closes)."""
    with _session(state, rpc, deal, keystore, verbose) as s:
        c = s.client
        before = int(c.settlement.balanceOf(s.sender))
        _send("closing", c.close, sender=s.sender)
        got = int(c.settlement.balanceOf(s.sender)) - before
        reserve = int(c.deal.reserve_balance())
    typer.echo(f"offering closed; reserve funded {reserve}; proceeds paid to {s.sender}: {got}")


@offering_app.command("settle")
def settle(
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    deal: DealAddrOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Take delivery of the signer's tranche tokens after closing."""
    with _session(state, rpc, deal, keystore, verbose) as s:
        c = s.client
        _send("settlement", c.settle, s.sender)
        held = [int(tok.balanceOf(s.sender)) for tok in c.tokens]
    symbols = [t.symbol for t in c.config.tranches]
    typer.echo(f"{s.sender} holds " + ", ".join(f"{sym} {n}" for sym, n in zip(symbols, held, strict=True)))


@offering_app.command("fail")
def fail(
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    deal: DealAddrOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Fail the offering (after the window with a class short, or after the close deadline): every investor may withdraw."""
    with _session(state, rpc, deal, keystore, verbose) as s:
        _send("failing the offering", s.client.fail, sender=s.sender)
    typer.echo("offering failed: each investor takes its payments back with `openmbs offering withdraw`")


@offering_app.command("withdraw")
def withdraw(
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    deal: DealAddrOpt = None,
    keystore: KeystoreOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Take back the signer's payments after a failed offering."""
    with _session(state, rpc, deal, keystore, verbose) as s:
        paid = _send("withdrawal", s.client.withdraw, s.sender)
    typer.echo(f"{s.sender} withdrew {paid}")


@offering_app.command("status")
def status(
    investor: Annotated[
        str | None, typer.Option("--investor", help="Also show this address's subscriptions.")
    ] = None,
    state: StateOpt = Path("deployment.json"),
    rpc: RpcOpt = None,
    deal: DealAddrOpt = None,
) -> None:
    """The offering's state, window, and each class's subscriptions against its face."""
    with _session(state, rpc, deal, None, False, read_only=True) as s:
        c, iss = s.client, s.client.issuance
        st = _STATES.get(int(iss.state()), str(int(iss.state())))
        typer.echo(
            f"offering {st}; window {int(iss.opens_at())} .. {int(iss.closes_at())}; "
            f"close by {int(iss.close_deadline())}; escrow {int(iss.escrow_held())}; "
            f"seller owed {int(iss.seller_owed())}"
        )
        typer.echo(f"  {'class':<6} {'subscribed':>22} {'face':>22} {'price (1e18)':>22}")
        for i, t in enumerate(c.config.tranches):
            typer.echo(
                f"  {t.symbol:<6} {int(iss.subscribed(i)):>22} {int(c.deal.original_face(i)):>22} "
                f"{int(iss.offering_price(i)):>22}"
            )
        if investor is not None:
            from eth_utils.address import is_address

            if not is_address(investor):
                raise InputError(f"--investor value {investor!r}: not an address")
            for i, t in enumerate(c.config.tranches):
                typer.echo(
                    f"  {investor} {t.symbol}: deposit {int(iss.deposit_of(investor, i))} "
                    f"paid {int(iss.paid_of(investor, i))} tokens {int(c.tokens[i].balanceOf(investor))}"
                )
