#!/usr/bin/env bash
# `make lambdas`: builds every function under functions/ as `sam build`
# would (cargo-lambda, release, arm64 for provided.al2023) and prints each
# bootstrap's size. Needs `make tools` (cargo-lambda and zig in .venv) and
# the aarch64-unknown-linux-gnu target (added here when rustup has it not).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
target="${CARGO_TARGET_DIR:-target}"

rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
packages=()
for dir in functions/*/; do
    packages+=(-p "$(basename "$dir")")
done
# From functions/, as `sam build` runs it in each function's folder, so
# cargo reads functions/.cargo/config.toml (the Lambdas' profile).
target="$(realpath -m "$target")"
(cd functions && CARGO_TARGET_DIR="$target" cargo lambda build --manifest-path ../Cargo.toml --release --arm64 "${packages[@]}")

printf '%-24s %10s\n' function bootstrap
rows=""
for dir in functions/*/; do
    name=$(basename "$dir")
    boot="$target/lambda/$name/bootstrap"
    [ -f "$boot" ] || { echo "no bootstrap for $name at $boot" >&2; exit 1; }
    file "$boot" | grep -q 'ARM aarch64' || { echo "$name: not an arm64 binary" >&2; exit 1; }
    mib=$(awk -v b="$(stat -c %s "$boot")" 'BEGIN { printf "%.1f", b / 1048576 }')
    printf '%-24s %7s MiB\n' "$name" "$mib"
    rows+="| $name | $mib MiB |"$'\n'
done
# The sizes, kept in their section of BENCHMARKS.md.
python3 scripts/put_section.py lambdas BENCHMARKS.md <<MD
## Lambda bootstraps

\`make lambdas\` on $(date -u +%Y-%m-%d) at $(git rev-parse --short HEAD): cargo lambda build --release --arm64,
the size of each bootstrap as \`sam build\` packs it (the profile of functions/.cargo/config.toml). Target for an API function: at most 8 MiB.

| function | bootstrap |
|---|---|
$rows
MD
