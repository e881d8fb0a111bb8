# Sourced by the device scripts (run.sh, train_pack.sh): one step of a run with a time limit, its output added to
# "$LOG" (and stderr), its exit code and seconds remembered as a JSON object in the array STATUS.
step() {  # name, timeout in s, command...
  local name="$1" limit="$2"; shift 2
  local t0=$SECONDS
  echo "=== $name: $*" | tee -a "$LOG" >&2
  timeout "$limit" "$@" > >(tee -a "$LOG" >/dev/null) 2> >(tee -a "$LOG" >&2)
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$LOG" >&2
  STATUS+=("{\"step\": \"$name\", \"exit\": $rc, \"s\": $((SECONDS - t0))}")
  return $rc
}
