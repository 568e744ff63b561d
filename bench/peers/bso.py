"""Zeus's trace-driven batch-size simulator vs joule's, same traces, same
definitions of the reported numbers (see bench/peers/bso.sh).

A recurrence is every run up to and including the one that reached the
target (Zeus's history lists runs only); last-10 is the mean energy of the
last 10 recurrences, cumulative everything spent, both against the default
batch size at the maximum power limit averaged over the recorded runs.
"""
import argparse
import contextlib
import io
import json
import subprocess
import time

WORKLOADS = [
    # name, dataset, network, optimizer, target, max epochs, default batch
    ("cifar100", "cifar100", "shufflenetv2", "adadelta", 0.6, 100, 1024),
    ("imagenet", "imagenet", "resnet50", "adadelta", 0.65, 100, 256),
    ("squad", "squad", "bert_base_uncased", "adamw", 84.0, 6, 32),
    ("librispeech", "librispeech", "deepspeech2", "adamw", 40.0, 16, 192),
    ("movielens-1m", "movielens-1m", "ncf", "adam", 0.41, 100, 1024),
    ("sentiment140", "sentiment140", "bert_base_uncased", "adamw", 0.84, 10, 128),
]


def zeus_row(trace, gpu, w, seed):
    import pandas as pd
    from zeus._legacy.job import Job
    from zeus._legacy.policy.optimizer import (JITPowerLimitOptimizer,
                                               PruningGTSBatchSizeOptimizer)
    from zeus._legacy.simulate import Simulator

    t0 = time.perf_counter()
    train = pd.read_csv(f"{trace}/summary_train.csv")
    power = pd.read_csv(f"{trace}/summary_power_{gpu}.csv")
    job = Job(w[1], w[2], w[3], w[4], w[5], w[6])
    sim = Simulator(train, power, PruningGTSBatchSizeOptimizer(seed=seed, verbose=False),
                    JITPowerLimitOptimizer(verbose=False), seed=seed, verbose=False)
    df = job.filter_df(train.merge(power, how="inner"))
    recurrences = 2 * len(df.batch_size.unique()) * len(df.power_limit.unique())
    with contextlib.redirect_stdout(io.StringIO()):  # it prints when a run cannot start
        history = sim.simulate_one_job(job, recurrences, 2.0, 0.5)
    wall = time.perf_counter() - t0
    # The default, as joule reports it: default batch at its highest limit.
    d = df[df.batch_size == w[6]]
    d = d[d.power_limit == d.power_limit.max()]
    default_eta = (d.target_epoch * d.time_per_epoch * d.average_power).mean()
    per_rec, acc = [], 0.0
    for h in history:
        acc += h.energy
        if h.reached:
            per_rec.append(acc)
            acc = 0.0
    last = per_rec[-10:]
    return {
        "last10": 100 * (1 - sum(last) / len(last) / default_eta),
        "cumulative": 100 * (1 - sum(h.energy for h in history) / (default_eta * recurrences)),
        "wall_s": wall,
    }


def joule_row(joule, trace, gpu, w, seed, extra):
    t0 = time.perf_counter()
    out = subprocess.run([joule, "optimize", "bso-simulate", "--trace", trace, "--workload", w[0],
                          "--gpu", gpu, "--seed", str(seed), "--json", "-", *extra],
                         check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - t0
    j = json.loads(out)
    return {"last10": j["last10"]["saved_pct"], "cumulative": j["cumulative"]["saved_pct"],
            "wall_s": wall}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--joule", required=True)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=1,
                    help="average over seeds SEED..SEED+N-1 (Zeus takes ~5 s per seed)")
    a = ap.parse_args()
    rows = []
    avg = lambda rs: {k: sum(r[k] for r in rs) / len(rs) for k in rs[0]}
    seeds = range(a.seed, a.seed + a.seeds)
    for gpu in ("v100", "a40"):
        for w in WORKLOADS:
            z = avg([zeus_row(a.trace, gpu, w, s) for s in seeds])
            j = avg([joule_row(a.joule, a.trace, gpu, w, s, []) for s in seeds])
            jz = avg([joule_row(a.joule, a.trace, gpu, w, s, ["--prune-factor", "0"])
                      for s in seeds])
            rows.append((gpu, w[0], z, j, jz))
    which = f"seed {a.seed}" if a.seeds == 1 else f"mean of seeds {a.seed}..{a.seed + a.seeds - 1}"
    print(f"{which}; energy saved against the default, % (last 10 recurrences / cumulative);"
          " wall time per seed")
    print(f"{'gpu':5} {'workload':13} {'zeus':>15} {'joule':>15} {'joule, zeus walk':>17}"
          f" {'zeus s':>8} {'joule s':>8}")
    for gpu, name, z, j, jz in rows:
        print(f"{gpu:5} {name:13} {z['last10']:6.1f} / {z['cumulative']:5.1f}"
              f"  {j['last10']:6.1f} / {j['cumulative']:5.1f}"
              f"    {jz['last10']:6.1f} / {jz['cumulative']:5.1f}"
              f" {z['wall_s']:8.2f} {j['wall_s']:8.3f}")
    n = len(rows)
    mean = lambda k, i: sum(r[i][k] for r in rows) / n
    zs = sum(r[2]["wall_s"] for r in rows)
    js = sum(r[3]["wall_s"] for r in rows)
    print(f"{'mean':19} {mean('last10', 2):6.1f} / {mean('cumulative', 2):5.1f}"
          f"  {mean('last10', 3):6.1f} / {mean('cumulative', 3):5.1f}"
          f"    {mean('last10', 4):6.1f} / {mean('cumulative', 4):5.1f}")
    print(f"wall time, all 12 rows: zeus {zs:.1f} s, joule {js:.3f} s (each a process:"
          f" start, load, simulate, JSON) -> joule {zs / js:.0f}x faster")


if __name__ == "__main__":
    main()
