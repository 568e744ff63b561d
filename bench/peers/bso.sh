#!/bin/sh
# Batch-size optimizer on the Zeus NSDI'23 traces, side by side in one run:
# Zeus 0.16.0's own trace-driven simulator (zeus._legacy.simulate) vs
# `joule optimize bso-simulate`, on the paper's 6 workloads x V100 and A40:
# last-10 and cumulative energy savings against the default, and wall time
# (ratio). Zeus and pandas go into a throwaway venv; joule never depends on
# them. Prints "skipped: ..." and exits 0 if Zeus cannot be installed.
# TRACE=DIR points at the traces (default ../shared/data/zeus-nsdi23).
set -u
. "$(dirname "$0")/lib.sh"
peers_init
peers_venv zeus==0.16.0 pandas
case " $PEERS_MISSING " in
*" zeus "*|*" pandas "*)
    echo "skipped: Zeus/pandas could not be installed into $PEERS_VENV (see above); nothing to compare"
    exit 0 ;;
esac
TRACE=${TRACE:-$ROOT/../shared/data/zeus-nsdi23}
if [ ! -r "$TRACE/summary_train.csv" ]; then
    echo "skipped: no Zeus traces at $TRACE (set TRACE=DIR)"
    exit 0
fi
exec "$PEERS_PY" bench/peers/bso.py --joule "$BUILD/cli/joule" --trace "$TRACE" "$@"
