"""No package reaches into another package's private modules (``openmbs.x._y`` imported
from outside ``openmbs.x``), functions' imports included.

The layers themselves are checked by ``lint-imports`` (``make test``; the contract is in
pyproject.toml, explained in docs/architecture.md). This test is the ratchet for private
modules: the imports that remain are listed below, a new one fails, and an entry that is
no longer true must be removed, so the list only shrinks.
"""

from __future__ import annotations

import grimp

# (importer, private module of another package): to be made public and removed from here.
KNOWN: set[tuple[str, str]] = set()


def _private_imports() -> set[tuple[str, str]]:
    graph = grimp.build_graph("openmbs", exclude_type_checking_imports=True)
    found = set()
    for importer in graph.modules:
        own = importer.split(".")
        if len(own) < 2:
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            parts = imported.split(".")
            if len(parts) > 2 and parts[1] != own[1] and any(p.startswith("_") for p in parts[2:]):
                found.add((importer, imported))
    return found


def test_no_new_import_of_another_package_s_private_module() -> None:
    found = _private_imports()
    assert found - KNOWN == set(), "import the package's public name instead"
    assert KNOWN - found == set(), "no longer true: remove it from KNOWN"
