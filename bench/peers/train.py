"""PyTorch CPU peer of benches/train.rs: time one training step (forward, loss, backward,
optimizer) of the same four networks, same batch sizes, same thread count.

    python3 bench/peers/train.py --threads 2 [--seconds 2] [--cpu]

Prints one JSON line per case: {"case": ..., "us_per_step": ..., "steps_per_s": ...}.
"""
import argparse
import json
import time

import torch


def mlp(widths):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


CASES = [
    # name, widths, batch, optimizer, loss
    ("tiny_2-16-16-16-1_b32_adam", [2, 16, 16, 16, 1], 32, "adam", "mse"),
    ("narrow_1-(2x10)-1_b64_adam", [1] + [2] * 10 + [1], 64, "adam", "mse"),
    ("digits_64-256-256-10_b64_sgdm", [64, 256, 256, 10], 64, "sgdm", "ce"),
    ("mnist_784-1024x3-10_b256_sgdm", [784, 1024, 1024, 1024, 10], 256, "sgdm", "ce"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--cpu", action="store_true",
                    help="report the main thread's CPU time per step (use with --threads 1)")
    ap.add_argument("--wall", action="store_true", help="the default: fastest wall-clock block")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name, widths, batch, opt_name, loss_name in CASES:
        if args.only and args.only not in name:
            continue
        net = mlp(widths)
        x = torch.randn(batch, widths[0])
        if loss_name == "mse":
            y = torch.randn(batch, widths[-1])
            loss_fn = torch.nn.functional.mse_loss
        else:
            y = torch.randint(0, widths[-1], (batch,))
            loss_fn = torch.nn.functional.cross_entropy
        if opt_name == "adam":
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        else:
            opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)

        def step():
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()

        for _ in range(20):
            step()
        if args.cpu:
            start = time.perf_counter()
            c0 = time.thread_time()
            n = 0
            while time.perf_counter() - start < args.seconds or n < 3:
                step()
                n += 1
            best = (time.thread_time() - c0) / n
            print(json.dumps({"case": name, "us_per_step": best * 1e6, "steps_per_s": 1.0 / best}))
            continue
        # Same estimator as benches/train.rs: fastest per-step time over many ~2 ms blocks
        # (the machine is shared; short blocks are rarely preempted).
        t0 = time.perf_counter()
        step()
        one = max(time.perf_counter() - t0, 1e-9)
        block = max(int(2e-3 / one), 1)
        best = float("inf")
        start = time.perf_counter()
        blocks = 0
        while time.perf_counter() - start < args.seconds or blocks < 5:
            t0 = time.perf_counter()
            for _ in range(block):
                step()
            best = min(best, (time.perf_counter() - t0) / block)
            blocks += 1
        print(json.dumps({"case": name, "us_per_step": best * 1e6, "steps_per_s": 1.0 / best}))


if __name__ == "__main__":
    main()
