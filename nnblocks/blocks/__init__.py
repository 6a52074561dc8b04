"""Pyomo blocks: a trained network, norm balls and target margins inside a user's own model."""

from nnblocks.blocks.network_block import FORMULATIONS, NetworkBlock

__all__ = ["FORMULATIONS", "NetworkBlock"]
