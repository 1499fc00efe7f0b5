"""Every analysis gives what the command line prints with --json for the same inputs."""

import numpy as np
import pytest

import relulab
from conftest import random_relu_net


@pytest.fixture
def saved(tmp_path):
    net, ws, bs = random_relu_net([2, 12, 12, 1], seed=21)
    path = tmp_path / "m.safetensors"
    net.save(path)
    return net, path


def test_regions_equal_cli(saved, cli_json):
    net, path = saved
    got = net.regions(box=(-1.5, 1.5, -1.0, 2.0), polygons=True)
    want = cli_json("regions", "--model", path, "--box=-1.5,1.5,-1,2", "--polygons")
    for key in ["activation_regions", "linear_regions", "cells", "box", "origin", "dir_a", "dir_b",
                "area_sum", "box_area", "output_is_logit"]:
        assert got[key] == want[key], key
    assert len(got["polygons"]) == len(want["polygons"]) == got["cells"]
    for g, w in zip(got["polygons"], want["polygons"]):
        np.testing.assert_array_equal(g["vertices"], np.array(w["vertices"]))
        np.testing.assert_array_equal(g["maps"], np.array(w["maps"]))
        assert g["pattern"] == w["pattern"]


def test_regions_with_boundary_and_slice_equal_cli(tmp_path, cli_json):
    net, _, _ = random_relu_net([3, 10, 10, 2], seed=22)
    path = tmp_path / "m3.safetensors"
    net.save(path)
    got = net.regions(box=(-1, 1, -1, 1), origin=[0.1, 0, 0], dir_a=[1, 0, 0], dir_b=[0, 1, 1], boundary=(0, 1))
    want = cli_json("regions", "--model", path, "--box=-1,1,-1,1", "--origin", "0.1,0,0",
                    "--dir-a", "1,0,0", "--dir-b", "0,1,1", "--boundary", "0=1")
    for key in ["activation_regions", "linear_regions", "cells", "area_sum", "output_is_logit"]:
        assert got[key] == want[key], key
    with pytest.raises(ValueError, match="3 inputs: give the slice"):
        net.regions()


def test_segment_and_sampling_equal_cli(saved, cli_json):
    net, path = saved
    got = net.segment([-2, -1], [2, 1.5])
    want = cli_json("regions", "--model", path, "--segment", "-2,-1", "2,1.5")
    assert got["activation_pieces"] == want["activation_pieces"]
    assert got["linear_pieces"] == want["linear_pieces"]
    np.testing.assert_array_equal(got["t"], want["t"])
    np.testing.assert_array_equal(got["maps"], np.array(want["maps"]))
    got = net.sample_regions(5000, lo=-2, hi=2, seed=3)
    want = cli_json("regions", "--model", path, "--sample", "5000", "--range=-2,2", "--seed", "3")
    assert got["distinct_patterns"] == want["distinct_patterns"]
    assert [list(p) for p in got["growth"]] == want["growth"]


def test_bounds_equal_cli_and_enclose_samples(saved, cli_json):
    net, path = saved
    lo, hi = np.array([-1.0, -0.5]), np.array([0.5, 1.0])
    want = cli_json("bounds", "--model", path, "--box=-1:0.5,-0.5:1")
    xs = np.random.default_rng(0).uniform(lo, hi, size=(2000, 2))
    ys = net.forward(xs)
    for method, key in [("ibp", "IBP"), ("crown", "CROWN"), ("alpha-crown", "alpha-CROWN")]:
        l, h = net.bounds(lo, hi, method=method)
        np.testing.assert_array_equal(l, want[key]["lower"])
        np.testing.assert_array_equal(h, want[key]["upper"])
        assert (ys >= l).all() and (ys <= h).all()
    with pytest.raises(ValueError, match="unknown 'deeppoly'"):
        net.bounds(lo, hi, method="deeppoly")
    with pytest.raises(ValueError, match="input 0: need lo <= hi"):
        net.bounds(hi, lo)


