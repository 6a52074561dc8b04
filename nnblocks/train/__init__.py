"""Training helpers (PyTorch, imported lazily: install the ``torch`` extra). Each returns a Network."""

__all__: list[str] = []

# Each module below adds its public names here (one import line per module, then extend __all__).
