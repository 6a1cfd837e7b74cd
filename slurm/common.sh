# shellcheck shell=bash
# Shared by slurm/train.slurm and slurm/pipeline.slurm: node roles, helper servers, the training
# step, and preemption (save, requeue, resume). Everything about recipes is asked of `rltrain`
# itself (`rltrain slurm-plan`, `rltrain wait-ready`); this file only starts processes.
#
# Node roles, in the order of `scontrol show hostnames $SLURM_JOB_NODELIST`: the trainer nodes
# first (the first of them is the head: rendezvous, evaluation, summary), then one node per helper
# server that was asked for (--vllm-node, --sandbox-node, --rm-node MODEL), from the end.
#
# Preemption: submit with `#SBATCH --signal=B:USR1@<seconds>` (the scripts do) and `--requeue`.
# On USR1 or TERM the batch shell passes the signal to the training step; every rank finishes its
# step, a complete checkpoint is saved, the step exits with status 75, and the job requeues itself
# (`scontrol requeue`). The requeued job runs the same command with --resume, which starts from the
# newest checkpoint marked complete (a half-written one is never used).
#
# Settings (environment; defaults in brackets):
#   RLTRAIN_HOME          checkout of rltrain [$SLURM_SUBMIT_DIR]
#   RLTRAIN_PYTHON        python with rltrain installed [$RLTRAIN_HOME/.venv/bin/python, else python3]
#   RLTRAIN_LOG_DIR       logs, one file per node and server, appended to after a requeue
#                         [$RLTRAIN_HOME/logs/<job name>-<job id>]
#   RLTRAIN_MASTER_PORT   rendezvous port on the head [20000 + job id % 20000]
#   RLTRAIN_SANDBOX_PORT  [8600]   RLTRAIN_RM_PORT [8081]   RLTRAIN_VLLM_PORT [8000]
#   RLTRAIN_SANDBOX_WORKERS  programs the sandbox runs at once [cores of the launching node]
#   RLTRAIN_VLLM_TP       tensor-parallel size of the vLLM server [GPUs on its node, else 1]
#   RLTRAIN_SERVER_TIMEOUT  seconds to wait for helper servers to report healthy [1800]
#   RLTRAIN_RENDEZVOUS_TIMEOUT  seconds trainer nodes wait for each other, e.g. while the head
#                         evaluates the starting model [14400; a failing head ends the step sooner]

rl_die() { echo "rltrain-slurm: error: $*" >&2; exit 2; }
rl_log() { echo "rltrain-slurm: $(date '+%F %T') $*" >&2; }

rl_usage() {
  cat >&2 <<EOF
usage: sbatch [--nodes=N] $1 [--vllm-node] [--sandbox-node] [--rm-node MODEL] FILE [-- RLTRAIN_ARGS...]
  FILE            $2
  --vllm-node     one node serves generation with 'trl vllm-serve' (recipes with grpo.vllm_mode: server)
  --sandbox-node  one node runs 'rltrain sandbox serve'; RLTRAIN_SANDBOX_URL points at it
  --rm-node MODEL one node runs 'rltrain rm serve MODEL'; RLTRAIN_RM_URL points at it
  RLTRAIN_ARGS    --set overrides for rltrain (and rltrain slurm-plan), e.g. --set grpo.max_steps=100,
                  and --processes-per-node P (ranks per trainer node)
EOF
  exit 2
}

# rl_parse_args SCRIPT DESCRIPTION ARGS...: sets RL_FILE, RL_WANT_VLLM, RL_WANT_SANDBOX, RL_RM_MODEL,
# RL_EXTRA (array).
rl_parse_args() {
  local script=$1 what=$2
  shift 2
  RL_WANT_VLLM=0 RL_WANT_SANDBOX=0 RL_RM_MODEL="" RL_FILE="" RL_EXTRA=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --vllm-node) RL_WANT_VLLM=1 ;;
      --sandbox-node) RL_WANT_SANDBOX=1 ;;
      --rm-node) [ $# -ge 2 ] || rl_usage "$script" "$what"; RL_RM_MODEL=$2; shift ;;
      -h|--help) rl_usage "$script" "$what" ;;
      --) shift; RL_EXTRA=("$@"); break ;;
      -*) rl_die "unknown option $1 (see --help)" ;;
      *) [ -z "$RL_FILE" ] || rl_die "one FILE only, got $RL_FILE and $1"; RL_FILE=$1 ;;
    esac
    shift
  done
  [ -n "$RL_FILE" ] || rl_usage "$script" "$what"
}

