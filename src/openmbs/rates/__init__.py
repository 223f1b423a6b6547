"""Interest-rate models: :class:`HullWhite` (one factor, fitted exactly to an initial zero
curve) simulates short-rate paths, discount factors and mortgage-rate paths.

Rate models sit below pricing (the OAS uses them) and below risk (which re-exports them
as it always did); they know nothing of deals, tapes or contracts. See ``docs/risk.md``.
"""

from __future__ import annotations

from openmbs.rates._hull_white import HullWhite, HullWhitePaths, mortgage_rate_paths

__all__ = ["HullWhite", "HullWhitePaths", "mortgage_rate_paths"]
