"""Static analysis gate: slither over every contract, against a checked-in triage file.

Runs every slither detector on each contract of ``src/openmbs/chain/contracts`` (the
mocks too with ``--mocks``), compiling through ``.ci/slither_vyper.py`` (snekmate and
the shared ``deal_types`` module as imports). Each finding gets a key
``<detector>@<file>#<element>``; a contract slither cannot analyse at all is the
finding ``unparsed@<file>`` (slither's error is printed). The triage file
(``slither.triage.md``) lists every known key in a table row ``| `key` | status |``,
the status being ``fixed in <commit>`` or a justification (``open: ...`` for a
finding reported to the contract's owner).

Exit status 1 when a finding is not in the triage file, or when a triaged finding
whose status is not ``fixed in ...`` no longer occurs (the triage must be updated:
for instance once slither can parse a contract it could not); 0 otherwise. Prints
each contract's result and the time taken.

Usage: ``python .ci/slither_gate.py [--mocks] [--triage slither.triage.md]``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import stat
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = Path("src/openmbs/chain/contracts")
WRAPPER = REPO / ".ci" / "slither_vyper.py"
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*(.*?)\s*\|\s*$")


def targets(mocks: bool) -> list[Path]:
    """The contracts to analyse (paths relative to the repository)."""
    found = sorted(p for p in CONTRACTS.glob("*.vy") if p.name != "deal_types.vy")  # a types module
    if mocks:
        found += sorted((CONTRACTS / "mocks").glob("*.vy"))
    return found


def read_triage(path: Path) -> dict[str, str]:
    """The triage table: key -> status (rows ``| `key` | status |``)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = _ROW.match(line)
        if m:
            if not m.group(2):
                raise SystemExit(f"{path}: finding {m.group(1)!r} has no status")
            out[m.group(1)] = m.group(2)
    return out


def _vyper_binary(folder: Path) -> str:
    """An executable that runs the wrapper with this interpreter (crytic-compile
    starts the vyper binary it is given)."""
    exe = folder / "vyper"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{WRAPPER}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


def _detectors() -> list[Any]:
    from slither.detectors import all_detectors
    from slither.detectors.abstract_detector import AbstractDetector

    return [d for _, d in inspect.getmembers(all_detectors, inspect.isclass) if issubclass(d, AbstractDetector)]


def _element_name(result: dict[str, Any]) -> str:
    for e in result.get("elements", []):
        name = e.get("name")
        if name:
            return str(name)
    return str(result.get("id", "?"))[:12]


def analyse(path: Path, vyper: str) -> tuple[dict[str, str], str | None]:
    """Findings of one contract (key -> one-line description), or the reason slither
    could not analyse it."""
    import logging

    from slither import Slither

    logging.disable(logging.CRITICAL)  # crytic-compile logs vyper's errors itself
    try:
        sl = Slither(str(path), vyper=vyper)
        for d in _detectors():
            sl.register_detector(d)
        results = [r for per_detector in sl.run_detectors() for r in per_detector]
    except Exception as exc:  # slither's parser raises whatever it meets
        return {f"unparsed@{path.name}": f"{type(exc).__name__}: {str(exc)[:200]}"}, str(exc)[:200]
    finally:
        logging.disable(logging.NOTSET)
    out = {}
    for r in results:
        key = f"{r['check']}@{path.name}#{_element_name(r)}"
        out[key] = f"[{r['impact']}/{r['confidence']}] " + " ".join(str(r["description"]).split())
    return out, None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mocks", action="store_true", help="analyse contracts/mocks too")
    p.add_argument("--triage", type=Path, default=REPO / "slither.triage.md")
    args = p.parse_args(argv)
    os.chdir(REPO)
    triage = read_triage(args.triage)
    found: dict[str, str] = {}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        vyper = _vyper_binary(Path(tmp))
        for path in targets(args.mocks):
            t0 = time.perf_counter()
            findings, error = analyse(path, vyper)
            found.update(findings)
            what = f"NOT ANALYSED ({error})" if error else f"{len(findings)} finding(s)"
            print(f"slither {path}: {what} [{time.perf_counter() - t0:.1f} s]")
    new = sorted(k for k in found if k not in triage)
    analysed = {f"@{t.name}" for t in targets(args.mocks)}
    stale = sorted(
        k for k, status in triage.items()
        if k not in found and not status.lower().startswith("fixed in")
        and any(k.endswith(a) or f"{a}#" in k for a in analysed)
    )
    for k in sorted(found):
        mark = "NEW" if k in new else "triaged"
        print(f"  {mark:<7} {k}: {found[k]}")
        if k in triage:
            print(f"          -> {triage[k]}")
    for k in stale:
        print(f"  STALE   {k}: triaged as {triage[k]!r} but no longer reported; update {args.triage.name}")
    print(f"slither: {len(found)} finding(s), {len(new)} new, {len(stale)} stale "
          f"[{time.perf_counter() - t_all:.1f} s]")
    return 1 if new or stale else 0


if __name__ == "__main__":
    sys.exit(main())
