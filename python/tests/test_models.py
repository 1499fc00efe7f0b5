"""Building, saving, loading and pickling models; from_torch; errors with file and place."""

import concurrent.futures as cf
import multiprocessing as mp
import operator
import pickle

import numpy as np
import pytest

import relulab
from conftest import REPO, numpy_forward, random_relu_net


def test_from_layers_round_trips_through_layers():
    w0 = np.array([[1.0, -2.0], [0.5, 0.25], [3.0, 0.0]], dtype=np.float32)
    w1 = np.array([[1.0, 2.0, -1.0]], dtype=np.float32)
    net = relulab.Mlp.from_layers(
        [w0, w1], [np.array([0.1, 0.2, 0.3]), None], activation="leaky_relu(negative_slope=0.2)"
    )
    assert net.widths == [2, 3, 1] and net.input_dim == 2 and net.output_dim == 1
    assert net.num_params == 6 + 3 + 3
    layers = net.layers
    np.testing.assert_array_equal(layers[0]["weight"], w0)
    np.testing.assert_allclose(layers[0]["bias"], [0.1, 0.2, 0.3], rtol=1e-7)
    assert layers[1]["bias"] is None
    assert layers[0]["activation"] == "leaky_relu(negative_slope=0.2)"
    assert layers[1]["activation"] == "identity"
    again = relulab.Mlp.from_layers(
        [l["weight"] for l in layers],
        [l["bias"] for l in layers],
        activation=[l["activation"] for l in layers],
    )
    x = np.random.default_rng(0).standard_normal((7, 2))
    np.testing.assert_array_equal(again.forward(x), net.forward(x))
    leaky = lambda z: np.where(z > 0, z, 0.2 * z)
    np.testing.assert_allclose(
        net.forward(x), numpy_forward([w0, w1], [np.array([0.1, 0.2, 0.3], np.float32), None], x, leaky), rtol=1e-6
    )


def test_prelu_slopes_per_unit():
    w0 = np.eye(2, dtype=np.float32)
    net = relulab.Mlp.from_layers(
        [w0, np.ones((1, 2))], activation=["prelu", "identity"], prelu_alpha=[np.array([0.1, 0.3]), None]
    )
    # y = prelu_0(x0) + prelu_1(x1)
    np.testing.assert_allclose(net.forward(np.array([-1.0, -2.0])), [-0.1 - 0.6], rtol=1e-6)
    np.testing.assert_allclose(net.layers[0]["prelu_alpha"], [0.1, 0.3], rtol=1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(weights=[np.ones((2, 3)), np.ones((1, 4))]), "layer 1: input width 4 does not match"),
        (dict(weights=[np.ones(3)]), r"weights\[0\]: expected a 2-D"),
        (dict(weights=[np.array([[1.0, np.nan]])]), "layer 0: weight element 1 is NaN"),
        (dict(weights=[np.ones((2, 2))], biases=[np.ones(3)]), r"biases\[0\]: expected 2 values"),
        (dict(weights=[np.ones((2, 2))], activation=["nope"]), "unknown activation 'nope'"),
        (dict(weights=[np.ones((2, 2)), np.ones((1, 2))], activation=["relu"]), "1 names for 2 layers"),
        (dict(weights=[]), "at least one layer"),
        (dict(weights=[np.ones((1, 1))], prelu_alpha=[np.ones(1)]), "not a PReLU layer"),
    ],
)
def test_from_layers_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        relulab.Mlp.from_layers(**kwargs)


