"""Driver of bench/peers/power_sampling.sh: a background power sampler over
the same 4 simulated H100s (NVML test double, load 0.5 = 385 W each), side
by side in one run:

  zeus   Zeus's PowerMonitor (zeus.monitor.power) as users make it:
         PowerMonitor(gpu_indices=[0..3]) -- update_period inferred, every
         supported domain (device_instant, device_average, memory_average),
         one spawned process per domain
  joule  joule.PowerMonitor(devices="gpu", interval_ms=1): libjoule's sampler
         thread at its fastest (1 kHz), and at 10 ms

Each contender runs alone in a fresh child process for SECONDS: CPU time of
that process and every process it created (/proc, all threads), samples
stored per GPU per second, and the energy it integrates over the interval
against the double's exact model energy. A second, short pass per contender
turns on the double's call record to count the NVML power reads actually
made per second (the record costs a write per call, so it is kept out of the
CPU pass). A last pass runs both at once over the same interval for a direct
energy comparison.

Caveat of the double: every process that loads it gets its own copy of the
simulated GPUs (a real driver is shared). Zeus's pollers are separate
processes, so they read copies with the same configuration (constant load,
same seed: the same mean power) but not the same noise phase; the truth is
taken from the parent's copy.

Usage: power_sampling.py [--seconds S] [--rate-seconds S] [--json FILE]
       power_sampling.py --child zeus|joule|both [--interval-ms MS] ...
"""
import argparse
import json
import os
import subprocess
import sys
import time

import peers_common as pc

pc.patch_pynvml()  # also runs in Zeus's spawned pollers (they import this module)

NGPU = 4


def count_lines(path, prefix):
    try:
        with open(path) as f:
            return sum(1 for line in f if line.startswith(prefix))
    except OSError:
        return 0


def child(args):
    gpus = list(range(NGPU))
    out = {"who": args.child, "seconds": args.seconds}
    record = args.record
    zpm = jpm = None
    if args.child in ("zeus", "both"):
        import logging
        logging.basicConfig(level=logging.WARNING)
        from zeus.monitor.power import PowerMonitor
        t = time.time()
        zpm = PowerMonitor(gpu_indices=gpus)
        out["zeus_start_s"] = time.time() - t
        out["zeus_update_period_s"] = zpm.update_period
        out["zeus_domains"] = sorted(d.value for d in zpm.measurement_domains)
        out["zeus_processes"] = len(zpm.processes)
    if args.child in ("joule", "both"):
        import joule
        jpm = joule.PowerMonitor(devices="gpu", interval_ms=args.interval_ms)
        out["joule_interval_ms"] = args.interval_ms
    import pynvml  # the truth: this process's copy of the double
    pynvml.nvmlInit()
    time.sleep(1.0)  # let pollers settle
    n0 = count_lines(record, "nvmlDeviceGetFieldValues gpu=0") if record else 0
    c0 = pc.cpu_s()  # scans /proc: milliseconds, so kept outside the truth's edges
    e0 = [pc.fake_energy_j(i) for i in gpus]
    w0, m0 = time.time(), time.monotonic()
    time.sleep(args.seconds)
    w1, m1 = time.time(), time.monotonic()
    e1 = [pc.fake_energy_j(i) for i in gpus]
    c1 = pc.cpu_s()
    n1 = count_lines(record, "nvmlDeviceGetFieldValues gpu=0") if record else 0
    dt = m1 - m0
    out.update(interval_s=dt, cpu_s=c1 - c0, cpu_pct=100 * (c1 - c0) / dt,
               truth_j=[e1[i] - e0[i] for i in gpus],
               nvml_power_reads_per_s_gpu0=(n1 - n0) / dt if record else None)
    if zpm is not None:
        # As a user calls it right after the interval ...
        e = zpm.get_energy(w0, w1)  # drains what the queue holds now
        out["zeus_j_at_end"] = [e[i] for i in gpus]
        inst = [d for d in zpm.samples if d.value == "device_instant"][0]
        out["zeus_samples_per_s_at_end"] = sum(
            sum(1 for x in zpm.samples[inst][i] if w0 <= x.timestamp <= w1) for i in gpus) / NGPU / dt
        # ... and once every sample taken before w1 has come through the
        # queue (the pollers are still running; the queue is FIFO, so a
        # sample stamped after w1 on every GPU means all earlier ones are in).
        t = time.time()
        while time.time() - t < 120:
            late = zpm.get_power_timeline("device_instant", start_time=w1)
            if all(late.get(i) for i in gpus):
                break
            time.sleep(0.02)
        out["zeus_drain_s"] = time.time() - t
        tl = zpm.get_power_timeline("device_instant", start_time=w0, end_time=w1)
        out["zeus_samples_per_s"] = sum(len(v) for v in tl.values()) / NGPU / dt
        out["zeus_j"] = [zpm.get_energy(w0, w1)[i] for i in gpus]
        zpm.stop()
    if jpm is not None:
        out["joule_samples_per_s"] = sum(
            len(jpm.timeline("gpu%d" % i, "power", m0, m1)) for i in gpus) / NGPU / dt
        en = jpm.energy(m0, m1)
        out["joule_j"] = [en["gpu%d" % i] for i in gpus]
        jpm.close()
    print(json.dumps(out))
    return 0


