#!/usr/bin/env bash
# tools/ci-example.sh as CI runs it: on its own the job passes and writes a
# JUnit report without failures; with a broken file added (an int32 bias
# at the wrong scale) it fails, and that file's report fails QDQ016.
# usage: ci_example.sh QFD_ONNX REPO_ROOT WORK_DIR
set -euo pipefail
qfd=$1 root=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
export QFD_ONNX=$qfd

"$root/tools/ci-example.sh" "$work/good" || fail "the example job fails on the model it quantizes"
xml=$work/good/junit/resnet20.w8a8.xml
grep -q '<testsuite name="qfd-onnx check ' "$xml" || fail "no JUnit report at $xml"
! grep -q '<failure' "$xml" || fail "the good model's report has failures"

rc=0
"$root/tools/ci-example.sh" "$work/broken" "$root/tests/data/check/bias_scale_off.onnx" || rc=$?
[[ $rc == 1 ]] || fail "the example job exits $rc with a broken file, expected 1"
grep -q '<failure type="QDQ016"' "$work/broken/junit/bias_scale_off.xml" || fail "the broken file's report does not fail QDQ016"
echo "ci-example.sh: passes a good model, fails a broken one (QDQ016 in its JUnit report)"
