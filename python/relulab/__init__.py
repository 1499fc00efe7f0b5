"""relulab from Python: ReLU-family networks with NumPy arrays in and out.

The compiled module (``relulab._relulab``, Rust through PyO3) does the work; this file adds
:func:`from_torch` and the keyword handling of :func:`train`.

>>> import numpy as np, relulab
>>> net = relulab.Mlp.from_layers([np.eye(2), np.ones((1, 2))], [np.zeros(2), np.zeros(1)])
>>> net.forward(np.array([1.0, -2.0]))
array([1.])

Conventions: ``forward`` reads a C-contiguous float32/float64 array in place (no copy); results are NumPy
arrays, dicts and lists (the keys of the command line's ``--json`` output); bad input raises
``ValueError`` and file problems ``OSError``, with relulab's message; long calls release the
GIL and Ctrl-C interrupts them (``KeyboardInterrupt``).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple

from ._relulab import (  # noqa: F401  (re-exported)
    ACTIVATION_NAMES,
    DATASET_NAMES,
    Mlp,
    __version__,
    certify,
    claims,
    load,
    optimize,
    reach,
    verify,
)
from . import _relulab

__all__ = [
    "ACTIVATION_NAMES",
    "DATASET_NAMES",
    "Mlp",
    "__version__",
    "certify",
    "claims",
    "from_torch",
    "load",
    "optimize",
    "reach",
    "train",
    "verify",
]


def _mlp_from_bytes(data: bytes) -> Mlp:
    """Unpickle an :class:`Mlp` (its ``__reduce__`` points here)."""
    return Mlp.from_bytes(data)


def _json_default(o: Any) -> Any:
    # NumPy scalars (np.int64(3), np.float32(0.1)) and paths.
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"train: {type(o).__name__} is not a valid setting")


def train(
    x: Any = None,
    y: Any = None,
    *,
    resume: Optional[Mlp] = None,
    monitor: bool = False,
    dormant_tau: float = 0.1,
    **spec: Any,
) -> Tuple[Mlp, List[Dict[str, Any]]]:
    """Train a network; return ``(model, metrics)``: the trained :class:`Mlp` (carrying its
    training state: ``model.epoch``, ``model.spec``, ``model.standardizer``) and one dict per
    epoch (``epoch``, ``step``, ``train_loss``, ``train_accuracy``, ``test_loss``,
    ``test_accuracy``, ``lr``, ``bias_shift``, ``seconds``), as ``relulab train --json`` prints.

    Data: ``x`` (samples × features) and ``y`` (integer class labels, or real targets) arrays,
    or ``dataset="digits"`` (a built-in set, see ``DATASET_NAMES``) or ``data="X.csv"``.
    Every other keyword is a field of the run's specification, the same names as
    ``relulab train --config FILE.toml``: ``hidden=[256, 256]``, ``activation="relu"``,
    ``epochs=30``, ``batch_size=32``, ``lr=1e-3``, ``optimizer="adam"``, ``seed=0``,
    ``test_fraction=0.2``, ``standardize=True``, ``loss="mse"``, ``weight_decay``, ...;
    an unknown name is a ``ValueError``.

    ``resume=model`` continues a model from :func:`train` (or a training checkpoint) to
    ``epochs`` in total, bit-identically to an uninterrupted run; with in-memory data pass the
    same ``x``, ``y`` again. ``monitor=True`` adds per-layer activation health to every
    epoch's metrics (``dead_fraction``, ``dormant_fraction``, ``health``).

    Ctrl-C stops training at the next step (``KeyboardInterrupt``).
    """
    epochs = None
    if resume is not None:
        unknown = sorted(set(spec) - {"epochs"})
        if unknown:
            raise ValueError(
                f"train: with resume= only epochs may change (the rest comes from the model), got {unknown}"
            )
        epochs = spec.pop("epochs", None)
    spec_json = json.dumps(spec, default=_json_default)
    return _relulab._train(
        spec_json,
        x,
        y,
        resume=resume,
        epochs=epochs,
        monitor=monitor,
        dormant_tau=dormant_tau,
    )


# PyTorch module class name -> how to read it. Duck-typed on the class name and attributes,
# so torch is never imported here (the caller already has it) and tests can use stand-ins.
def _torch_activation(m: Any) -> Optional[str]:
    name = type(m).__name__
    if name == "ReLU":
        return "relu"
    if name == "LeakyReLU":
        return f"leaky_relu(negative_slope={float(m.negative_slope)!r})"
    if name == "PReLU":
        return "prelu"
    if name == "ELU":
        return f"elu(alpha={float(m.alpha)!r})"
    if name == "GELU":
        approx = getattr(m, "approximate", "none")
        return "gelu_tanh" if approx == "tanh" else "gelu"
    if name == "SiLU":
        return "silu"
    if name == "Sigmoid":
        return "sigmoid"
    if name == "Tanh":
        return "tanh"
    if name == "Softplus":
        return f"softplus(beta={float(m.beta)!r}, threshold={float(m.threshold)!r})"
    return None


def _to_numpy(t: Any):
    import numpy as np

    if hasattr(t, "detach"):
        t = t.detach()
    if hasattr(t, "cpu"):
        t = t.cpu()
    if hasattr(t, "numpy"):
        t = t.numpy()
    return np.asarray(t, dtype=np.float32)


def from_torch(module: Any) -> Mlp:
    """An :class:`Mlp` from a PyTorch ``nn.Sequential`` of ``nn.Linear`` layers, each followed
    by at most one activation module (ReLU, LeakyReLU, PReLU, ELU, GELU, SiLU, Sigmoid, Tanh,
    Softplus; ``nn.Identity``, ``nn.Flatten`` and ``nn.Dropout`` are skipped). A Linear with
    no activation after it is linear (identity). Weights are copied as float32. torch itself
    is not imported: any object with the same class names and attributes works.
    """
    children = list(module.children()) if hasattr(module, "children") else list(module)
    weights, biases, acts, alphas = [], [], [], []
    for i, m in enumerate(children):
        kind = type(m).__name__
        if kind in ("Identity", "Flatten", "Dropout"):
            continue
        if kind == "Linear":
            weights.append(_to_numpy(m.weight))
            biases.append(None if m.bias is None else _to_numpy(m.bias))
            acts.append("identity")
            alphas.append(None)
            continue
        act = _torch_activation(m)
        if act is None:
            raise ValueError(
                f"from_torch: module {i} ({kind}) is not supported; expected Linear layers and "
                "ReLU-family activations"
            )
        if not weights:
            raise ValueError(f"from_torch: module {i} ({kind}) comes before any Linear layer")
        if acts[-1] != "identity":
            raise ValueError(
                f"from_torch: module {i} ({kind}) follows another activation; relulab layers "
                "have one activation each"
            )
        acts[-1] = act
        if kind == "PReLU":
            alphas[-1] = _to_numpy(m.weight).reshape(-1)
    if not weights:
        raise ValueError("from_torch: the module has no Linear layer")
    return Mlp.from_layers(
        weights,
        biases,
        activation=acts,
        prelu_alpha=alphas if any(a is not None for a in alphas) else None,
    )
