"""Credit (default) models on loan-level data: train, evaluate, save, load, predict.

Two model kinds share one pipeline front end (:mod:`openmbs.risk._features`):

- ``gbm``: scikit-learn's histogram gradient boosting classifier. Numeric columns go in
  as they are (missing values are handled natively by the trees); categorical columns
  are ordinal-encoded and declared categorical to the booster (categories held by fewer
  than 1% of the training rows, or beyond the 250 most frequent, share one
  "infrequent" code). Trees are shallow (depth 2, so at most pairwise interactions),
  leaves hold at least ``max(20, n_train / 200)`` rows, the learning rate is 0.1 and
  boosting stops when the loss on a 15% validation split has not improved for 40
  rounds. Shallow trees ranked risk best on both the synthetic known-hazard loans and
  the Lending Club file in our tests.
- ``logistic``: a logistic-regression baseline. Numeric columns are median-imputed with a
  missing-value indicator and standardised; categorical columns are one-hot encoded
  (missing is its own category; categories seen fewer than 20 times share one column).

A saved model is a folder with ``model.pkl`` (the pickled scikit-learn pipeline) and
``model.json`` (feature names and kinds, target, positive value, package versions and
the SHA-256 of the pickle). Loading refuses a folder whose pickle does not match its
hash or whose scikit-learn (major.minor) or NumPy (major) version differs from the
running one: scikit-learn does not support unpickling across versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from openmbs import __version__
from openmbs._files import atomic_write
from openmbs.errors import AssumptionError, DataIntegrityError, InputError, ModelError
from openmbs.risk._features import (
    FeatureSpec,
    _text_values,
    feature_matrix,
    infer_features,
    read_loan_table,
)

__all__ = [
    "CalibrationRow",
    "CreditModel",
    "CreditModelInfo",
    "DefaultVectors",
    "Evaluation",
    "TrainResult",
    "default_vectors",
    "evaluate_scores",
    "load_credit_model",
    "pd_to_mdr",
    "train_credit_model",
]

FloatArray = npt.NDArray[np.float64]
ModelKind = Literal["gbm", "logistic"]

#: Version of the saved-model folder layout.
MODEL_FORMAT_VERSION = 1
MODEL_FILE = "model.pkl"
META_FILE = "model.json"

_GBM_MAX_CATEGORIES = 250  # HistGradientBoosting allows at most max_bins (255) categories
_GBM_MIN_FREQUENCY = 0.01  # rarer categories share one code: fewer, steadier splits
_ONEHOT_MIN_FREQUENCY = 20


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CalibrationRow:
    """One decile of predicted PD on the held-out set (decile 1 = lowest PD)."""

    decile: int
    n: int
    mean_pd: float
    observed_rate: float
    min_pd: float
    max_pd: float


@dataclass(frozen=True)
class Evaluation:
    """Held-out performance of a PD model.

    Attributes
    ----------
    auc : float
        Area under the ROC curve.
    ks : float
        Kolmogorov-Smirnov statistic: the largest gap between the cumulative score
        distributions of defaulters and non-defaulters, ``max(TPR - FPR)``.
    brier : float
        Mean squared error of the PD against the 0/1 outcome.
    base_rate : float
        Share of positives in the evaluated rows.
    n : int
        Rows evaluated.
    calibration : tuple of CalibrationRow
        Mean predicted PD against the observed default rate by decile of predicted PD.
    """

    auc: float
    ks: float
    brier: float
    base_rate: float
    n: int
    calibration: tuple[CalibrationRow, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "auc": self.auc,
            "ks": self.ks,
            "brier": self.brier,
            "base_rate": self.base_rate,
            "n": self.n,
            "calibration": [vars(r) for r in self.calibration],
        }


@dataclass(frozen=True)
class CreditModelInfo:
    """The metadata saved beside a credit model (``model.json``)."""

    kind: str
    features: tuple[FeatureSpec, ...]
    target: str
    positive: str
    horizon_months: int | None
    n_train: int
    n_test: int
    metrics: dict[str, float]
    versions: dict[str, str]
    source: str | None
    created: str
    format_version: int = MODEL_FORMAT_VERSION

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The feature columns the model reads, in order."""
        return tuple(f.name for f in self.features)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "format_version": self.format_version,
            "kind": self.kind,
            "features": [f.to_json() for f in self.features],
            "target": self.target,
            "positive": self.positive,
            "horizon_months": self.horizon_months,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "metrics": dict(self.metrics),
            "versions": dict(self.versions),
            "source": self.source,
            "created": self.created,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CreditModelInfo:
        """Inverse of :meth:`to_json`."""
        horizon = data.get("horizon_months")
        return cls(
            kind=str(data["kind"]),
            features=tuple(FeatureSpec.from_json(f) for f in data["features"]),
            target=str(data["target"]),
            positive=str(data["positive"]),
            horizon_months=None if horizon is None else int(horizon),
            n_train=int(data["n_train"]),
            n_test=int(data["n_test"]),
            metrics={str(k): float(v) for k, v in data.get("metrics", {}).items()},
            versions={str(k): str(v) for k, v in data["versions"].items()},
            source=data.get("source"),
            created=str(data.get("created", "")),
            format_version=int(data["format_version"]),
        )


