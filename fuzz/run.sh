#!/usr/bin/env bash
# Runs every fuzz target for a fixed time with cargo-fuzz on the stable
# toolchain (RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's -Z flags).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 10, all)
#
# New inputs go to a scratch directory, not to the committed corpus
# (fuzz/corpus/TARGET: seeds and minimized finds, replayed on stable by
# `cargo test -p wsdoctor-fuzz-targets`). A crash leaves its input in
# fuzz/artifacts/TARGET/ and fails the script; commit it (minimized with
# `cargo fuzz tmin`) under fuzz/corpus/TARGET/ with the fix.
#
# FUZZ_SEED: libFuzzer's seed (default: a new one each run). CI fixes it,
# so a run explores the same inputs for the same code and a red CI is a
# regression anyone can replay, not the luck of the draw; exploring is
# what the unseeded runs here are for.
#
# FUZZ_BUILD: extra `cargo fuzz` build flags (default none: cargo-fuzz's
# optimized build with debug assertions and AddressSanitizer, the one
# measured here: about 530 CPU-seconds from scratch). `--sanitizer none`
# builds faster; every crate fuzzed here denies unsafe code, so ASan only
# watches the C and assembly inside ring and libFuzzer itself.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-10}
shift || true
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked cargo-fuzz --version 0.13.2
fi
read -r -a build <<<"${FUZZ_BUILD:-}"
if [ "$#" -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
else
  targets=("$@")
fi
start=$(date +%s)
cargo fuzz build "${build[@]}"
echo "fuzz: built ${#targets[@]} targets in $(( $(date +%s) - start )) s"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: memory that
  # one input makes grow past 2 GiB is unbounded; -max_len: inputs up to
  # 64 KiB reach the size limits of heads and control frames.
  if cargo fuzz run "${build[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -workers=1 -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 ${FUZZ_SEED:+-seed="$FUZZ_SEED"} >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz: $target: ${runs:-?} inputs in ${seconds} s, no failure"
  else
    tail -n 60 "$log" >&2
    echo "fuzz: $target failed; its input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzz: ran ${#targets[@]} targets for ${seconds} s each; $(( $(date +%s) - start )) s in all"
