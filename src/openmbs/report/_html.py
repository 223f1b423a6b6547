"""One self-contained HTML report of a lifecycle run, and its ``summary.json``."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["pool_series", "write_report", "write_summary"]


def pool_series(lifecycle: dict[str, Any], decimals: int) -> dict[str, list[float]]:
    """Per-period pool figures (currency units and rates) from ``lifecycle.json``.

    Realised SMM = unscheduled / (beginning - scheduled) and CPR = 1 - (1 - SMM)^12;
    realised MDR = new default balance / balance of loans current at the start and
    CDR = 1 - (1 - MDR)^12 (SIFMA Standard Formulas' conventions). The CPR of the final
    period (ending balance 0: the clean-up call or the last loans paying off) is NaN:
    paying the pool off is not a prepayment speed.
    """
    scale = 10.0**decimals
    reps = lifecycle["reports"]
    extra = lifecycle.get("pool", [])
    out: dict[str, list[float]] = {
        k: []
        for k in (
            "period",
            "beginning",
            "ending",
            "factor",
            "cpr",
            "cdr",
            "dq30",
            "dq60",
            "dq90",
            "foreclosure",
            "interest",
            "scheduled",
            "unscheduled",
            "losses",
        )
    }
    original = reps[0]["beginning_balance"] if reps else 1
    for i, r in enumerate(reps):
        beg, sched, unsched = (
            r["beginning_balance"],
            r["scheduled_principal"],
            r["unscheduled_principal"],
        )
        base = beg - sched
        # the final month pays the pool off (the clean-up call, or the last loans): an
        # SMM of 1 by construction, not a prepayment speed; NaN leaves a gap
        final = r["ending_balance"] == 0
        smm = math.nan if final else (unsched / base if base > 0 else 0.0)
        e = extra[i] if i < len(extra) else {}
        perf, newdef = e.get("performing_begin", 0), e.get("new_default", 0)
        mdr = newdef / perf if perf > 0 else 0.0
        out["period"].append(r["period"])
        out["beginning"].append(beg / scale)
        out["ending"].append(r["ending_balance"] / scale)
        out["factor"].append(r["ending_balance"] / original if original else 0.0)
        out["cpr"].append(math.nan if final else 1.0 - (1.0 - min(smm, 1.0)) ** 12)
        out["cdr"].append(1.0 - (1.0 - min(mdr, 1.0)) ** 12)
        out["dq30"].append(r["delinquent_30"] / scale)
        out["dq60"].append(r["delinquent_60"] / scale)
        out["dq90"].append(r["delinquent_90_plus"] / scale)
        out["foreclosure"].append(e.get("foreclosure", 0) / scale)
        out["interest"].append(r["interest"] / scale)
        out["scheduled"].append(sched / scale)
        out["unscheduled"].append(unsched / scale)
        out["losses"].append(r["losses"] / scale)
    return out


def _fig_html(fig: Any) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "-"
        return f"{x:,.4f}" if abs(x) < 10 else f"{x:,.2f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def write_summary(
    out: Path, result: Any, audit_checks: Sequence[Any], extra: Mapping[str, Any] | None = None
) -> Path:
    """``summary.json``: reconciled flag, per-tranche totals (base units and currency),
    the checks, timing and keeper events; ``extra`` adds keys (a replay's figures,
    :func:`openmbs.sim.replay`)."""
    closing = json.loads((out / "closing.json").read_text())
    scale = 10 ** int(closing["decimals"])
    totals = {
        name: {
            **{k: int(v) for k, v in t.items()},
            **{f"{k}_currency": int(v) / scale for k, v in t.items()},
        }
        for name, t in result.tranche_totals.items()
    }
    data = {
        "reconciled": bool(result.reconciled),
        "onchain": bool(result.onchain),
        "note": result.note,
        "deal": closing["deal"],
        "loans": int(closing["pool_stats"]["loan_count"]),
        "pool_balance": int(closing["pool_units"]),
        "decimals": int(closing["decimals"]),
        # the loan files' money unit (10**-record_decimals); reports are in base units
        "record_decimals": int(closing.get("record_decimals", min(int(closing["decimals"]), 9))),
        "periods": int(result.periods),
        "resumed_from": int(result.resumed_from),
        "tranches": totals,
        "checks": [{"name": c.name, "ok": bool(c.ok), "detail": c.detail} for c in result.checks],
        "audit": [
            {"name": c.name, "ok": bool(c.ok), "detail": c.detail, "mismatches": list(c.mismatches)}
            for c in audit_checks
        ],
        "keeper_events": list(result.keeper_events),
        "timing_seconds": {
            "chain": round(result.chain_seconds, 3),
            "simulation": round(result.sim_seconds, 3),
            "servicer_bridge": round(result.bridge_seconds, 3),
        },
        "files": {
            "report": "report.html",
            "events": "events.duckdb" if result.onchain else None,
            "loan_level": "loans/",
            "tape": "tape.parquet",
            "statements": "statements/index.html" if result.onchain and result.reconciled else None,
        },
    }
    data.update(extra or {})
    path = out / "summary.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
    return path


def _figures(closing: dict[str, Any], life: dict[str, Any]) -> list[tuple[str, Any]]:
    """The report's plotly figures, (key, figure) in page order."""
    import plotly.graph_objects as go

    dec = int(closing["decimals"])
    scale = 10.0**dec
    s = pool_series(life, dec)
    names: list[str] = life["tranche_names"]
    faces = [int(f) for f in closing["tranche_face"]]
    res = life["results"]
    per = s["period"]
    figs: list[tuple[str, Any]] = []

    # the factor is the balance over a constant: on twin axes the curves coincide, so
    # the balance has its own figure and the pool factor joins the tranche factors
    f1 = go.Figure()
    f1.add_trace(go.Scatter(x=per, y=s["ending"], name="pool balance"))
    f1.update_layout(
        title="Pool balance", xaxis_title="period", yaxis_title="ending balance (currency units)"
    )
    figs.append(("pool", f1))

    proj = closing["projection"]
    n = len(per)
    a_cpr = [1 - (1 - x) ** 12 for x in proj["smm"][:n]]
    a_cdr = [1 - (1 - x) ** 12 for x in proj["mdr"][:n]]
    f2 = go.Figure()
    f2.add_trace(go.Scatter(x=per, y=s["cpr"], name="realised CPR"))
    f2.add_trace(
        go.Scatter(x=per[: len(a_cpr)], y=a_cpr, name="assumed CPR", line={"dash": "dash"})
    )
    f2.add_trace(go.Scatter(x=per, y=s["cdr"], name="realised CDR"))
    f2.add_trace(
        go.Scatter(x=per[: len(a_cdr)], y=a_cdr, name="assumed CDR", line={"dash": "dash"})
    )
    f2.update_layout(
        title="Realised vs assumed CPR and CDR (annualised)",
        xaxis_title="period",
        yaxis_title="annual rate (the final pay-off month left out)",
        yaxis_tickformat=".1%",
    )
    figs.append(("speeds", f2))

    f3 = go.Figure()
    for key, label in (
        ("dq30", "30 days"),
        ("dq60", "60 days"),
        ("dq90", "90+ days"),
        ("foreclosure", "defaulted, awaiting liquidation"),
    ):
        f3.add_trace(
            go.Scatter(
                x=per, y=s[key], name=label, stackgroup=None if key == "foreclosure" else "dq"
            )
        )
    f3.update_layout(
        title="Delinquency pipeline (balance at period end)",
        xaxis_title="period",
        yaxis_title="balance (currency units)",
    )
    figs.append(("delinquency", f3))

    f4 = go.Figure()
    f4.add_trace(go.Scatter(x=per, y=s["factor"], name="pool factor", line={"dash": "dot"}))
    f5 = go.Figure()
    f6 = go.Figure()
    for i, name in enumerate(names):
        bal = [r["ending_balance"][i] / faces[i] if faces[i] else 0.0 for r in res]
        cum = np.cumsum([r["writedown"][i] for r in res]) / scale
        cash = [(r["interest_paid"][i] + r["principal_paid"][i]) / scale for r in res]
        f4.add_trace(go.Scatter(x=per, y=bal, name=name))
        f5.add_trace(go.Scatter(x=per, y=cum.tolist(), name=name))
        f6.add_trace(go.Bar(x=per, y=cash, name=name))
    f4.update_layout(
        title="Pool and tranche factors",
        xaxis_title="period",
        yaxis_title="factor (current / original balance)",
    )
    f5.update_layout(
        title="Cumulative losses by tranche",
        xaxis_title="period",
        yaxis_title="written down (currency units)",
    )
    f6.update_layout(
        title="Cash paid per tranche per period (interest + principal)",
        barmode="stack",
        xaxis_title="period",
        yaxis_title="cash paid (currency units)",
    )
    figs += [("factors", f4), ("losses", f5), ("cash", f6)]

    return figs


def _replay_section(extra: Mapping[str, Any] | None) -> list[str]:
    """A replay's history against the model (``extra`` of :func:`write_report`)."""
    if not extra or "realised" not in extra:
        return []
    scale = 10.0 ** int(extra.get("decimals", 6))
    rows = [
        (label, 100 * float(extra["realised"][k]), 100 * float(extra["model"][k]))
        for k, label in (("cpr", "CPR (%)"), ("cdr", "CDR (%)"), ("severity", "severity (%)"))
    ]
    return [
        f"<h2>Realised history against the model ({html.escape(str(extra['first_period']))} to "
        f"{html.escape(str(extra['last_period']))})</h2>",
        f"<p>{extra['prepaid_loans']:,} loans prepaid, {extra['liquidated_loans']:,} liquidated; pool losses "
        f"{_fmt(extra['pool_losses'] / scale)}, recoveries {_fmt(extra['pool_recoveries'] / scale)} "
        "(currency units). The model is the run's assumptions (PSA, SDA, severity) projected "
        "over the same months.</p>",
        _table(["measure", "realised", "model"], rows),
    ]


#: live states of the report's state figure, (LoanState code, label)
_LIVE_ROWS = ((0, "current"), (1, "30"), (2, "60"), (3, "90"), (4, "120+"), (5, "foreclosure"))


def _states_section(out: Path, closing: Mapping[str, Any], periods: int) -> list[str]:
    """Loan states over the run, from the loan files' ``state`` column: the balance in
    each live state at each period's end (a figure), and over the run the loans that
    left the pool by each way, the modifications and the forbearance (a table)."""
    import plotly.graph_objects as go

    from openmbs.report._statement import STATE_ROWS, period_state_figures

    dec = int(closing["decimals"])
    rdec = int(closing.get("record_decimals", min(dec, 9)))
    scale = 10.0**dec
    per, figs = [], []
    for k in range(1, periods + 1):
        lp = period_state_figures(out / "loans", k, 10 ** (dec - rdec))
        if lp is not None:
            per.append(k)
            figs.append(lp)
    if not figs:
        return [
            "<h2>Loan states</h2>",
            "<p>Not modelled in this run: its loan files carry no <code>state</code> column "
            "(the distribution statements show these figures as null).</p>",
        ]
    f = go.Figure()
    for code, label in _LIVE_ROWS:
        y = [lp.states[code][1] / scale for lp in figs if lp.states is not None]
        f.add_trace(go.Scatter(x=per, y=y, name=label, stackgroup="states"))
    f.update_layout(
        title="Pool balance by loan state (period end)",
        xaxis_title="period",
        yaxis_title="balance (currency units)",
    )
    rows: list[tuple[Any, ...]] = []
    for i, st in enumerate(STATE_ROWS):
        if i in dict(_LIVE_ROWS) or st.label == "unknown":
            continue
        n = sum(lp.states[i][0] for lp in figs if lp.states is not None)
        b = sum(lp.states[i][1] for lp in figs if lp.states is not None)
        rows.append((f"left the pool: {st.label}", n, b / scale))
    mods = [lp.modifications for lp in figs if lp.modifications is not None]
    rows.append(
        (
            "modifications (capitalised arrears in the balance column)",
            sum(m[0] for m in mods),
            sum(m[2] for m in mods) / scale,
        )
    )
    forb = [lp.forbearance for lp in figs if lp.forbearance is not None]
    rows.append(
        (
            "forbearance (loan-months; balance-months)",
            sum(x[0] for x in forb),
            sum(x[1] for x in forb) / scale,
        )
        if forb
        else ("forbearance: not reported by the loan files", None, None)
    )
    return [
        "<h2>Loan states</h2>",
        f"<p>The servicer's loan states, from the loan files (periods {per[0]} to {per[-1]}). "
        "The statements give each period's counts and balances by state.</p>",
        _fig_html(f),
        _table(["over the run", "loans", "balance (currency units)"], rows),
    ]


def write_report(
    out: Path, result: Any, audit_checks: Sequence[Any], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``report.html`` (plotly inlined; no network needed) for a lifecycle folder,
    and for a run on chain its distribution statements in ``statements/`` (see
    :func:`~openmbs.report.period_statements`). ``extra``: a replay's figures (the
    realised CPR, CDR and severity against the model's, :func:`openmbs.sim.replay`)."""
    from plotly.offline import get_plotlyjs

    closing = json.loads((out / "closing.json").read_text())
    life = json.loads((out / "lifecycle.json").read_text())
    dec = int(closing["decimals"])
    scale = 10.0**dec
    faces = [int(f) for f in closing["tranche_face"]]
    figs = _figures(closing, life)

    st = closing["pool_stats"]
    pool_rows = [(k, v) for k, v in st.items()]
    spec = closing["deal_spec"]
    deal_rows = [
        (
            t["name"],
            faces[i] / scale if i < len(faces) else None,
            t.get("coupon"),
            t.get("rate"),
            t.get("priority"),
        )
        for i, t in enumerate(spec["tranches"])
    ]
    an_rows = [
        (
            a["name"],
            a["face"],
            a["wal"],
            a["first"],
            a["last"],
            a.get("yield", a.get("yield_")),  # "yield_" in folders recorded by 0.1.0
            a["modified_duration"],
            a["loss"],
        )
        for a in closing["analytics"]
    ]
    tot_rows = [
        (name, t["interest"] / scale, t["principal"] / scale, t["losses"] / scale)
        for name, t in result.tranche_totals.items()
    ]
    rec_rows = [(c.name, c.ok, c.detail) for c in result.checks]
    aud_rows = [
        (c.name, c.ok, c.detail + ("; " + "; ".join(c.mismatches[:10]) if c.mismatches else ""))
        for c in audit_checks
    ]
    cfg = closing["config"]
    status = "RECONCILED" if result.reconciled else "NOT RECONCILED"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>openmbs lifecycle: {html.escape(closing['deal'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
        ".ok{color:#070}.bad{color:#b00}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>openmbs lifecycle: {html.escape(closing['deal'])}</h1>",
        f"<p class='{'ok' if result.reconciled else 'bad'}'><b>{status}</b>"
        + (f" ({html.escape(result.note)})" if result.note else "")
        + f". {result.periods} periods; {st['loan_count']:,} loans; "
        f"{cfg['psa']} PSA, {cfg['sda']} SDA, severity {cfg['severity']}%, lag {cfg['lag']} months, seed {cfg['seed']}; "
        f"{cfg['investors']} investors.</p>",
        "<h2>Pool at closing</h2>",
        _table(["statistic", "value"], pool_rows),
        "<h2>Deal structure</h2>",
        _table(["tranche", "face", "coupon", "rate", "priority"], deal_rows),
        "<h2>Tranche analytics at closing (projection at the assumptions, yields at par)</h2>",
        _table(
            ["tranche", "face", "WAL (y)", "first", "last", "yield", "mod. duration", "loss"],
            an_rows,
        ),
        *_replay_section(extra),
        *_states_section(out, closing, int(result.periods)),
    ]
    for _key, fig in figs:
        parts.append(_fig_html(fig))
    parts += [
        "<h2>Totals paid per tranche (exact engine, currency units)</h2>",
        _table(["tranche", "interest", "principal", "losses"], tot_rows),
        "<h2>Reconciliation</h2>",
        _table(["check", "ok", "detail"], rec_rows),
        "<h2>Audit</h2>",
        _table(["check", "ok", "detail"], aud_rows),
        "<h2>Distribution statements</h2>",
        "<p>One statement per period (HTML, CSV, JSON): <a href='statements/index.html'>"
        "statements/index.html</a>.</p>"
        if result.onchain and result.reconciled
        else "<p>No distribution statements: they are built from the event store, and "
        + (
            "this run is not reconciled (a statement shows only what the chain and the "
            "exact engine agree on).</p>"
            if result.onchain
            else "this run did not go on chain.</p>"
        ),
        "<h2>Keeper</h2>",
        "<ul>" + "".join(f"<li>{html.escape(e)}</li>" for e in result.keeper_events[:200]) + "</ul>"
        if result.keeper_events
        else "<p>No trigger changed state.</p>",
        "</body></html>",
    ]
    path = out / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)
    if result.onchain and result.reconciled:
        _write_run_statements(out)
    return path


def _write_run_statements(out: Path) -> None:
    """``statements/``: every period's distribution statement of a reconciled run on
    chain (stale files of an earlier run in the folder are removed first)."""
    from openmbs.report._statement import period_statements, write_statements

    folder = out / "statements"
    if folder.is_dir():
        for old in folder.glob("period=*.*"):
            if old.suffix in (".html", ".csv", ".json"):
                old.unlink()
    write_statements(period_statements(out / "events.duckdb"), folder)
