"""reach, optimize and certify give what `relulab reach|optimize|certify --json` prints for the
same inputs (wall-clock fields aside), and bad input raises ValueError / OSError."""

import json

import numpy as np
import pytest

import relulab
from conftest import REPO, random_relu_net

DI = REPO / "data" / "control" / "double_integrator"
REFORMER = REPO / "data" / "omlt-reformer" / "reformer.csv"


def _plain(v):
    """NumPy arrays as lists, recursively (to compare with the CLI's JSON)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _drop(d, *keys):
    return {k: v for k, v in d.items() if k not in keys}


def test_reach_equals_cli(cli_json):
    got = relulab.reach(DI / "system.toml", DI / "controller.safetensors", steps=3, parts=2,
                        time_limit=0.5, true_samples=2000)
    assert isinstance(got["steps"][1]["lo"], np.ndarray) and got["steps"][1]["lo"].shape == (2,)
    assert len(got["steps"]) == 4
    # The refinement stops on the wall clock, so compare a run that cannot refine: the
    # first partition only (target_error large).
    got = relulab.reach(DI / "system.toml", DI / "controller.json", steps=3, parts=2,
                        target_error=1e9, seed=4, true_samples=2000, exact=True,
                        avoid="box = [[-inf, inf], [1.5, inf]]")
    want = cli_json("reach", "--system", DI / "system.toml", "--controller",
                    DI / "controller.json", "--steps", "3", "--parts", "2",
                    "--target-error", "1e9", "--seed", "4", "--true-samples", "2000",
                    "--exact", "--avoid", "box = [[-inf, inf], [1.5, inf]]", ok=(0, 1))
    g, w = _plain(got), want
    g.pop("runtime_s"), w.pop("runtime_s")
    g["safety"].pop("seconds"), w["safety"].pop("seconds")
    assert g == w
    assert "exact_bbox" in g["steps"][1]


def test_reach_template_equals_cli_and_holds(cli_json):
    """Octagonal template plus a user direction: the CLI's --template/--direction JSON, and every
    bound d·x ≤ e holds on trajectories simulated here in NumPy (an independent check)."""
    import tomllib

    kw = dict(steps=4, parts=2, target_error=1e9, seed=3, true_samples=2000)
    got = relulab.reach(DI / "system.toml", DI / "controller.json", template="octagon",
                        directions=[[2.0, -0.5]], **kw)
    want = cli_json("reach", "--system", DI / "system.toml", "--controller",
                    DI / "controller.json", "--steps", "4", "--parts", "2", "--target-error",
                    "1e9", "--seed", "3", "--true-samples", "2000", "--template", "octagon",
                    "--direction", "2,-0.5")
    g = _plain(got)
    g.pop("runtime_s"), want.pop("runtime_s")
    assert g == want
    dirs = np.array(got["directions"])
    assert dirs.shape == (5, 2)  # ±x0 ± x1, then the user's
    assert sorted(map(tuple, dirs[:4].tolist())) == [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    assert dirs[4].tolist() == [2.0, -0.5]
    # Without a template the steps carry no "template" entry; with one each step k ≥ 1 does.
    plain = relulab.reach(DI / "system.toml", DI / "controller.json", **kw)
    assert plain["directions"] == [] and "template" not in plain["steps"][1]
    # Soundness: simulate the loop x' = A x + B clip(π(x)) + c from the initial box.
    sysd = tomllib.loads((DI / "system.toml").read_text())
    A, B, c = (np.array(sysd[k], dtype=float) for k in ("A", "B", "c"))
    umin, umax = np.array(sysd["u_min"]), np.array(sysd["u_max"])
    ctrl = relulab.load(DI / "controller.json")
    (l0, h0), (l1, h1) = sysd["initial_box"]
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(l0, h0, 3000), rng.uniform(l1, h1, 3000)])
    x = np.vstack([x, [[l0, l1], [l0, h1], [h0, l1], [h0, h1]]])
    for k in range(1, 5):
        u = np.clip(ctrl.forward(x), umin, umax)
        x = x @ A.T + u @ B.T + c
        e = np.asarray(got["steps"][k]["template"])
        assert e.shape == (5,)
        assert np.all(x @ dirs.T <= e + 1e-9), k
        # The bounds are not vacuous: within a unit of the sampled maxima.
        assert np.all(e - (x @ dirs.T).max(axis=0) < 1.0), k


def test_reach_template_errors():
    with pytest.raises(ValueError, match="template: unknown 'hexagon'"):
        relulab.reach(DI / "system.toml", DI / "controller.json", template="hexagon")
    with pytest.raises(ValueError, match=r"directions: expected a sequence of 2-vectors"):
        relulab.reach(DI / "system.toml", DI / "controller.json", directions=[[1, 2, 3]])
    with pytest.raises(ValueError, match="directions: direction 1, entry 0: NaN is not finite"):
        relulab.reach(DI / "system.toml", DI / "controller.json",
                      directions=[[1, 0], [float("nan"), 1]])


def test_reach_errors(tmp_path):
    with pytest.raises(ValueError, match="parts must be at least 1"):
        relulab.reach(DI / "system.toml", DI / "controller.json", parts=0)
    with pytest.raises(ValueError, match="avoid or reach_goal"):
        relulab.reach(DI / "system.toml", DI / "controller.json", avoid="box = [[0, 1], [0, 1]]",
                      reach_goal="box = [[0, 1], [0, 1]]")
    with pytest.raises(FileNotFoundError):
        relulab.reach(tmp_path / "missing.toml", DI / "controller.json")


@pytest.fixture(scope="module")
def surrogate(tmp_path_factory, relulab_bin):
    import subprocess

    out = tmp_path_factory.mktemp("sur") / "reformer.safetensors"
    subprocess.run([str(relulab_bin), "surrogate", "--data", str(REFORMER), "--inputs", "0,1",
                    "--outputs", "H2,CO", "--hidden", "8,8", "--epochs", "3", "--out", str(out)],
                   check=True, capture_output=True)
    return out


def test_optimize_equals_cli(surrogate, cli):
    got = relulab.optimize(surrogate, maximize="H2", constraints=["CO <= 0.08"],
                           gap_abs=1e-6, time_limit=20)
    want = json.loads(cli("optimize", surrogate, "--maximize", "H2", "--constraint",
                          "CO <= 0.08", "--gap-abs", "1e-6", "--time-limit", "20", "--json"))
    assert isinstance(got["solution"]["x"], np.ndarray) and got["solution"]["x"].shape == (2,)
    g = _plain(got)
    g["solution"].pop("seconds"), want["solution"].pop("seconds")
    assert g == want
    got = relulab.optimize(surrogate, minimize="H2 - CO", input_bounds=[(0.2, 0.6), (0.9, 1.1)],
                           exact=True)
    want = json.loads(cli("optimize", surrogate, "--minimize", "H2 - CO", "--input-bounds",
                          "0.2:0.6,0.9:1.1", "--exact", "--json"))
    g = _plain(got)
    g["solution"].pop("seconds"), want["solution"].pop("seconds")
    assert g == want
    assert g["solution"]["status"] == "optimal"


def test_optimize_problem_file_equals_cli(surrogate, cli, tmp_path):
    prob = tmp_path / "problem.toml"
    prob.write_text('maximize = "H2"\nconstraints = ["CO <= 0.08"]\n'
                    'input_bounds = [[0.15, 0.75], [0.9, 1.2]]\ngap_abs = 1e-6\ntime_limit = 20\n')
    got = relulab.optimize(surrogate, problem=prob)
    want = json.loads(cli("optimize", surrogate, "--problem", prob, "--json"))
    g = _plain(got)
    g["solution"].pop("seconds"), want["solution"].pop("seconds")
    assert g == want
    assert g["lo"] == [0.15, 0.9] and g["hi"] == [0.75, 1.2]
    assert g["constraints"] == ["CO <= 0.08"]
    # The same problem given as keywords gives the same answer.
    kw = relulab.optimize(surrogate, maximize="H2", constraints=["CO <= 0.08"],
                          input_bounds=[(0.15, 0.75), (0.9, 1.2)], gap_abs=1e-6, time_limit=20)
    k = _plain(kw)
    k["solution"].pop("seconds")
    assert k == g
    # Keywords override the file and add constraints, as on the command line.
    got = relulab.optimize(surrogate, problem=prob, minimize="H2", constraints=["x[0] <= 0.5"],
                           exact=True)
    want = json.loads(cli("optimize", surrogate, "--problem", prob, "--minimize", "H2",
                          "--constraint", "x[0] <= 0.5", "--exact", "--json"))
    g = _plain(got)
    g["solution"].pop("seconds"), want["solution"].pop("seconds")
    assert g == want
    assert g["solution"]["sense"] == "minimize" and g["hi"][0] == 0.5


def test_optimize_problem_file_errors(surrogate, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('maximize = "H2"\nmaximise_typo = 1\n')
    with pytest.raises(ValueError, match=r"bad.toml.*line 2.*maximise_typo"):
        relulab.optimize(surrogate, problem=bad)
    with pytest.raises(FileNotFoundError):
        relulab.optimize(surrogate, problem=tmp_path / "missing.toml")


def test_optimize_errors(surrogate, tmp_path):
    with pytest.raises(ValueError, match="gap_abs"):
        relulab.optimize(surrogate, maximize="H2", gap_abs=-1)
    with pytest.raises(ValueError, match="maximize or minimize"):
        relulab.optimize(surrogate, maximize="H2", minimize="CO")
    with pytest.raises(ValueError):
        relulab.optimize(surrogate, maximize="nosuchname")
    with pytest.raises(FileNotFoundError):
        relulab.optimize(tmp_path / "missing.safetensors", maximize="y[0]")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A random 4-16-16-3 ReLU classifier, 12 samples in [0, 1]^4 labelled mostly by it."""
    d = tmp_path_factory.mktemp("cls")
    net, _, _ = random_relu_net([4, 16, 16, 3], seed=31)
    path = d / "cls.safetensors"
    net.save(path)
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, size=(12, 4)).astype(np.float32).astype(np.float64)  # the CLI reads f32
    labels = np.argmax(net.forward(x), axis=1)
    labels[:2] = (labels[:2] + 1) % 3  # two misclassified samples
    csv = d / "data.csv"
    with open(csv, "w") as f:
        f.write("a,b,c,d,label\n")
        for row, l in zip(x, labels):
            f.write(",".join(repr(float(v)) for v in row) + f",{int(l)}\n")
    return net, path, x, labels, csv


