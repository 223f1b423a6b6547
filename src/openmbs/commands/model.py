"""`openmbs model` commands: train a credit (PD) model on loan-level data, and predict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from openmbs._files import atomic_write, atomic_write_text
from openmbs.commands._output import console as stdout_console
from openmbs.commands._output import print_table
from openmbs.errors import InputError

# The credit models and loan histories load scikit-learn, numpy and pyarrow (seconds):
# each command imports them when it runs, so that `openmbs --help` and the other
# commands do not wait.


def train(
    data: Annotated[
        Path, typer.Option("--data", help="Loan-level CSV or Parquet file, one row per loan.")
    ],
    target: Annotated[str, typer.Option("--target", help="The outcome column.")],
    positive: Annotated[
        str, typer.Option("--positive", help="Outcome value that counts as a default.")
    ],
    features: Annotated[
        str | None,
        typer.Option(
            "--features",
            help="Comma-separated feature columns (default: every usable column).",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="gbm (gradient boosting) or logistic.")
    ] = "gbm",
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder to save the model in (model.pkl/json).")
    ] = None,
    test_size: Annotated[
        float, typer.Option("--test-size", help="Share of rows held out for evaluation.")
    ] = 0.25,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and the model.")] = 0,
    max_rows: Annotated[
        int | None, typer.Option("--max-rows", help="Use a random subsample of this many rows.")
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option("--horizon", help="Months over which the outcome was observed (saved)."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Cap on native threads while fitting.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
) -> None:
    """Train a PD model and print its held-out AUC and KS beside a logistic baseline.

    --json gives rates (PD, positive rate, observed default rate) as decimals; the tables
    show them in percent.
    """
    from openmbs.risk import train_credit_model  # heavy: see the module's note

    if model not in ("gbm", "logistic"):
        raise InputError(f"--model {model!r}: expected 'gbm' or 'logistic'")
    names = None if features is None else [f for f in features.split(",") if f.strip()]
    result = train_credit_model(
        data,
        target=target,
        positive=positive,
        features=names,
        model="gbm" if model == "gbm" else "logistic",
        test_size=test_size,
        seed=seed,
        max_rows=max_rows,
        horizon_months=horizon,
        n_threads=threads,
    )
    saved = None if out is None else str(result.model.save(out))
    ev, base = result.evaluation, result.baseline
    info = result.model.info
    if as_json:
        doc: dict[str, Any] = {
            "data": str(data),
            "model": info.kind,
            "auc": ev.auc,
            "ks": ev.ks,
            "brier": ev.brier,
            "baseline": {"model": "logistic", "auc": base.auc, "ks": base.ks, "brier": base.brier},
            "baseline_auc": base.auc,
            "baseline_ks": base.ks,
            "n_train": info.n_train,
            "n_test": info.n_test,
            "positive_rate": ev.base_rate,
            "features": [f.to_json() for f in info.features],
            "dropped": [f.to_json() for f in result.inferred if f.name in result.dropped],
            "rows_missing_target": result.n_missing_target,
            "calibration": [vars(r) for r in ev.calibration],
            "out": saved,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    console = stdout_console()
    ft = Table(title=f"Features inferred from {data.name}")
    for col in ("column", "kind", "unit", "missing", "distinct", "used"):
        ft.add_column(col, justify="right" if col in ("missing", "distinct") else "left")
    for f in result.inferred:
        used = "yes" if f.name not in result.dropped else "no"
        ft.add_row(f.name, f.kind, f.unit or "", f"{f.n_missing:,}", f"{f.n_unique:,}", used)
    console.print(ft)
    mt = Table(title=f"Held-out performance ({info.n_test:,} rows, {ev.base_rate:.2%} positive)")
    for col in ("model", "AUC", "KS", "Brier"):
        mt.add_column(col, justify="left" if col == "model" else "right")
    mt.add_row(info.kind, f"{ev.auc:.4f}", f"{ev.ks:.4f}", f"{ev.brier:.4f}")
    if info.kind != "logistic":
        mt.add_row("logistic (baseline)", f"{base.auc:.4f}", f"{base.ks:.4f}", f"{base.brier:.4f}")
    console.print(mt)
    ct = Table(title=f"Calibration by decile of predicted PD ({info.kind})")
    for col in ("decile", "loans", "mean PD %", "observed %"):
        ct.add_column(col, justify="right")
    for r in ev.calibration:
        ct.add_row(
            str(r.decile), f"{r.n:,}", f"{100 * r.mean_pd:.2f}", f"{100 * r.observed_rate:.2f}"
        )
    console.print(ct)
    if saved:
        console.print(f"model saved to {saved}")


def predict(
    model: Annotated[Path, typer.Option("--model", help="A folder saved by `model train`.")],
    data: Annotated[Path, typer.Option("--data", help="Loan-level CSV or Parquet file.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    horizon: Annotated[
        int | None,
        typer.Option(
            "--horizon",
            help="PD horizon in months for the monthly default rate (default: the saved one).",
        ),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option("--id-column", help="Copy this column to the output (default: loan_id)."),
    ] = None,
) -> None:
    """Write each loan's PD (and, given a horizon, its constant monthly default rate and
    the CDR it compounds to), all decimals."""
    import numpy as np  # heavy: see the module's note
    import pyarrow as pa

    from openmbs.behaviour import mdr_to_cdr
    from openmbs.risk import load_credit_model, pd_to_mdr, read_loan_table

    m = load_credit_model(model)
    table = read_loan_table(data)
    pd = m.predict_pd(table)
    cols: dict[str, Any] = {"row": np.arange(1, len(pd) + 1, dtype=np.int64)}
    idc = id_column or ("loan_id" if "loan_id" in table.column_names else None)
    if idc is not None:
        if idc not in table.column_names:
            raise InputError(f"file {str(data)!r}, column {idc!r}: no such column")
        cols[idc] = table.column(idc)
    cols["pd"] = pd
    h = horizon if horizon is not None else m.info.horizon_months
    if h is not None:
        mdr = pd_to_mdr(pd, h)
        cols["mdr"] = mdr
        cols["cdr"] = mdr_to_cdr(mdr)
    result = pa.table(cols)
    _write_table(result, out)
    typer.echo(f"{len(pd):,} loans scored -> {out}" + (f" (horizon {h} months)" if h else ""))


def _write_table(table: Any, out: Path) -> None:
    """Write CSV or Parquet to a temporary name in the same folder, then move it."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise InputError(f"--out {str(out)!r}: expected a .csv or .parquet file name")
    out.parent.mkdir(parents=True, exist_ok=True)

    def _w(tmp: Path) -> None:
        if suffix == ".csv":
            import pyarrow.csv as pcsv  # heavy: see the module's note

            pcsv.write_csv(table, tmp)
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)

    atomic_write(out, _w)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    sub = typer.Typer(
        name="model",
        help="Credit models on loan-level data: train (with held-out AUC/KS) and predict.",
        no_args_is_help=True,
    )
    sub.command("train")(train)
    sub.command("predict")(predict)
    sub.command("transitions")(transitions)
    sub.command("mitigation")(mitigation)
    app.add_typer(sub, name="model")


