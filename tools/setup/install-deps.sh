#!/usr/bin/env bash
# Installs the Debian packages imc needs, and only those that are missing.
# ngspice 46 (KLU solver) and Catch2 3 come from bookworm-backports; the backports
# suite is added from the system's own Debian source entry, so no host name lives here.
set -euo pipefail

BACKPORTS_PKGS=(ngspice libngspice0 libngspice0-dev libcatch2-dev)
MAIN_PKGS=(cmake g++ make pkg-config libeigen3-dev libboost-math-dev libboost-iostreams-dev
           libboost-system-dev libboost-filesystem-dev libgnuplot-iostream-dev gnuplot-nox
           nlohmann-json3-dev libcli11-dev libopenmpi-dev openmpi-bin fortunes libicu-dev)
# Only for `./imc fuzz` and `./imc test --sanitize` (--fuzz), which share one clang build: clang,
# libFuzzer and the sanitizer runtimes, and llvm-symbolizer for readable stack traces.
FUZZ_PKGS=(clang libclang-rt-dev llvm)
# Only for `./imc test`: the browser that opens report.html in the page test (tests/report).
BROWSER_PKGS=(chromium)

log() { printf 'imc setup: %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
      log "missing packages and not root: install them by hand: $*"; exit 1; fi
  else SUDO=; fi
}

missing() { # prints the packages from "$@" that dpkg does not report as installed
  [ $# -gt 0 ] || return 0
  local installed p
  installed=$( (dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true) | awk '/install ok installed/ {print $1}')
  for p in "$@"; do
    grep -qx "$p" <<<"$installed" || echo "$p"
  done
}

backports_version_ok() { # ngspice >= 44 and catch2 >= 3
  local ng c2
  ng=$(dpkg-query -W -f='${Version}' ngspice 2>/dev/null || true)
  c2=$(dpkg-query -W -f='${Version}' libcatch2-dev 2>/dev/null || true)
  [ -n "$ng" ] && [ -n "$c2" ] && dpkg --compare-versions "$ng" ge 44 && dpkg --compare-versions "$c2" ge 3
}

enable_backports() {
  local codename src
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  if grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then return; fi
  src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ]; then
    # Take the URIs of the stanza that serves the main suite and reuse them for backports.
    local uri
    uri=$(awk -v s="$codename" '
      /^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i==s) found=u}
      /^$/ {u=""} END {print found}' "$src")
    [ -n "$uri" ] || { log "no URIs for suite $codename in $src"; exit 1; }
    log "enabling ${codename}-backports from $src"
    printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$uri" "$codename" | $SUDO tee /etc/apt/sources.list.d/imc-backports.sources >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    local line
    line=$(grep -E "^deb [^ ]+ ${codename} " /etc/apt/sources.list | head -n 1)
    [ -n "$line" ] || { log "no '${codename}' entry in /etc/apt/sources.list"; exit 1; }
    log "enabling ${codename}-backports from /etc/apt/sources.list"
    echo "$line" | sed -E "s/ ${codename} / ${codename}-backports /; s/ main.*/ main/" \
      | $SUDO tee /etc/apt/sources.list.d/imc-backports.list >/dev/null
  else
    log "no Debian source entry found"; exit 1
  fi
}

main() {
  local extra=()
  for a in "$@"; do
    case "$a" in
      --fuzz) extra+=("${FUZZ_PKGS[@]}") ;;
      --browser) extra+=("${BROWSER_PKGS[@]}") ;;
      *) extra+=("$a") ;;
    esac
  done
  local want_main want_bp
  mapfile -t want_main < <(missing "${MAIN_PKGS[@]}" "${extra[@]}")
  mapfile -t want_bp < <(missing "${BACKPORTS_PKGS[@]}")
  if [ ${#want_bp[@]} -eq 0 ] && ! backports_version_ok; then want_bp=("${BACKPORTS_PKGS[@]}"); fi
  if [ ${#want_main[@]} -eq 0 ] && [ ${#want_bp[@]} -eq 0 ]; then return 0; fi
  need_root "${want_main[@]}" "${want_bp[@]}"
  export DEBIAN_FRONTEND=noninteractive
  [ ${#want_bp[@]} -eq 0 ] || enable_backports
  log "apt-get update"
  $SUDO apt-get update -qq
  if [ ${#want_main[@]} -gt 0 ]; then
    log "installing: ${want_main[*]}"
    $SUDO apt-get install -y -qq --no-install-recommends "${want_main[@]}" >/dev/null
  fi
  if [ ${#want_bp[@]} -gt 0 ]; then
    local codename; codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    log "installing from ${codename}-backports: ${want_bp[*]}"
    $SUDO apt-get install -y -qq --no-install-recommends -t "${codename}-backports" "${want_bp[@]}" >/dev/null
  fi
}

main "$@"
