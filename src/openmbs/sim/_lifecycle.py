"""The deal's whole life: tape -> deal -> chain -> monthly remittances -> claims -> audit.

:func:`run_lifecycle` wires the packages together (this is the ``openmbs demo`` job):

1. the tape (generated, or read) is written to ``tape.parquet``; the deal spec is sized
   to the simulated pool's integer balance; tranche analytics at closing come from the
   pool projection at the assumptions and the float waterfall;
2. the deal is deployed on titanoboa's embedded EVM; investors subscribe in the
   issuance escrow, which closes;
3. each month ``LoanSimulator.step()`` gives the loan-level records; the servicer
   bridge builds the report (aggregates + Merkle root); 3 of the 5 attestors sign; the
   servicer deposits and submits; the oracle accepts and the waterfall distributes;
   the exact Python waterfall runs on the same report; investors claim on their own
   schedules and trade tokens; the keeper watches the triggers;
4. the events are indexed into DuckDB, everything is reconciled.

The steps are the stages of ``openmbs.sim._stages`` (a run object and one function
per stage); :func:`run_lifecycle` composes them.

Files in the output folder (see ``docs/demo.md``): ``tape.parquet``,
``loans/period=NNNN/part-0.parquet``, ``state/`` (simulator state, manifest),
``events.duckdb``, ``closing.json``, ``lifecycle.json`` (per-period results),
``summary.json``, ``report.html``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from openmbs.audit import ReconCheck
from openmbs.sim._config import (
    LifecycleConfig,
    LifecycleResult,
    Progress,
    legacy_loans_path,
    loans_path,
    read_loans,
)
from openmbs.sim._keys import NodeKeys
from openmbs.sim._stages import (
    _load_spec,  # noqa: F401  (the lifecycle's deal lookup; tests/structuring checks it)
    deploy,
    index,
    prepare,
    reconcile,
    replay_accepted,
    report,
    run_periods,
    verify,
)
from openmbs.structuring import exact_remittance

__all__ = [
    "LifecycleConfig",
    "LifecycleResult",
    "ReconCheck",
    "exact_remittance",
    "legacy_loans_path",
    "loans_path",
    "read_loans",
    "run_lifecycle",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _restores_boa_env(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` and then put titanoboa's global environment back as it was: a run's
    environment (embedded or a node) is not left as the global one."""

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        boa = sys.modules.get("boa")
        before = boa.env if boa is not None else None
        try:
            return fn(*args, **kwargs)
        finally:
            boa = sys.modules.get("boa")
            if boa is not None:
                boa.set_env(before if before is not None else boa.Env())

    return run


@_restores_boa_env
def run_lifecycle(
    out: str | os.PathLike[str],
    config: LifecycleConfig | None = None,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
    write_outputs: bool = True,
    keys: NodeKeys | None = None,
) -> LifecycleResult:
    """Run (or resume) the lifecycle of a deal and reconcile it.

    Parameters
    ----------
    out
        Output folder (created).
    config
        The inputs (defaults: 2,000 generated loans, four-tranche deal, 20 investors,
        360 months, 150 PSA, 100 SDA, severity 0.35 (35%), 6-month lag).
    fresh
        Discard what ``out`` holds from an earlier run instead of resuming it.
    progress
        ``progress(stage, done, total)`` callback.
    log
        Receives one line per notable event (trigger trips, clean-up call).
    write_outputs
        Write ``summary.json`` and ``report.html`` (``openmbs.report``).
    keys
        On a node (``config.rpc``), REQUIRED: the attestors' and investors' private keys
        (``openmbs.sim._keys``: the user's, or anvil's public development keys for a
        throwaway dev chain); seed-derived keys would be public. ``None`` on the
        embedded chain.

    Returns
    -------
    LifecycleResult

    Raises
    ------
    RemittanceRejected
        The oracle rejected a period: nothing of that period is stored; rerunning
        resumes after the last accepted period.

    Notes
    -----
    **Resume.** After each accepted period the loan-level file, the simulator state and
    the manifest (last accepted period, written last, atomically) are saved. The
    embedded chain lives in one process, so a rerun rebuilds it deterministically:
    same accounts and keys (derived from the seed), same deployment, then every accepted
    period is replayed from its saved loan-level file (the report is rebuilt and its
    root checked against the manifest), with the same investor actions (their random
    draws are seeded by period); the simulator then continues from its saved state.
    """
    run = prepare(out, config or LifecycleConfig(), fresh=fresh, keys=keys, progress=progress, log=log)
    try:
        deploy(run)
        replay_accepted(run)
        run_periods(run)
        verify(run)
        index(run)
    finally:
        run.close()  # the event store a run with sales keeps open (closed by index)
    reconcile(run)
    return report(run, write_outputs=write_outputs)
