"""Import of PyTorch ``nn.Sequential`` models (torch is imported only when a model is translated)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nnblocks.activations import HardSigmoid, HardTanh, LeakyReLU, PiecewiseLinear, ReLU, ReLU6
from nnblocks.io._common import UnsupportedOperationError, _LayerBuilder
from nnblocks.network import Network

__all__ = ["from_torch"]


def _refuse_torchscript(name: str, module: Any) -> None:
    """Raise :class:`UnsupportedOperationError` when ``module`` is a TorchScript module (scripted or traced)."""
    import torch

    if not isinstance(module, torch.jit.ScriptModule):
        return
    how, call = ("traced", "trace") if isinstance(module, torch.jit.TracedModule) else ("scripted", "script")
    kind = type(module).__name__
    original = getattr(module, "original_name", None) or "module"
    # the TorchScript-based ONNX exporter takes a TorchScript model, but neither exporter takes an nn.Module
    # holding a TorchScript submodule
    onnx = "" if name else ", or export it with torch.onnx.export(..., dynamo=False) and read the file with from_onnx"
    raise UnsupportedOperationError(
        f"module {name or '<root>'!r} is a {how} TorchScript module ({kind}, torch.jit.{call} of a {original}), "
        f"whose layers cannot be read: pass the original module instead (the nn.Sequential before torch.jit.script "
        f"or torch.jit.trace, or one rebuilt with load_state_dict(module.state_dict())){onnx}",
        op_type=kind,
        node=name,
    )


def _uncompiled(module: Any) -> Any:
    """The module that ``torch.compile`` wrapped (same parameters, same function), or ``module`` itself."""
    # torch._dynamo.eval_frame.OptimizedModule, known by name: importing torch._dynamo takes seconds
    while type(module).__name__ == "OptimizedModule" and hasattr(module, "_orig_mod"):
        module = module._orig_mod
    return module


def _leaves(module: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """The non-Sequential modules of ``module`` in execution order, with their qualified names."""
    import torch.nn as nn

    _refuse_torchscript(prefix, module)  # its class hides the module's own: read nothing from it
    module = _uncompiled(module)
    if isinstance(module, nn.Sequential):
        if type(module).forward is not nn.Sequential.forward:
            raise UnsupportedOperationError(
                f"module {prefix or '<root>'!r} ({type(module).__name__}) overrides Sequential.forward; only plain "
                f"sequential execution can be translated",
                op_type=type(module).__name__,
                node=prefix,
            )
        for name, child in module.named_children():
            yield from _leaves(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix, module


def _activation(module: Any) -> PiecewiseLinear | None:
    """The nnblocks activation of an activation module, or None if ``module`` is not one."""
    import torch.nn as nn

    if isinstance(module, nn.ReLU):
        return ReLU()
    if isinstance(module, nn.LeakyReLU):
        return LeakyReLU(float(module.negative_slope))
    if isinstance(module, nn.ReLU6):  # before Hardtanh: ReLU6 subclasses it
        return ReLU6()
    if isinstance(module, nn.Hardtanh):
        return HardTanh(float(module.min_val), float(module.max_val))
    if isinstance(module, nn.Hardsigmoid):
        return HardSigmoid()
    return None


_LEAF_MODULES = "Linear, ReLU, LeakyReLU, Hardtanh, ReLU6, Hardsigmoid, Flatten, Identity, Dropout"


def _torch_class(cls: type) -> type | None:
    """The first class of PyTorch itself in the method resolution order of ``cls``."""
    return next((c for c in cls.__mro__ if c.__module__.split(".")[0] == "torch"), None)


def _check_translatable(name: str, leaf: Any) -> None:
    """Raise :class:`UnsupportedOperationError` naming ``leaf`` unless :func:`from_torch` can translate it."""
    import torch.nn as nn

    kind, where = type(leaf).__name__, repr(name or "<root>")
    base = _torch_class(type(leaf))
    if base is not None and type(leaf).forward is base.forward:  # computes what PyTorch's own class computes
        if isinstance(leaf, nn.Linear | nn.Flatten | nn.Identity | nn.Dropout) or _activation(leaf) is not None:
            return
        what = kind if base is type(leaf) else f"{kind} (a {base.__name__})"
        raise UnsupportedOperationError(
            f"unsupported PyTorch module {what} ({where}); supported: {_LEAF_MODULES} and nested Sequential",
            op_type=kind,
            node=name,
        )
    children = sorted({type(m).__name__ for m in leaf.children()})
    contains = f", containing {', '.join(children)}" if children else ""
    raise UnsupportedOperationError(
        f"custom PyTorch module {kind} ({where}{contains}) cannot be translated: its forward method is arbitrary "
        f"Python code; write the model as an nn.Sequential of these modules: {_LEAF_MODULES}",
        op_type=kind,
        node=name,
    )


def from_torch(module: Any) -> Network:
    """Translate a PyTorch ``nn.Sequential`` into a :class:`~nnblocks.Network`.

    Parameters
    ----------
    module:
        An ``nn.Sequential`` (nested ``Sequential`` containers are flattened; a module wrapped by
        ``torch.compile`` is read through its original module) of ``Linear`` (with or
        without bias), ``ReLU``, ``LeakyReLU``, ``Hardtanh``, ``ReLU6``, ``Hardsigmoid``, ``Flatten``
        (``start_dim=1, end_dim=-1``), ``Identity`` and ``Dropout``; or a single ``nn.Linear``.

    Returns
    -------
    Network
        The network computing the module's evaluation-mode function on flattened inputs, with the weights
        converted exactly from float32 to float64. ``Dropout`` is the identity (evaluation semantics,
        whatever the module's ``training`` flag). Each ``Linear`` becomes one layer; a ``Linear`` not
        followed by an activation gets the ``Identity`` activation (consecutive ``Linear`` modules are
        not multiplied together, so the parameters stay those of the module); consecutive activations are
        composed into one.

    Raises
    ------
    UnsupportedOperationError
        For any other module (named with its class and qualified name, e.g. ``Conv2d ('3.1')``), a custom
        module (an ``nn.Module`` subclass with its own ``forward``, whose computation cannot be read, including a
        subclass of a supported module), a ``Flatten`` that would merge the batch dimension or keep more than one
        feature axis, a ``Sequential`` subclass with its own ``forward``, a module without any ``Linear`` layer, or
        a TorchScript module (``torch.jit.script`` or ``torch.jit.trace``, also as a submodule): pass the original
        ``nn.Sequential``, or export a TorchScript model with ``torch.onnx.export(..., dynamo=False)`` and read it
        with :func:`~nnblocks.io.from_onnx` (PyTorch's default exporter does not take TorchScript modules).
    ValueError
        If the ``Linear`` shapes do not chain or a weight is not finite.

    Examples
    --------
    >>> import torch
    >>> from nnblocks.io import from_torch
    >>> net = from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)))
    >>> net.layer_sizes
    (3, 4, 2)
    """
    import torch.nn as nn

    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module, got {type(module).__name__}")
    leaves = list(_leaves(module, ""))
    for name, leaf in leaves:
        _check_translatable(name, leaf)
    linears = [m for _, m in leaves if isinstance(m, nn.Linear)]
    if not linears:
        raise UnsupportedOperationError(
            "the module contains no nn.Linear layer, so its input size is unknown", op_type=type(module).__name__
        )
    builder = _LayerBuilder(int(linears[0].in_features))
    for name, leaf in leaves:
        if isinstance(leaf, nn.Linear):
            W = leaf.weight.detach().cpu().to(dtype=_torch_float64()).numpy()
            b = None if leaf.bias is None else leaf.bias.detach().cpu().to(dtype=_torch_float64()).numpy()
            if W.shape[1] != builder.size:
                raise ValueError(
                    f"Linear {name!r} expects {W.shape[1]} inputs but the previous layer gives {builder.size}"
                )
            builder.matrix(np.asarray(W), None if b is None else np.asarray(b))
        elif (act := _activation(leaf)) is not None:
            builder.activation(act)
        elif isinstance(leaf, nn.Flatten):
            if leaf.start_dim != 1 or leaf.end_dim != -1:
                raise UnsupportedOperationError(
                    f"Flatten {name!r} has start_dim={leaf.start_dim}, end_dim={leaf.end_dim}; only "
                    f"Flatten(start_dim=1, end_dim=-1) keeps the batch dimension and flattens the features",
                    op_type="Flatten",
                    node=name,
                )
        # nn.Identity and nn.Dropout (the only other modules _check_translatable lets through) are the identity
    return builder.network()


def _torch_float64() -> Any:
    import torch

    return torch.float64