@dataclass(frozen=True)
class DefaultVectors:
    """Loan-level default assumptions from a credit model, aligned to the tape rows.

    Attributes
    ----------
    pd : ndarray
        Probability of default over ``horizon_months`` per loan.
    mdr : ndarray
        Constant monthly default rate per loan, ``1 - (1 - pd) ** (1 / horizon_months)``.
    cdr : ndarray
        The same as an annual rate, ``1 - (1 - mdr) ** 12``.
    horizon_months : int
        The horizon the PD refers to.
    loan_id : tuple of str or None
        The table's ``loan_id`` column when it has one.
    """

    pd: FloatArray
    mdr: FloatArray
    cdr: FloatArray
    horizon_months: int
    loan_id: tuple[str, ...] | None

    def __len__(self) -> int:
        return len(self.pd)

    def mdr_matrix(self, n_periods: int) -> FloatArray:
        """The MDR as an ``(n_loans, n_periods)`` array, constant along each row."""
        return np.repeat(self.mdr[:, None], int(n_periods), axis=1)


@dataclass(frozen=True, eq=False)
class CreditModel:
    """A fitted PD model: a scikit-learn pipeline plus the metadata needed to reuse it.

    Use :func:`train_credit_model` to build one and :func:`load_credit_model` to read a
    saved one.
    """

    pipeline: Any
    info: CreditModelInfo

    def predict_pd(
        self, data: str | Path | pa.Table | Any, *, n_threads: int | None = None
    ) -> FloatArray:
        """Probability of the positive outcome for each row of a loan-level table.

        Parameters
        ----------
        data : path, pyarrow.Table or LoanTape
            A file (CSV/Parquet), a table, or any object with a ``.table`` attribute
            (such as :class:`openmbs.collateral.LoanTape`) holding the feature columns.
        n_threads : int, optional
            Cap on native threads while predicting (see :func:`train_credit_model`).

        Returns
        -------
        ndarray
            PD per row, in row order.
        """
        table, file = _as_table(data)
        return self._predict_table(table, file, n_threads)

    def _predict_table(
        self, table: pa.Table, file: str | None, n_threads: int | None = None
    ) -> FloatArray:
        x = feature_matrix(table, self.info.features, file=file)
        with _thread_limit(n_threads):
            return np.asarray(self.pipeline.predict_proba(x)[:, 1], dtype=np.float64)

    def save(self, directory: str | Path) -> Path:
        """Write ``model.pkl`` and ``model.json`` into ``directory`` (created if needed).

        Each file is written to a temporary name first and then moved into place, so an
        interrupted save never leaves a half-written file.
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        blob = pickle.dumps(self.pipeline, protocol=pickle.HIGHEST_PROTOCOL)
        meta = self.info.to_json()
        meta["pickle_sha256"] = hashlib.sha256(blob).hexdigest()
        _atomic_write(d / MODEL_FILE, blob)
        _atomic_write(d / META_FILE, (json.dumps(meta, indent=2) + "\n").encode())
        return d


@dataclass(frozen=True, eq=False)
class TrainResult:
    """The outcome of :func:`train_credit_model`.

    Attributes
    ----------
    model : CreditModel
        The fitted model of the requested kind.
    evaluation : Evaluation
        Its held-out performance.
    baseline : Evaluation
        The logistic-regression baseline's held-out performance on the same split (the
        same as ``evaluation`` when the model itself is logistic).
    baseline_model : CreditModel
        The fitted logistic baseline (``model`` itself when that is logistic).
    inferred : tuple of FeatureSpec
        Every inspected column with its inferred kind, including those left out.
    dropped : tuple of str
        Inspected columns that are not features (identifiers, constants, empty).
    n_missing_target : int
        Rows left out because the outcome was missing.
    """

    model: CreditModel
    evaluation: Evaluation
    baseline: Evaluation
    baseline_model: CreditModel
    inferred: tuple[FeatureSpec, ...]
    dropped: tuple[str, ...]
    n_missing_target: int = field(default=0)


# --------------------------------------------------------------------------- helpers


def _atomic_write(path: Path, data: bytes) -> None:
    def _w(tmp: Path) -> None:
        tmp.write_bytes(data)

    atomic_write(path, _w)


def _as_table(data: str | Path | pa.Table | Any) -> tuple[pa.Table, str | None]:
    if isinstance(data, pa.Table):
        return data, None
    if isinstance(data, (str, Path)):
        return read_loan_table(data), str(data)
    table = getattr(data, "table", None)
    if isinstance(table, pa.Table):
        source = getattr(data, "source", None)
        return table, None if source is None else str(source)
    raise InputError(f"expected a file path, a pyarrow.Table or a LoanTape, got {type(data)!r}")


def _thread_limit(n_threads: int | None) -> contextlib.AbstractContextManager[Any]:
    if n_threads is None:
        return contextlib.nullcontext()
    if n_threads < 1:
        raise InputError(f"n_threads {n_threads!r}: expected a positive number")
    # scikit-learn and its threadpoolctl load in about a second: imported where a model is
    # fitted or scored, so that importing openmbs.risk (scenario workers too) stays fast
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    return cast("contextlib.AbstractContextManager[Any]", threadpool_limits(limits=n_threads))


def _versions() -> dict[str, str]:
    import sklearn  # heavy: see _thread_limit

    return {
        "openmbs": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def _major_minor(v: str) -> tuple[str, ...]:
    return tuple(v.split(".")[:2])


def _to_float(x: Any) -> FloatArray:
    """Cast the numeric block of the object feature matrix to float64."""
    return np.asarray(x, dtype=np.float64)


def _build_pipeline(kind: str, specs: Sequence[FeatureSpec], seed: int, n_rows: int) -> Any:
    # heavy: see _thread_limit
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    num_idx = [j for j, s in enumerate(specs) if s.kind != "categorical"]
    cat_idx = [j for j, s in enumerate(specs) if s.kind == "categorical"]
    transformers: list[tuple[str, Any, list[int]]] = []
    if kind == "gbm":
        if num_idx:
            transformers.append(("num", FunctionTransformer(_to_float), num_idx))
        if cat_idx:
            enc = OrdinalEncoder(
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
                max_categories=_GBM_MAX_CATEGORIES,
                min_frequency=_GBM_MIN_FREQUENCY,
                dtype=np.float64,
            )
            transformers.append(("cat", enc, cat_idx))
        mask = np.array([False] * len(num_idx) + [True] * len(cat_idx))
        clf = HistGradientBoostingClassifier(
            learning_rate=0.1,
            max_iter=500,
            max_depth=2,
            max_leaf_nodes=4,
            min_samples_leaf=max(20, n_rows // 200),
            l2_regularization=1.0,
            categorical_features=mask if cat_idx else None,
            early_stopping=True,
            validation_fraction=0.15,
            n_iter_no_change=40,
            random_state=seed,
        )
        pre = ColumnTransformer(transformers, sparse_threshold=0.0)
        return Pipeline([("features", pre), ("model", clf)])
    if kind == "logistic":
        if num_idx:
            num = Pipeline(
                [
                    ("float", FunctionTransformer(_to_float)),
                    ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                    ("scale", StandardScaler()),
                ]
            )
            transformers.append(("num", num, num_idx))
        if cat_idx:
            cat = Pipeline(
                [
                    ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                    (
                        "onehot",
                        OneHotEncoder(
                            handle_unknown="infrequent_if_exist",
                            min_frequency=_ONEHOT_MIN_FREQUENCY,
                        ),
                    ),
                ]
            )
            transformers.append(("cat", cat, cat_idx))
        pre = ColumnTransformer(transformers)
        clf = LogisticRegression(C=1.0, max_iter=2000)
        return Pipeline([("features", pre), ("model", clf)])
    raise InputError(f"model kind {kind!r}: expected 'gbm' or 'logistic'")


def _target_vector(
    table: pa.Table, target: str, positive: str, *, file: str | None
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
    """0/1 outcome and a mask of rows where the outcome is present."""
    if target not in table.column_names:
        raise InputError(
            f"file {file!r}, column {target!r}: target column not found; "
            f"columns are {table.column_names}"
        )
    values = _text_values(table.column(target))
    present = np.array([v is not None for v in values], dtype=bool)
    pos = str(positive).strip()
    y = np.array([1 if v == pos else 0 for v in values], dtype=np.int8)
    if not y.any():
        # A numeric column: "1" should match 1.0.
        try:
            pos_f = float(pos)
        except ValueError:
            pos_f = None
        if pos_f is not None:
            for i, v in enumerate(values):
                if v is None:
                    continue
                try:
                    if float(v) == pos_f:
                        y[i] = 1
                except ValueError:
                    pass
    if not present.any():
        raise InputError(f"file {file!r}, column {target!r}: the target column has no values")
    if not y.any():
        seen = sorted({v for v in values if v is not None})
        shown = ", ".join(repr(s) for s in seen[:10]) + (" ..." if len(seen) > 10 else "")
        raise InputError(
            f"file {file!r}, column {target!r}, value {positive!r}: positive value not found "
            f"in the target column; values present: {shown}"
        )
    if int(y[present].sum()) == int(present.sum()):
        raise InputError(
            f"file {file!r}, column {target!r}, value {positive!r}: every row has the "
            f"positive value; a model needs both outcomes"
        )
    return y, present


# --------------------------------------------------------------------------- public API


def evaluate_scores(y_true: npt.ArrayLike, score: npt.ArrayLike) -> Evaluation:
    """AUC, KS, Brier score and a decile calibration table of predicted PDs.

    Parameters
    ----------
    y_true : array_like of 0/1
        Observed outcomes (1 = default).
    score : array_like of float
        Predicted PD.

    Returns
    -------
    Evaluation

    Notes
    -----
    KS is ``max over thresholds of (TPR - FPR)``, which equals the two-sample
    Kolmogorov-Smirnov statistic between the scores of defaulters and non-defaulters.
    Deciles split the rows sorted by predicted PD into ten groups as equal as possible.

    Examples
    --------
    >>> e = evaluate_scores([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> round(e.auc, 2), round(e.ks, 2)
    (0.75, 0.5)
    """
    from sklearn.metrics import roc_auc_score, roc_curve  # heavy: see _thread_limit

    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(score, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise InputError(f"got {y.shape} outcomes for {p.shape} scores")
    if y.min(initial=1.0) == y.max(initial=0.0):
        raise ModelError("evaluation needs both outcomes among the rows evaluated")
    auc = float(roc_auc_score(y, p))
    fpr, tpr, _ = roc_curve(y, p)
    ks = float(np.max(tpr - fpr))
    order = np.argsort(p, kind="stable")
    rows = []
    for k, idx in enumerate(np.array_split(order, 10), start=1):
        if len(idx) == 0:
            continue
        rows.append(
            CalibrationRow(
                decile=k,
                n=len(idx),
                mean_pd=float(p[idx].mean()),
                observed_rate=float(y[idx].mean()),
                min_pd=float(p[idx].min()),
                max_pd=float(p[idx].max()),
            )
        )
    return Evaluation(
        auc=auc,
        ks=ks,
        brier=float(np.mean((p - y) ** 2)),
        base_rate=float(y.mean()),
        n=len(y),
        calibration=tuple(rows),
    )


def train_credit_model(
    data: str | Path | pa.Table | Any,
    *,
    target: str,
    positive: str,
    features: Sequence[str] | None = None,
    model: ModelKind = "gbm",
    test_size: float = 0.25,
    seed: int = 0,
    max_rows: int | None = None,
    horizon_months: int | None = None,
    n_threads: int | None = None,
) -> TrainResult:
    """Train a PD model on a loan-level table and evaluate it on a held-out split.

    Parameters
    ----------
    data : path, pyarrow.Table or LoanTape
        One row per loan with feature columns and an outcome column.
    target : str
        The outcome column.
    positive : str
        The outcome value that counts as a default (``"Charged Off"``); compared as
        stripped text, or as a number when the column is numeric.
    features : sequence of str, optional
        Feature columns; by default every other column whose inferred kind is usable
        (identifiers, constants and empty columns are left out and reported).
    model : {"gbm", "logistic"}
        Model kind; the logistic baseline is always fitted too, for comparison.
    test_size : float
        Share of rows held out (stratified on the outcome).
    seed : int
        Seed of the split, the subsample and the booster.
    max_rows : int, optional
        Train and test on a random subsample of at most this many rows.
    horizon_months : int, optional
        The horizon over which the outcome was observed (stored in the metadata and
        used by :func:`default_vectors` when no horizon is given there).
    n_threads : int, optional
        Cap on the native (OpenMP/BLAS) threads used while fitting; the libraries'
        default (every core) when None. On a shared machine 1 is often much faster.

    Returns
    -------
    TrainResult

    Raises
    ------
    InputError
        Missing file or column, or a positive value absent from the target column; the
        message names the file, the column and the value.
    """
    if model not in ("gbm", "logistic"):
        raise InputError(f"model kind {model!r}: expected 'gbm' or 'logistic'")
    if not 0.0 < test_size < 1.0:
        raise InputError(f"test_size {test_size!r}: expected a share strictly between 0 and 1")
    if horizon_months is not None and horizon_months <= 0:
        raise InputError(f"horizon_months {horizon_months!r}: expected a positive number")
    table, file = _as_table(data)
    y_all, present = _target_vector(table, target, positive, file=file)

    if features is None:
        candidates = [c for c in table.column_names if c != target]
        inferred = infer_features(table, candidates, file=file)
        specs = tuple(s for s in inferred if s.usable)
    else:
        names = [f.strip() for f in features if f.strip()]
        if target in names:
            raise InputError(
                f"file {file!r}, column {target!r}: the target cannot also be a feature"
            )
        inferred = infer_features(table, names, file=file)
        specs = tuple(
            FeatureSpec(s.name, "categorical", None, s.n_missing, s.n_unique)
            if s.kind in ("identifier", "constant")
            else s
            for s in inferred
            if s.kind != "empty"
        )
    dropped = tuple(s.name for s in inferred if s.name not in {f.name for f in specs})
    if not specs:
        raise InputError(f"file {file!r}: no usable feature columns (inferred: {inferred})")

    rows = np.flatnonzero(present)
    rng = np.random.default_rng(seed)
    if max_rows is not None and len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, size=int(max_rows), replace=False))
    x = feature_matrix(table.take(pa.array(rows)), specs, file=file)
    y = y_all[rows]
    if min(int(y.sum()), int(len(y) - y.sum())) < 2:
        raise InputError(f"file {file!r}, column {target!r}: too few rows of one outcome to split")
    from sklearn.model_selection import train_test_split  # heavy: see _thread_limit

    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )

    fitted: dict[str, Any] = {}
    evals: dict[str, Evaluation] = {}
    with _thread_limit(n_threads):
        for kind in dict.fromkeys([model, "logistic"]):
            pipe = _build_pipeline(kind, specs, seed, len(y_tr))
            pipe.fit(x_tr, y_tr)
            fitted[kind] = pipe
            evals[kind] = evaluate_scores(y_te, pipe.predict_proba(x_te)[:, 1])

    ev = evals[model]
    info = CreditModelInfo(
        kind=model,
        features=specs,
        target=target,
        positive=str(positive).strip(),
        horizon_months=horizon_months,
        n_train=len(y_tr),
        n_test=len(y_te),
        metrics={"auc": ev.auc, "ks": ev.ks, "brier": ev.brier},
        versions=_versions(),
        source=None if file is None else Path(file).name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    main = CreditModel(pipeline=fitted[model], info=info)
    if model == "logistic":
        base = main
    else:
        b = evals["logistic"]
        base = CreditModel(
            pipeline=fitted["logistic"],
            info=replace(
                info, kind="logistic", metrics={"auc": b.auc, "ks": b.ks, "brier": b.brier}
            ),
        )
    return TrainResult(
        model=main,
        evaluation=ev,
        baseline=evals["logistic"],
        baseline_model=base,
        inferred=inferred,
        dropped=dropped,
        n_missing_target=int((~present).sum()),
    )


def load_credit_model(directory: str | Path) -> CreditModel:
    """Load a model saved by :meth:`CreditModel.save`.

    Raises
    ------
    InputError
        The folder or its files are missing or unreadable, or the model was saved with
        a scikit-learn (major.minor) or NumPy (major) version other than the running
        one, or with another folder layout version.
    DataIntegrityError
        ``model.pkl`` does not match the SHA-256 recorded in ``model.json``.

    Notes
    -----
    The pipeline is stored with :mod:`pickle`, which runs code when loaded: load model
    folders only from sources you trust. The hash check detects a pickle replaced
    without updating the metadata, not a malicious folder.
    """
    d = Path(directory)
    meta_path, model_path = d / META_FILE, d / MODEL_FILE
    for p in (meta_path, model_path):
        if not p.is_file():
            raise InputError(f"file {str(p)!r}: not found (is {str(d)!r} a saved model folder?)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        info = CreditModelInfo.from_json(meta)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"file {str(meta_path)!r}: not valid model metadata: {exc}") from exc
    if info.format_version != MODEL_FORMAT_VERSION:
        raise InputError(
            f"file {str(meta_path)!r}, field 'format_version', value {info.format_version!r}: "
            f"this openmbs reads model format {MODEL_FORMAT_VERSION}"
        )
    now = _versions()
    saved_skl = info.versions.get("scikit-learn", "?")
    if _major_minor(saved_skl) != _major_minor(now["scikit-learn"]):
        raise InputError(
            f"file {str(meta_path)!r}, field 'versions.scikit-learn', value {saved_skl!r}: the "
            f"model was saved with scikit-learn {saved_skl} and this environment has "
            f"{now['scikit-learn']}; pickled pipelines do not load across scikit-learn "
            f"versions. Retrain the model with `openmbs model train`."
        )
    saved_np = info.versions.get("numpy", "?")
    if saved_np.split(".")[0] != now["numpy"].split(".")[0]:
        raise InputError(
            f"file {str(meta_path)!r}, field 'versions.numpy', value {saved_np!r}: the model "
            f"was saved with NumPy {saved_np} and this environment has {now['numpy']} "
            f"(a different major version). Retrain the model with `openmbs model train`."
        )
    blob = model_path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != meta.get("pickle_sha256"):
        raise DataIntegrityError(
            f"file {str(model_path)!r}: SHA-256 {digest} does not match the "
            f"{meta.get('pickle_sha256')!r} recorded in {META_FILE}"
        )
    try:
        pipeline = pickle.loads(blob)
    except Exception as exc:
        raise InputError(f"file {str(model_path)!r}: cannot unpickle the model: {exc}") from exc
    if not hasattr(pipeline, "predict_proba"):
        raise InputError(f"file {str(model_path)!r}: not a classifier pipeline")
    return CreditModel(pipeline=pipeline, info=info)


def pd_to_mdr(pd: npt.ArrayLike, horizon_months: int) -> FloatArray:
    """Constant monthly default rate equivalent to a PD over a horizon.

    Parameters
    ----------
    pd : array_like
        Probability of default over the horizon, in [0, 1].
    horizon_months : int
        The horizon in months.

    Returns
    -------
    ndarray
        ``mdr = 1 - (1 - pd) ** (1 / horizon_months)``.

    Notes
    -----
    A loan that defaults each month with the same conditional probability ``MDR``
    survives ``H`` months with probability ``(1 - MDR) ** H``; setting that equal to
    ``1 - PD`` gives the formula. It is the monthly analogue of the SIFMA Standard
    Formulas' ``MDR = 1 - (1 - CDR) ** (1/12)``. Prepayment is ignored: the PD is read as
    the default probability of a loan that stays in the pool for the whole horizon.

    Examples
    --------
    >>> round(float(pd_to_mdr(1 - 0.99**12, 12)), 12)  # 1% a month for a year
    0.01
    """
    p = np.asarray(pd, dtype=np.float64)
    if horizon_months <= 0:
        raise AssumptionError(f"horizon_months {horizon_months!r}: expected a positive number")
    if np.any(~np.isfinite(p)) or np.any(p < 0.0) or np.any(p > 1.0):
        bad = p[~(np.isfinite(p) & (p >= 0.0) & (p <= 1.0))]
        raise AssumptionError(f"PD {float(bad.flat[0])!r}: expected a probability in [0, 1]")
    with np.errstate(divide="ignore"):  # pd = 1 gives log(0) = -inf and mdr = 1
        return np.asarray(-np.expm1(np.log1p(-p) / float(horizon_months)), dtype=np.float64)


def default_vectors(
    model: CreditModel,
    data: str | Path | pa.Table | Any,
    *,
    horizon_months: int | None = None,
) -> DefaultVectors:
    """Loan-level PD and constant monthly default rates for a tape, aligned to its rows.

    Parameters
    ----------
    model : CreditModel
        A fitted or loaded model whose features the tape has.
    data : path, pyarrow.Table or LoanTape
        The tape.
    horizon_months : int, optional
        Horizon of the model's PD; defaults to the one saved with the model.

    Returns
    -------
    DefaultVectors
        ``pd``, ``mdr = 1 - (1 - pd)^(1/H)`` and ``cdr = 1 - (1 - mdr)^12`` per loan.
    """
    h = horizon_months if horizon_months is not None else model.info.horizon_months
    if h is None:
        raise InputError(
            "horizon_months: the model has no saved horizon; say over how many months its "
            "PD is observed"
        )
    table, file = _as_table(data)
    pd = model._predict_table(table, file)
    mdr = pd_to_mdr(pd, int(h))
    cdr = -np.expm1(12.0 * np.log1p(-mdr))
    ids = None
    if "loan_id" in table.column_names:
        ids = tuple("" if v is None else str(v) for v in table.column("loan_id").to_pylist())
    return DefaultVectors(pd=pd, mdr=mdr, cdr=cdr, horizon_months=int(h), loan_id=ids)
