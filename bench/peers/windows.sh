#!/bin/sh
# Window cost, side by side in one run: Zeus's ZeusMonitor vs joule's Python
# binding (through joule._fast and through ctypes) vs joule's C API over the
# same NVML test double (4 simulated H100s,
# load 0.5), plus energy agreement between Zeus and joule on the same windows.
# Zeus and nvidia-ml-py go into a throwaway venv ($BUILD/peer-venv); joule
# never depends on them. Prints "skipped: ..." and exits 0 if Zeus cannot be
# installed. See docs/benchmarks.md.
set -u
. "$(dirname "$0")/lib.sh"
peers_init
peers_zeus_or_skip
peers_fake_nvml 4 0.5
mkdir -p "$BUILD/peer-bench"
WC=$BUILD/peer-bench/window_c
if ! ${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Iinclude bench/peers/window_c.c \
        -L"$BUILD/src" -Wl,-rpath,"$BUILD/src" -ljoule -ldl -o "$WC"; then
    echo "warning: could not build window_c; the C API row is left out"
    WC=""
fi
# joule._fast built for the venv's interpreter: the Python rows then show the
# C fast path and the ctypes path side by side.
suffix=$("$PEERS_PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
if [ -f "$BUILD/python/joule/_fast$suffix" ]; then
    export JOULE_FAST=$BUILD/python/joule/_fast$suffix
else
    echo "note: no $BUILD/python/joule/_fast$suffix (Python headers missing at build?); the fast-path row is left out"
    export JOULE_FAST=0
fi
exec "$PEERS_PY" bench/peers/windows.py ${WC:+--window-c "$WC"} "$@"
