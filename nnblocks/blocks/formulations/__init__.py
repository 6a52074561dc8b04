"""The formulations of ``NetworkBlock``: one file per formulation on the shared base ``Formulation``, one registry.

A new formulation is a new file here with a subclass of :class:`Formulation` and one
``register_formulation(...)`` line below; ``NetworkBlock(..., formulation=name)`` then selects it. The window
maxima of a graph (MaxPool) have their encodings per formulation in ``window_max.py``, registered below too.
"""

from __future__ import annotations

from nnblocks.blocks.formulations.base import Formulation, LayerSpec, Previous
from nnblocks.blocks.formulations.bigm import BigM
from nnblocks.blocks.formulations.hull import Hull
from nnblocks.blocks.formulations.pattern import Pattern
from nnblocks.blocks.formulations.relaxation import Relaxation
from nnblocks.blocks.formulations.window_max import (
    WINDOW_MAX_ENCODINGS,
    BigMWindowMax,
    HullWindowMax,
    PatternWindowMax,
    RelaxationWindowMax,
    WindowMaxEncoding,
    WindowMaxSpec,
    register_window_max,
    window_max_encoding,
)

__all__ = [
    "FORMULATIONS", "BigM", "Formulation", "Hull", "LayerSpec", "Pattern", "Previous", "Relaxation", "get_formulation",
    "register_formulation", "WINDOW_MAX_ENCODINGS", "WindowMaxEncoding", "WindowMaxSpec", "register_window_max",
    "window_max_encoding",
]

FORMULATIONS: dict[str, type[Formulation]] = {}
"""The registered formulations, name -> class, in the order they were registered."""


def register_formulation(cls: type[Formulation], *, replace: bool = False) -> type[Formulation]:
    """Make ``cls`` selectable as ``NetworkBlock(..., formulation=cls.name)``; returns ``cls`` (a decorator too).

    Raises
    ------
    TypeError
        If ``cls`` is not a concrete subclass of :class:`Formulation`.
    ValueError
        If ``cls.name`` is not a non-empty string, or names another registered class and ``replace`` is False.
    """
    if not (isinstance(cls, type) and issubclass(cls, Formulation)):
        raise TypeError(f"a formulation must be a subclass of nnblocks.blocks.formulations.Formulation, got {cls!r}")
    if getattr(cls, "__abstractmethods__", None):
        raise TypeError(f"{cls.__name__} does not implement {', '.join(sorted(cls.__abstractmethods__))}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__name__}.name must be a non-empty string, got {name!r}")
    known = FORMULATIONS.get(name)
    if known is not None and known is not cls and not replace:
        raise ValueError(f"formulation {name!r} is already registered ({known.__qualname__}); pass replace=True")
    FORMULATIONS[name] = cls
    return cls


def get_formulation(name: object) -> Formulation:
    """The registered formulation called ``name``; an unknown name raises one line listing the registered ones."""
    cls = FORMULATIONS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown formulation {name!r}; choose one of {', '.join(FORMULATIONS)}")
    return cls()


register_formulation(BigM)
register_formulation(Hull)
register_formulation(Pattern)
register_formulation(Relaxation)
register_window_max(BigMWindowMax)
register_window_max(HullWindowMax)
register_window_max(PatternWindowMax)
register_window_max(RelaxationWindowMax)
