"""openmbs: tokenized mortgage-backed securities.

Loan tapes, SIFMA Standard Formulas cash flows, deal waterfalls (float and exact
integer), tranche pricing and risk, and Vyper contracts that distribute a pool's
principal and interest to tranche holders. See README.md and docs/.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
