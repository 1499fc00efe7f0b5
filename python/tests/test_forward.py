"""model.forward: values against NumPy, dtypes and shapes, zero-copy input, errors."""

import numpy as np
import pytest

import relulab
from conftest import numpy_forward, random_relu_net


def test_forward_matches_numpy_f64_and_f32():
    net, ws, bs = random_relu_net([5, 16, 16, 3], seed=1)
    x = np.random.default_rng(2).standard_normal((40, 5))
    want = numpy_forward(ws, bs, x)
    y64 = net.forward(x)
    assert y64.dtype == np.float64 and y64.shape == (40, 3)
    np.testing.assert_allclose(y64, want, rtol=1e-12, atol=1e-12)
    y32 = net.forward(x.astype(np.float32))
    assert y32.dtype == np.float32 and y32.shape == (40, 3)
    np.testing.assert_allclose(y32, want, rtol=1e-5, atol=1e-5)


def test_one_sample_is_1d():
    net, ws, bs = random_relu_net([3, 4, 2], seed=3)
    x = np.array([0.5, -1.0, 2.0])
    y = net.forward(x)
    assert y.shape == (2,)
    np.testing.assert_allclose(y, numpy_forward(ws, bs, x[None])[0], rtol=1e-12)


def test_closed_form_abs():
    # |x| = relu(x) + relu(-x)
    net = relulab.Mlp.from_layers([np.array([[1.0], [-1.0]]), np.array([[1.0, 1.0]])])
    x = np.linspace(-3, 3, 13)[:, None]
    np.testing.assert_array_equal(net.forward(x)[:, 0], np.abs(x[:, 0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_contiguous_input_is_read_in_place(dtype):
    net, _, _ = random_relu_net([8, 4, 1], seed=4)
    x = np.random.default_rng(5).standard_normal((10, 8)).astype(dtype)
    net.forward(x)
    assert net._last_input_address == x.ctypes.data
    row = x[3]  # a contiguous view into the same buffer
    net.forward(row)
    assert net._last_input_address == row.ctypes.data == x.ctypes.data + 3 * 8 * x.itemsize


def test_non_contiguous_and_integer_inputs_are_converted():
    net, ws, bs = random_relu_net([4, 4, 1], seed=6)
    big = np.random.default_rng(7).standard_normal((6, 8))
    x = big[:, ::2]  # strided: must be copied
    y = net.forward(x)
    assert net._last_input_address != x.ctypes.data
    np.testing.assert_allclose(y, numpy_forward(ws, bs, x), rtol=1e-12)
    xi = np.arange(8).reshape(2, 4)
    yi = net.forward(xi)
    assert yi.dtype == np.float64
    np.testing.assert_allclose(yi, numpy_forward(ws, bs, xi), rtol=1e-12)
    np.testing.assert_allclose(net.forward([[1, 2, 3, 4]]), numpy_forward(ws, bs, [[1, 2, 3, 4]]))


def test_forward_errors_are_value_errors():
    net, _, _ = random_relu_net([3, 4, 2])
    with pytest.raises(ValueError, match="network takes 3 inputs"):
        net.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="1-D .* or 2-D"):
        net.forward(np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match="x: not convertible"):
        net.forward([["a", "b", "c"]])


def test_forward_equals_cli_eval(tmp_path, cli):
    net, _, _ = random_relu_net([6, 32, 32, 4], seed=8)
    path = tmp_path / "m.safetensors"
    net.save(path)
    x = np.random.default_rng(9).standard_normal((300, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    cli("eval", "--model", path, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    want = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(net.forward(x), want, rtol=1e-6, atol=1e-6)