def test_diagnose_equals_cli(tmp_path, cli_json):
    net, _, _ = random_relu_net([4, 32, 32, 3], seed=23)
    path = tmp_path / "d.safetensors"
    net.save(path)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((500, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=500)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    got = net.diagnose(x, y, tau=0.2)
    want = cli_json("diagnose", "--model", path, "--data", tmp_path / "x.npy", "--targets",
                    tmp_path / "y.npy", "--tau", "0.2")
    assert got["loss"] == want["loss"] == "cross_entropy"
    assert got["samples"] == want["samples"] == 500
    assert got["layers"] == want["layers"]
    assert got["homogeneity_error_a2"] == want["homogeneity_error_a2"]
    none = net.diagnose(x)
    assert none["loss"] == "none" and none["layers"][0]["grad_pre_norm"] is None
    with pytest.raises(ValueError, match="label of sample 0 is 7"):
        net.diagnose(x, np.full(500, 7))
    with pytest.raises(ValueError, match=r"real targets need shape \(500, 3\)"):
        net.diagnose(x, np.zeros((500, 2)))


def test_homogeneity_of_a_bias_free_net_is_reported():
    net, _, _ = random_relu_net([3, 8, 8, 1], seed=2, bias=False)
    h = net.diagnose(np.random.default_rng(0).standard_normal((50, 3)))
    assert h["homogeneity_error_a2"] is not None and h["homogeneity_error_a2"] < 1e-12


VNNLIB = """; y = relu(x0) + relu(x1) on [-1, 1]^2 (maximum 2)
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(assert (>= X_0 -1))
(assert (<= X_0 1))
(assert (>= X_1 -1))
(assert (<= X_1 1))
(assert (>= Y_0 {t}))
"""


@pytest.fixture
def relu_sum(tmp_path):
    net = relulab.Mlp.from_layers([np.eye(2), np.ones((1, 2))], [np.zeros(2), np.zeros(1)])
    path = tmp_path / "sum.json"
    net.save(path)
    return net, path


@pytest.mark.parametrize("threshold, verdict", [("1.5", "sat"), ("2.5", "unsat")])
def test_verify_equals_cli(tmp_path, relu_sum, cli, threshold, verdict):
    import json

    net, path = relu_sum
    prop = tmp_path / f"p{threshold}.vnnlib"
    prop.write_text(VNNLIB.format(t=threshold))
    got = relulab.verify(net, prop, timeout=30)
    out = cli("verify", "--model", path, "--property", prop, "--timeout", "30", "--json")
    want = json.loads(out.strip().splitlines()[-1])
    assert got["result"] == want["result"] == verdict
    assert got["domains"] == want["domains"]
    if verdict == "sat":
        for k in ["x", "y", "y_f32"]:
            np.testing.assert_array_equal(got["witness"][k], want["witness"][k])
        x = got["witness"]["x"]
        assert np.maximum(x, 0).sum() >= 1.5
    else:
        assert got["witness"] is None and want["witness"] is None
    # a model file works as well as a model
    assert relulab.verify(str(path), prop, timeout=30)["result"] == verdict


def test_verify_errors(tmp_path, relu_sum):
    net, _ = relu_sum
    bad = tmp_path / "bad.vnnlib"
    bad.write_text("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 oops))\n")
    with pytest.raises(ValueError, match=r"bad.vnnlib: line 4"):
        relulab.verify(net, bad)
    with pytest.raises(FileNotFoundError, match="missing.vnnlib"):
        relulab.verify(net, tmp_path / "missing.vnnlib")
    with pytest.raises(ValueError, match="timeout must be a positive"):
        relulab.verify(net, bad, timeout=0)
    # Past what Rust's Instant arithmetic holds: a ValueError, not a panic.
    with pytest.raises(ValueError, match="at most 1e9"):
        relulab.verify(net, bad, timeout=1e20)


def test_train_equals_cli(tmp_path, cli):
    import json

    args = dict(dataset="moons", hidden=[16, 16], epochs=4, seed=5, lr=0.01, batch_size=16)
    model, metrics = relulab.train(**args)
    out = cli("train", "--dataset", "moons", "--hidden", "16,16", "--epochs", "4", "--seed", "5",
              "--lr", "0.01", "--batch-size", "16", "--json", "--model-out", tmp_path / "t.safetensors")
    want = [json.loads(l) for l in out.strip().splitlines()]
    assert len(metrics) == len(want) == 4
    for g, w in zip(metrics, want):
        g, w = dict(g), dict(w)
        g.pop("seconds"), w.pop("seconds")
        assert g == w
    cli_model = relulab.load(tmp_path / "t.safetensors")
    for a, b in zip(model.layers, cli_model.layers):
        np.testing.assert_array_equal(a["weight"], b["weight"])
        np.testing.assert_array_equal(a["bias"], b["bias"])
    assert model.spec == cli_model.spec and model.epoch == cli_model.epoch == 4
    np.testing.assert_array_equal(model.standardizer[0], cli_model.standardizer[0])


def test_train_resume_is_bit_identical():
    full, m_full = relulab.train(dataset="xor", hidden=[8], epochs=4, seed=1)
    half, m_half = relulab.train(dataset="xor", hidden=[8], epochs=2, seed=1)
    rest, m_rest = relulab.train(resume=half, epochs=4)
    assert [m["train_loss"] for m in m_half + m_rest] == [m["train_loss"] for m in m_full]
    for a, b in zip(rest.layers, full.layers):
        np.testing.assert_array_equal(a["weight"], b["weight"])


def test_train_on_arrays():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    model, metrics = relulab.train(x, y, hidden=[16], epochs=30, lr=0.01, test_fraction=0.0)
    assert model.widths == [2, 16, 2]
    assert metrics[-1]["train_accuracy"] > 0.8 and metrics[-1]["test_accuracy"] is None
    # The standardisation is fitted on the float32 training data, in float64 (population std).
    x32 = x.astype(np.float32).astype(np.float64)
    mean, std = x32.mean(axis=0), x32.std(axis=0)
    np.testing.assert_allclose(model.standardizer[0], mean, rtol=1e-12)
    np.testing.assert_allclose(model.standardizer[1], std, rtol=1e-12)
    np.testing.assert_allclose(model.standardize(x), (x - mean) / std, rtol=1e-12, atol=1e-15)
    reg, m = relulab.train(x, x[:, :1] * 2.0, hidden=[8], epochs=2, test_fraction=0.0)
    assert reg.output_dim == 1 and m[0]["train_accuracy"] is None


def test_train_errors():
    with pytest.raises(ValueError, match="unknown field `hiden`"):
        relulab.train(dataset="moons", hiden=[3])
    with pytest.raises(ValueError, match="unknown data set|unknown dataset"):
        relulab.train(dataset="mnist", epochs=1)
    with pytest.raises(ValueError, match="both x and y"):
        relulab.train(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="not finite"):
        relulab.train(np.array([[np.nan, 1.0], [1.0, 2.0]]), np.array([0, 1]), epochs=1)
    with pytest.raises(ValueError, match="only epochs may change"):
        relulab.train(resume=relulab.Mlp.from_layers([np.ones((1, 1))]), lr=0.1)
    with pytest.raises(ValueError, match="no training state"):
        relulab.train(resume=relulab.Mlp.from_layers([np.ones((1, 1))]), epochs=3)


def test_claims_equal_cli(cli):
    import json

    got = relulab.claims(only=[1, 4], seed=2)
    want = json.loads(cli("claims", "--only", "1,4", "--seed", "2", "--json"))
    assert [c["id"] for c in got] == [1, 4]
    for g, w in zip(got, want):
        g, w = dict(g), dict(w)
        g.pop("seconds"), w.pop("seconds")
        assert g == w
    assert all(c["pass"] for c in got)
    with pytest.raises(ValueError, match="claim 12 does not exist"):
        relulab.claims(only=[12])
