"""Pyomo blocks: a trained network, norm balls and target margins inside a user's own model."""

from nnblocks.blocks.margin import TargetMargin
from nnblocks.blocks.network_block import FORMULATIONS, NetworkBlock
from nnblocks.blocks.norms import NormBall

__all__ = ["FORMULATIONS", "NetworkBlock", "NormBall", "TargetMargin"]