def transitions(
    performance: Annotated[
        Path,
        typer.Option(
            "--performance", help="Monthly performance file (Fannie Mae 31 fields, Freddie Mac 32)."
        ),
    ],
    acquisition: Annotated[
        Path | None,
        typer.Option(
            "--acquisition", help="Acquisition (Fannie) or origination (Freddie) file: LTV, FICO."
        ),
    ] = None,
    by: Annotated[
        str, typer.Option("--by", help="Bucket dimensions, comma-separated: age, ltv, fico.")
    ] = "age,ltv,fico",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Also write the matrix (the --json object) to this file: "
            "`openmbs demo --transitions FILE` runs the simulator on it.",
        ),
    ] = None,
) -> None:
    """Estimate monthly roll rates between loan states from a real loan history.

    --json gives probabilities as decimals; the table shows percent.
    """
    from openmbs.servicing import LoanState, estimate_transitions  # heavy: see the module's note

    history = _read_history(performance, acquisition)
    dims = tuple(d.strip() for d in by.split(",") if d.strip())
    matrix = estimate_transitions(history, by=dims)
    doc = {"performance": str(performance), "agency": history.agency, **matrix.to_dict()}
    if out is not None:
        _write_json(out, doc)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    pooled = matrix.pooled()
    obs, prob = pooled.observations[0], pooled.probabilities[0]
    seen = [s for s in LoanState if pooled.counts[0, :, s].any() or obs[s]]
    table = Table(
        title=f"Monthly roll rates in % of the from-state, all buckets ({history.agency}, {history.n_loans:,} loans, "
        f"{matrix.n_pairs:,} loan-month pairs)"
    )
    table.add_column("from \\ to")
    for s in seen:
        table.add_column(s.label, justify="right")
    table.add_column("pairs", justify="right")
    for s in seen:
        if not obs[s]:
            continue
        table.add_row(s.label, *[f"{100 * prob[s, t]:.1f}" for t in seen], f"{obs[s]:,}")
    print_table(table)
    used = int((matrix.observations.sum(axis=1) > 0).sum())
    typer.echo(f"{used} of {matrix.n_buckets} buckets by {', '.join(dims) or 'nothing'} observed")


