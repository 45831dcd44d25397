#!/usr/bin/env bash
# Fuzzes the parsers of untrusted bytes (fuzz/fuzz_targets/*.rs) with cargo-fuzz (libFuzzer),
# each target for a bounded time, starting from the committed corpus in fuzz/corpus/<target>.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     default: 60 s, every target
#
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz --locked`); both come from crates.io and rustup's mirror only.
# New inputs that reach new code are added to the corpus directory (commit the useful ones);
# a crash stops the run, leaves the input in fuzz/artifacts/<target>/ and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(event_batch log_record network_values)
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/unmogrowp-target}/fuzz"
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    echo "[fuzz] $target for ${seconds}s"
    cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1
done
