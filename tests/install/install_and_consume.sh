#!/usr/bin/env bash
# Installs imc into a fresh prefix, moves the prefix (the installation must not depend on where
# it was installed), builds a program outside the tree against find_package(imc CONFIG), runs it,
# and runs the installed `imc` from another folder with the source-tree fallback disabled.
# usage: install_and_consume.sh CMAKE BUILD_DIR WORK_DIR CONSUMER_SRC SOURCE_DIR CXX [LAUNCHER [SANITIZE]]
# SANITIZE (e.g. address,undefined): the installed static libraries are instrumented, so the
# consumer links the same sanitizer runtimes (an IMC_SANITIZE build).
set -euo pipefail
cmake=$1 build=$2 work=$3 consumer=$4 source=$5 cxx=$6 launcher=${7:-} sanitize=${8:-}
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
  ${sanitize:+-DCMAKE_CXX_FLAGS=-fsanitize=$sanitize -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=$sanitize} \
  >"$work/consumer-configure.log" || { cat "$work/consumer-configure.log"; exit 1; }
"$cmake" --build "$work/consumer-build" -j2 >"$work/consumer-build.log" 2>&1 || { tail -n 40 "$work/consumer-build.log"; exit 1; }

step "consumer: run (IMC_DATA_DIR=$prefix/share/imc)"
mkdir "$work/run-consumer"
(cd "$work/run-consumer" && IMC_DATA_DIR="$prefix/share/imc" "$work/consumer-build/consumer")

# The installed imc from another folder. By default the demo's stages that read shipped data, kept
# small (the whole demo takes 45-60 s on 2 shared cores): SPICE on a built-in cell from
# netlists/models (demo stage 2), the language model from models/ and fits/ (stage 4), the letter
# shift on the memristor fits (stage 5). IMC_INSTALL_TEST_DEMO=full runs `imc demo` itself.
mkdir "$work/run-imc"
cd "$work/run-imc"
imc=$prefix/bin/imc
data=$prefix/share/imc
expect() { grep -qF "$2" "$1" || { echo "FAIL: $1 lacks $2"; cat "$1"; exit 1; }; }
if [ "${IMC_INSTALL_TEST_DEMO:-}" = full ]; then
  step "installed imc demo from $work/run-imc"
  "$imc" demo --workers 2 | tee demo.log
  expect demo.log "fits: \"$data/fits\""
  expect demo.log "[5] Letter shift"
else
  step "installed imc characterize rp-lsh (built-in self-selective cell)"
  "$imc" characterize rp-lsh --size 16x4 --vectors 4 --workers 2 --json >rp-lsh.json
  cat rp-lsh.json
  expect "$(ls results/memristor-rp-lsh-*/decks/rplsh_map.cir)" "$data/netlists/models/memristor/selfsel.lib"
  step "installed imc infer --workload lm --attention gaincell (shipped weights and fits)"
  "$imc" infer --workload lm --attention gaincell --json >lm.json
  cat lm.json
  expect lm.json "\"fits\":\"$data/fits\""
  expect lm.json "\"weights\":\"$data/models/char-lm-linear.safetensors\""
  # The shipped weights, not a fresh model (about 256 for untrained weights; the README gives 14.0).
  perplexity=$(grep -o '"perplexity":[0-9.]*' lm.json | cut -d: -f2)
  awk -v p="$perplexity" 'BEGIN { exit !(p > 1 && p < 20) }' || { echo "FAIL: perplexity $perplexity"; exit 1; }
  step "installed imc infer --workload letters (shipped memristor fits)"
  "$imc" infer --workload letters --json >letters.json
  cut -c1-300 letters.json
  expect letters.json "\"fits\":\"$data/fits/memristor-c2c.json\""
fi
for folder in fits models netlists; do
  if grep -rqF "$source/$folder" --include=*.json --include=*.log --include=*.cir .; then
    echo "FAIL: the installed imc read $source/$folder, not the installation"; exit 1
  fi
done
step "done"
