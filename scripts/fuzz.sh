#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz / libFuzzer) of SigmaSight's hostile inputs: the CSV
# import, the upload form and bearer tokens. See fuzz/fuzz_targets/*.rs for the invariants.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60; works from any directory)
#
# Environment:
#   FUZZ_TARGETS      targets to run, space-separated (default: every target)
#   FUZZ_SANITIZER    cargo fuzz --sanitizer (default: none; "address" works too, see below)
#   FUZZ_RSS_MB       libFuzzer -rss_limit_mb (default 2048)
#   CARGO_BUILD_JOBS  parallel rustc jobs (default 2)
#
# Offline apart from crates.io: installs cargo-fuzz with `cargo install --locked` when it is
# missing. Runs on the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo fuzz passes -Z flags).
# Builds into fuzz/target (its own workspace and target dir: the main target/ is untouched).
# Each target fuzzes a temporary copy of fuzz/corpus/<target>, so the seeds stay clean.
# Exits non-zero when a target crashes, printing the artifact path (fuzz/artifacts/<target>/)
# and the command that reproduces it.
#
# Sanitizer: none by default. The project's crates forbid unsafe code, so AddressSanitizer
# would only watch the dependencies' unsafe code, at the price of a separate, slower build
# and fewer executions per second; panics (including debug assertions and integer overflow
# checks, which cargo fuzz turns on) are found either way.
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET]   (a whole number of seconds > 0)" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz_dir="$root/fuzz"
sanitizer="${FUZZ_SANITIZER:-none}"
rss_mb="${FUZZ_RSS_MB:-2048}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export RUSTC_BOOTSTRAP=1
# Our own target dir, whatever the caller's environment says.
unset CARGO_TARGET_DIR
target_dir="$fuzz_dir/target"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi

cd "$root"
targets="${FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir "$fuzz_dir")}"
fuzz_args=(--fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" --target-dir "$target_dir")

echo "== building fuzz targets (sanitizer: $sanitizer, jobs: $CARGO_BUILD_JOBS)"
build_start=$SECONDS
cargo fuzz build "${fuzz_args[@]}"
echo "== built in $((SECONDS - build_start)) s"

work="$(mktemp -d "${TMPDIR:-/tmp}/sigmasight-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

failed=()
summary=()
for t in $targets; do
    corpus="$work/corpus/$t"
    mkdir -p "$corpus" "$fuzz_dir/artifacts/$t"
    if [[ -d "$fuzz_dir/corpus/$t" ]]; then
        cp -R "$fuzz_dir/corpus/$t/." "$corpus/"
    fi
    log="$work/$t.log"
    echo "== fuzzing $t for ${seconds} s"
    rc=0
    # libFuzzer writes its progress to stderr; keep it in the log, show the tail.
    cargo fuzz run "${fuzz_args[@]}" "$t" "$corpus" -- \
        -max_total_time="$seconds" -rss_limit_mb="$rss_mb" \
        -artifact_prefix="$fuzz_dir/artifacts/$t/" -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    execs_per_sec="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 || true)"
    if [[ $rc -eq 0 ]]; then
        summary+=("$t: ok, ${execs:-?} execs (${execs_per_sec:-?}/s), ${cov:-no coverage line}")
    else
        kept_log="$fuzz_dir/artifacts/$t/last-failure.log"
        cp "$log" "$kept_log"
        echo "== $t FAILED; the panic, then the end of the log (all of it: $kept_log)" >&2
        grep -m 1 -A 4 'panicked at' "$log" >&2 || true
        echo "--" >&2
        tail -n 25 "$log" >&2
        artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
        summary+=("$t: FAILED (exit $rc), ${execs:-?} execs, artifact: ${artifact:-none written}, log: $kept_log")
        if [[ -n "$artifact" ]]; then
            summary+=("    reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --sanitizer $sanitizer $t $artifact")
        fi
        failed+=("$t")
    fi
done

echo "== summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "== crashes in: ${failed[*]}" >&2
    exit 1
fi
