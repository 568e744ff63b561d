#!/bin/sh
# `make demo`: list devices, then measure a short workload. Without a GPU it
# uses simulated GPUs and says so.
set -e
BUILD=${1:-build}
JOULE="$BUILD/cli/joule"
if "$JOULE" run --devices gpu -o /dev/null -- true 2>/dev/null; then
    SPEC=all
    echo "== joule info  (this machine's devices)"
else
    SPEC="all+sim:2:h100"
    # Busy from 0.5 s to 2.5 s, like a training step between data loading.
    JOULE_SIM_LOAD=${JOULE_SIM_LOAD:-0:0.1,0.5:0.9,2.5:0.3}
    export JOULE_SIM_LOAD
    echo "== No GPU found: using 2 SIMULATED H100 GPUs (sim backend, load schedule"
    echo "   $JOULE_SIM_LOAD as seconds:load), plus this machine's CPU energy"
    echo "   counters where it has them."
    echo
    echo "== joule info --devices $SPEC"
fi
"$JOULE" info --devices "$SPEC"
echo
echo "== joule run --devices $SPEC -- busy_loop 3   (3 s of work on one CPU core)"
exec "$JOULE" run --devices "$SPEC" -- "$BUILD/examples/busy_loop" 3
