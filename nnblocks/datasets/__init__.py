"""Data readers and generators (numpy arrays; no solver imports)."""

__all__: list[str] = []

# Each module below adds its public names here (one import line per module, then extend __all__).