def test_certify_equals_cli(classifier, cli):
    net, path, x, labels, csv = classifier
    got = relulab.certify(path, x, labels, [0.01, 0.1], clamp=(0, 1), time_limit_per_sample=0,
                          seed=2)
    out = cli("certify", path, "--data", csv, "--eps", "0.01,0.1", "--clamp", "0,1",
              "--time-limit-per-sample", "0", "--seed", "2", "--json")
    lines = [json.loads(l) for l in out.strip().splitlines()]
    want_r = [l for l in lines if not l.get("summary")]
    want_s = [l for l in lines if l.get("summary")]
    assert len(got["results"]) == 24 and len(got["summaries"]) == 2
    strip = lambda rs: [_drop(_plain(r), "seconds") for r in rs]
    assert strip(got["results"]) == strip(want_r)
    assert strip(got["summaries"]) == strip(want_s)
    assert got["summaries"][0]["misclassified"] == 2
    # An Mlp object gives the same outcomes as its file.
    again = relulab.certify(net, x, labels, 0.1, clamp=(0, 1), time_limit_per_sample=0, seed=2)
    assert strip(again["results"]) == strip(got["results"][12:])


def test_certify_digits_checkpoint_equals_cli(tmp_path, cli):
    """A `relulab train` checkpoint (with its input standardisation) on digits pixels / 16."""
    ck = tmp_path / "digits.safetensors"
    cli("train", "--dataset", "digits", "--hidden", "16", "--epochs", "2", "--model-out", ck)
    table = np.loadtxt(REPO / "data" / "scikit-learn" / "digits.csv.gz", delimiter=",")[:30]
    x, labels = table[:, :64] / 16, table[:, 64].astype(np.int64)
    got = relulab.certify(ck, x, labels, [0.01, 0.03], clamp=(0, 1), scale=16,
                          time_limit_per_sample=0)
    out = cli("certify", ck, "--data", "digits", "--split", "all", "--limit", "30",
              "--eps", "0.01,0.03", "--time-limit-per-sample", "0", "--json")
    lines = [json.loads(l) for l in out.strip().splitlines()]
    strip = lambda rs: [_drop(_plain(r), "seconds") for r in rs]
    assert strip(got["results"]) == strip([l for l in lines if not l.get("summary")])
    assert strip(got["summaries"]) == strip([l for l in lines if l.get("summary")])


def test_certify_errors(classifier):
    net, path, x, labels, _ = classifier
    with pytest.raises(ValueError, match="label 7 out of range"):
        relulab.certify(net, x, np.full(12, 7), 0.1)
    with pytest.raises(ValueError, match=r"expected an \(n, 4\) array"):
        relulab.certify(net, x[:, :3], labels, 0.1)
    with pytest.raises(ValueError, match="norm"):
        relulab.certify(net, x, labels, 0.1, norm="l7")
    with pytest.raises(ValueError, match="outside clamp"):
        relulab.certify(net, x + 2, labels, 0.1, clamp=(0, 1))
