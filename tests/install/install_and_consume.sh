#!/usr/bin/env bash
# Installs imc into a fresh prefix, moves the prefix (the installation must not depend on where
# it was installed), builds a program outside the tree against find_package(imc CONFIG), runs it,
# and runs the installed `imc demo` from another folder with the source-tree fallback disabled.
# usage: install_and_consume.sh CMAKE BUILD_DIR WORK_DIR CONSUMER_SRC SOURCE_DIR CXX [LAUNCHER]
set -euo pipefail
cmake=$1 build=$2 work=$3 consumer=$4 source=$5 cxx=$6 launcher=${7:-}
rm -rf "$work"
mkdir -p "$work"
step() { echo "== $* ($(( $(date +%s) - t0 )) s)"; }
t0=$(date +%s)

step "cmake --install $build"
"$cmake" --install "$build" --prefix "$work/staged" >"$work/install.log"
mv "$work/staged" "$work/prefix"
prefix=$work/prefix
for f in bin/imc lib/libimc_nn.a lib/cmake/imc/imcConfig.cmake include/imc/fit/fit.hpp include/imc/datadir/datadir.hpp \
         share/imc/fits/gaincell-poly.json share/imc/models/char-lm.safetensors \
         share/imc/netlists/models/ptm-32nm-hp.pm share/imc/netlists/examples/user-cell/rram.job.json; do
  [ -e "$prefix/$f" ] || { echo "FAIL: the installation lacks $f"; exit 1; }
done

# Neither the program nor imc may fall back to the source tree: only the installation counts.
export IMC_NO_SOURCE_TREE=1
unset IMC_DATA_DIR

step "consumer: configure and build against find_package(imc CONFIG)"
cp -r "$consumer" "$work/consumer-src"
"$cmake" -S "$work/consumer-src" -B "$work/consumer-build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"} \
  >"$work/consumer-configure.log" || { cat "$work/consumer-configure.log"; exit 1; }
"$cmake" --build "$work/consumer-build" -j2 >"$work/consumer-build.log" 2>&1 || { tail -n 40 "$work/consumer-build.log"; exit 1; }

step "consumer: run (IMC_DATA_DIR=$prefix/share/imc)"
mkdir "$work/run-consumer"
(cd "$work/run-consumer" && IMC_DATA_DIR="$prefix/share/imc" "$work/consumer-build/consumer")

step "installed imc demo from $work/run-demo"
mkdir "$work/run-demo"
(cd "$work/run-demo" && "$prefix/bin/imc" demo --workers 2) | tee "$work/demo.log"
grep -q "fits: \"$prefix/share/imc/fits\"" "$work/demo.log" || { echo "FAIL: demo did not read the installed fits"; exit 1; }
grep -q "^\[5\]" "$work/demo.log" || { echo "FAIL: demo did not reach its last stage"; exit 1; }
for data in fits models netlists; do
  if grep -qF "$source/$data" "$work/demo.log"; then echo "FAIL: demo read $source/$data, not the installation"; exit 1; fi
done
step "done"
