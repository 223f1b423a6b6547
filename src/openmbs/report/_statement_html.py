"""HTML of a distribution statement: inline CSS, inline SVG figures, no URL at all."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openmbs.report._statement import DistributionStatement

__all__ = ["index_html", "line_chart_svg", "statement_html"]

_CSS = (
    "body{font-family:sans-serif;margin:1.5em;max-width:1300px;color:#111}"
    ".wide{overflow-x:auto}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.4em;border-bottom:1px solid #999}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:2px 7px;"
    "text-align:right;font-size:.9em}th{background:#eee}td.l,th.l{text-align:left}"
    ".nm{color:#777;font-style:italic}.bad{color:#b00;font-weight:bold}.ok{color:#070}"
    ".figs{display:flex;flex-wrap:wrap;gap:1em}.mono{font-family:monospace;font-size:.85em}"
)

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** int(f"{raw:e}".split("e")[1])
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = int(lo // step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        if t >= lo - step * 1e-9:
            ticks.append(round(t, 12))
        t += step
    return ticks


def _tick_label(v: float, fmt: str) -> str:
    if fmt == "pct":
        return f"{v:.0%}" if abs(v) >= 0.1 or v == 0 else f"{v:.1%}"
    if fmt == "money":
        a = abs(v)
        return f"{v / 1e9:g}bn" if a >= 1e9 else f"{v / 1e6:g}m" if a >= 1e6 else f"{v / 1e3:g}k" if a >= 1e3 else f"{v:g}"
    return f"{v:g}"


def line_chart_svg(
    title: str,
    x: Sequence[float],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    x_title: str,
    y_title: str,
    y_format: str = "num",
    width: int = 520,
    height: int = 300,
    dashed: Sequence[str] = (),
) -> str:
    """A line chart as inline SVG: title, both axis titles, ticks, a legend.

    ``series``: (name, values) with ``None`` for a gap; ``y_format`` ``num``, ``pct`` or
    ``money`` for the tick labels; the series named in ``dashed`` are drawn dashed, on
    top of the others (a curve that may coincide with another stays visible).
    """
    legend_rows = max(1, -(-len(series) // 4))
    left, right, top, bottom = 64, 12, 28, 48 + 14 * legend_rows
    height += 14 * (legend_rows - 1)
    pw, ph = width - left - right, height - top - bottom
    ys = [v for _, vals in series for v in vals if v is not None]
    y_lo = min([0.0, *ys])
    y_hi = max([*ys, 0.0]) or 1.0
    x_lo, x_hi = (min(x), max(x)) if x else (0.0, 1.0)
    if x_hi == x_lo:
        x_hi = x_lo + 1

    def sx(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * pw

    def sy(v: float) -> float:
        return top + ph - (v - y_lo) / (y_hi - y_lo) * ph

    e = html.escape
    out = [
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">',
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{e(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    yt = _nice_ticks(y_lo, y_hi)
    if yt:
        y_hi = max(y_hi, yt[-1])
    for t in yt:
        yy = sy(t)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
        out.append(
            f'<text x="{left - 4}" y="{yy + 4:.1f}" text-anchor="end" font-size="10">{e(_tick_label(t, y_format))}</text>'
        )
    for t in _nice_ticks(x_lo, x_hi, 6):
        xx = sx(t)
        out.append(
            f'<text x="{xx:.1f}" y="{top + ph + 14}" text-anchor="middle" font-size="10">{e(_tick_label(t, "num"))}</text>'
        )
    out.append(
        f'<text x="{left + pw / 2}" y="{top + ph + 30}" text-anchor="middle" font-size="11">{e(x_title)}</text>'
    )
    out.append(
        f'<text x="14" y="{top + ph / 2}" text-anchor="middle" font-size="11" '
        f'transform="rotate(-90 14 {top + ph / 2})">{e(y_title)}</text>'
    )
    order = [k for k, (nm, _) in enumerate(series) if nm not in dashed]
    order += [k for k, (nm, _) in enumerate(series) if nm in dashed]
    for k in order:
        name, vals = series[k]
        color = _COLORS[k % len(_COLORS)]
        dash = ' stroke-dasharray="5,3"' if name in dashed else ""
        segs: list[list[str]] = [[]]
        for xv, yv in zip(x, vals, strict=False):
            if yv is None:
                segs.append([])
            else:
                segs[-1].append(f"{sx(xv):.1f},{sy(yv):.1f}")
        for seg in segs:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{color}"/>')
            elif seg:
                out.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} points="{" ".join(seg)}"/>'
                )
        lx = left + (k % 4) * (pw / 4)
        ly = top + ph + 48 + 14 * (k // 4)
        out.append(f'<line x1="{lx:.1f}" x2="{lx + 12:.1f}" y1="{ly - 7}" y2="{ly - 7}" stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 16:.1f}" y="{ly - 4}" font-size="10">{e(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def _fmt(v: Any, kind: str, scale: float) -> tuple[str, str]:
    """(text, css class) of a value; ``None`` is "not modelled"/"n/a"."""
    if v is None:
        return ("not modelled" if kind == "nm" else "n/a"), "nm"
    if isinstance(v, bool):
        return ("yes" if v else "no"), ""
    if kind == "money" and isinstance(v, int):
        return f"{v / scale:,.2f}", ""
    if kind == "pct" and isinstance(v, float):
        return f"{v:.4%}", ""
    if kind == "factor" and isinstance(v, float):
        return f"{v:.8f}", ""
    if isinstance(v, float):
        return f"{v:,.6f}", ""
    if isinstance(v, int):
        return f"{v:,}", ""
    return str(v), "l"


def _table(headers: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    head = "".join(f"<th{' class=l' if i == 0 else ''}>{html.escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td class='{c}'>{html.escape(t)}</td>" for t, c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _kv(pairs: Sequence[tuple[str, Any, str]], scale: float) -> str:
    return _table(["item", "value"], [[(label, "l"), _fmt(v, kind, scale)] for label, v, kind in pairs])


_MONEY_NM = {"servicer_advances"}
#: pool fields of the loan states (null: not modelled in the run)
_STATE_NM = ("modifi", "forbearance")


def statement_html(st: DistributionStatement, history: Sequence[DistributionStatement] = ()) -> str:
    """One statement as a self-contained page (see :meth:`DistributionStatement.to_html`)."""
    d = st.as_dict()
    scale = 10.0 ** st.decimals
    e = html.escape
    dates, pool, ce, ev = d["dates"], d["pool"], d["credit_enhancement"], d["evidence"]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(st.deal)}: distribution statement, period {st.period}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(st.deal)}: distribution date statement, period {st.period}</h1>",
        "<p>Amounts in currency units of the settlement asset; rates and percentages "
        "annualised where stated. <span class='nm'>not modelled</span> marks a figure the "
        "project does not model yet.</p>",
        "<h2>Dates</h2>",
        _kv([(k.replace("_", " "), v, "") for k, v in dates.items()], scale),
        "<h2>Classes</h2>",
    ]
    cls_cols = [
        ("class", "name", ""),
        ("coupon", "coupon", "pct"),
        ("effective rate", "effective_rate", "pct"),
        ("original face", "original_face", "money"),
        ("beginning balance", "beginning_balance", "money"),
        ("interest due", "interest_due", "money"),
        ("interest paid", "interest_paid", "money"),
        ("interest shortfall", "interest_shortfall", "money"),
        ("unpaid interest carried", "unpaid_interest_carried", "money"),
        ("principal paid", "principal_paid", "money"),
        ("realised loss", "realised_loss", "money"),
        ("write-up", "writeup", "money"),
        ("ending balance", "ending_balance", "money"),
        ("factor", "factor", "factor"),
        ("cumulative loss", "cumulative_realised_loss", "money"),
    ]
    rows = [
        [
            (c["name"] + (" (notional)" if c["notional"] else ""), "l"),
            *(_fmt(c[key], kind, scale) for _, key, kind in cls_cols[1:]),
        ]
        for c in d["classes"]
    ]
    # notional (IO) balances are not money owed: they stay out of the balance totals
    flows = {"interest_due", "interest_paid", "interest_shortfall", "unpaid_interest_carried"}
    tot = [("total", "l")] + [
        _fmt(sum(c[key] for c in d["classes"] if key in flows or not c["notional"]), kind, scale)
        if kind == "money"
        else ("", "")
        for _, key, kind in cls_cols[1:]
    ]
    parts.append("<div class='wide'>" + _table([h for h, _, _ in cls_cols], [*rows, tot]) + "</div>")
    if any(c["notional"] for c in d["classes"]):
        parts.append("<p class='nm'>Balance totals leave the notional classes out.</p>")

    parts.append("<h2>Pool</h2>")
    pool_rows: list[tuple[str, Any, str]] = []
    for k, v in pool.items():
        if k == "fees":
            continue
        kind = "money"
        if k.endswith("_pct") or k == "pool_factor":
            kind = "pct" if k.endswith("_pct") else "factor"
        elif k.startswith("loan_count") or k.endswith("_count"):
            kind = "nm" if v is None else ""
        elif isinstance(v, bool):
            kind = ""
        if v is None and (k in _MONEY_NM or k.startswith(_STATE_NM)):
            kind = "nm"
        pool_rows.append((k.replace("_", " "), v, kind))
    parts.append(_kv(pool_rows, scale))
    if pool["fees"]:
        parts.append(
            _table(
                ["fee", "paid", "unpaid carried"],
                [[(f["name"], "l"), _fmt(f["paid"], "money", scale), _fmt(f["unpaid"], "money", scale)]
                 for f in pool["fees"]],
            )
        )

    parts.append("<h2>Delinquency (end of the collection period)</h2>")
    parts.append(
        _table(
            ["status", "loans", "% of loans", "balance", "% of pool balance"],
            [
                [
                    (r["name"], "l"),
                    _fmt(r["count"], "nm", scale),
                    _fmt(r["pct_count"], "pct", scale) if r["count"] is not None else _fmt(None, "nm", scale),
                    _fmt(r["balance"], "money", scale) if r["balance"] is not None else _fmt(None, "nm", scale),
                    _fmt(r["pct_balance"], "pct", scale) if r["balance"] is not None else _fmt(None, "nm", scale),
                ]
                for r in d["delinquency"]
            ],
        )
    )

    parts.append("<h2>Loan states (servicer's; exits are those of the period)</h2>")
    parts.append(
        _table(
            ["state", "loans", "balance", "% of pool balance", "counted"],
            [
                [
                    (r["name"], "l"),
                    _fmt(r["count"], "nm", scale),
                    _fmt(r["balance"], "money", scale) if r["balance"] is not None else _fmt(None, "nm", scale),
                    _fmt(r["pct_balance"], "pct", scale) if r["balance"] is not None else _fmt(None, "nm", scale),
                    (r["when"], "l"),
                ]
                for r in d["loan_states"]
            ],
        )
    )

    parts.append("<h2>Credit enhancement</h2>")
    parts.append(
        _kv(
            [(k.replace("_", " "), v, "pct" if k.endswith("_pct") else "money")
             for k, v in ce.items() if k != "subordination"],
            scale,
        )
    )
    if ce["subordination"]:
        parts.append(
            _table(
                ["class", "credit support (% of pool)"],
                [[(s["name"], "l"), _fmt(s["pct"], "pct", scale)] for s in ce["subordination"]],
            )
        )

    parts.append("<h2>Triggers</h2>")
    if d["triggers"]:
        trows = []
        for t in d["triggers"]:
            state_cls = "bad" if t["state"] == "tripped" else "ok"
            trows.append(
                [
                    (t["name"], "l"),
                    (t["test"], "l"),
                    _fmt(t["value"], "", scale),
                    _fmt(t["threshold"], "", scale),
                    (t["fails_when"], "l"),
                    ("yes" if t["failing"] else "no", "bad" if t["failing"] else ""),
                    (t["state"], state_cls),
                    (", ".join(t["effects"]), "l"),
                    (t["note"], "l"),
                ]
            )
        parts.append(
            _table(["trigger", "test", "value", "threshold", "fails when", "failing", "state", "effects", "note"], trows)
        )
    else:
        parts.append("<p>The deal has no trigger.</p>")

    parts.append("<h2>Performance (annualised; the final period's pay-off is not a speed)</h2>")
    parts.append(
        _table(
            ["window", "months", "CPR", "CDR", "severity"],
            [
                [(r["name"], "l"), _fmt(r["months"], "", scale), _fmt(r["cpr"], "pct", scale),
                 _fmt(r["cdr"], "pct", scale), _fmt(r["severity"], "pct", scale)]
                for r in d["performance"]
            ],
        )
    )

    parts.append("<h2>Evidence on chain</h2>")
    ev_rows = []
    for k, v in ev.items():
        text = ", ".join(v) if isinstance(v, list) else v
        ev_rows.append((k.replace("_", " "), text, "money" if k.startswith("cash_") and k != "cash_conserved" else ""))
    parts.append(_kv(ev_rows, scale).replace("<td class='l'>0x", "<td class='l mono'>0x"))

    hist = [*[h for h in history if h.period < st.period], st]
    per = [float(h.period) for h in hist]
    figs = [
        line_chart_svg(
            "Pool balance",
            per,
            [("ending pool balance", [h.pool["ending_balance"] / scale for h in hist])],
            x_title="period",
            y_title="balance (currency units)",
            y_format="money",
        ),
        line_chart_svg(
            "Pool and class factors",
            per,
            [("pool", [h.pool["pool_factor"] for h in hist])]
            + [(c["name"], [h.classes[i]["factor"] for h in hist]) for i, c in enumerate(d["classes"])],
            x_title="period",
            y_title="factor (current / original)",
            dashed=("pool",),
        ),
        line_chart_svg(
            "Prepayment speed (1-month CPR)",
            per,
            [("CPR", [h.performance[0]["cpr"] for h in hist])],
            x_title="period",
            y_title="CPR (annualised)",
            y_format="pct",
        ),
    ]
    parts.append("<h2>Figures (periods 1 to " + str(st.period) + ")</h2><div class='figs'>" + "".join(figs) + "</div>")
    if st.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in st.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def index_html(statements: Sequence[DistributionStatement], *, files: Sequence[str]) -> str:
    """A self-contained index page: one row per statement, linking to its files."""
    if not statements:
        return "<!DOCTYPE html><html><head><meta charset='utf-8'><title>statements</title></head><body><p>No statement.</p></body></html>"
    scale = 10.0 ** statements[0].decimals
    rows = []
    for st, stem in zip(statements, files, strict=True):
        p = st.pool
        cpr = st.performance[0]["cpr"]
        rows.append(
            "<tr>"
            f"<td class='l'><a href='{html.escape(stem)}.html'>{st.period}</a></td>"
            f"<td class='l'>{html.escape(st.dates['distribution_date'])}</td>"
            f"<td>{p['ending_balance'] / scale:,.2f}</td>"
            f"<td>{p['pool_factor']:.6f}</td>"
            f"<td>{p['principal_distributed'] / scale:,.2f}</td>"
            f"<td>{'n/a' if cpr is None else f'{cpr:.2%}'}</td>"
            f"<td>{', '.join(t['name'] for t in st.triggers if t['state'] == 'tripped') or '-'}</td>"
            f"<td class='l'><a href='{html.escape(stem)}.csv'>csv</a> <a href='{html.escape(stem)}.json'>json</a></td>"
            "</tr>"
        )
    hist = list(statements)
    fig = line_chart_svg(
        "Pool and class factors",
        [float(h.period) for h in hist],
        [("pool", [h.pool["pool_factor"] for h in hist])]
        + [(c["name"], [h.classes[i]["factor"] for h in hist]) for i, c in enumerate(hist[-1].classes)],
        x_title="period",
        y_title="factor (current / original)",
        width=760,
        dashed=("pool",),
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(statements[0].deal)}: distribution statements</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(statements[0].deal)}: distribution statements</h1>{fig}"
        "<table><thead><tr><th class=l>period</th><th class=l>distribution date</th><th>ending pool balance</th>"
        "<th>pool factor</th><th>principal distributed</th><th>CPR (1m)</th><th>triggers tripped</th><th class=l>files</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></body></html>"
    )
