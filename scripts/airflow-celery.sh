#!/usr/bin/env bash
# Airflow with the CeleryExecutor on this machine: Redis (the OS package redis-server) as the broker,
# a scheduler, a DAG processor, a triggerer, the API server and two Celery workers with distinct
# hostnames, each a background process with its own log. The same layout as docker-compose.yaml,
# without containers. `make airflow-celery` / `make airflow-celery-stop` call it; so does
# tests/test_celery.py, with its own ports and AIRFLOW_HOME.
#
#   scripts/airflow-celery.sh start     # start everything, wait until Redis, the API server and both workers answer
#   scripts/airflow-celery.sh stop      # stop what `start` started (by the pids it recorded), Redis last
#   scripts/airflow-celery.sh status    # which components run
#
# Settings (environment):
#   AIRFLOW__DATABASE__SQL_ALCHEMY_CONN  required: the metadata database (postgresql+psycopg2://...); Celery
#                                        keeps its task results there too (table celery_taskmeta)
#   AIRFLOW_HOME                         default .local/airflow
#   CELERY_RUN_DIR                       pid files and Redis' working dir; default $AIRFLOW_HOME/celery
#   CELERY_LOG_DIR                       one log per component; default .local/logs
#   REDIS_PORT                           default 6379
#   API_PORT                             default 8080
#   LOG_SERVER_PORT                      first of three ports: the triggerer's and each worker's task-log server
#                                        (default 8793, 8794, 8795)
#   WORKER_CONCURRENCY                   task slots per worker; default half the cores (at least 1), so the
#                                        two workers together run no more tasks than the machine has cores
#   START_TIMEOUT                        seconds to wait for the components to answer; default 180
#   VENV_BIN                             the virtualenv's bin folder (airflow, celery); default .venv/bin
#
# The pipeline's own settings (PIPELINE_*) are passed through to the tasks unchanged.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="${VENV_BIN:-$REPO/.venv/bin}"
AIRFLOW="$VENV_BIN/airflow"

export AIRFLOW_HOME="${AIRFLOW_HOME:-$REPO/.local/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$REPO/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$REPO/plugins}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
RUN_DIR="${CELERY_RUN_DIR:-$AIRFLOW_HOME/celery}"
LOG_DIR="${CELERY_LOG_DIR:-$REPO/.local/logs}"
REDIS_PORT="${REDIS_PORT:-6379}"
API_PORT="${API_PORT:-8080}"
LOG_SERVER_PORT="${LOG_SERVER_PORT:-8793}"
CORES="$(nproc)"
WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-$(( CORES / 2 > 0 ? CORES / 2 : 1 ))}"
START_TIMEOUT="${START_TIMEOUT:-180}"
WORKERS=(worker1 worker2)
# Start order; `stop` goes backwards, so Redis and the API server outlive the workers' last reports.
COMPONENTS=(redis api-server scheduler dag-processor triggerer "${WORKERS[@]}")

die() { echo "airflow-celery: $*" >&2; exit 1; }