def run_child(who, seconds, cfg, interval_ms=1.0, record=None):
    env = dict(os.environ, JOULE_FAKE_NVML_CONFIG=cfg)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", who,
           "--seconds", str(seconds), "--interval-ms", str(interval_ms)]
    if record:
        cmd += ["--record", record]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s child failed (%d): %s" % (who, p.returncode, p.stderr[-2000:]))
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("%s child printed no result: %s" % (who, p.stdout[-500:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", choices=["zeus", "joule", "both"])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate-seconds", type=float, default=3.0)
    ap.add_argument("--interval-ms", type=float, default=1.0)
    ap.add_argument("--record", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.child:
        return child(args)

    have_zeus = True
    try:
        import zeus.monitor.power  # noqa: F401
    except Exception as e:  # noqa: BLE001
        have_zeus = False
        print("skipped: Zeus: cannot import zeus.monitor.power (%s: %s); joule only" % (type(e).__name__, e))
    cfg = os.environ["JOULE_FAKE_NVML_CONFIG"]
    with open(cfg) as f:
        conf = json.load(f)
    tmp = os.path.dirname(cfg)

    def rec_cfg(name):
        rec = os.path.join(tmp, name + ".calls")
        c = dict(conf, record=rec)
        p = os.path.join(tmp, name + ".json")
        with open(p, "w") as f:
            json.dump(c, f)
        if os.path.exists(rec):
            os.unlink(rec)
        return p, rec

    contenders = []
    if have_zeus:
        contenders.append(("zeus", "Zeus 0.16 PowerMonitor (default = fastest)", "zeus", 1.0))
    contenders += [("joule1", "joule PowerMonitor, interval 1 ms", "joule", 1.0),
                   ("joule10", "joule PowerMonitor, interval 10 ms", "joule", 10.0)]
    res = {}
    for key, label, who, ms in contenders:
        print("running %s for %.0f s ..." % (label, args.seconds), flush=True)
        r = run_child(who, args.seconds, cfg, ms)
        p, rec = rec_cfg(key)
        rr = run_child(who, args.rate_seconds, p, ms, record=rec)
        r["nvml_power_reads_per_s_gpu0"] = rr["nvml_power_reads_per_s_gpu0"]
        res[key] = (label, r)
    both = None
    if have_zeus:
        print("running both at once for %.0f s (energy agreement) ..." % (args.seconds / 2), flush=True)
        both = run_child("both", args.seconds / 2, cfg, 1.0)

    print()
    print("power sampling: 4 simulated H100s (NVML test double, 385 W each), "
          "%.0f s per contender, each alone" % args.seconds)
    hdr = ("contender", "CPU %core", "vs Zeus", "samples/s", "NVML reads/s", "energy err")
    print("  %-44s %10s %9s %10s %13s %11s" % hdr)
    zcpu = res["zeus"][1]["cpu_pct"] if "zeus" in res else None

    def err(e, r):  # signed error of the GPU farthest from the truth, %
        return max((100 * (e[i] - r["truth_j"][i]) / r["truth_j"][i] for i in range(NGPU)), key=abs)
    for key, (label, r) in res.items():
        s = r.get("zeus_samples_per_s", r.get("joule_samples_per_s"))
        e = r.get("zeus_j", r.get("joule_j"))
        print("  %-44s %10.2f %9s %10.0f %13.0f %+10.3f%%"
              % (label, r["cpu_pct"],
                 "%.3fx" % (r["cpu_pct"] / zcpu) if zcpu else "n/a",
                 s, r["nvml_power_reads_per_s_gpu0"] or 0, err(e, r)))
    if "zeus" in res:
        z = res["zeus"][1]
        print("  Zeus: update_period %.3g s (inferred), domains %s, %d poller processes, start-up %.2f s"
              % (z["zeus_update_period_s"], ",".join(z["zeus_domains"]),
                 z["zeus_processes"], z["zeus_start_s"]))
        print("  Zeus queried right at the end of the interval (as ZeusMonitor/users do): %.0f samples/s, "
              "energy err %+.3f%%; the row above waited %.2f s for its queue to drain"
              % (z["zeus_samples_per_s_at_end"], err(z["zeus_j_at_end"], z), z["zeus_drain_s"]))
        j = res["joule1"][1]
        print("  CPU: Zeus uses %.0fx the CPU of joule at 1 ms (%.0fx at 10 ms) while storing %.2fx the samples"
              % (z["cpu_pct"] / j["cpu_pct"], z["cpu_pct"] / res["joule10"][1]["cpu_pct"],
                 z["zeus_samples_per_s"] / j["joule_samples_per_s"]))
    print("  (CPU: user+system of the process and all it created, every thread, over the interval;")
    print("   samples/s: stored instant-power samples per GPU (Zeus keeps only changed values);")
    print("   NVML reads/s: instant+average+memory power calls for gpu0 counted by the double's call record;")
    print("   energy err: (integrated - model truth) / truth for the GPU farthest off;")
    print("   Zeus's figures are after waiting for its queue to drain, see the next line)")
    if both:
        print()
        print("energy agreement, both sampling at once over the same %.1f s:" % both["interval_s"])
        print("  %-6s %11s %11s %11s %10s %10s" % ("gpu", "truth J", "joule J", "Zeus J", "joule err", "Zeus err"))
        for i in range(NGPU):
            t = both["truth_j"][i]
            print("  gpu%-3d %11.3f %11.3f %11.3f %9.3f%% %9.3f%%"
                  % (i, t, both["joule_j"][i], both["zeus_j"][i],
                     100 * (both["joule_j"][i] - t) / t, 100 * (both["zeus_j"][i] - t) / t))
        d = max(abs(both["joule_j"][i] - both["zeus_j"][i]) / both["joule_j"][i] for i in range(NGPU))
        print("  Zeus queried at the end: %s J (not drained: %s)" % (
            " ".join("%.1f" % x for x in both["zeus_j_at_end"]),
            "%.2f s to drain" % both["zeus_drain_s"]))
        print("  largest |joule - Zeus| / joule = %.3f%%  (Zeus's pollers read their own copies of the"
              " double: same mean power, other noise phase)" % (100 * d))
        print("  both at once: %.0f%% CPU, Zeus update_period %.3g s" % (both["cpu_pct"], both["zeus_update_period_s"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"alone": {k: v[1] for k, v in res.items()}, "both": both}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
