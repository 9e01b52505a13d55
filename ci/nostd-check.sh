#!/usr/bin/env bash
# Guards that hearsay-core, and hearsay-smoltcp-demo (hearsay on the smoltcp
# TCP/IP stack), stay `no_std` and never use `alloc`.
#
# 1. Feature guard: in `cargo tree` of each package for the bare-metal target,
#    no crate that is compiled for that target may have a `std` or `alloc`
#    feature (or `use-std`, `use_alloc`, ...) enabled. Host-only subtrees
#    (proc-macro crates and [build-dependencies]) run on the build machine
#    and may use std; they are listed as a note but do not fail the guard.
# 2. Build guard: ci/nostd-check, a `#![no_std]` `#![no_main]` binary using
#    both (engines gossiping over smoltcp, every buffer static), must build
#    for thumbv7em-none-eabihf, whose sysroot has no `std` ("can't find crate
#    for `std`"); it defines no `#[global_allocator]`, so `alloc` anywhere in
#    the linked graph fails the build ("no global memory allocator found but
#    one is required").
#
# Both guards always run; the script fails if either does.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
checker="$root/ci/nostd-check"
target=thumbv7em-none-eabihf
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

failed=()

# --- 1. feature guard -------------------------------------------------------
feature_guard() {
    local package=$1
    echo "--- nostd-check: feature guard (cargo tree -p $package -e normal,build --target $target)"
    if ! tree="$(cd "$root" && cargo tree -p "$package" -e normal,build --target "$target" \
        --charset ascii -f '{p} features=[{f}]')"; then
        echo "error: cargo tree failed" >&2
        failed+=("feature guard of $package (cargo tree failed)")
    else
        printf '%s\n' "$tree"
        # Each level of the ascii tree is a 4-character group, so a line's depth
        # is its number of groups. Lines below a proc-macro crate or under a
        # [build-dependencies] header are host-only. Print "T <line>" / "H <line>"
        # for target / host crates whose feature list has std or alloc.
        found="$(printf '%s\n' "$tree" | awk '
            BEGIN { hostdepth = -1 }
            {
                line = $0; depth = 0
                while (match(line, /^(\|   |    |\|-- |`-- )/)) { line = substr(line, 5); depth++ }
                if (hostdepth >= 0 && depth <= hostdepth) hostdepth = -1
                host = (hostdepth >= 0)
                if (line ~ /^\[build-dependencies\]/) { if (!host) hostdepth = depth; next }
                if (line ~ /^\[/) next
                if (!host && line ~ /\(proc-macro\)/) { hostdepth = depth; host = 1 }
                if (!match(line, /features=\[[^]]*\]/)) next
                feats = substr(line, RSTART + 10, RLENGTH - 11)
                n = split(feats, f, ",")
                for (i = 1; i <= n; i++)
                    if (f[i] ~ /^(use[-_])?(std|alloc)$/) {
                        sub(/ \(\*\)$/, "", line)
                        print (host ? "H " : "T ") line
                        break
                    }
            }' | sort -u)"
        host_only="$(printf '%s\n' "$found" | sed -n 's/^H /         /p')"
        offenders="$(printf '%s\n' "$found" | sed -n 's/^T /         /p')"
        if [[ -n "$host_only" ]]; then
            echo "note: host-only crates (build scripts / proc-macros) with std/alloc, allowed:"
            printf '%s\n' "$host_only"
        fi
        if [[ -n "$offenders" ]]; then
            {
                echo
                echo "error: $package must be no_std and alloc-free, but its dependency graph for"
                echo "       $target enables a std/alloc feature on these crates:"
                printf '%s\n' "$offenders"
                echo "       Use default-features = false on the dependency, or drop the feature."
            } >&2
            failed+=("feature guard of $package (std/alloc feature enabled)")
        else
            echo "ok: no std/alloc feature on any crate built for $target"
        fi
    fi
}
feature_guard hearsay-core
echo
feature_guard hearsay-smoltcp-demo

# --- 2. build guard ---------------------------------------------------------
echo
echo "--- nostd-check: build guard (ci/nostd-check for $target, release)"
sysroot="$(rustc --print sysroot)"
if [[ ! -d "$sysroot/lib/rustlib/$target" ]]; then
    echo "error: target $target is not installed; run: rustup target add $target" >&2
    failed+=("build guard (target not installed)")
else
    # Build with exactly the dependency versions the workspace locks.
    if [[ -f "$root/Cargo.lock" ]]; then
        cp "$root/Cargo.lock" "$checker/Cargo.lock"
    fi
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    if (cd "$checker" && cargo build --release --target "$target") >"$log" 2>&1; then
        cat "$log"
        echo "ok: hearsay-core and hearsay-smoltcp-demo link into a no_std, allocator-free $target binary"
    else
        # A dependency compiled without std can produce thousands of follow-up
        # errors; the first ones say why.
        lines="$(wc -l <"$log")"
        if ((lines > 150)); then
            head -n 100 "$log"
            echo "... ($((lines - 120)) lines omitted) ..."
            tail -n 20 "$log"
        else
            cat "$log"
        fi
        {
            echo
            if grep -q "no global memory allocator found" "$log"; then
                echo "error: \`alloc\` is linked into the no_std check: hearsay-core, hearsay-smoltcp-demo"
                echo "       or a dependency uses \`extern crate alloc\` (neither may ever allocate)."
            elif grep -q "can't find crate for \`std\`" "$log"; then
                echo "error: \`std\` is required by hearsay-core, hearsay-smoltcp-demo or a dependency;"
                echo "       both must build for bare-metal targets without std."
                grep -o "\`std\` is required by \`[^\`]*\`.*" "$log" | sort -u | sed 's/^/       /' || true
            else
                echo "error: the no_std check crate failed to build for $target (see above)."
            fi
        } >&2
        failed+=("build guard (no_std/no-alloc build failed)")
    fi
fi

echo
if ((${#failed[@]})); then
    echo "nostd-check FAILED:" >&2
    printf '  - %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "nostd-check passed"
