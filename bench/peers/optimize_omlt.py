#!/usr/bin/env python3
"""Peers of `relulab optimize` (issue 13), run by benches/optimize.rs on the network relulab trained.

Usage: optimize_omlt.py PROBLEM.json SOLVER TIME_LIMIT
  SOLVER: omlt-highs  (OMLT's big-M ReLU formulation, ReluBigMFormulation, solved by HiGHS via Pyomo)
          gurobi-ml   (gurobi-machinelearning's add_predictor_constr on a Gurobi model; the pip
                       licence is size-limited and refuses larger models)
PROBLEM.json: {"layers": [{"w": [[..]] (out x in), "b": [..], "relu": bool}], "x_mean", "x_std",
  "y_mean", "y_std", "lo", "hi", "sense": "maximize"|"minimize", "cy": [..], "cx": [..],
  "constraints": [{"cy": [..], "cx": [..], "rhs": r}]  meaning cy.y + cx.x <= rhs}
Prints one JSON line: {"solver", "status", "objective", "bound", "x", "build_s", "solve_s"}.
The network is passed as weights (no ONNX round trip): the same f32 values relulab optimises,
widened to f64. Inputs and outputs are in user units; the scaling is OMLT's OffsetScaling
(scaled = (v - offset) / factor), identical to relulab's standardisation.
"""
import json
import sys
import time


def run_omlt(p, time_limit):
    import numpy as np
    import pyomo.environ as pyo
    from omlt import OffsetScaling, OmltBlock
    from omlt.neuralnet import NetworkDefinition, ReluBigMFormulation
    from omlt.neuralnet.layer import DenseLayer, InputLayer

    t0 = time.perf_counter()
    d = len(p["lo"])
    m_out = len(p["y_mean"])
    scaler = OffsetScaling(
        offset_inputs=p["x_mean"], factor_inputs=p["x_std"],
        offset_outputs=p["y_mean"], factor_outputs=p["y_std"])
    sib = {i: ((p["lo"][i] - p["x_mean"][i]) / p["x_std"][i],
               (p["hi"][i] - p["x_mean"][i]) / p["x_std"][i]) for i in range(d)}
    net = NetworkDefinition(scaling_object=scaler, scaled_input_bounds=sib)
    prev = InputLayer([d])
    net.add_layer(prev)
    for L in p["layers"]:
        w = np.array(L["w"], dtype=float)
        dense = DenseLayer(prev.output_size, [w.shape[0]],
                           activation="relu" if L["relu"] else "linear",
                           weights=w.T, biases=np.array(L["b"], dtype=float))
        net.add_layer(dense)
        net.add_edge(prev, dense)
        prev = dense
    m = pyo.ConcreteModel()
    m.nn = OmltBlock()
    m.nn.build_formulation(ReluBigMFormulation(net))
    obj = sum(c * m.nn.outputs[i] for i, c in enumerate(p["cy"]) if c != 0) + \
        sum(c * m.nn.inputs[i] for i, c in enumerate(p["cx"]) if c != 0)
    m.obj = pyo.Objective(expr=obj, sense=pyo.maximize if p["sense"] == "maximize" else pyo.minimize)
    m.cons = pyo.ConstraintList()
    for c in p["constraints"]:
        e = sum(a * m.nn.outputs[i] for i, a in enumerate(c["cy"]) if a != 0) + \
            sum(a * m.nn.inputs[i] for i, a in enumerate(c["cx"]) if a != 0)
        m.cons.add(e <= c["rhs"])
    for i in range(d):
        m.nn.inputs[i].setlb(p["lo"][i])
        m.nn.inputs[i].setub(p["hi"][i])
    build = time.perf_counter() - t0
    solver = pyo.SolverFactory("appsi_highs")
    solver.config.time_limit = time_limit
    solver.config.mip_gap = 1e-9
    t1 = time.perf_counter()
    res = solver.solve(m, load_solutions=False)
    solve_s = time.perf_counter() - t1
    status = str(res.solver.termination_condition)
    x, objective = None, None
    try:
        m.solutions.load_from(res)
        x = [pyo.value(m.nn.inputs[i]) for i in range(d)]
        objective = pyo.value(m.obj)
    except Exception:  # no solution
        pass
    # The legacy results carry the dual bound as the problem's lower (max: upper) bound.
    bound = res.problem.upper_bound if p["sense"] == "maximize" else res.problem.lower_bound
    return {"solver": "omlt-highs", "status": status, "objective": objective,
            "bound": bound, "x": x, "build_s": build, "solve_s": solve_s}


def run_gurobi(p, time_limit):
    import gurobipy as gp
    import numpy as np
    from gurobi_ml import add_predictor_constr
    from sklearn.neural_network import MLPRegressor  # gurobi-ml reads sklearn MLPs

    t0 = time.perf_counter()
    d = len(p["lo"])
    layers = p["layers"]
    # An sklearn MLPRegressor carrying relulab's weights, on the standardised scale.
    reg = MLPRegressor(hidden_layer_sizes=[len(L["b"]) for L in layers[:-1]], activation="relu")
    reg.coefs_ = [np.array(L["w"], dtype=float).T for L in layers]
    reg.intercepts_ = [np.array(L["b"], dtype=float) for L in layers]
    reg.n_layers_ = len(layers) + 1
    reg.n_outputs_ = len(layers[-1]["b"])
    reg.out_activation_ = "identity"
    reg.n_features_in_ = d
    env = gp.Env(params={"OutputFlag": 0})
    m = gp.Model(env=env)
    m.Params.TimeLimit = time_limit
    m.Params.MIPGap = 1e-9
    x = m.addMVar(d, lb=p["lo"], ub=p["hi"])
    s = m.addMVar(d, lb=-gp.GRB.INFINITY)
    yh = m.addMVar(reg.n_outputs_, lb=-gp.GRB.INFINITY)
    xm, xs = np.array(p["x_mean"]), np.array(p["x_std"])
    ym, ys = np.array(p["y_mean"]), np.array(p["y_std"])
    m.addConstr(s * xs == x - xm)
    add_predictor_constr(m, reg, s, yh)
    y = m.addMVar(reg.n_outputs_, lb=-gp.GRB.INFINITY)
    m.addConstr(y == ym + ys * yh)
    obj = np.array(p["cy"]) @ y + np.array(p["cx"]) @ x
    m.setObjective(obj, gp.GRB.MAXIMIZE if p["sense"] == "maximize" else gp.GRB.MINIMIZE)
    for c in p["constraints"]:
        m.addConstr(np.array(c["cy"]) @ y + np.array(c["cx"]) @ x <= c["rhs"])
    build = time.perf_counter() - t0
    t1 = time.perf_counter()
    m.optimize()
    solve_s = time.perf_counter() - t1
    ok = m.SolCount > 0
    return {"solver": "gurobi-ml", "status": str(m.Status), "objective": m.ObjVal if ok else None,
            "bound": m.ObjBound, "x": x.X.tolist() if ok else None, "build_s": build,
            "solve_s": solve_s}


def main():
    problem, solver, tl = sys.argv[1], sys.argv[2], float(sys.argv[3])
    p = json.load(open(problem))
    try:
        out = run_omlt(p, tl) if solver == "omlt-highs" else run_gurobi(p, tl)
    except ImportError as e:
        out = {"solver": solver, "status": "missing", "error": str(e)}
    except Exception as e:  # a licence limit, a solver failure: reported, not fatal
        out = {"solver": solver, "status": "error", "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