pid_of() {  # the recorded pid of a component, if that process still runs
  local file="$RUN_DIR/$1.pid" pid
  [ -f "$file" ] || return 1
  pid="$(cat "$file")"
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

settings() {
  [ -n "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ] ||
    die "set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN to the metadata database (make airflow-celery does)"
  export PATH="$VENV_BIN:$PATH"
  export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
  export AIRFLOW__CELERY__BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
  # Celery's database result backend in the metadata database; `result_extended` makes it record the
  # worker that ran each task (celery_taskmeta.worker, joined to task_instance.external_executor_id).
  export AIRFLOW__CELERY__RESULT_BACKEND="db+${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN/+psycopg2/}"
  export AIRFLOW__CELERY__EXTRA_CELERY_CONFIG='{"result_extended": true}'
  export AIRFLOW__CELERY__WORKER_CONCURRENCY="$WORKER_CONCURRENCY"
  # A task not acknowledged within this time is handed to another worker: far above any task's run time.
  export AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT=86400
  export AIRFLOW__CORE__PARALLELISM="$CORES"  # no more task slots than cores
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
  # Tasks report to the API server, which shares the cores with them: wait for it longer than the 5 s default.
  export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-30}"
  export AIRFLOW__API__BASE_URL="http://127.0.0.1:$API_PORT"
  export AIRFLOW__API__HOST=127.0.0.1
  export AIRFLOW__API__PORT="$API_PORT"
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS:-True}"
  export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="$LOG_SERVER_PORT"
  # Every component that signs or checks task tokens needs the same secret; one per start.
  if [ ! -s "$RUN_DIR/jwt_secret" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$RUN_DIR/jwt_secret")
  fi
  AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$RUN_DIR/jwt_secret")"
  export AIRFLOW__API_AUTH__JWT_SECRET
}

launch() {  # launch NAME COMMAND...: run in its own session (so stop reaches its children), log, record the pid
  local name="$1"; shift
  if pid_of "$name" >/dev/null; then echo "  $name already runs (pid $(pid_of "$name"))"; return; fi
  setsid "$@" >"$LOG_DIR/airflow-celery-$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN_DIR/$name.pid"
  echo "  $name: pid $!, log $LOG_DIR/airflow-celery-$name.log"
}

wait_until() {  # wait_until WHAT COMMAND...: poll until the command succeeds; fail if it times out or a component died
  local what="$1" deadline=$((SECONDS + START_TIMEOUT)) name; shift
  until "$@" >/dev/null 2>&1; do
    for name in "${COMPONENTS[@]}"; do
      if [ -f "$RUN_DIR/$name.pid" ] && ! pid_of "$name" >/dev/null; then
        tail -n 20 "$LOG_DIR/airflow-celery-$name.log" >&2
        die "$name exited while starting; its log: $LOG_DIR/airflow-celery-$name.log (stop the rest: $0 stop)"
      fi
    done
    if (( SECONDS > deadline )); then die "$what did not answer within ${START_TIMEOUT}s; see $LOG_DIR/airflow-celery-*.log"; fi
    sleep 1
  done
}

worker_ready() {  # the worker's log says Celery is consuming (a cheap check; `celery inspect` costs a process)
  grep -q "$1@.* ready" "$LOG_DIR/airflow-celery-$1.log"
}

start() {
  command -v redis-server >/dev/null || die "redis-server not found: install the OS package (make redis-server)"
  [ -x "$AIRFLOW" ] || die "$AIRFLOW not found: run make install, or set VENV_BIN"
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  settings
  echo "starting Airflow (CeleryExecutor, $WORKER_CONCURRENCY slot(s) per worker) in $AIRFLOW_HOME"
  # A throwaway broker: queued task messages are also in the metadata database's task state.
  launch redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN_DIR" --save "" --appendonly no
  wait_until "Redis on port $REDIS_PORT" redis-cli -p "$REDIS_PORT" ping
  launch api-server "$AIRFLOW" api-server --host 127.0.0.1 --port "$API_PORT" --workers 1
  launch scheduler "$AIRFLOW" scheduler
  launch dag-processor "$AIRFLOW" dag-processor
  launch triggerer "$AIRFLOW" triggerer
  local i=0 name
  for name in "${WORKERS[@]}"; do
    i=$((i + 1))
    AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=$((LOG_SERVER_PORT + i)) \
      launch "$name" "$AIRFLOW" celery worker --celery-hostname "$name@%h" --concurrency "$WORKER_CONCURRENCY"
  done
  wait_until "the API server on port $API_PORT" curl -sf "http://127.0.0.1:$API_PORT/api/v2/version"
  for name in "${WORKERS[@]}"; do wait_until "Celery $name" worker_ready "$name"; done
  echo "Airflow (CeleryExecutor) runs: http://127.0.0.1:$API_PORT; stop it with: $0 stop"
}

terminate() {  # terminate NAME...: TERM each one's whole session (the component and the processes it
  # forked: task runners, log servers), wait up to 30 s for all of them, then KILL what is left
  local name pid pids=() deadline
  for name in "$@"; do
    if pid="$(pid_of "$name")"; then kill -TERM -- "-$pid" 2>/dev/null || true; pids+=("$pid"); echo "  stopping $name (pid $pid)"; fi
  done
  deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 1; done
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for name in "$@"; do rm -f "$RUN_DIR/$name.pid"; done
}

stop() {
  # Airflow first, all at once (a running task is interrupted and retried by its next run); Redis last.
  terminate "${COMPONENTS[@]:1}"
  terminate redis
  rm -f "$RUN_DIR/jwt_secret"
}

status() {
  local name running=0
  for name in "${COMPONENTS[@]}"; do
    if pid="$(pid_of "$name")"; then echo "  $name: runs (pid $pid)"; running=$((running + 1)); else echo "  $name: stopped"; fi
  done
  [ "$running" -eq "${#COMPONENTS[@]}" ]
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
