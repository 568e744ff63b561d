"""Driver of bench/peers/planner.sh: the pipeline frequency planner against
lowtime (ml-energy/lowtime 0.3.0, the solver behind Perseus) on the same
profile, in one run.

Profile: bench/planner_speed.c's realistic one, regenerated here byte for byte
(checked against `bench/planner_speed --csv` when that binary is built):
t(f) = t0*(a*f_max/f + 1 - a), a = 0.85, t0 = 20 ms forward / 40 ms backward,
P(f) = 90 + 310*(f/f_max)^3 W, e = P*t, 29 frequencies 1980..720 MHz, the
last stage 20% heavier; 1F1B, S x M = 4 x 8, 1 ms quantum, 70 W blocking.

joule: `joule plan` (a process: parse + options + DAG + solve + output).
lowtime: the Perseus example's pipeline (examples/perseus.py of lowtime):
CandidateExecutionOptions -> effective cost e - P_block*t_q -> ExponentialModel
fit -> 1F1B DAG (Synchronous1F1B + forward/backward dependencies) ->
PhillipsDessouky.run(), taking every iteration's frequency assignment.

Both sides' plans are scored by one independent evaluator here: the
iteration time T is the longest path of the DAG with the profile's real
times, and E = sum(e_i) + P_block*(S*T - sum(t_i)) -- the formula of
docs/planner.md. The frontiers (Pareto sets of the scored plans) are then
compared: minimum time, energy there, minimum energy, and the least energy
within several deadlines.

Usage: planner.py [--stages 4] [--microbatches 8] [--skip-lowtime]
                  [--joule PATH] [--bench-planner PATH] [--repeat N]
"""
import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

NFREQ, F_MAX, F_STEP = 29, 1980, 45
T0_FWD, T0_BWD, ALPHA, P_STATIC, P_DYN = 0.020, 0.040, 0.85, 90.0, 310.0
P_BLOCK = 70.0
QUANTUM = 0.001


def make_profile(S):
    lines = ["stage,instruction,frequency,time,energy"]
    for s in range(S):
        heavy = 1.2 if s == S - 1 else 1.0
        for ins in (0, 1):
            t0 = (T0_BWD if ins else T0_FWD) * heavy
            for k in range(NFREQ):
                f = F_MAX - k * F_STEP
                x = f / F_MAX
                t = t0 * (ALPHA / x + 1 - ALPHA)
                p = P_STATIC + P_DYN * x * x * x
                lines.append("%d,%s,%d,%.9f,%.9f" % (s, "backward" if ins else "forward", f, t, p * t))
    return "\n".join(lines) + "\n"


def read_profile(path):
    prof = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            prof[(int(r["stage"]), r["instruction"], int(r["frequency"]))] = (
                float(r["time"]), float(r["energy"]))
    return prof


def schedule_1f1b(S, M, s):
    """Stage s's computations in order (docs/planner.md)."""
    warm = min(S - s, M)
    seq = [("forward", m) for m in range(warm)]
    nf, nb = warm, 0
    while nb < M:
        seq.append(("backward", nb))
        nb += 1
        if nf < M:
            seq.append(("forward", nf))
            nf += 1
    return seq


def evaluate(S, M, prof, stages):
    """stages[s] = [(instruction, microbatch, freq), ...] in execution order.
    Returns (T, E) with the profile's real times."""
    finish = {}
    stage_ready = [0.0] * S
    pos = [0] * S
    total_t = total_e = 0.0
    n = sum(len(x) for x in stages)
    done = 0
    while done < n:
        progressed = False
        for s in range(S):
            while pos[s] < len(stages[s]):
                ins, m, f = stages[s][pos[s]]
                deps = []
                if ins == "forward" and s > 0:
                    deps.append(("forward", s - 1, m))
                if ins == "backward":
                    deps.append(("backward", s + 1, m) if s < S - 1 else ("forward", s, m))
                if any(d not in finish for d in deps):
                    break
                t, e = prof[(s, ins, f)]
                start = max([stage_ready[s]] + [finish[d] for d in deps])
                finish[(ins, s, m)] = start + t
                stage_ready[s] = start + t
                total_t += t
                total_e += e
                pos[s] += 1
                done += 1
                progressed = True
        if not progressed:
            raise RuntimeError("plan is not a valid 1F1B order")
    T = max(finish.values())
    return T, total_e + P_BLOCK * (S * T - total_t)


def pareto(points):
    """(T, E, tag) -> Pareto set sorted by T (T up, E strictly down)."""
    out = []
    for T, E, tag in sorted(points, key=lambda p: (p[0], p[1])):
        if not out or E < out[-1][1] - 1e-12:
            out.append((T, E, tag))
    return out


def best_within(front, D):
    c = [E for T, E, _ in front if T <= D * (1 + 1e-12)]
    return min(c) if c else None