def _read_history(performance: Path, acquisition: Path | None) -> Any:
    """A Fannie Mae (31 fields) or Freddie Mac (32 fields) history, by its field count."""
    from openmbs.servicing import read_fannie_performance, read_freddie_servicing

    try:
        with open(performance, encoding="utf-8", errors="replace") as fh:
            fields = fh.readline().count("|") + 1
    except OSError as exc:
        raise InputError(f"file {str(performance)!r}: cannot open ({exc.strerror})") from exc
    if fields == 31:
        return read_fannie_performance(acquisition, performance)
    if fields == 32:
        return read_freddie_servicing(acquisition, performance)
    raise InputError(
        f"file {str(performance)!r}, row 1: {fields} fields; expected 31 (Fannie Mae "
        "performance) or 32 (Freddie Mac servicing) separated by '|'"
    )


def _write_json(out: Path, doc: dict[str, Any]) -> None:
    try:
        atomic_write_text(out, json.dumps(doc, indent=1))
    except OSError as exc:
        raise InputError(f"file {str(out)!r}: cannot write ({exc.strerror})") from exc


def mitigation(
    performance: Annotated[
        Path,
        typer.Option(
            "--performance", help="Monthly performance file (Fannie Mae 31 fields, Freddie Mac 32)."
        ),
    ],
    acquisition: Annotated[
        Path | None,
        typer.Option("--acquisition", help="Acquisition (Fannie) or origination (Freddie) file."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Also write the estimate (the --json object) to this file: "
            "`openmbs demo --mitigation FILE` runs the simulator at these rates.",
        ),
    ] = None,
) -> None:
    """Estimate loss-mitigation rates (modifications, short and third-party sales, their
    severities, forbearance plans) from a real loan history.

    Rates are monthly probabilities and shares as decimals; docs/servicing.md defines each.
    """
    from openmbs.servicing import estimate_loss_mitigation  # heavy: see the module's note

    est = estimate_loss_mitigation(_read_history(performance, acquisition))
    doc = est.to_dict()
    if out is not None:
        _write_json(out, doc)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    c = est.counts
    basis = {
        "modification": f"{c['modifications']:,} of {c['serious_months']:,} loan-months 90+ days past due",
        "short_sale": f"of {sum(c['credit_events'].values()):,} credit events",
        "third_party_sale": "of the credit events that are not short sales",
        "forbearance": (
            "no forbearance field"
            if c["forbearance_entries"] is None
            else f"{c['forbearance_entries']:,} of {c['current_months']:,} current months"
        ),
    }
    table = Table(title=f"Loss mitigation ({est.agency}, {c['loan_months']:,} loan-months)")
    table.add_column("field")
    table.add_column("value", justify="right")
    table.add_column("from")
    for name, value in est.rates.items():
        shown = (
            "-" if value is None else (f"{value:,}" if isinstance(value, int) else f"{value:.6g}")
        )
        table.add_row(name, shown, basis.get(name, ""))
    print_table(table)
    for note in est.notes:
        typer.echo(note)
