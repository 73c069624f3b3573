# Sourced by the issue run queues (benchmarks/runs/issue*/run.sh): `job NAME LEARNER DATA N OFFSET FLAGS...` runs
# one `bench knowledge` into $HERE/NAME.json unless that exists or another lane has claimed it (a folder under
# $HERE/claims), in a scratch workspace; its log is kept only when it fails. Set HERE before sourcing.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$HERE/claims"
job() {
  local name=$1 learner=$2 data=$3 n=$4 off=$5; shift 5
  [ -f "$HERE/$name.json" ] && return
  mkdir "$HERE/claims/$name" 2>/dev/null || return
  local ws; ws=$(mktemp -d)
  if ${PYTHON:-.venv/bin/python} -m seal_desk --learner "$learner" --workspace "$ws" bench knowledge --data "$data" \
      --n "$n" --offset "$off" --qa-prompt "$@" --json "$HERE/$name.json" > "$HERE/$name.log" 2>&1; then
    rm -f "$HERE/$name.log"
  fi
  rmdir "$HERE/claims/$name"; rm -rf "$ws"
}
