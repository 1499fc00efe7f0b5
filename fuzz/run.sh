#!/usr/bin/env bash
# Build the fuzz targets with libFuzzer's coverage instrumentation on a *stable* compiler and run
# one of them.
#
#   fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags]      e.g. fuzz/run.sh onnx 300
#
# TARGET is a file name in fuzz/src/bin/ (npy, npz, onnx, ...). The corpus lives in
# fuzz/corpus/TARGET (seeded from tests/fixtures on the first run); crashes land in
# fuzz/artifacts/TARGET/. Copy each crash to tests/fixtures/hostile/ so that
# tests/hostile_files.rs keeps it as a regression test.
#
# The instrumentation flags are the ones cargo-fuzz passes (SanitizerCoverage with inline 8-bit
# counters, PC table and comparison tracing); they are stable rustc options, so no nightly and no
# cargo-fuzz install is needed. (cargo-fuzz itself works too: `RUSTC_BOOTSTRAP=1 cargo fuzz run
# TARGET` from the repository root.)
set -euo pipefail
cd "$(dirname "$0")"
target="${1:?usage: fuzz/run.sh TARGET [SECONDS] [libFuzzer flags]}"
secs="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the flags off build scripts and proc macros (as cargo-fuzz does).
host="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --target "$host" --bin "$target"
corpus="corpus/$target"
mkdir -p "$corpus" "artifacts/$target"
if [ -z "$(ls -A "$corpus")" ]; then
  case "$target" in
    npy) cp ../tests/fixtures/npy/*.npy "$corpus"/ ;;
    npz) cp ../tests/fixtures/npy/*.npz "$corpus"/ ;;
    onnx) cp ../tests/fixtures/onnx/*.onnx "$corpus"/ ;;
    onnx_graph) head -c 64 /dev/zero > "$corpus"/zeros ;;
    checkpoint) cp ../tests/fixtures/*.safetensors "$corpus"/ ;;
    csv) cp ../data/scikit-learn/iris.csv "$corpus"/ ;;
  esac
  # Extra seeds kept with the fuzzers (fuzz/seeds/TARGET/), and any fixtures of that name.
  for f in seeds/"$target"/* ../tests/fixtures/"$target"/*; do
    if [ -f "$f" ]; then cp "$f" "$corpus"/; fi
  done
fi
# -rss_limit_mb catches unbounded allocation; -malloc_limit_mb any single allocation over it.
exec "$CARGO_TARGET_DIR/$host/release/$target" "$corpus" -artifact_prefix="artifacts/$target/" \
  -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 \
  -print_final_stats=1 "$@"