# rl_setup: environment checks, paths, node roles. Sets RL_PY, RL_LOG_DIR, RL_NODES, RL_TRAINERS,
# RL_HEAD, RL_PORT, and RL_VLLM_NODE / RL_SANDBOX_NODE / RL_RM_NODE when asked for.
# rl_python: sets RLTRAIN_HOME and RL_PY (a python that imports rltrain).
rl_python() {
  : "${SLURM_JOB_ID:?not inside a SLURM job: submit with sbatch}"
  RLTRAIN_HOME=${RLTRAIN_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
  if [ -n "${RLTRAIN_PYTHON:-}" ]; then RL_PY=$RLTRAIN_PYTHON
  elif [ -x "$RLTRAIN_HOME/.venv/bin/python" ]; then RL_PY=$RLTRAIN_HOME/.venv/bin/python
  else RL_PY=python3; fi
  "$RL_PY" -c "import rltrain" 2>/dev/null || rl_die "$RL_PY cannot import rltrain: set RLTRAIN_PYTHON or RLTRAIN_HOME"
}

rl_setup() {
  rl_python
  : "${SLURM_JOB_NODELIST:?SLURM_JOB_NODELIST is not set}"
  [ -f "$RL_FILE" ] || RL_FILE=$RLTRAIN_HOME/$RL_FILE
  [ -f "$RL_FILE" ] || rl_die "no such file: $RL_FILE"
  RL_FILE=$(realpath "$RL_FILE")
  cd "$RLTRAIN_HOME" || rl_die "cannot cd to $RLTRAIN_HOME"

  RL_LOG_DIR=${RLTRAIN_LOG_DIR:-$RLTRAIN_HOME/logs/${SLURM_JOB_NAME:-rltrain}-$SLURM_JOB_ID}
  mkdir -p "$RL_LOG_DIR"
  mapfile -t RL_NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
  local services=$((RL_WANT_VLLM + RL_WANT_SANDBOX)) last=${#RL_NODES[@]}
  [ -n "$RL_RM_MODEL" ] && services=$((services + 1))
  [ "$last" -gt "$services" ] || rl_die "${#RL_NODES[@]} node(s) allocated, $services for servers: none left to train (sbatch --nodes=$((services + 1)) or more)"
  if [ "$RL_WANT_VLLM" = 1 ]; then
    last=$((last - 1)); RL_VLLM_NODE=${RL_NODES[$last]}
    export RLTRAIN_VLLM_HOST=$RL_VLLM_NODE RLTRAIN_VLLM_PORT=${RLTRAIN_VLLM_PORT:-8000}
  fi
  if [ "$RL_WANT_SANDBOX" = 1 ]; then
    last=$((last - 1)); RL_SANDBOX_NODE=${RL_NODES[$last]}
    export RLTRAIN_SANDBOX_URL="http://$RL_SANDBOX_NODE:${RLTRAIN_SANDBOX_PORT:-8600}"
  fi
  if [ -n "$RL_RM_MODEL" ]; then
    last=$((last - 1)); RL_RM_NODE=${RL_NODES[$last]}
    export RLTRAIN_RM_URL="http://$RL_RM_NODE:${RLTRAIN_RM_PORT:-8081}"
  fi
  RL_TRAINERS=("${RL_NODES[@]:0:$last}")
  RL_HEAD=${RL_TRAINERS[0]}
  RL_PORT=${RLTRAIN_MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}
  RL_SERVICE_PIDS=()
  RL_TRAIN_PID=""
  RL_VLLM_PID=""
  RL_PREEMPTED=0
  trap rl_on_signal USR1 TERM
  trap rl_cleanup EXIT
  rl_log "job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}): trainers ${RL_TRAINERS[*]} (head $RL_HEAD)${RL_VLLM_NODE:+, vLLM $RL_VLLM_NODE}${RL_SANDBOX_NODE:+, sandbox $RL_SANDBOX_NODE}${RL_RM_NODE:+, reward model $RL_RM_NODE}; logs in $RL_LOG_DIR"
}

rl_on_signal() {
  RL_PREEMPTED=1
  RL_TRAPPED=1
  if [ -n "$RL_TRAIN_PID" ] && kill -0 "$RL_TRAIN_PID" 2>/dev/null; then
    rl_log "stop requested: the ranks save a checkpoint after this step"
    kill -USR1 "$RL_TRAIN_PID" 2>/dev/null || true
  else
    rl_log "stop requested while no training step runs"
  fi
}

rl_cleanup() {
  local pid
  for pid in "${RL_SERVICE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${RL_SERVICE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  RL_SERVICE_PIDS=()
}

# rl_wait PID: wait for PID to exit, through any number of trapped signals; returns its status.
rl_wait() {
  local status
  while :; do
    RL_TRAPPED=0
    set +e
    wait "$1"
    status=$?
    set -e
    [ "$RL_TRAPPED" = 1 ] || return "$status"
  done
}

# rl_service NAME NODE CMD...: start a helper server on NODE in the background.
rl_service() {
  local name=$1 node=$2
  shift 2
  srun --nodes=1 --ntasks=1 --nodelist="$node" --output="$RL_LOG_DIR/$name-%N.log" --open-mode=append "$@" &
  RL_SERVICE_PIDS+=("$!")
}

# rl_wait_ready URL...: until each answers 200; gives up early when a server's srun has exited.
rl_wait_ready() {
  local watch=() pid
  for pid in "${RL_SERVICE_PIDS[@]}"; do watch+=(--watch-pid "$pid"); done
  "$RL_PY" -m rltrain wait-ready --timeout "${RLTRAIN_SERVER_TIMEOUT:-1800}" "${watch[@]}" "$@" \
    || rl_die "servers not healthy: $*; see their logs in $RL_LOG_DIR"
}

# rl_start_servers: the sandbox and reward-model servers (their URLs were exported by rl_setup),
# shared by every stage.
rl_start_servers() {
  local urls=()
  if [ -n "${RL_SANDBOX_NODE:-}" ]; then
    rl_service sandbox "$RL_SANDBOX_NODE" "$RL_PY" -m rltrain sandbox serve --host 0.0.0.0 \
      --port "${RLTRAIN_SANDBOX_PORT:-8600}" --workers "${RLTRAIN_SANDBOX_WORKERS:-$(nproc)}"
    urls+=("$RLTRAIN_SANDBOX_URL/health")
  fi
  if [ -n "${RL_RM_NODE:-}" ]; then
    rl_service rm "$RL_RM_NODE" "$RL_PY" -m rltrain rm serve "$RL_RM_MODEL" --host 0.0.0.0 --port "${RLTRAIN_RM_PORT:-8081}"
    urls+=("$RLTRAIN_RM_URL/health")
  fi
  [ ${#urls[@]} -eq 0 ] || rl_wait_ready "${urls[@]}"
}

# rl_start_vllm: a generation server for one stage (RLTRAIN_VLLM_MODEL, from rl_plan); its srun pid
# goes to RL_VLLM_PID. Recipes reach it through ${RLTRAIN_VLLM_HOST} and ${RLTRAIN_VLLM_PORT}.
# `trl` is the one installed beside RL_PY (a virtual environment need not be activated), else PATH's.
rl_start_vllm() {
  local tp=${RLTRAIN_VLLM_TP:-${SLURM_GPUS_ON_NODE:-1}} extra=() trl=trl
  [ -n "${RL_VLLM_NODE:-}" ] || rl_die "the recipe uses grpo.vllm_mode: server; submit with --vllm-node"
  case "$RL_PY" in */*) [ ! -x "${RL_PY%/*}/trl" ] || trl=${RL_PY%/*}/trl ;; esac
  [ -z "${RLTRAIN_VLLM_MAX_MODEL_LEN:-}" ] || extra+=(--max_model_len "$RLTRAIN_VLLM_MAX_MODEL_LEN")
  srun --nodes=1 --ntasks=1 --nodelist="$RL_VLLM_NODE" --output="$RL_LOG_DIR/vllm-%N.log" --open-mode=append \
    "$trl" vllm-serve --model "$RLTRAIN_VLLM_MODEL" --tensor_parallel_size "$tp" --host 0.0.0.0 \
    --port "$RLTRAIN_VLLM_PORT" "${extra[@]}" &
  RL_VLLM_PID=$!
  RL_SERVICE_PIDS+=("$RL_VLLM_PID")
  rl_wait_ready "http://$RL_VLLM_NODE:$RLTRAIN_VLLM_PORT/health/"
}

rl_stop_vllm() {
  [ -n "${RL_VLLM_PID:-}" ] || return 0
  kill -TERM "$RL_VLLM_PID" 2>/dev/null || true
  wait "$RL_VLLM_PID" 2>/dev/null || true
  RL_VLLM_PID=""
}

# rl_plan [--stage NAME]: what rltrain says about RL_FILE (RLTRAIN_KIND, RLTRAIN_STAGES, ...).
rl_plan() {
  local plan
  plan=$("$RL_PY" -m rltrain slurm-plan "$RL_FILE" "$@" "${RL_EXTRA[@]}") || rl_die "rltrain slurm-plan $RL_FILE failed"
  eval "$plan"
  if [ -n "${SLURM_GPUS_ON_NODE:-}" ] && [ -n "${RLTRAIN_PROCESSES_PER_NODE:-}" ] \
     && [ "$SLURM_GPUS_ON_NODE" != "$RLTRAIN_PROCESSES_PER_NODE" ]; then
    rl_log "warning: SLURM gave $SLURM_GPUS_ON_NODE GPUs per node, the recipe runs $RLTRAIN_PROCESSES_PER_NODE processes" \
           "(pass -- --processes-per-node $SLURM_GPUS_ON_NODE to use them all)"
  fi
}

# rl_train RLTRAIN_ARGS...: one `rltrain` command on every trainer node (machine rank = task rank),
# waited for through preemption signals. Returns the step's exit status (75: stopped and saved).
rl_train() {
  local nodes=${#RL_TRAINERS[@]} list status
  if [ "$RL_PREEMPTED" = 1 ]; then  # a stop came before this step started: requeue instead of training
    rl_log "stop requested before training started: not starting rltrain $*"
    return 75
  fi
  list=$(IFS=,; echo "${RL_TRAINERS[*]}")
  rl_log "training: rltrain $* on $nodes node(s)"
  # Each node writes its own exit status: srun reports the highest over the tasks, and when one task
  # ends (the head stopping with 75, or any task failing) it ends the others, whose 143 would hide it.
  export RL_STATUS_FILE="$RL_LOG_DIR/.exit-$SLURM_JOB_ID"
  rm -f "$RL_STATUS_FILE".*
  # shellcheck disable=SC2016  # $SLURM_PROCID and $RL_STATUS_FILE must expand in each task, not here
  srun --nodes="$nodes" --ntasks="$nodes" --ntasks-per-node=1 --nodelist="$list" --kill-on-bad-exit=1 \
    --output="$RL_LOG_DIR/train-%N.log" --open-mode=append \
    bash -c 'exec "$0" -m rltrain "$@" --machine-rank "$SLURM_PROCID" --status-file "$RL_STATUS_FILE.$SLURM_PROCID"' \
    "$RL_PY" "$@" --num-machines "$nodes" --main-process-ip "$RL_HEAD" --main-process-port "$RL_PORT" \
    --rendezvous-timeout "${RLTRAIN_RENDEZVOUS_TIMEOUT:-14400}" &
  RL_TRAIN_PID=$!
  status=0
  rl_wait "$RL_TRAIN_PID" || status=$?
  RL_TRAIN_PID=""
  local file own
  if [ "$(cat "$RL_STATUS_FILE.0" 2>/dev/null)" = 75 ]; then
    status=75  # the head stopped and saved
  elif [ "$status" != 0 ]; then
    # A task's own failure status, not the 143 of the tasks srun ended after it (ranks in order).
    for file in "$RL_STATUS_FILE".*; do
      own=$(cat "$file" 2>/dev/null) || continue
      if [ -n "$own" ] && [ "$own" != 0 ] && [ "$own" != 143 ]; then status=$own; break; fi
    done
  fi
  return "$status"
}

# rl_finish STATUS: requeue a stopped job, or end with the step's status.
rl_finish() {
  local status=$1
  if [ "$status" = 75 ] || { [ "$RL_PREEMPTED" = 1 ] && [ "$status" != 0 ]; }; then
    rl_cleanup
    rl_log "stopped (status $status): requeueing job $SLURM_JOB_ID; it resumes from the newest complete checkpoint"
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
  fi
  if [ "$status" = 0 ]; then rl_log "finished"; else rl_log "failed with status $status; see $RL_LOG_DIR"; fi
  exit "$status"
}
