"""``python -m joule.monitor energy|power``: Zeus's monitor CLI.

``energy`` opens one window and, on Ctrl-C (SIGINT) or SIGTERM, prints the
time and each device's energy. ``power`` prints each GPU's power every
``--update-period`` seconds and, on Ctrl-C, the total time and energy.
``--json`` prints the totals as one JSON object instead (the twin a
program reads); ``--devices`` takes a joule device spec (``sim:2:h100``).
"""

import argparse
import json
import signal
import sys
import threading
import time
from datetime import datetime

DOMAINS = ("device_instant", "device_average", "memory_average")


def _stop_event():
    """Set on SIGINT or SIGTERM; the waits below return at once."""
    ev = threading.Event()

    def handler(signum, frame):
        ev.set()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return ev


def _gpu_names(values):
    return {"GPU%d" % k: v for k, v in values.items()}


def energy(gpu_indices=None, devices=None, as_json=False, out=sys.stdout,
           duration=None):
    """Measures time and energy from start until Ctrl-C (or ``duration``
    seconds) and prints the totals."""
    from . import Monitor
    stop = _stop_event()
    with Monitor(gpu_indices=gpu_indices, devices=devices) as monitor:
        monitor.begin_window("joule.monitor.energy")
        print("Measuring %s; Ctrl-C prints the totals."
              % ", ".join(d.label for d in monitor.devices),
              file=sys.stderr, flush=True)
        stop.wait(duration)
        m = monitor.end_window("joule.monitor.energy")
    if as_json:
        print(json.dumps({
            "time_s": m.time, "total_energy_j": m.total_energy,
            "gpu_energy_j": {str(k): v for k, v in m.gpu_energy.items()},
            "cpu_energy_j": {str(k): v for k, v in m.cpu_energy.items()},
            "dram_energy_j": {str(k): v for k, v in m.dram_energy.items()},
            "energy_j": m.energy, "quality": m.quality}), file=out,
              flush=True)
    else:
        print(m, file=out, flush=True)
    return m


def power(gpu_indices=None, update_period=1.0, power_domain="device_instant",
          devices=None, as_json=False, out=sys.stdout, duration=None):
    """Prints GPU power every ``update_period`` s until Ctrl-C, then the
    total time and energy."""
    from ..power import PowerMonitor
    stop = _stop_event()
    pm = PowerMonitor(devices, gpu_indices=gpu_indices,
                      update_period=update_period, cpus=[])
    try:
        print("Sampling %s every %g s; Ctrl-C prints the totals."
              % (", ".join("gpu%d" % g for g in pm.gpu_indices),
                 pm.update_period), file=sys.stderr, flush=True)
        start = time.time()
        t_end = None if duration is None else time.monotonic() + duration
        while not stop.wait(update_period):
            p = pm.get_power(power_domain=power_domain)
            if p is not None and not as_json:
                print(datetime.now(), _gpu_names(p), file=out, flush=True)
            if t_end is not None and time.monotonic() >= t_end:
                break
        end = time.time()
        e = pm.get_energy(start, end, power_domain=power_domain)
    finally:
        pm.close()
    if as_json:
        print(json.dumps({"time_s": end - start,
                          "gpu_energy_j": {str(k): v for k, v in
                                           (e or {}).items()}}),
              file=out, flush=True)
    else:
        print("\nTotal time (s): %s" % (end - start), file=out)
        if e is not None:
            print("Total energy (J): %s" % _gpu_names(e), file=out, flush=True)
    return e


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m joule.monitor",
                                     description="joule monitor CLI "
                                     "(Zeus's python -m zeus.monitor)")
    sub = parser.add_subparsers(dest="subcommand", required=True)
    pe = sub.add_parser("energy", help="time and energy until Ctrl-C")
    pp = sub.add_parser("power", help="power until Ctrl-C, then energy")
    for p in (pe, pp):
        p.add_argument("--gpu-indices", nargs="+", type=int,
                       help="GPUs to monitor (default: all)")
        p.add_argument("--devices", help="a joule device spec, e.g. "
                       "sim:2:h100 (default: $JOULE_DEVICES, else all)")
        p.add_argument("--json", action="store_true",
                       help="print the totals as one JSON object")
        p.add_argument("--duration", type=float,
                       help="stop after this many seconds")
    pp.add_argument("--update-period", type=float, default=1.0,
                    help="seconds between power readings (default 1)")
    pp.add_argument("--power-domain", choices=DOMAINS,
                    default="device_instant")
    args = parser.parse_args(argv)
    try:
        if args.subcommand == "energy":
            energy(args.gpu_indices, args.devices, args.json,
                   duration=args.duration)
        else:
            power(args.gpu_indices, args.update_period, args.power_domain,
                  args.devices, args.json, duration=args.duration)
    except (ValueError, RuntimeError, ImportError) as e:
        print("python -m joule.monitor: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
