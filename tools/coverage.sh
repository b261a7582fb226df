#!/usr/bin/env bash
# Line coverage of Sources/ from every process a test run started: the test
# bundle and each `vimana` it ran (servers, CLI commands), whose profiles the
# instrumented build wrote into PROFILE_DIR (LLVM_PROFILE_FILE, see the
# Makefile's `coverage` target). Merges them, writes the per-file table to
# PROFILE_DIR/report.txt, and prints the lowest files and the total.
#   tools/coverage.sh BIN_DIR PROFILE_DIR
set -euo pipefail

bin="$1"
dir="$2"
# The profile format belongs to the compiler that built the binaries: use the
# toolchain's own llvm-profdata and llvm-cov, not whatever LLVM is on PATH.
tools="$(dirname "$(readlink -f "$(command -v swift)")")"
root="$(cd "$(dirname "$0")/.." && pwd)"

shopt -s nullglob
profiles=("$dir"/*.profraw)
if [ "${#profiles[@]}" -eq 0 ]; then
    echo "coverage: no profiles in $dir (was the build instrumented?)" >&2
    exit 1
fi
"$tools/llvm-profdata" merge -sparse "${profiles[@]}" -o "$dir/merged.profdata"

# Both binaries: the test bundle links the libraries, `vimana` adds the CLI.
objects=("$bin/vimanaPackageTests.xctest" -object "$bin/vimana")
"$tools/llvm-cov" report -instr-profile "$dir/merged.profdata" "${objects[@]}" "$root/Sources" >"$dir/report.txt"
"$tools/llvm-cov" export -summary-only -instr-profile "$dir/merged.profdata" "${objects[@]}" "$root/Sources" \
    >"$dir/summary.json"

python3 - "$dir/summary.json" "$root/" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["data"][0]
root = sys.argv[2]
files = sorted((f["summary"]["lines"]["percent"], f["summary"]["lines"]["count"] - f["summary"]["lines"]["covered"],
                f["filename"].replace(root, "")) for f in data["files"])
print("coverage: the 10 files with the lowest line coverage (percent, lines not run):")
for percent, missed, name in files[:10]:
    print(f"  {percent:5.1f}%  {missed:5d}  {name}")
lines = data["totals"]["lines"]
print(f"coverage: {lines['percent']:.1f}% of lines in Sources/ ({lines['covered']} of {lines['count']}), "
      f"tests and the servers they started")
PY
