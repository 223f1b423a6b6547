# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs MockStablecoin: a mock settlement asset of any decimals
@custom:contract-name MockStablecoin
@license Apache-2.0
@notice Plain snekmate ERC-20 whose decimals are chosen at deployment (an 18-decimal
        stablecoin such as DAI, for deals whose asset says so); its owner (the
        deployer) mints. For the embedded chain and test networks only.
"""

from snekmate.auth import ownable
from snekmate.tokens import erc20

initializes: ownable
initializes: erc20[ownable := ownable]

exports: erc20.__interface__


@deploy
def __init__(name_: String[25], symbol_: String[5], decimals_: uint8):
    """
    @notice Create the token; the deployer is owner and minter.
    @param name_ Token name.
    @param symbol_ Token symbol.
    @param decimals_ Decimals of the token (0..18).
    """
    assert decimals_ <= 18  # dev: at most 18 decimals
    ownable.__init__()
    erc20.__init__(name_, symbol_, decimals_, name_, "1")
