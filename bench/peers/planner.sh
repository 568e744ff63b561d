#!/bin/sh
# Pipeline frequency planner, side by side in one run: `joule plan` vs
# lowtime 0.3.0 (the solver behind Perseus) on bench/planner_speed.c's realistic
# 4x8 1F1B profile: wall time of each and the ratio, and how their
# time-energy frontiers compare. lowtime goes into a throwaway venv; joule
# never depends on it. PEERS_SKIP_LOWTIME=1 skips lowtime.
# Prints "skipped: ..." and exits 0 if lowtime cannot be installed.
set -u
. "$(dirname "$0")/lib.sh"
peers_init
skip=""
if [ "${PEERS_SKIP_LOWTIME:-0}" = 1 ]; then
    skip=--skip-lowtime
    peers_venv
else
    peers_venv lowtime==0.3.0
    case " $PEERS_MISSING " in
    *" lowtime "*)
        echo "skipped: lowtime 0.3.0 could not be installed into $PEERS_VENV (see above); joule plan only"
        skip=--skip-lowtime ;;
    esac
fi
[ -x "$BUILD/bench/planner_speed" ] || cmake --build "$BUILD" --target bench_planner_speed >/dev/null 2>&1 || true
exec "$PEERS_PY" bench/peers/planner.py --joule "$BUILD/cli/joule" \
    --bench-planner "$BUILD/bench/planner_speed" $skip "$@"
