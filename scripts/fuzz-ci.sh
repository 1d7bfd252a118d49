#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, its own workspace, nightly + cargo-fuzz) and runs each for a
# bounded time from the committed seed corpus. Exits non-zero on the first crash; libFuzzer
# leaves the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz-ci.sh              20 s per target (CI)
#   FUZZ_SECONDS=300 scripts/fuzz-ci.sh app_webhook    one target, longer
#
# New inputs found go to a scratch directory, never into the committed seeds (fuzz/corpus/).
# Sanitizer "none": Ember forbids unsafe code, and without ASan a target builds in half the
# time and runs about twice as fast; panics (the property checks) are still crashes.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-20}"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(app_webhook workflow_webhook batch_codec)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing; install it with: cargo install cargo-fuzz --locked" >&2
  exit 1
fi
cargo +nightly fuzz build -s none

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  printf '\n== fuzz %s (%s s)\n' "$target" "$seconds"
  mkdir -p "$scratch/$target"
  cargo +nightly fuzz run -s none "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1
done
