#!/usr/bin/env python3
"""Recurring training runs that choose their batch size with joule.

    PYTHONPATH=python python3 examples/bso_train.py --devices sim:1:h100 --recurrences 8

Each recurrence of the job is a fresh process (as a scheduler would launch
it) that asks joule.BatchSizeOptimizer for a batch size, trains a small
logistic regression (pure Python, so it runs anywhere) until its
validation loss reaches the target (lower is better), and reports every
epoch. A run
told to stop early (its cost would pass beta x the least cost so far, or
max_epochs) raises BatchSizeTrainFailError and is relaunched, as Zeus's
client asks. With --plo each batch size also gets its own power-limit
profile (joule.PowerLimitOptimizer with the job name "<job>/bs<N>"): the
first run at a batch size profiles the limits, later runs reuse the
choice. The state is the SQLite database --db (default: a file in the
current directory), so the recurrences share it.
"""

import argparse
import json
import math
import os
import random
import subprocess
import sys

import joule

SIZES = [8, 16, 32, 64, 128, 256]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default=None, help="joule device spec (default: all)")
    p.add_argument("--recurrences", type=int, default=6)
    p.add_argument("--db", default="bso_example.db", help="SQLite database of the job")
    p.add_argument("--job", default="bso-example")
    p.add_argument("--target", type=float, default=0.30, help="validation log loss to reach")
    p.add_argument("--max-epochs", type=int, default=30)
    p.add_argument("--plo", action="store_true", help="profile power limits per batch size")
    p.add_argument("--one-run", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def dataset(n, seed):
    """Two classes split by one fixed hyperplane in 8 dimensions, with
    label noise; seed picks the samples."""
    w = [random.Random(0).uniform(-1, 1) for _ in range(8)]
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(8)]
        y = 1 if sum(a * b for a, b in zip(w, x)) + rng.gauss(0, 0.2) > 0 else 0
        data.append((x, y))
    return data


def train_epoch(model, data, batch_size, lr, rng, plo=None):
    rng.shuffle(data)
    for i in range(0, len(data), batch_size):
        if plo:
            plo.on_step_begin()
        batch = data[i:i + batch_size]
        grad = [0.0] * len(model)
        for x, y in batch:
            z = sum(m * v for m, v in zip(model, x))
            p = 1 / (1 + math.exp(-max(-30, min(30, z))))
            for k, v in enumerate(x):
                grad[k] += (p - y) * v
        for k in range(len(model)):
            model[k] -= lr * grad[k] / len(batch)


def log_loss(model, data):
    total = 0.0
    for x, y in data:
        z = max(-30.0, min(30.0, sum(m * v for m, v in zip(model, x))))
        total += math.log1p(math.exp(-z)) if y else math.log1p(math.exp(z))
    return total / len(data)


def one_run(args):
    """One launch of the job: prints one JSON line; exit 0 when it
    converged, 3 when it must be relaunched."""
    monitor = joule.Monitor(devices=args.devices)
    spec = joule.JobSpec(job_id=args.job, batch_sizes=SIZES, default_batch_size=64,
                         target_metric=args.target, higher_is_better_metric=False,
                         max_epochs=args.max_epochs)
    bso = joule.BatchSizeOptimizer(monitor, spec, db=args.db)
    bs = bso.get_next_batch_size()
    plo = (joule.PowerLimitOptimizer(monitor, job="%s/bs%d" % (args.job, bs), db=args.db,
                                     warmup_steps=1, profile_steps=3)
           if args.plo else None)
    simulated = all(d.simulated for d in monitor.devices if d.kind_name == "gpu")
    if simulated:
        for g in monitor.gpu_indices:
            joule.sim.set_load(monitor, g, 1.0)
    rng = random.Random(os.getpid())
    train, val = dataset(2000, 1), dataset(500, 2)
    model = [0.0] * 8
    # Larger batches take fewer, larger steps: the learning rate grows with
    # the square root of the batch size, as is common.
    lr = 0.002 * math.sqrt(bs)
    result, epoch = "relaunch", 0
    bso.on_train_begin()
    try:
        for epoch in range(1, args.max_epochs + 1):
            train_epoch(model, train, bs, lr, rng, plo)
            if plo:
                plo.on_epoch_end()
            if bso.on_evaluate(log_loss(model, val)):
                result = "converged"
                break
    except joule.BatchSizeTrainFailError as e:
        print(str(e), file=sys.stderr)
    print(json.dumps({"batch_size": bs, "result": result, "epochs": epoch,
                      "time_s": bso.running_time, "energy_j": bso.consumed_energy}))
    bso.close()
    monitor.close()
    return 0 if result == "converged" else 3


def main(argv=None):
    args = parse_args(argv)
    if args.one_run:
        return one_run(args)
    child = [sys.executable, os.path.abspath(__file__), "--one-run", "--db", args.db,
             "--job", args.job, "--target", str(args.target),
             "--max-epochs", str(args.max_epochs)]
    if args.devices:
        child += ["--devices", args.devices]
    if args.plo:
        child.append("--plo")
    print("%-10s %-6s %-10s %7s %10s %12s" % ("recurrence", "launch", "batch_size", "epochs",
                                               "time_s", "energy_j"))
    for r in range(1, args.recurrences + 1):
        for launch in range(1, 21):
            p = subprocess.run(child, capture_output=True, text=True)
            if p.returncode not in (0, 3):
                sys.stderr.write(p.stderr)
                return 1
            run = json.loads(p.stdout.strip().splitlines()[-1])
            print("%-10d %-6d %-10d %7d %10.2f %12.1f  %s" % (
                r, launch, run["batch_size"], run["epochs"], run["time_s"], run["energy_j"],
                run["result"]))
            if p.returncode == 0:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
