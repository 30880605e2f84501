#!/usr/bin/env bash
# report.html in a browser: runs `imc characterize gaincell-array` and `imc infer --report` on
# small configurations, opens each page in headless Chromium and checks from the DOM Chromium
# ended with that the page loaded and every plot decoded (each <img> marks itself
# data-loaded="yes" on load, "no" on error), and that the page shows every PNG of its folder.
# usage: browser_report.sh IMC WORK_DIR      exit 77 (skipped) when chromium is not installed
set -euo pipefail
imc=$1 work=$2
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIP: chromium is not installed (tools/setup/install-deps.sh --browser installs Debian's chromium)"
  exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work"
mkdir -p "$work"
cd "$work"
t0=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - t0 )) s)"; }

step "imc characterize gaincell-array --size 2x2"
"$imc" characterize gaincell-array --size 2x2 --samples 1 --workers 2 --out array --json >array.json
step "imc infer --report (256 held-out bytes)"
"$imc" infer --workload lm --report --tokens 256 --plot lm/lm-finetune.png --json >lm.json

check() { # check PAGE_DIR EXPECTED_PNG_COUNT
  local dir=$1 want=$2 page=$1/report.html
  [ -f "$page" ] || fail "no $page"
  step "chromium --headless --dump-dom $page"
  "$browser" --headless --disable-gpu --no-sandbox --user-data-dir="$work/profile" --dump-dom "file://$PWD/$page" \
    >"$dir/dom.html" 2>"$dir/chromium.log" || { tail -n 20 "$dir/chromium.log"; fail "chromium could not open $page"; }
  grep -q "</html>" "$dir/dom.html" || fail "chromium returned no page for $page"
  local imgs loaded broken
  count() { { grep -o "$1" "$dir/dom.html" || true; } | wc -l; }
  imgs=$(count "<img ") loaded=$(count 'data-loaded="yes"') broken=$(count 'data-loaded="no"')
  [ "$imgs" -eq "$want" ] || fail "$page shows $imgs plots, the folder holds $want PNGs"
  [ "$loaded" -eq "$imgs" ] && [ "$broken" -eq 0 ] || fail "$page: $loaded of $imgs plots loaded, $broken broken"
  # The command that made the page, as text (escaped in the source, plain in the DOM's text).
  grep -q "<h2>Command</h2>" "$dir/dom.html" || fail "$page has no command"
  echo "$page: $imgs of $imgs plots loaded"
}
check array "$(find array -name '*.png' | wc -l)"
[ "$(find array -name '*.png' | wc -l)" -ge 2 ] || fail "gaincell-array wrote fewer than 2 PNGs"
grep -q "rmse_fs" array/report.html || fail "array/report.html lacks the rmse_fs row"
check lm 1
grep -q "perplexity.software" lm/report.html || fail "lm/report.html lacks the perplexity table"
step "done"
