#!/usr/bin/env python3
"""Train a small MLP with PyTorch while joule measures every step.

    PYTHONPATH=python python3 examples/pytorch_train.py            # real devices
    PYTHONPATH=python python3 examples/pytorch_train.py --devices sim:2:h100

Each training step is one measurement window (`with monitor.window(...)`),
each epoch another (begin_window/end_window, as in Zeus), and the
power-limit optimizer picks the GPUs' power limit while training runs. At window edges
joule waits for queued CUDA work (sync="auto"), so a step's energy includes
its kernels, not just their launch. Without a GPU the model trains on the
CPU and, with --devices sim:..., simulated GPUs stand in for the energy.
"""

import argparse
import sys

import torch
from torch import nn

import joule


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default=None,
                   help="joule device spec (default: $JOULE_DEVICES or all)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--steps", type=int, default=25, help="steps per epoch")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--log", default=None, help="CSV/JSONL window log")
    p.add_argument("--warmup", type=int, default=2,
                   help="optimizer warmup steps per power limit")
    p.add_argument("--profile", type=int, default=5,
                   help="optimizer profiled steps per power limit")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = nn.Sequential(nn.Linear(32, 128), nn.ReLU(),
                          nn.Linear(128, 128), nn.ReLU(),
                          nn.Linear(128, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()

    try:
        monitor = joule.Monitor(devices=args.devices, log_file=args.log)
    except joule.DeviceNotFoundError as e:
        sys.exit("%s\n(try --devices sim:2:h100 for simulated GPUs)" % e)
    print("measuring:", ", ".join("%s (%s)" % (d.label, d.name)
                                  for d in monitor.devices))
    for d in monitor.devices:  # simulated GPUs: pretend they are busy
        if d.simulated:
            joule.sim.set_load(monitor, d.index, 0.9)

    # The power-limit optimizer profiles each limit (maximum down by
    # pl_step W) for a few steps, then keeps the one with the best
    # time/energy cost. On simulated GPUs it sets their limits too.
    plo = joule.PowerLimitOptimizer(monitor, warmup_steps=args.warmup,
                                    profile_steps=args.profile, pl_step=125)

    step_window = monitor.window("step")
    steps_measured = 0
    for epoch in range(args.epochs):
        monitor.begin_window("epoch")
        step_energy = 0.0
        for step in range(args.steps):
            plo.on_step_begin()
            x = torch.randn(args.batch, 32, device=device)
            y = torch.randint(0, 10, (args.batch,), device=device)
            with step_window:
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
            m = step_window.measurement
            steps_measured += 1
            step_energy += m.total_energy
        plo.on_epoch_end()
        e = monitor.end_window("epoch")
        print("epoch %d: loss %.4f, %.3f s, %.1f J (%.1f J in steps), "
              "GPU %s" % (epoch, loss.item(), e.time, e.total_energy,
                          step_energy,
                          {i: round(j, 1) for i, j in e.gpu_energy.items()}))
    print("steps measured: %d" % steps_measured)
    print("power-limit optimizer: %s, limit now %.0f W" % (plo.state, plo.power_limit))
    for pl, t, e in plo.measurements:
        print("  %5.0f W: %.4f s/step, %.3f J/step" % (pl, t, e))
    monitor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
