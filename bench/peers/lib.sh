# Shared setup for the peer benchmarks (sourced by bench/peers/*.sh).
#
#   peers_init            repo root, build dir, checks the joule build
#   peers_venv PKG...     throwaway venv with the peers (benchmark-only: joule
#                         itself never depends on them); sets PEERS_PY
#   peers_fake_nvml N     a JOULE_FAKE_NVML_CONFIG with N simulated H100s at
#                         load 0.5 (privileged) and the environment that points
#                         pynvml and joule at the NVML test double
#
# Environment: BUILD (default build), PEERS_VENV (default $BUILD/peer-venv),
# PEERS_PYTHON (interpreter for the venv, default python3).

peers_init() {
    ROOT=$(cd "$(dirname "$0")/../.." && pwd)
    cd "$ROOT" || exit 1
    BUILD=${BUILD:-build}
    case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
    PEERS_TMP=$(mktemp -d /tmp/joule-peers.XXXXXX)
    trap 'rm -rf "$PEERS_TMP"' EXIT
    local need="$BUILD/src/libjoule.so $BUILD/tests/fakes/nvml/libnvidia-ml.so.1 $BUILD/cli/joule"
    local missing=""
    for f in $need; do [ -e "$f" ] || missing="$missing $f"; done
    if [ -n "$missing" ]; then
        echo "building joule (missing:$missing)"
        if ! { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
               cmake --build "$BUILD" -j2 --target joule joule_cli joule_test_fakes >/dev/null; }; then
            echo "error: could not build joule into $BUILD; run: cmake -S . -B build && cmake --build build -j2" >&2
            exit 1
        fi
    fi
}

# peers_venv PKG... : creates/reuses the venv and installs what is missing.
# Sets PEERS_PY, and PEERS_MISSING to the packages that failed to install.
peers_venv() {
    PEERS_VENV=${PEERS_VENV:-$BUILD/peer-venv}
    PEERS_MISSING=""
    if [ ! -x "$PEERS_VENV/bin/python" ]; then
        echo "creating throwaway venv $PEERS_VENV"
        if ! "${PEERS_PYTHON:-python3}" -m venv "$PEERS_VENV" >"$PEERS_TMP/venv.log" 2>&1; then
            echo "skipped: python3 -m venv failed: $(tail -1 "$PEERS_TMP/venv.log")"
            exit 0
        fi
    fi
    PEERS_PY=$PEERS_VENV/bin/python
    local p name want
    for p in "$@"; do
        name=${p%%==*}
        want=""
        [ "$name" != "$p" ] && want=${p#*==}
        if "$PEERS_PY" - "$name" "$want" <<'PY' 2>/dev/null; then continue; fi
import sys, importlib.metadata as m
v = m.version(sys.argv[1])
sys.exit(0 if not sys.argv[2] or v == sys.argv[2] else 1)
PY
        echo "pip install $p (into $PEERS_VENV)"
        if ! "$PEERS_PY" -m pip install -q "$p" >"$PEERS_TMP/pip.log" 2>&1; then
            echo "  could not install $p: $(grep -E 'ERROR|error' "$PEERS_TMP/pip.log" | tail -1)"
            PEERS_MISSING="$PEERS_MISSING $name"
        fi
    done
}

# peers_fake_nvml N [LOAD] : writes the double's config and exports the
# environment for pynvml (LD_LIBRARY_PATH) and joule (JOULE_NVML_LIBRARY).
peers_fake_nvml() {
    local n=$1 load=${2:-0.5} i sep=""
    {
        printf '{"privileged": true, "seed": 42, "gpus": ['
        for i in $(seq 1 "$n"); do
            printf '%s{"model": "h100", "load": %s}' "$sep" "$load"
            sep=", "
        done
        printf ']}\n'
    } >"$PEERS_TMP/fake_nvml.json"
    export JOULE_FAKE_NVML_CONFIG=$PEERS_TMP/fake_nvml.json
    export LD_LIBRARY_PATH=$BUILD/tests/fakes/nvml${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export JOULE_NVML_LIBRARY=$BUILD/tests/fakes/nvml/libnvidia-ml.so.1
    export JOULE_LIBRARY=$BUILD/src/libjoule.so
    export PYTHONPATH=$ROOT/python:$ROOT/bench/peers${PYTHONPATH:+:$PYTHONPATH}
    export JOULE_DEVICES=gpu
    unset CUDA_VISIBLE_DEVICES
}

# Zeus and nvidia-ml-py in the venv, or "skipped: ..." and exit 0.
peers_zeus_or_skip() {
    peers_venv zeus==0.16.0 nvidia-ml-py
    case " $PEERS_MISSING " in
    *" zeus "*|*" nvidia-ml-py "*)
        echo "skipped: Zeus/nvidia-ml-py could not be installed into $PEERS_VENV (see above); nothing to compare"
        exit 0 ;;
    esac
}
