"""``python -m joule.show_env``: what joule sees (Zeus's zeus.show_env).

Prints the versions of joule, libjoule and the frameworks it can sync
with, and every device the default spec opens (``$JOULE_DEVICES``, else
all), with GPU power limits. ``--json`` prints the same as one object.
"""

import argparse
import importlib
import json
import platform
import sys

SECTION = "=" * 80


def _version(name):
    """A framework's version without importing it when it is absent."""
    import importlib.util
    if importlib.util.find_spec(name) is None:
        return None
    try:
        mod = importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - broken installs are reported
        return "unusable (%s: %s)" % (type(e).__name__, e)
    return getattr(mod, "__version__", "unknown")


def collect(devices=None):
    import joule
    from joule.device import power_limits_w
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "joule": joule.__version__,
        "libjoule": joule.library_version,
        "libjoule_path": joule.library_path,
        "frameworks": {n: _version(n) for n in ("torch", "jax", "cupy")},
        "devices": [],
        "error": None,
    }
    try:
        with joule.Monitor(devices=devices, sync=None) as m:
            for d in m.devices:
                entry = {"label": d.label, "kind": d.kind_name,
                         "index": d.index, "name": d.name,
                         "backend": d.backend, "uuid": d.uuid,
                         "update_period_us": d.update_period_us,
                         "note": d.note}
                if d.kind_name == "gpu":
                    try:
                        cur, lo, hi, dflt, _ = power_limits_w(m, d.index)
                        entry["power_limit_w"] = {"current": cur, "min": lo,
                                                  "max": hi, "default": dflt}
                    except Exception as e:  # noqa: BLE001
                        entry["power_limit_w"] = str(e)
                env["devices"].append(entry)
    except Exception as e:  # noqa: BLE001 - show what is known anyway
        env["error"] = "%s: %s" % (type(e).__name__, e)
    return env


def show_env(devices=None, out=None):
    out = out or sys.stdout
    env = collect(devices)
    print(SECTION, file=out)
    print("## Package availability and versions\n", file=out)
    print("Python: %s (%s)" % (env["python"], env["platform"]), file=out)
    print("joule: %s" % env["joule"], file=out)
    print("libjoule: %s (%s)" % (env["libjoule"], env["libjoule_path"]),
          file=out)
    for name, v in env["frameworks"].items():
        print("%s: %s" % (name, v if v else "not installed"), file=out)
    print(SECTION, file=out)
    print("## Device availability\n", file=out)
    if env["error"]:
        print("Opening the devices failed: %s" % env["error"], file=out)
    for d in env["devices"]:
        line = "%s: %s [%s]" % (d["label"], d["name"], d["backend"])
        pl = d.get("power_limit_w")
        if isinstance(pl, dict):
            line += ", power limit %g W (%g-%g W)" % (pl["current"],
                                                       pl["min"], pl["max"])
        print(line, file=out)
    if not env["devices"] and not env["error"]:
        print("No devices.", file=out)
    print(SECTION, file=out)
    return env


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m joule.show_env")
    p.add_argument("--devices", help="a joule device spec (default: "
                   "$JOULE_DEVICES, else all)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.json:
        print(json.dumps(collect(args.devices)))
    else:
        show_env(args.devices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
