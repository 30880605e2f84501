#!/usr/bin/env bash
# Builds the crossbar Monte-Carlo driver a second time, as a plain build (no -march=native) of
# the same sources, runs the same small Monte-Carlo with it, with this build's driver and with this
# build's `imc characterize crossbar-mc`, and compares the results folders byte for byte: folder
# key, results.csv (all but the wall_s column, each run's own timing) and every deck.
# usage: portable_numbers.sh CMAKE SOURCE_DIR PLAIN_BUILD WORK_DIR NATIVE_DRIVER NATIVE_IMC NATIVE_FLAG CXX [LAUNCHER]
set -euo pipefail
cmake=$1 source=$2 pbuild=$3 work=$4 native_driver=$5 native_imc=$6 native_flag=$7 cxx=$8 launcher=${9:-}
t0=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - t0 )) s)"; }
fail() { echo "FAIL: $*"; exit 1; }

if [ "$native_flag" = none ]; then
  echo "note: this build is not -march=native, so both builds are plain; the comparison still runs"
fi
if [ ! -f "$pbuild/CMakeCache.txt" ]; then
  step "configure the plain build of the driver in $pbuild"
  mkdir -p "$pbuild"
  "$cmake" -S "$source/tests/portable/driver" -B "$pbuild" -DCMAKE_BUILD_TYPE=Release -DIMC_SOURCE_DIR="$source" \
    -DCMAKE_CXX_COMPILER="$cxx" ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"} \
    >"$pbuild/configure.log" 2>&1 || { cat "$pbuild/configure.log"; exit 1; }
fi
step "build the plain driver"
"$cmake" --build "$pbuild" -j2 >"$pbuild/build.log" 2>&1 || { tail -n 40 "$pbuild/build.log"; exit 1; }
plain_driver=$pbuild/portable_crossbar_mc
# The plain build must be plain, and this one (the folder above PLAIN_BUILD) native with the draw
# stages uncontracted, or the test compares something else than it says.
if grep -rq --include=flags.make -e "-march=native" "$pbuild/CMakeFiles"; then fail "$pbuild compiles with -march=native"; fi
flags=$(dirname "$pbuild")/lib
grep -q -e "-ffp-contract=off" "$flags/characterize/CMakeFiles/imc_characterize.dir/flags.make" \
  || fail "lib/characterize is not compiled with -ffp-contract=off"
if grep -q -e "-march=native" "$flags/variability/CMakeFiles/imc_variability.dir/flags.make"; then
  fail "lib/variability is compiled with -march=native"
fi
if [ "$native_flag" != none ]; then
  grep -q -e "$native_flag" "$flags/characterize/CMakeFiles/imc_characterize.dir/flags.make" \
    || fail "this build's lib/characterize lacks $native_flag"
fi

rm -rf "$work"
mkdir -p "$work/native" "$work/plain" "$work/imc"
# 6x6 cells, 5 samples: 180 lognormal draws, a second of SPICE per run.
size=6 samples=5 seed=11 sigma=0.4
step "native driver (this build, $native_flag)"
"$native_driver" "$work/native/results" $size $samples $seed $sigma >"$work/native/dir.txt"
step "plain driver"
"$plain_driver" "$work/plain/results" $size $samples $seed $sigma >"$work/plain/dir.txt"
step "imc characterize crossbar-mc (this build)"
(cd "$work/imc" && "$native_imc" characterize crossbar-mc --size $size --samples $samples --seed $seed --sigma $sigma \
   --workers 2 --json >run.json)

folder() { local d=("$1"/results/crossbar-mc-*); [ ${#d[@]} -eq 1 ] && [ -d "${d[0]}" ] || fail "no single results folder in $1"; echo "${d[0]}"; }
strip_wall() { # results.csv without the wall_s column
  awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "wall_s") w = i; if (!w) { print "no wall_s column" > "/dev/stderr"; exit 1 } }
           { out = ""; for (i = 1; i <= NF; ++i) if (i != w) out = out (out == "" ? "" : ",") $i; print out }' "$1"
}
n=$(folder "$work/native")
strip_wall "$n/results.csv" >"$work/native.csv"
rows=$(($(wc -l <"$work/native.csv") - 1))
[ "$rows" -eq $samples ] || fail "expected $samples rows, got $rows"
for other in plain imc; do
  o=$(folder "$work/$other")
  [ "$(basename "$n")" = "$(basename "$o")" ] || fail "folder keys differ: native $(basename "$n"), $other $(basename "$o")"
  strip_wall "$o/results.csv" >"$work/$other.csv"
  cmp "$work/native.csv" "$work/$other.csv" || { diff "$work/native.csv" "$work/$other.csv" | head -n 20; fail "results.csv differs (native vs $other)"; }
  diff -r "$n/decks" "$o/decks" >/dev/null || fail "decks differ (native vs $other)"
  echo "native vs $other: folder key $(basename "$n"), $rows rows of results.csv, $(ls "$n/decks" | wc -l) decks: the same bytes"
done
head -n 3 "$work/native.csv"
step "done"
