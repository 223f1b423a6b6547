"""A ``vyper --standard-json`` for slither (crytic-compile) on Vyper 0.4 sources.

crytic-compile hands vyper only the target file, without search paths, and reads the
source map as vyper 0.3 wrote it. This wrapper (called as slither's vyper binary by
``.ci/slither.py``) adds what a Vyper 0.4 compilation needs and keeps the output in the
shape crytic-compile reads:

- the sources the target may import: every ``.vy``/``.vyi`` of the installed snekmate
  package (as ``snekmate/...``) and of the target's own folder and its parent (the
  contracts' ``deal_types`` module), with search path ``.``;
- output only for the targets (the added modules are compiled as imports, not as
  contracts of their own);
- the runtime source map as vyper 0.3's compressed string (``pc_pos_map_compressed``).

It changes no source and no compiler setting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _add_sources(sources: dict[str, dict[str, str]], folder: Path, prefix: Path | None) -> None:
    for path in sorted(folder.rglob("*.vy*") if prefix else folder.glob("*.vy*")):
        key = str(path.relative_to(prefix)) if prefix else str(path)
        sources.setdefault(key, {"content": path.read_text()})


def main() -> int:
    import snekmate  # the installed package the contracts import

    inp = json.load(sys.stdin)
    targets = list(inp["sources"])
    selection = inp["settings"]["outputSelection"].get("*", {"*": ["abi"]})
    inp["settings"]["outputSelection"] = {t: selection for t in targets}
    root = Path(next(iter(snekmate.__path__)))
    _add_sources(inp["sources"], root, root.parent)
    for t in targets:
        for folder in (Path(t).parent, Path(t).parent.parent):
            _add_sources(inp["sources"], folder, None)
    inp["settings"]["search_paths"] = ["."]
    out = subprocess.run(
        [sys.executable, "-m", "vyper", "--standard-json"], input=json.dumps(inp).encode(), capture_output=True
    )
    sys.stderr.buffer.write(out.stderr)
    try:
        result = json.loads(out.stdout)
    except ValueError:
        sys.stdout.buffer.write(out.stdout)
        return out.returncode
    for contracts in result.get("contracts", {}).values():
        for meta in contracts.values():
            runtime = meta.get("evm", {}).get("deployedBytecode", {})
            if isinstance(runtime.get("sourceMap"), dict):
                runtime["sourceMap"] = runtime["sourceMap"]["pc_pos_map_compressed"]
    sys.stdout.write(json.dumps(result))
    return out.returncode


if __name__ == "__main__":
    sys.exit(main())
