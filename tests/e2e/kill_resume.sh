# Sourced by the end-to-end tests of train and quantize.
#
# kill_until_done CKPT_DIR OUT LOG CMD...: runs CMD (adding --checkpoint
# CKPT_DIR, and --resume CKPT_DIR once a checkpoint exists) and kills it with
# SIGKILL a random 0-250 ms after its k-th progress line (k = 1..4, one line
# a step), so every attempt gets somewhere and the kill lands anywhere in a
# step or a checkpoint save; again until a run finishes and writes OUT.
# Progress lines are those matching KILL_PATTERN (default ^epoch; "epoch"
# also counts the "teacher epoch" lines of quantize's stage 1).
# Any exit other than 0 or 137 (a broken checkpoint) fails. Sets $kills.
# RANDOM should be seeded by the caller, for a repeatable run.
kill_until_done() {
  local ck=$1 out=$2 log=$3 attempt pid k rc
  shift 3
  kills=0
  for attempt in $(seq 60); do
    local resume=()
    [[ -e "$ck/checkpoint.bin" ]] && resume=(--resume "$ck")
    : >"$log"
    "$@" --checkpoint "$ck" "${resume[@]}" -o "$out" >/dev/null 2>"$log" &
    pid=$!
    k=$((1 + RANDOM % 4))
    while kill -0 $pid 2>/dev/null && (($(grep -c "${KILL_PATTERN:-^epoch}" "$log") < k)); do sleep 0.02; done
    sleep "$(printf '0.%03d' $((RANDOM % 250)))"
    kill -KILL $pid 2>/dev/null || true
    rc=0
    wait $pid 2>/dev/null || rc=$?
    [[ $rc == 0 ]] && break
    [[ $rc == 137 ]] || { cat "$log"; fail "attempt $attempt: exit $rc (a broken checkpoint?)"; }
    kills=$((kills + 1))
  done
  [[ -e "$out" ]] || fail "not finished after 60 attempts"
  ((kills >= 3)) || fail "only $kills kills landed; the run is too short for this test"
}
