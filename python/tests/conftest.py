"""Shared fixtures: the relulab command-line binary (the independent source of expected
results) and small networks with closed-form outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import relulab

REPO = Path(__file__).resolve().parents[2]


def _find_binary() -> Path | None:
    env = os.environ.get("RELULAB_BIN")
    if env:
        return Path(env)
    built = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "relulab"
    if built.exists():
        return built
    if shutil.which("cargo"):
        subprocess.run(
            ["cargo", "build", "--release", "--bin", "relulab"], cwd=REPO, check=True
        )
        return built
    return None


@pytest.fixture(scope="session")
def relulab_bin() -> Path:
    b = _find_binary()
    if b is None or not b.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("the relulab binary is needed under CI (cargo build --release)")
        pytest.skip("no relulab binary (set RELULAB_BIN or build with cargo)")
    return b


@pytest.fixture
def cli(relulab_bin):
    """Run `relulab ARGS...`; return stdout (exit status must be 0 unless `ok` is given)."""

    def run(*args: str, ok=(0,)) -> str:
        p = subprocess.run(
            [str(relulab_bin), *map(str, args)], capture_output=True, text=True
        )
        assert p.returncode in ok, f"relulab {' '.join(map(str, args))}: {p.stderr}"
        return p.stdout

    return run


@pytest.fixture
def cli_json(cli):
    """Run `relulab ARGS... --json` and parse the last JSON line (or the whole output)."""

    def run(*args: str, ok=(0,)):
        out = cli(*args, "--json", ok=ok)
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            return json.loads(out.strip().splitlines()[-1])

    return run


def relu(z):
    return np.maximum(z, 0.0)


def random_relu_net(widths, seed=0, bias=True):
    """A ReLU MLP with standard-normal weights (He-scaled) and its NumPy weights."""
    rng = np.random.default_rng(seed)
    ws = [
        (rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(np.float32)
        for i, o in zip(widths[:-1], widths[1:])
    ]
    bs = [(0.1 * rng.standard_normal(o)).astype(np.float32) for o in widths[1:]] if bias else None
    return relulab.Mlp.from_layers(ws, bs, activation="relu"), ws, bs


def numpy_forward(ws, bs, x, hidden=relu):
    """The reference forward pass in float64 (the independent oracle)."""
    a = np.asarray(x, dtype=np.float64)
    for l, w in enumerate(ws):
        z = a @ w.astype(np.float64).T
        if bs is not None and bs[l] is not None:
            z = z + bs[l].astype(np.float64)
        a = hidden(z) if l + 1 < len(ws) else z
    return a
