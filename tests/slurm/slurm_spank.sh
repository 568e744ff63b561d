#!/bin/sh
# spank_joule.so on a real single-node Slurm on loopback: munged,
# slurmctld and slurmd from Debian's slurm-wlm, started here with a
# generated slurm.conf, the GPUs behind the NVML test double. Covers
#   1. srun --joule-power-limit: the limit holds during the step (the step
#      prints the double's state) and is restored after it;
#   2. sbatch of a sleeping job with the option, scancel'd: restored;
#   3. the energy report (--joule-report with %j/%n) with per-node energy,
#      which `joule report` merges;
#   4. bad input (a limit out of range, a bad clock pair): the step fails
#      with a clear message and the GPUs stay as they were;
#   9. a batch step's slurmstepd killed with SIGKILL: the job epilog puts
#      the GPUs back from the job's record.
# Usage: slurm_spank.sh PLUGIN_SO FAKE_NVML_LIB JOULE_CLI
# Exits 77 (skip) with the reason where Slurm cannot start here.
set -u
PLUGIN=$1 FAKE_LIB=$2 JOULE=$3

skip() { echo "skipped: $*"; exit 77; }
fail() { echo "FAILED: $*"; dump_logs; exit 1; }

[ "$(id -u)" = 0 ] || skip "not root (slurmd must run as root to start job steps)"
command -v python3 >/dev/null || skip "python3 not found (the test reads JSON with it)"
for b in munged slurmctld slurmd srun sbatch scancel sinfo squeue; do
    command -v $b >/dev/null || skip "$b not found (apt-get install slurm-wlm munge)"
done
[ -f "$PLUGIN" ] || skip "plugin $PLUGIN not built"

T=$(mktemp -d /tmp/joule-slurm.XXXXXX) || exit 1
chmod 755 "$T"
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    # slurmstepd processes of this cluster (they carry our config's path)
    for p in $(pgrep -f "slurmstepd.*" 2>/dev/null); do
        if grep -q "$T" /proc/$p/environ 2>/dev/null; then kill -9 "$p" 2>/dev/null; fi
    done
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

dump_logs() {
    for f in "$T"/munged.log "$T"/slurmctld.log "$T"/slurmd.log; do
        [ -f "$f" ] && { echo "--- tail of $f"; tail -n 25 "$f"; }
    done
}

