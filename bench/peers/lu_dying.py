"""PyTorch CPU peer of `relulab claims --dying-sweep` (Lu et al. 2019's dying statistic).

Same setting as src/remedy/lu.rs: widths 1-2x10-1 ReLU, He-normal weights (kaiming_normal_,
fan_in, ReLU gain) and zero biases, 128 points evenly spaced on [-sqrt(3), sqrt(3)], target |x|,
full batch, MSELoss (mean), Adam lr 1e-3 (PyTorch defaults otherwise), 1,000 steps, one thread.
Born dead: some hidden layer outputs exactly 0 on every point at initialisation. Collapsed:
after training the output range over the points is below 1e-3 * sqrt(3).

Usage: python bench/peers/lu_dying.py RUNS SEED  -> one JSON line on stdout.
"""
import json
import math
import sys
import time

import torch


def one_run(seed):
    torch.manual_seed(seed)
    layers = []
    widths = [1] + [2] * 10 + [1]
    for i in range(len(widths) - 1):
        lin = torch.nn.Linear(widths[i], widths[i + 1])
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    x = torch.linspace(-math.sqrt(3), math.sqrt(3), 128).unsqueeze(1)
    y = x.abs()
    with torch.no_grad():
        h = x
        born_dead = False
        for m in net:
            h = m(h)
            if isinstance(m, torch.nn.ReLU) and bool((h == 0).all()):
                born_dead = True
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    for _ in range(1000):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = net(x)
        rng = float(out.max() - out.min())
    collapsed = math.isnan(rng) or rng < 1e-3 * math.sqrt(3)
    return born_dead, collapsed


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    dead = collapsed = 0
    for r in range(runs):
        b, c = one_run(seed * 100003 + r)
        dead += b
        collapsed += c
    wall = time.perf_counter() - t0
    print(json.dumps({
        "peer": "pytorch", "torch": torch.__version__, "runs": runs,
        "born_dead_fraction": dead / runs, "collapsed_fraction": collapsed / runs,
        "seconds_per_run": wall / runs, "threads": 1,
    }))


if __name__ == "__main__":
    main()
