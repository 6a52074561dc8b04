"""Data readers and generators (numpy arrays; no solver imports)."""

__all__: list[str] = []

# Each module below adds its public names here (one import line per module, then extend __all__).
from nnblocks.datasets.fashion_mnist import (  # noqa: E402
    CLASSES,
    download_fashion_mnist,
    fashion_mnist,
    load_shipped,
    nominal_images,
    shipped_model,
)

__all__ += ["CLASSES", "download_fashion_mnist", "fashion_mnist", "load_shipped", "nominal_images", "shipped_model"]
from nnblocks.datasets.ro_dnn import KernelData, RoDnnInstance, RoDnnPath, load_instance, load_path  # noqa: E402

__all__ += ["KernelData", "RoDnnInstance", "RoDnnPath", "load_instance", "load_path"]
from nnblocks.datasets.synthetic import SYNTHETIC_KINDS, synthetic  # noqa: E402

__all__ += ["SYNTHETIC_KINDS", "synthetic"]
