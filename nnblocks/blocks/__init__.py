"""Pyomo blocks: a trained network, norm balls and target margins inside a user's own model.

The network's formulations live in ``formulations/``, one file each, selected by name from ``FORMULATIONS``.
"""

from nnblocks.blocks.formulations import FORMULATIONS, Formulation, register_formulation
from nnblocks.blocks.margin import TargetMargin
from nnblocks.blocks.network_block import NetworkBlock
from nnblocks.blocks.norms import NormBall

__all__ = ["FORMULATIONS", "Formulation", "NetworkBlock", "NormBall", "TargetMargin", "register_formulation"]