# A TCP port nobody listens on, from the kernel's socket tables.
port_in_use() { awk -v p="$(printf '%04X' "$1")" 'NR>1 { split($2, a, ":"); if (a[2] == p) f=1 } END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
pick_port() {
    p=$1
    while port_in_use "$p"; do p=$((p + 1)); done
    echo "$p"
}
BASE=$((20000 + $$ % 20000))
CTLD_PORT=$(pick_port $BASE)
SLURMD_PORT=$(pick_port $((CTLD_PORT + 1)))

# --- munge -------------------------------------------------------------
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 2>/dev/null
chmod 0400 "$T/munge.key"
mkdir -m 0755 "$T/munge"
munged --key-file="$T/munge.key" --socket="$T/munge/munge.socket" \
    --pid-file="$T/munge/munged.pid" --log-file="$T/munged.log" \
    --seed-file="$T/munge/munged.seed" --force >"$T/munged.out" 2>&1 \
    || { cat "$T/munged.out"; dump_logs; skip "munged did not start"; }
PIDS="$(cat "$T/munge/munged.pid" 2>/dev/null)"

# --- the NVML test double: two H100s, settable as root ---------------------
cat >"$T/nvml.json" <<EOF
{"privileged": true, "state": "$T/gpu_state.json",
 "gpus": [{"model": "h100", "load": 0.5}, {"model": "h100", "load": 0.5}]}
EOF
export JOULE_NVML_LIBRARY="$FAKE_LIB" JOULE_FAKE_NVML_CONFIG="$T/nvml.json"
export JOULE_ROCM_SMI_LIBRARY=/nonexistent/librocm_smi64.so JOULE_DEVICES=gpu JOULE_DAEMON=off
unset CUDA_VISIBLE_DEVICES

# --- slurm.conf ----------------------------------------------------------
mkdir -p "$T/state" "$T/spool" "$T/reports"
# env=: slurmstepd does not inherit slurmd's environment (test-only use:
# libjoule finds the NVML double through these).
PLUGIN_ENV="state_dir=$T/spank-state env=JOULE_NVML_LIBRARY=$FAKE_LIB env=JOULE_FAKE_NVML_CONFIG=$T/nvml.json env=JOULE_ROCM_SMI_LIBRARY=/nonexistent/librocm_smi64.so env=JOULE_DAEMON=off"
plugstack() { echo "required $PLUGIN $* $PLUGIN_ENV" >"$T/plugstack.conf"; }
plugstack "report_dir=$T/site"
cat >"$T/slurm.conf" <<EOF
ClusterName=joule
SlurmctldHost=localhost
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/linear
ReturnToService=2
MpiDefault=none
PlugStackConfig=$T/plugstack.conf
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$T/slurm.conf"

slurmctld -D -f "$T/slurm.conf" -i >"$T/slurmctld.out" 2>&1 &
PIDS="$PIDS $!"
slurmd -D -f "$T/slurm.conf" -N localhost >"$T/slurmd.out" 2>&1 &
PIDS="$PIDS $!"

up=0
for i in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -q '^idle'; then up=1; break; fi
    sleep 0.5
done
if [ $up = 0 ]; then
    echo "slurm did not come up in 30 s; sinfo says: $(sinfo -h 2>&1 | head -3)"
    cat "$T/slurmctld.out" "$T/slurmd.out" 2>/dev/null | tail -n 20
    dump_logs
    skip "slurmctld/slurmd did not bring the node up in 30 s"
fi
echo "slurm up: ctld port $CTLD_PORT, slurmd port $SLURMD_PORT"

# --- state of the double ---------------------------------------------------
# gpus[GPU].KEY from the state file (pl_w: 700 W, lock_min_mhz: 0 before
# any change).
state() {
    python3 - "$T/gpu_state.json" "$1" "$2" <<'EOF' 2>/dev/null || echo none
import json, sys
try:
    print(int(json.load(open(sys.argv[1]))["gpus"][int(sys.argv[3])][sys.argv[2]]))
except FileNotFoundError:
    print(700 if sys.argv[2] == "pl_w" else 0)
EOF
}
pl() { state pl_w "$1"; }
echo "limits before: gpu0 $(pl 0) W, gpu1 $(pl 1) W"

# --- 1. srun with a limit: set during the step, restored after ----------------
out=$(srun -N1 -n1 --joule-power-limit=400 --joule-report="$T/reports/%j-%n.json" \
    python3 -c "import json; print('in step: pl_w', [int(g['pl_w']) for g in json.load(open('$T/gpu_state.json'))['gpus']])" 2>&1)
echo "$out"
echo "$out" | grep -q "in step: pl_w \[400, 400\]" || fail "the limit was not 400 W during the step"
[ "$(pl 0)" = 700 ] && [ "$(pl 1)" = 700 ] || fail "limit not restored after the step: gpu0 $(pl 0) W, gpu1 $(pl 1) W"
echo "1. srun --joule-power-limit=400: 400 W in the step, $(pl 0) W after: ok"

# --- 3. the energy report ----------------------------------------------------
HOST=$(hostname -s 2>/dev/null || hostname)
rep=$(ls "$T"/reports/*-"$HOST".json 2>/dev/null | head -1)
[ -n "$rep" ] || fail "no report file in $T/reports ($(ls "$T/reports"))"
python3 - "$rep" "$HOST" <<'EOF' || fail "report $rep is not the expected JSON: $(cat "$rep")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["joule_job_report"] == 1 and r["node"] == sys.argv[2], r
devs = r["devices"]
assert len(devs) == 2 and all(d["kind"] == "gpu" for d in devs), devs
assert all(d["energy_j"] > 0 for d in devs), devs
assert r["time_s"] > 0 and r["power_limit_w"] == 400, r
print("report: %s, %.1f J over %.2f s" % (sys.argv[1].split("/")[-1], sum(d["energy_j"] for d in devs), r["time_s"]))
EOF
"$JOULE" report "$T/reports" || fail "joule report cannot read the plugin's report"
echo "3. energy report: ok"

# --- 2. a cancelled batch job is restored -------------------------------------
cat >"$T/job.sh" <<EOF
#!/bin/sh
sleep 300
EOF
jid=$(sbatch --parsable --joule-power-limit=350 --joule-gpu-clocks=1000,1500 -o "$T/job.out" "$T/job.sh") \
    || fail "sbatch refused the job: $jid"
state=""
for i in $(seq 1 60); do
    state=$(squeue -h -j "$jid" -o '%T' 2>/dev/null)
    [ "$state" = RUNNING ] && [ "$(pl 0)" = 350 ] && break
    sleep 0.5
done
[ "$state" = RUNNING ] || fail "job $jid not running after 30 s (state '$state')"
[ "$(pl 0)" = 350 ] && [ "$(pl 1)" = 350 ] || fail "job $jid running but limits are $(pl 0)/$(pl 1) W"
[ "$(state lock_min_mhz 0)" = 1000 ] && [ "$(state lock_max_mhz 1)" = 1500 ] \
    || fail "job $jid running but SM clocks not locked to 1000-1500 MHz"
echo "job $jid running at $(pl 0) W, SM clocks $(state lock_min_mhz 0)-$(state lock_max_mhz 0) MHz"
scancel "$jid"
for i in $(seq 1 60); do
    [ "$(pl 0)" = 700 ] && [ "$(pl 1)" = 700 ] && break
    sleep 0.5
done
[ "$(pl 0)" = 700 ] && [ "$(pl 1)" = 700 ] || fail "limits not restored after scancel: $(pl 0)/$(pl 1) W"
[ "$(state lock_min_mhz 0)" = 0 ] && [ "$(state lock_max_mhz 1)" = 0 ] || fail "SM clocks still locked after scancel"
# The site's report_dir (plugstack.conf) got the batch step's report.
[ -f "$T/site/$jid/$HOST.stepbatch.json" ] || fail "no site report $T/site/$jid/$HOST.stepbatch.json ($(ls -R "$T/site" 2>&1))"
grep -q '"exit_status":' "$T/site/$jid/$HOST.stepbatch.json" || fail "site report without exit_status"
echo "2. scancel'd sbatch job: $(pl 0) W, clocks unlocked after; site report $jid/$HOST.stepbatch.json: ok"

# --- 4. bad input: the step does not run, the GPUs stay ---------------------------
# A limit out of range is known only on the node: each task says why on
# its stderr and exits 1 before it execs.
out=$(srun -N1 -n1 --joule-power-limit=5000 echo started 2>&1); rc=$?
echo "srun --joule-power-limit=5000: rc $rc: $out"
[ $rc != 0 ] || fail "srun with a 5000 W limit exited 0"
echo "$out" | grep -q started && fail "a 5000 W limit was accepted: $out"
echo "$out" | grep -q "joule: power limit 5000 W is out of range for gpu0 (200 to 700 W)" \
    || fail "no clear message for a 5000 W limit"
grep -q "joule: .*power limit 5000 W is out of range" "$T/slurmd.log" \
    || fail "no joule message for a 5000 W limit in slurmd's log"
[ "$(pl 0)" = 700 ] && [ "$(pl 1)" = 700 ] || fail "a refused limit changed the GPUs to $(pl 0)/$(pl 1) W"
out=$(srun -N1 -n1 --joule-gpu-clocks=fast echo started 2>&1); rc=$?
echo "srun --joule-gpu-clocks=fast: rc $rc: $out"
[ $rc != 0 ] || fail "--joule-gpu-clocks=fast was accepted: $out"
echo "$out" | grep -q "GPU clocks 'fast' are not MIN,MAX in MHz" || fail "no clear message for --joule-gpu-clocks=fast"
echo "4. bad input refused, GPUs unchanged: ok"
# --- 5. the step's GPU allocation: only those GPUs are set ------------------------
out=$(CUDA_VISIBLE_DEVICES=1 srun -N1 -n1 --joule-power-limit=300 \
    python3 -c "import json; print('in step: pl_w', [int(g['pl_w']) for g in json.load(open('$T/gpu_state.json'))['gpus']])" 2>&1)
echo "$out"
echo "$out" | grep -q "in step: pl_w \[700, 300\]" || fail "CUDA_VISIBLE_DEVICES=1: not only gpu1 at 300 W"
[ "$(pl 1)" = 700 ] || fail "gpu1 not restored: $(pl 1) W"
echo "5. CUDA_VISIBLE_DEVICES=1: only gpu1 set, restored: ok"
# --- 6. a failing step is restored too; its report has the exit status -------------
out=$(srun -N1 -n1 --joule-power-limit=450 --joule-report="$T/fail-%j.json" sh -c 'exit 3' 2>&1); rc=$?
[ $rc != 0 ] || fail "a step that exits 3 made srun exit 0"
[ "$(pl 0)" = 700 ] && [ "$(pl 1)" = 700 ] || fail "not restored after a failing step: $(pl 0)/$(pl 1) W"
grep -q '"exit_status":.*3,' "$T"/fail-*.json || fail "failing step's report lacks exit_status 3: $(cat "$T"/fail-*.json)"
echo "6. a step that exits 3: restored, report exit_status 3: ok"

# --- 8. steps nest: an srun inside a batch job puts back the batch step's limit --------
cat >"$T/nested.sh" <<EOF
#!/bin/sh
show() { python3 -c "import json; print('\$1: pl_w', [int(g['pl_w']) for g in json.load(open('$T/gpu_state.json'))['gpus']])"; }
show batch
srun -n1 --joule-power-limit=300 python3 -c "import json; print('inner: pl_w', [int(g['pl_w']) for g in json.load(open('$T/gpu_state.json'))['gpus']])"
show after
EOF
sbatch --wait --joule-power-limit=350 -o "$T/nested.out" "$T/nested.sh" >/dev/null 2>&1 || fail "nested job failed: $(cat "$T/nested.out")"
cat "$T/nested.out"
grep -q "batch: pl_w \[350, 350\]" "$T/nested.out" && grep -q "inner: pl_w \[300, 300\]" "$T/nested.out" \
    && grep -q "after: pl_w \[350, 350\]" "$T/nested.out" || fail "nested steps: not 350, 300, 350 W"
[ "$(pl 0)" = 700 ] || fail "not restored after the nested job: $(pl 0) W"
echo "8. batch 350 W, inner srun 300 W, back to 350 W, 700 W after the job: ok"

# --- 7. the site's default from plugstack.conf (slurmstepd reads it per step) ----------
plugstack "default_power_limit=250"
out=$(srun -N1 -n1 python3 -c "import json; print('in step: pl_w', [int(g['pl_w']) for g in json.load(open('$T/gpu_state.json'))['gpus']])" 2>&1)
echo "$out"
echo "$out" | grep -q "in step: pl_w \[250, 250\]" || fail "default_power_limit=250 not applied"
out=$(srun -N1 -n1 --joule-power-limit=500 python3 -c "import json; print('in step: pl_w', [int(g['pl_w']) for g in json.load(open('$T/gpu_state.json'))['gpus']])" 2>&1)
echo "$out" | grep -q "in step: pl_w \[500, 500\]" || fail "--joule-power-limit=500 did not win over the site default: $out"
[ "$(pl 0)" = 700 ] || fail "not restored after the site default: $(pl 0) W"
plugstack "bogus=1"
out=$(srun -N1 -n1 echo started 2>&1); rc=$?
echo "plugstack bogus=1: rc $rc: $out" | head -3
[ $rc != 0 ] && echo "$out" | grep -q "unknown plugstack.conf argument 'bogus=1'" \
    || fail "an unknown plugstack.conf argument was not an error"
echo "7. site default 250 W, the step's 500 W wins, unknown argument refused: ok"
# --- 9. a killed slurmstepd: the job epilog puts the GPUs back --------------------
# SIGKILL stops the batch step's slurmstepd before its exit callback:
# nothing restores there; the job's record (state_dir) lets the job
# epilog put back the limit and unlock the clocks.
plugstack "report_dir=$T/site"
cat >"$T/kill.sh" <<EOF
#!/bin/sh
echo \$\$ >"$T/kill.pid"
exec sleep 300
EOF
jid=$(sbatch --parsable --joule-power-limit=320 --joule-gpu-clocks=1100,1400 -o /dev/null "$T/kill.sh") \
    || fail "sbatch refused the job: $jid"
for i in $(seq 1 60); do
    [ "$(pl 0)" = 320 ] && [ -s "$T/kill.pid" ] && break
    sleep 0.5
done
[ "$(pl 0)" = 320 ] && [ "$(pl 1)" = 320 ] || fail "job $jid: limits $(pl 0)/$(pl 1) W, not 320 W"
[ -f "$T/spank-state/job-$jid.json" ] || fail "no epilog record $T/spank-state/job-$jid.json"
stepd=""
for p in $(pgrep -f "slurmstepd: \[$jid.batch\]" 2>/dev/null); do
    grep -q "$T" /proc/$p/environ 2>/dev/null && stepd=$p
done
[ -n "$stepd" ] || fail "no slurmstepd for job $jid.batch"
kill -9 "$stepd"
sleep 1
[ "$(pl 0)" = 320 ] || fail "the limit changed when slurmstepd was killed: $(pl 0) W"
echo "job $jid: slurmstepd $stepd killed, GPUs left at $(pl 0) W, clocks $(state lock_min_mhz 0)-$(state lock_max_mhz 0) MHz"
scancel "$jid"
for i in $(seq 1 60); do
    [ "$(pl 0)" = 700 ] && [ "$(pl 1)" = 700 ] && [ "$(state lock_min_mhz 1)" = 0 ] && break
    sleep 0.5
done
kill "$(cat "$T/kill.pid")" 2>/dev/null  # the job's task, orphaned with its slurmstepd
[ "$(pl 0)" = 700 ] && [ "$(pl 1)" = 700 ] \
    || fail "the job epilog did not put the limits back: $(pl 0)/$(pl 1) W"
[ "$(state lock_min_mhz 0)" = 0 ] && [ "$(state lock_max_mhz 1)" = 0 ] || fail "the job epilog did not unlock the SM clocks"
grep -q "joule: job $jid epilog: a step ended without restoring" "$T/slurmd.log" \
    || fail "no epilog line for job $jid in slurmd's log"
[ ! -e "$T/spank-state/job-$jid.json" ] || fail "the epilog left its record behind"
echo "9. slurmstepd killed: the job epilog put back 700 W and unlocked the clocks: ok"
echo "slurm spank: passed"
