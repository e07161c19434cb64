#!/usr/bin/env bash
# Runs a script written by `host-tools slurm` on a real SLURM: a one-node
# cluster on localhost, started here and stopped again on exit. NOT part of
# the default test suite (scripts/test.sh); run it by hand, as root or with
# sudo, when the batch script or the sharding changes.
#
#   install      slurm-wlm, munge and python3 (scripts/setup.sh --slurm)
#   munge        munged with a key and socket of its own (the system's, if
#                any, is left alone)
#   slurm        slurmctld and slurmd for one node named after `hostname -s`,
#                without cgroups, accounting or GPUs; waits until it is idle
#   build        cargo build -p host-tools
#   embeddings   short tones (python3) encoded with the small test model
#   script       host-tools slurm --tasks 3 --gpus-per-task 0 for generate
#   submit       the sbatch line it printed; waits until the array is done
#   outputs      every gen_*.wav made, every task COMPLETED, no error logged
#   compare      the same generation without SLURM, byte for byte (cmp)
#
# The last line is "slurm-test.sh: N passed, 0 failed" when everything passed,
# and "slurm-test.sh: N passed, 1 failed" (with a non-zero exit) when a step
# failed; the daemons' and the tasks' logs are then kept and named.
#
# Debian 12 and Ubuntu are supported. Needs root or sudo for apt, and root to
# run the daemons (slurmd starts the tasks as the user who submitted them).
#
# Environment:
#   SLURM_TEST_TIMEOUT  seconds the job array may take (300)
#   SLURM_TEST_PORT     slurmctld's port; slurmd takes the next (16817)
#   SETUP_APT_ATTEMPTS  how many update+install rounds before giving up (4)
#   SETUP_APT_PAUSE     seconds to wait after the first failed round; doubles
#                       after each (15)
#   KEEP_WORK=1         keep the temporary directory with the cluster's
#                       configuration, logs and WAVs

set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

for arg in "$@"; do
    case "$arg" in
    -h | --help)
        sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "slurm-test.sh: unknown argument '$arg' (try --help)" ;;
    esac
done

TIMEOUT="${SLURM_TEST_TIMEOUT:-300}"
CTLD_PORT="${SLURM_TEST_PORT:-16817}"
SLURMD_PORT=$((CTLD_PORT + 1))
TASKS=3
NOTES=5
SEED=5
# The fixture model and its shape (see host-tools/tests/cluster.rs).
CHECKPOINT="$REPO_ROOT/host-tools/tests/fixtures/nsynth_small/model.ckpt"
SMALL_MODEL=(--encoder-stages 3 --decoder-stages 4)

# ------------------------------------------------------------- steps ---

work=""
job_id=""
# "name pid" of each daemon started, in starting order.
daemons=()
started="$(now_s)"

