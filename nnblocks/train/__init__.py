"""Training helpers (PyTorch, imported lazily: install the ``torch`` extra). Each returns a Network."""

__all__: list[str] = []

# Each module below adds its public names here (one import line per module, then extend __all__).
from nnblocks.train.classifier import classifier, classifiers  # noqa: E402

__all__ += ["classifier", "classifiers"]
from nnblocks.train.one_class import one_class  # noqa: E402

__all__ += ["one_class"]
