#!/usr/bin/env bash
# Lays out every tracked C file as .clang-format says (the lint.clang_format
# test checks the same).
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files '*.c' '*.h' | xargs clang-format -i