@pytest.mark.parametrize("ext", ["safetensors", "onnx", "json"])
def test_save_load_round_trip(tmp_path, ext):
    net, _, _ = random_relu_net([3, 8, 8, 2], seed=11)
    path = tmp_path / f"m.{ext}"
    net.save(path)
    back = relulab.load(path)
    x = np.random.default_rng(1).standard_normal((20, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    for a, b in zip(back.layers, net.layers):
        np.testing.assert_array_equal(a["weight"], b["weight"])


def test_load_pytorch_state_dict_needs_activation():
    sd = REPO / "tests" / "data" / "regions_state_dict.safetensors"
    with pytest.raises(ValueError, match=r"not a relulab checkpoint.*activation="):
        relulab.load(sd)
    net = relulab.load(sd, activation="relu")
    assert net.layers[0]["activation"] == "relu"


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        relulab.load(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(ValueError, match="bad.safetensors"):
        relulab.load(bad)
    js = tmp_path / "m.json"
    js.write_text('{"layers": [\n  {"in_dim": 1,, }]}')
    with pytest.raises(ValueError, match=r"m.json: line 2, column \d+"):
        relulab.load(js)
    with pytest.raises(ValueError, match="unknown model format"):
        relulab.load(tmp_path / "m.txt")
    with pytest.raises(ValueError, match="activation: unknown activation"):
        relulab.load(js, activation="nope")


def test_pickle_round_trip_keeps_weights_and_training_state():
    model, _ = relulab.train(dataset="moons", hidden=[8], epochs=2, seed=3)
    back = pickle.loads(pickle.dumps(model))
    assert back.epoch == 2 and back.spec == model.spec
    m0, s0 = model.standardizer
    m1, s1 = back.standardizer
    np.testing.assert_array_equal(m0, m1)
    np.testing.assert_array_equal(s0, s1)
    for a, b in zip(back.layers, model.layers):
        np.testing.assert_array_equal(a["weight"], b["weight"])
    assert relulab.Mlp.from_bytes(model.to_bytes()).widths == model.widths
    with pytest.raises(ValueError, match="<bytes>"):
        relulab.Mlp.from_bytes(b"not a checkpoint")


def test_models_travel_to_a_process_pool():
    nets = [random_relu_net([4, 16, 2], seed=s)[0] for s in range(3)]
    x = np.random.default_rng(0).standard_normal((5, 4))
    # spawn: a fresh interpreter that only gets the pickled model (fork would share memory).
    with cf.ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
        remote = list(pool.map(operator.methodcaller("forward", x), nets))
        back = list(pool.map(pickle.loads, [pickle.dumps(n) for n in nets]))
    for n, r, b in zip(nets, remote, back):
        np.testing.assert_array_equal(r, n.forward(x))
        np.testing.assert_array_equal(b.forward(x), n.forward(x))


# --- from_torch, with stand-ins that have PyTorch's class names and attributes -------------


class _T:
    """A tensor stand-in: detach().cpu().numpy() like torch.Tensor."""

    def __init__(self, a):
        self.a = np.asarray(a, dtype=np.float32)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.a


class Linear:
    def __init__(self, w, b=None):
        self.weight, self.bias = _T(w), (None if b is None else _T(b))


class ReLU:
    pass


class LeakyReLU:
    def __init__(self, s):
        self.negative_slope = s


class PReLU:
    def __init__(self, a):
        self.weight = _T(a)


class Dropout:
    pass


class Softmax:
    pass


class Sequential:
    def __init__(self, *mods):
        self.mods = mods

    def children(self):
        return iter(self.mods)


def test_from_torch_with_stand_ins():
    rng = np.random.default_rng(0)
    w0, b0 = rng.standard_normal((5, 3)), rng.standard_normal(5)
    w1, b1 = rng.standard_normal((4, 5)), rng.standard_normal(4)
    w2 = rng.standard_normal((2, 4))
    seq = Sequential(
        Linear(w0, b0), LeakyReLU(0.05), Dropout(), Linear(w1, b1), PReLU([0.3]), Linear(w2)
    )
    net = relulab.from_torch(seq)
    assert [l["activation"] for l in net.layers] == [
        "leaky_relu(negative_slope=0.05)",
        "prelu(alpha=0.25)",
        "identity",
    ]
    x = rng.standard_normal((6, 3))
    f32 = lambda a: np.asarray(a, np.float32).astype(np.float64)
    h = f32(x) @ f32(w0).T + f32(b0)
    h = np.where(h > 0, h, f32(0.05) * h)
    h = h @ f32(w1).T + f32(b1)
    h = np.where(h > 0, h, f32(0.3) * h)
    y = h @ f32(w2).T
    np.testing.assert_allclose(net.forward(x), y, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"module 1 \(Softmax\) is not supported"):
        relulab.from_torch(Sequential(Linear(w0), Softmax()))
    with pytest.raises(ValueError, match="comes before any Linear"):
        relulab.from_torch(Sequential(ReLU(), Linear(w0)))


def test_from_torch_with_torch_if_installed():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    seq = torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.GELU(), torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)
    )
    net = relulab.from_torch(seq)
    x = torch.randn(10, 3)
    np.testing.assert_allclose(net.forward(x.numpy()), seq(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_readme_example_runs(tmp_path, monkeypatch):
    """The README's "From Python" example, exactly as printed there."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## From Python") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```", start)]
    assert len(code.strip().splitlines()) == 10
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "moons.onnx").exists()
