"""Type stubs of the compiled module ``relulab._relulab`` (re-exported by ``relulab``)."""

from os import PathLike
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, PathLike[str]]
_Array = npt.ArrayLike

__version__: str
ACTIVATION_NAMES: List[str]
DATASET_NAMES: List[str]

class Mlp:
    """A multilayer perceptron: relulab's one network type (float32 weights, PyTorch layout)."""

    @staticmethod
    def from_layers(
        weights: Sequence[_Array],
        biases: Optional[Sequence[Optional[_Array]]] = None,
        activation: Union[str, Sequence[str]] = "relu",
        output_activation: str = "identity",
        prelu_alpha: Optional[Sequence[Optional[_Array]]] = None,
    ) -> Mlp:
        """Build a network from (out × in) weight arrays, biases and activation names."""
    @staticmethod
    def from_bytes(data: bytes) -> Mlp:
        """A network from relulab checkpoint bytes (as :meth:`to_bytes` makes them)."""
    def to_bytes(self) -> bytes:
        """The network and its training state as relulab checkpoint bytes."""
    def __reduce__(self) -> Tuple[Any, Tuple[bytes]]: ...
    def save(self, path: _Path) -> None:
        """Save as .safetensors (checkpoint), .onnx or .json, atomically."""
    @property
    def input_dim(self) -> int: ...
    @property
    def output_dim(self) -> int: ...
    @property
    def widths(self) -> List[int]: ...
    @property
    def num_params(self) -> int: ...
    @property
    def layers(self) -> List[Dict[str, Any]]:
        """Per layer: weight, bias (or None), activation (text), prelu_alpha (or None)."""
    @property
    def standardizer(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """(mean, std) of the input standardisation the model was trained with, or None."""
    @property
    def epoch(self) -> Optional[int]:
        """Epochs trained, for a model with training state."""
    @property
    def spec(self) -> Optional[Dict[str, Any]]:
        """The training run's specification, for a model with training state."""
    @property
    def _last_input_address(self) -> int: ...
    def standardize(self, x: _Array) -> np.ndarray:
        """(x - mean) / std with the model's standardisation (x unchanged without one)."""
    def forward(self, x: _Array) -> np.ndarray:
        """Outputs for one sample (1-D) or a batch (2-D); float32/float64 in, same dtype out;
        C-contiguous float arrays are read without a copy."""
    def diagnose(
        self, x: _Array, y: Optional[_Array] = None, tau: float = 0.1, batch: int = 1024
    ) -> Dict[str, Any]:
        """Per-layer activation health (and gradient flow with targets y)."""
    def regions(
        self,
        box: Tuple[float, float, float, float] = (-2.0, 2.0, -2.0, 2.0),
        origin: Optional[_Array] = None,
        dir_a: Optional[_Array] = None,
        dir_b: Optional[_Array] = None,
        boundary: Optional[Union[int, Tuple[int, int]]] = None,
        max_cells: int = 20_000_000,
        polygons: bool = False,
    ) -> Dict[str, Any]:
        """Exact activation and linear regions on a plane slice."""
    def segment(self, x0: _Array, x1: _Array) -> Dict[str, Any]:
        """Pieces along the segment from x0 to x1."""
    def sample_regions(
        self, n: int, lo: float = -1.0, hi: float = 1.0, seed: int = 0
    ) -> Dict[str, Any]:
        """Distinct activation patterns among n seeded uniform samples of [lo, hi]^d."""
    def bounds(
        self, lo: _Array, hi: _Array, method: str = "crown"
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Sound output bounds over the box [lo, hi]: 'ibp', 'crown' or 'alpha-crown'."""
    def __repr__(self) -> str: ...

def load(path: _Path, activation: Optional[str] = None) -> Mlp:
    """Load a model file (.safetensors checkpoint or state_dict, .onnx, .json)."""

def verify(
    model: Union[Mlp, _Path], vnnlib_path: _Path, timeout: float = 116.0, seed: int = 0
) -> Dict[str, Any]:
    """Decide a VNN-LIB property: result, seconds, domains, witness (or None)."""

def claims(only: Optional[Sequence[int]] = None, seed: int = 0) -> List[Dict[str, Any]]:
    """Run the seed document's claims as experiments."""

def reach(
    system: _Path,
    controller: _Path,
    steps: Optional[int] = None,
    parts: int = 1,
    target_error: Optional[float] = None,
    time_limit: Optional[float] = None,
    alpha: int = 0,
    exact: bool = False,
    avoid: Optional[Union[str, _Path]] = None,
    reach_goal: Optional[Union[str, _Path]] = None,
    seed: int = 0,
    activation: str = "relu",
    true_samples: int = 1_000_000,
    guide_samples: int = 2000,
    max_parts: int = 65536,
    template: str = "box",
    directions: Optional[Union[_Array, Sequence[Sequence[float]]]] = None,
) -> Dict[str, Any]:
    """Reachable sets of a closed loop, as `relulab reach --json` (per-step boxes as arrays).

    ``template`` is "box" or "octagon" (adds ±x_i ± x_j), ``directions`` extra template
    directions over the state (one n-vector each), as ``--template`` / ``--direction``; each
    step k ≥ 1 then has ``template``, the bound e of each direction d (d·x ≤ e). Ctrl-C stops
    the run (KeyboardInterrupt)."""

def optimize(
    model: _Path,
    maximize: Optional[str] = None,
    minimize: Optional[str] = None,
    constraints: Sequence[str] = (),
    input_bounds: Optional[Sequence[Tuple[float, float]]] = None,
    gap_abs: Optional[float] = None,
    gap_rel: Optional[float] = None,
    time_limit: Optional[float] = None,
    exact: bool = False,
    problem: Optional[_Path] = None,
) -> Dict[str, Any]:
    """Certified optimum of a model's outputs, as `relulab optimize --json` (x, y as arrays).

    ``problem`` is a TOML problem file (``maximize``/``minimize``, ``constraints``,
    ``input_bounds``, ``gap_abs``, ``gap_rel``, ``time_limit``), as ``--problem``; keyword
    arguments override it and ``constraints`` add to its own. Ctrl-C stops the search
    (KeyboardInterrupt)."""

def certify(
    model: Union[Mlp, _Path],
    x: _Array,
    labels: _Array,
    eps: Union[float, Sequence[float]],
    norm: str = "linf",
    clamp: Optional[Tuple[float, float]] = None,
    time_limit_per_sample: float = 2.0,
    seed: int = 0,
    restarts: int = 5,
    steps: int = 40,
    scale: float = 1.0,
) -> Dict[str, Any]:
    """Certified robustness on (x, labels): per-sample `results` and per-ε `summaries`."""

def _train(
    spec_json: str,
    x: Optional[_Array] = None,
    y: Optional[_Array] = None,
    resume: Optional[Mlp] = None,
    epochs: Optional[int] = None,
    monitor: bool = False,
    dormant_tau: float = 0.1,
) -> Tuple[Mlp, List[Dict[str, Any]]]: ...
def _sleep_interruptible(seconds: float) -> None: ...
def _bench_forward_rust(model: Mlp, x: _Array, iters: int) -> float: ...
