"""Plots (matplotlib, imported lazily by each function)."""
