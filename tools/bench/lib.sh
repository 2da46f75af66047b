# shellcheck shell=bash
# What tools/bench/zoo.sh and tools/bench/qat.sh share, sourced at their
# top: the paths (Debian's python3, the qfd-onnx binary, the zoo cache, the
# caller's folder for relative paths), the working folder (the repository),
# one JSON record per measurement, and the header that labels a log with
# the machine, the build and the commit.
PY=/usr/bin/python3
BIN=${QFD_BIN:-build/src/qfd-onnx}
[[ $BIN == /* || ! -e $BIN ]] || BIN=$(realpath "$BIN") # relative to the caller's folder
# shellcheck disable=SC2034 # the scripts resolve their --save paths against it
caller=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
CACHE=${QFD_ZOO_CACHE:-$HOME/.cache/qfd-onnx/zoo}
export QFD_ZOO_CACHE=$CACHE

# one JSON record a measurement, appended to $results: model, case, engine,
# and what it printed or why it failed
record() { # model case engine json-or-empty errfile
  # shellcheck disable=SC2154 # results: the script's file of records
  "$PY" - "$@" >>"$results" <<'PYEOF'
import json, sys
model, case, engine, out, err = sys.argv[1:6]
try:
    r = json.loads(out.strip().splitlines()[-1])
except (ValueError, IndexError):
    lines = open(err, errors="replace").read().strip().splitlines()
    r = {"error": lines[-1] if lines else "no output"}
r.pop("model", None)  # qfd-onnx's JSON names the file
print(json.dumps({"model": model, "case": case, "engine": engine, **r}))
PYEOF
}

# The first lines of a log, so that a partial one is labelled: the script,
# date and commit; the CPU and its AVX-512/VNNI/AMX flags; the binary and
# its build, then the peers (the arguments, printed after it).
header() { # script-name peers...
  local cpu flags cache build="?" commit
  cpu=$(lscpu | sed -n 's/^Model name: *//p')
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  cache=$(dirname "$(dirname "$BIN")")/CMakeCache.txt
  if [[ -f $cache ]]; then
    build="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache"), QFD_NO_AVX512=$(sed -n 's/^QFD_NO_AVX512:[A-Z]*=//p' "$cache")"
  fi
  has() { [[ $flags == *" $1 "* ]] && echo yes || echo no; }
  commit="$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo +uncommitted)"
  echo "$1 $(date -u '+%F %H:%M UTC'), commit $commit"
  echo "cpu: $cpu, $(nproc) cores; avx512f $(has avx512f), avx512_vnni $(has avx512_vnni), amx $(has amx_tile)"
  shift
  echo "qfd-onnx: $BIN ($build); $*"
}

# a peer's version, or ? when it cannot say
torch_version() { "$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?'; }
