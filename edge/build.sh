#!/usr/bin/env bash
# Builds the worker offline: worker-build with the local wasm-bindgen and esbuild (no downloads).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/@esbuild/linux-x64/bin/esbuild}"
[ -x "$ESBUILD_BIN" ] || { echo "esbuild missing: run npm ci at the repository root" >&2; exit 1; }
cd "$root/edge"
exec worker-build --release --no-opt