# Stops what this script started, newest first, by process id.
stop_daemons() {
    if [[ -n "$job_id" ]] && command -v scancel >/dev/null 2>&1; then
        # Tasks still running are cancelled, and given 15 s to be cleaned up
        # by their slurmstepd before slurmd goes.
        if [[ -n "$(squeue -h -j "$job_id" -o '%i' 2>/dev/null)" ]]; then
            scancel "$job_id" >/dev/null 2>&1 || true
            local w
            for ((w = 0; w < 30; w++)); do
                [[ -n "$(squeue -h -j "$job_id" -o '%i' 2>/dev/null)" ]] || break
                sleep 0.5
            done
        fi
        job_id=""
    fi
    local i name pid
    for ((i = ${#daemons[@]} - 1; i >= 0; i--)); do
        read -r name pid <<<"${daemons[i]}"
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            # Give it 10 s to shut down cleanly, then insist.
            local n
            for ((n = 0; n < 50; n++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            if kill -0 "$pid" 2>/dev/null; then
                info "slurm-test.sh: $name ($pid) did not stop; killing it"
                kill -9 "$pid" 2>/dev/null || true
            fi
        fi
        wait "$pid" 2>/dev/null || true
    done
    daemons=()
}

trap 'finish stop_daemons' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run COMMAND [ARGS...]: prints the command, then runs it.
run() {
    printf '$ %s\n' "$*"
    "$@"
}

# wait_for SECONDS WHAT COMMAND [ARGS...]: runs COMMAND every half second
# until it succeeds; fails after SECONDS.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local deadline=$(($(now_s) + limit))
    until "$@"; do
        if (($(now_s) >= deadline)); then
            err "$what: not there after ${limit}s"
            return 1
        fi
        sleep 0.5
    done
}

# -------------------------------------------------------------- munge ---

start_munge() {
    [[ "$(id -u)" -eq 0 ]] || die "the SLURM daemons need root: run this script as root"
    mkdir -p "$work/munge" "$work/log"
    # munged checks that clients of every user can reach its socket.
    chmod 0755 "$work" "$work/munge"
    head -c 1024 /dev/urandom >"$work/munge/munge.key"
    chmod 0600 "$work/munge/munge.key"
    local -a cmd=(munged --foreground
        --key-file="$work/munge/munge.key"
        --socket="$MUNGE_SOCKET"
        --pid-file="$work/munge/munged.pid"
        --seed-file="$work/munge/munged.seed"
        --log-file="$work/log/munged.log")
    printf '$ %s &\n' "${cmd[*]}"
    "${cmd[@]}" >>"$work/log/munged.out" 2>&1 &
    daemons+=("munged $!")
    wait_for 20 "munged's socket" test -S "$MUNGE_SOCKET" || {
        cat "$work/log/munged.out" "$work/log/munged.log" 2>/dev/null >&2 || true
        return 1
    }
    # A credential round trip proves the key and the socket work.
    printf '$ munge -n | unmunge\n'
    munge -n --socket="$MUNGE_SOCKET" | unmunge --socket="$MUNGE_SOCKET" | grep 'STATUS:.*Success'
}

# -------------------------------------------------------------- slurm ---

write_slurm_conf() {
    local cpus
    cpus="$(nproc)"
    mkdir -p "$work/state" "$work/spool"
    cat >"$SLURM_CONF" <<EOF
# One node on localhost, written by scripts/slurm-test.sh.
ClusterName=opennsynth-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: processes are tracked through /proc, tasks are not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Finished jobs stay visible to scontrol long enough to be checked.
MinJobAge=3600
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    info "wrote $SLURM_CONF (node $NODE, $cpus CPUs, ports $CTLD_PORT and $SLURMD_PORT)"
}

ctld_up() {
    scontrol ping 2>/dev/null | grep -q 'is UP'
}

node_state() {
    sinfo -h -n "$NODE" -o '%t' 2>/dev/null | head -n 1
}

node_idle() {
    [[ "$(node_state)" == idle ]]
}

# start_daemon NAME COMMAND...: starts a daemon in the foreground of a
# background job, its output in log/NAME.out.
start_daemon() {
    local name=$1
    shift
    printf '$ %s &\n' "$*"
    "$@" >>"$work/log/$name.out" 2>&1 &
    daemons+=("$name $!")
}

start_slurm() {
    write_slurm_conf
    start_daemon slurmctld slurmctld -D -c -f "$SLURM_CONF"
    wait_for 30 "slurmctld answering" ctld_up || {
        tail -n 30 "$work/log/slurmctld.out" "$work/log/slurmctld.log" 2>/dev/null >&2 || true
        return 1
    }
    start_daemon slurmd slurmd -D -N "$NODE" -f "$SLURM_CONF"
    if ! wait_for 60 "node $NODE idle" node_idle; then
        err "node state: $(node_state)"
        scontrol show node "$NODE" >&2 || true
        tail -n 30 "$work/log/slurmd.out" "$work/log/slurmd.log" 2>/dev/null >&2 || true
        return 1
    fi
    run sinfo
}

# ------------------------------------------------------------ host-tools ---

make_embeddings() {
    mkdir -p "$work/recordings"
    # NOTES decaying tones of 3 or 4 frames of 512 samples, 16 kHz mono.
    python3 - "$work/recordings" "$NOTES" <<'EOF'
import math, struct, sys, wave

folder, count = sys.argv[1], int(sys.argv[2])
for k in range(count):
    hz = 220.0 * (1.25 ** k)
    n = 512 * (3 + k % 2)
    samples = (
        int(12000 * math.sin(2 * math.pi * hz * i / 16000) * math.exp(-4.0 * i / n))
        for i in range(n)
    )
    with wave.open(f"{folder}/tone{k}.wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
EOF
    run "$HOST_TOOLS" encode --checkpoint "$CHECKPOINT" "${SMALL_MODEL[@]}" \
        --input "$work/recordings" --out "$work/embeddings"
    local count
    count="$(find "$work/embeddings" -name '*.npy' | wc -l)"
    [[ "$count" -eq "$NOTES" ]] || die "expected $NOTES embeddings, found $count"
}

# The flags both runs share, so the SLURM run and the direct one make the
# same audio.
GEN_FLAGS=()

write_script() {
    GEN_FLAGS=(--checkpoint "$CHECKPOINT" "${SMALL_MODEL[@]}" --batch 2 --seed "$SEED")
    local printed
    printed="$(run "$HOST_TOOLS" slurm --workdir "$work/jobs" --tasks "$TASKS" \
        --gpus-per-task 0 --embeddings "$work/embeddings" --out "$work/slurm-out" \
        "${GEN_FLAGS[@]}")"
    printf '%s\n' "$printed"
    SUBMIT="$(printf '%s\n' "$printed" | sed -n 's/^\(sbatch .*\)$/\1/p' | head -n 1)"
    [[ -n "$SUBMIT" ]] || die "host-tools slurm printed no sbatch line"
    SCRIPT="$work/jobs/open-nsynth-generate.sbatch"
    [[ -f "$SCRIPT" ]] || die "$SCRIPT was not written"
    grep -qx "#SBATCH --array=0-$((TASKS - 1))" "$SCRIPT" ||
        die "$SCRIPT has no --array=0-$((TASKS - 1)) line"
    if grep -q -- '--gres' "$SCRIPT"; then
        die "$SCRIPT asks for GPUs with --gpus-per-task 0"
    fi
    info "--- $SCRIPT:"
    cat "$SCRIPT"
}

# ------------------------------------------------------------- the job ---

array_done() {
    [[ -z "$(squeue -h -j "$job_id" -o '%i' 2>/dev/null)" ]] &&
        # squeue also answers nothing while slurmctld is unreachable.
        scontrol show job "$job_id" >/dev/null 2>&1
}

submit_and_wait() {
    local output
    printf '$ %s\n' "$SUBMIT"
    # The line exactly as host-tools printed it, from another folder.
    output="$(cd / && bash -c "$SUBMIT")"
    printf '%s\n' "$output"
    job_id="$(printf '%s\n' "$output" | sed -n 's/^Submitted batch job \([0-9][0-9]*\).*/\1/p')"
    [[ -n "$job_id" ]] || die "no job id in sbatch's answer"
    local t0 last="" now
    t0="$(now_s)"
    while ! array_done; do
        if (($(now_s) - t0 >= TIMEOUT)); then
            squeue -j "$job_id" >&2 || true
            die "job array $job_id not done after ${TIMEOUT}s (SLURM_TEST_TIMEOUT)"
        fi
        now="$(squeue -h -j "$job_id" -o '%i %T' 2>/dev/null | sort | tr '\n' ' ')"
        if [[ "$now" != "$last" ]]; then
            info "$(($(now_s) - t0))s: $now"
            last="$now"
        fi
        sleep 1
    done
    info "job array $job_id left the queue after $(($(now_s) - t0))s"
}

check_outputs() {
    local -a records
    mapfile -t records < <(scontrol -o show job "$job_id")
    [[ ${#records[@]} -eq $TASKS ]] ||
        die "scontrol knows ${#records[@]} tasks of job $job_id, not $TASKS"
    local record task state code bad=0
    for record in "${records[@]}"; do
        task="$(sed -n 's/.*\bArrayTaskId=\([0-9]*\).*/\1/p' <<<"$record")"
        state="$(sed -n 's/.*\bJobState=\([A-Z_]*\).*/\1/p' <<<"$record")"
        code="$(sed -n 's/.*\bExitCode=\([0-9:]*\).*/\1/p' <<<"$record")"
        info "task $task: $state, exit code $code"
        if [[ "$state" != COMPLETED || "$code" != 0:0 ]]; then
            bad=1
        fi
    done
    [[ $bad -eq 0 ]] || die "not every task completed cleanly"

    # Each task's logs: its share of the notes generated, and no error.
    local logs="$work/jobs/logs" made=0 k out errf n
    for ((k = 0; k < TASKS; k++)); do
        out="$logs/${job_id}_$k.out"
        errf="$logs/${job_id}_$k.err"
        [[ -f "$out" && -f "$errf" ]] || die "task $k left no $out and $errf"
        n="$(sed -n 's/^generated \([0-9]*\) files.*/\1/p' "$out")"
        # Shard k of TASKS owns the notes whose place in path order is k mod TASKS.
        local want=$(((NOTES - k + TASKS - 1) / TASKS))
        info "task $k: generated ${n:-?} files (expected $want)"
        [[ "$n" == "$want" ]] || {
            cat "$out" "$errf" >&2
            die "task $k generated ${n:-no} files, expected $want"
        }
        made=$((made + n))
        if grep -Eq 'ERROR|[Ee]rror:|panicked' "$out" "$errf"; then
            grep -EH 'ERROR|[Ee]rror:|panicked' "$out" "$errf" >&2
            die "task $k logged an error"
        fi
    done
    [[ $made -eq $NOTES ]] || die "the tasks generated $made files, not $NOTES"

    local npy name
    for npy in "$work/embeddings"/*.npy; do
        name="$(basename "$npy" .npy)"
        [[ -s "$work/slurm-out/gen_$name.wav" ]] || die "missing gen_$name.wav in $work/slurm-out"
    done
    local wavs
    wavs="$(find "$work/slurm-out" -maxdepth 1 -name 'gen_*.wav' | wc -l)"
    [[ "$wavs" -eq "$NOTES" ]] || die "$wavs gen_*.wav files in $work/slurm-out, expected $NOTES"
    ls -l "$work/slurm-out"
}

compare_direct() {
    run "$HOST_TOOLS" generate --embeddings "$work/embeddings" --out "$work/direct-out" \
        "${GEN_FLAGS[@]}"
    local a b direct slurm
    direct="$(cd "$work/direct-out" && ls)"
    slurm="$(cd "$work/slurm-out" && ls)"
    [[ "$direct" == "$slurm" ]] || die "different files: direct [$direct], SLURM [$slurm]"
    for a in "$work/direct-out"/*; do
        b="$work/slurm-out/$(basename "$a")"
        cmp -- "$a" "$b"
        info "identical: $(basename "$a") ($(wc -c <"$a") bytes)"
    done
}

# ------------------------------------------------------------- the steps ---

step "install slurm and munge" bash scripts/setup.sh --slurm

NODE="$(hostname -s)"
[[ -n "$NODE" ]] || die "hostname -s printed nothing"
work="$(mktemp -d "${TMPDIR:-/tmp}/open-nsynth-slurm-test.XXXXXX")"
work_note="daemon logs in $work/log, task logs in $work/jobs/logs"
MUNGE_SOCKET="$work/munge/munge.socket"
SLURM_CONF="$work/slurm.conf"
# Every SLURM command (and so every task) finds this cluster through it.
export SLURM_CONF

step "start munged" start_munge
step "start slurmctld and slurmd" start_slurm

ensure_cargo_on_path
step "build host-tools" cargo build -p host-tools
HOST_TOOLS="$(cargo_target_dir)/debug/host-tools"
[[ -x "$HOST_TOOLS" ]] || die "$HOST_TOOLS was not built"

step "make embeddings" make_embeddings
step "write the batch script" write_script
step "submit it and wait" submit_and_wait
step "check the tasks and their WAVs" check_outputs
step "compare with a run without SLURM" compare_direct

current="stop the cluster"
stop_daemons

header "done in $(($(now_s) - started))s"
