#!/bin/sh
# Background power sampling, side by side in one run: Zeus's PowerMonitor vs
# joule's sampler (joule.PowerMonitor) on the same NVML test double (4
# simulated H100s): CPU used, samples and NVML reads per second, energy
# against the model's truth. Zeus goes into a throwaway venv; joule never
# depends on it. Prints "skipped: ..." and exits 0 if Zeus cannot be
# installed. Options: --seconds S (default 10). See docs/benchmarks.md.
set -u
. "$(dirname "$0")/lib.sh"
peers_init
peers_zeus_or_skip
peers_fake_nvml 4 0.5
exec "$PEERS_PY" bench/peers/power_sampling.py "$@"