def run_joule(joule, prof_csv, S, M, repeat, tmp):
    cmd = [joule, "plan", prof_csv, "-s", str(S), "-m", str(M), "-q",
           "-o", os.path.join(tmp, "frontier.csv")]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        best = min(best, time.perf_counter() - t)
    plans = os.path.join(tmp, "plans")
    subprocess.run(cmd + ["--plans", plans], check=True)
    pts = []
    for p in sorted(glob.glob(os.path.join(plans, "plan_*.json"))):
        with open(p) as f:
            j = json.load(f)
        stages = [[(c["instruction"], c["microbatch"], c["frequency_mhz"]) for c in st]
                  for st in j["stages"]]
        pts.append((j, stages))
    return best, pts


def run_lowtime(prof_csv, S, M):
    import itertools  # noqa: F401
    import networkx as nx
    from lowtime.operation import CandidateExecutionOptions, OperationSpec, ExecutionOption
    from lowtime.cost_model import ExponentialModel
    from lowtime.perseus.instruction import Forward, Backward
    from lowtime.perseus.schedule import Synchronous1F1B
    from lowtime.solver import PhillipsDessouky
    from lowtime.graph_utils import add_source_node, add_sink_node

    t_all = time.perf_counter()
    rows = list(csv.DictReader(open(prof_csv)))
    op_spec_map = {s: {} for s in range(S)}
    for inst in (Forward, Backward):
        name = inst.__name__.lower()
        for s in range(S):
            options = [ExecutionOption[int](real_time=float(r["time"]), unit_time=QUANTUM,
                                            cost=float(r["energy"]), knob=int(r["frequency"]))
                       for r in rows if int(r["stage"]) == s and r["instruction"] == name]
            cand = CandidateExecutionOptions[int](options=options)
            for o in cand.options:
                o.cost -= P_BLOCK * o.quant_time * o.unit_time
            op_spec_map[s][inst] = OperationSpec[int](options=cand, cost_model=ExponentialModel(cand))
    dag = nx.DiGraph()
    node_id = 2
    instructions = []
    by_key = {}
    for s in range(S):
        ids = []
        insts = []
        for inst in Synchronous1F1B(num_stages=S, num_micro_batches=M, stage_id=s,
                                    operation_spec_map=op_spec_map[s]):
            dag.add_node(node_id, op=inst)
            ids.append(node_id)
            insts.append(inst)
            by_key[(type(inst).__name__, s, inst.micro_batch_id)] = node_id
            node_id += 1
        instructions.append(insts)
        for a, b in zip(ids, ids[1:]):
            dag.add_edge(a, b)
    # forward_dep / backward_dep of lowtime.perseus.instruction, resolved directly
    for s in range(S - 1):
        for m in range(M):
            dag.add_edge(by_key[("Forward", s, m)], by_key[("Forward", s + 1, m)])
            dag.add_edge(by_key[("Backward", s + 1, m)], by_key[("Backward", s, m)])
    add_source_node(dag, 0)
    add_sink_node(dag, 1)
    dag.graph["source_node"] = 0
    dag.graph["sink_node"] = 1
    solver = PhillipsDessouky(dag)
    setup_s = time.perf_counter() - t_all

    def snapshot():
        return [[(type(i).__name__.lower(), i.micro_batch_id, i.assigned_knob) for i in st]
                for st in instructions]
    # the starting point (every operation at its slowest candidate) ...
    start = [[(type(i).__name__.lower(), i.micro_batch_id,
               i.spec.options.get_knob_for(i.max_duration)) for i in st] for st in instructions]
    plans = [start]
    iters = 0
    t_solve = time.perf_counter()
    for _ in solver.run():  # ... then one plan per PD iteration
        plans.append(snapshot())
        iters += 1
    solve_s = time.perf_counter() - t_solve
    return time.perf_counter() - t_all, setup_s, solve_s, iters, plans


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stages", type=int, default=4)
    ap.add_argument("--microbatches", type=int, default=8)
    ap.add_argument("--skip-lowtime", action="store_true")
    ap.add_argument("--joule", default="build/cli/joule")
    ap.add_argument("--bench-planner", default="build/bench/planner_speed")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    S, M = args.stages, args.microbatches
    tmp = tempfile.mkdtemp(prefix="joule-peer-plan.")
    prof_csv = os.path.join(tmp, "profile_%dx%d.csv" % (S, M))
    text = make_profile(S)
    with open(prof_csv, "w") as f:
        f.write(text)
    print("profile: %d stages x 2 instructions x %d frequencies, 1f1b %dx%d, quantum 1 ms, "
          "blocking power 70 W" % (S, NFREQ, S, M))
    if os.access(args.bench_planner, os.X_OK) and (S, M) in ((4, 8), (8, 32), (16, 64)):
        d = os.path.join(tmp, "bench-csv")
        os.mkdir(d)
        subprocess.run([args.bench_planner, "--csv", d], check=True, capture_output=True)
        with open(os.path.join(d, "profile_%dx%d.csv" % (S, M))) as f:
            same = f.read() == text
        print("  identical to bench/planner_speed's profile: %s" % ("yes" if same else "NO"))
    prof = read_profile(prof_csv)

    jt, jplans = run_joule(args.joule, prof_csv, S, M, args.repeat, tmp)
    jpts, worst_self = [], 0.0
    for j, stages in jplans:
        T, E = evaluate(S, M, prof, stages)
        worst_self = max(worst_self, abs(T - j["time_s"]) / T, abs(E - j["energy_j"]) / E)
        jpts.append((T, E, j["plan_id"]))
    jfront = pareto(jpts)
    print()
    print("joule plan: %.2f ms wall (best of %d, a whole process), %d frontier plans"
          % (jt * 1e3, args.repeat, len(jplans)))
    print("  its reported time_s/energy_j vs this script's evaluator: largest rel. diff %.2e" % worst_self)
    if len(jfront) != len(jpts):
        print("  NOTE: %d of joule's %d plans are not on the Pareto set of their own scores"
              % (len(jpts) - len(jfront), len(jpts)))

    if args.skip_lowtime:
        print()
        print("skipped: lowtime (not run: PEERS_SKIP_LOWTIME=1, --skip-lowtime, or it did not install)")
        return 0
    try:
        import lowtime
    except Exception as e:  # noqa: BLE001
        print("skipped: lowtime: cannot import (%s: %s)" % (type(e).__name__, e))
        return 0
    print()
    print("lowtime %s: solving (4x8 took ~2 s on the 2-core reference machine, 8x32 minutes) ..." % lowtime.__version__, flush=True)
    lt_total, lt_setup, lt_solve, iters, lplans = run_lowtime(prof_csv, S, M)
    lpts = []
    for k, stages in enumerate(lplans):
        T, E = evaluate(S, M, prof, stages)
        lpts.append((T, E, k))
    lfront = pareto(lpts)
    print("lowtime: %.2f s wall in-process (options+fit+DAG %.2f s, solve %.2f s), "
          "%d PD iterations, %d distinct Pareto plans"
          % (lt_total, lt_setup, lt_solve, iters, len(lfront)))
    print()
    print("wall time: joule plan %.4f s, lowtime %.2f s: joule is %.0fx faster "
          "(lowtime / joule = %.0f)" % (jt, lt_total, lt_total / jt, lt_total / jt))

    # ---- frontier comparison ---------------------------------------------
    print()
    print("frontiers, both scored by the same evaluator (real times, E = sum e + 70 W x idle):")
    print("  %-32s %14s %14s %10s" % ("", "joule", "lowtime", "lt/joule-1"))
    rows = []
    jT, jE = jfront[0][0], jfront[0][1]
    lT, lE = lfront[0][0], lfront[0][1]
    rows.append(("min iteration time (s)", jT, lT))
    rows.append(("energy at own min time (J)", jE, lE))
    rows.append(("min energy (J)", jfront[-1][1], lfront[-1][1]))
    rows.append(("time of min energy (s)", jfront[-1][0], lfront[-1][0]))
    Tmin = min(jT, lT)
    for f in (1.0, 1.05, 1.1, 1.2, 1.3, 1.4):
        D = Tmin * f if f > 1.0 else max(jT, lT)
        rows.append(("least energy, T <= %.4f s (J)" % D, best_within(jfront, D), best_within(lfront, D)))
    worst = 0.0
    for label, a, b in rows:
        if a is None or b is None:
            print("  %-32s %14s %14s" % (label, a, b))
            continue
        d = b / a - 1
        if label.startswith(("least", "min energy")):  # same deadline for both
            worst = max(worst, abs(d))
        print("  %-32s %14.6g %14.6g %+9.3f%%" % (label, a, b, 100 * d))
    # energy gap over the common time range, on a grid
    lo = max(jT, lT)
    hi = min(jfront[-1][0], lfront[-1][0])
    gaps = []
    for k in range(201):
        D = lo + (hi - lo) * k / 200
        a, b = best_within(jfront, D), best_within(lfront, D)
        if a and b:
            gaps.append((b / a - 1, D))
    if gaps:
        mx = max(gaps, key=lambda g: abs(g[0]))
        better = sum(1 for g, _ in gaps if g > 1e-9)
        worse = sum(1 for g, _ in gaps if g < -1e-9)
        print("  over %d deadlines in [%.4f, %.4f] s: max |lowtime/joule - 1| = %.3f%% (at %.4f s); "
              "joule cheaper at %d, lowtime cheaper at %d, equal at %d"
              % (len(gaps), lo, hi, 100 * abs(mx[0]), mx[1], better, worse, len(gaps) - better - worse))
        worst = max(worst, abs(mx[0]))
    print("  max relative energy difference at equal deadlines (and of the minimum energies): %.3f%%"
          % (100 * worst))
    print("  (the 'own min time' row compares plans at different times: lowtime quantizes with floor(),")
    print("   so its fastest plan is slower than the all-fastest critical path joule starts from)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
