"""One way to pin a package's public API (used by every ``tests/<pkg>/test_<pkg>_api.py``).

A pin lists the package's ``__all__`` exactly (in the order ruff's RUF022 keeps it) and
the signatures of its key callables as ``inspect.signature`` prints them (annotations
as written, since every module uses ``from __future__ import annotations``). A change to
either fails the pin: update it in the same commit, on purpose, and say so in the
CHANGELOG.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from types import ModuleType


def _resolve(module: ModuleType, dotted: str) -> object:
    obj: object = module
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def check_public_api(
    module: ModuleType,
    public: list[str],
    signatures: Mapping[str, str],
    *,
    undocumented: Iterable[str] = (),
) -> None:
    """Check ``module.__all__ == public``, that every name exists (classes and functions
    with a docstring, except those listed in ``undocumented``) and that each
    ``signatures[name]`` (``"Class.method"`` allowed) is the callable's signature."""
    name = module.__name__
    assert module.__all__ == public, (
        f"{name}.__all__ changed: added {sorted(set(module.__all__) - set(public))}, "
        f"removed {sorted(set(public) - set(module.__all__))} (or reordered)"
    )
    assert len(set(public)) == len(public), f"{name}.__all__ lists a name twice"
    skip = set(undocumented)
    for attr in public:
        assert not attr.startswith("_"), f"{name}.{attr}: a private name in __all__"
        obj = getattr(module, attr)  # AttributeError: listed but not defined
        if attr not in skip and (inspect.isclass(obj) or inspect.isfunction(obj)):
            assert inspect.getdoc(obj), f"{name}.{attr} has no docstring"
    for dotted, expected in signatures.items():
        got = str(inspect.signature(_resolve(module, dotted)))  # type: ignore[arg-type]
        assert got == expected, f"{name}.{dotted} signature changed:\n  was {expected}\n  now {got}"
