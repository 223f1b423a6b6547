# pragma version ~=0.4.3
"""
@title openmbs Waterfall: per-period allocation rules of a deal
@custom:contract-name Waterfall
@license Apache-2.0
@notice The deal asks this contract how to split each period's cash. Its rules are
        to be ported line by line from the exact integer Python waterfall
        (`openmbs.structuring._exact.apply_period`), with the flat integer parameters
        of `compile_exact`, so that both give the same figures to the unit.
        NOT PORTED YET: `_allocate` reverts, so a deal wired to this contract accepts
        no remittance until the port lands (the deal's timelock can then point it at
        the ported contract with `Deal.set_waterfall`).
"""

from . import deal_types


@deploy
def __init__():
    """
    @notice Create the (not yet ported) waterfall.
    """
    pass


@external
@view
def allocate(inp: deal_types.WaterfallInput) -> deal_types.Allocation:
    """
    @notice The allocation of one period (see the contract notice).
    @param inp The verified report and the deal's state before the period.
    @return Allocation The split of the period's cash.
    """
    return self._allocate(inp)


@internal
@view
def _allocate(inp: deal_types.WaterfallInput) -> deal_types.Allocation:
    # Port of `openmbs.structuring._exact.apply_period` goes here.
    raise "waterfall: allocation rules not ported yet"
