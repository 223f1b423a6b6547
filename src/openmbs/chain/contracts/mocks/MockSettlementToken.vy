# pragma version ~=0.4.3
# pragma nonreentrancy on
"""
@title openmbs MockSettlementToken: a 6-decimal stablecoin for tests and the demo
@custom:contract-name MockSettlementToken
@license Apache-2.0
@notice Plain snekmate ERC-20 with 6 decimals; its owner (the deployer) mints.
        For the embedded chain and test networks only.
"""

from snekmate.auth import ownable
from snekmate.tokens import erc20

initializes: ownable
initializes: erc20[ownable := ownable]

exports: erc20.__interface__


@deploy
def __init__(name_: String[25], symbol_: String[5]):
    """
    @notice Create the token (6 decimals); the deployer is owner and minter.
    @param name_ Token name.
    @param symbol_ Token symbol.
    """
    ownable.__init__()
    erc20.__init__(name_, symbol_, 6, name_, "1")
