#!/usr/bin/env bash
# Invokes one function's own binary with an event, without Docker:
# `cargo lambda watch --only-lambda-apis` emulates the Lambda Runtime API,
# the function's debug build polls it, and `cargo lambda invoke` sends the
# event. The function runs against an AWS emulator (moto) holding the
# stack `events/local-env.json` names.
#
#   scripts/invoke.sh api-get                      # sends events/api-get.json
#   scripts/invoke.sh generate my-event.json
#   EXPORT_ID=exp-20261130-a1b2c3 scripts/invoke.sh generate
#
# EXPORT_ID takes the place of the fixtures' export (exp-20260326-xyz789),
# e.g. one an invoked api-create answered with. AWS_ENDPOINT_URL names a
# running emulator; without it moto is started on a free port and stopped
# afterwards. Either way the stack is provisioned first (idempotent) and
# org-demo has the same 40 activities in 2025 (seeding again replaces them). BIN_DIR names
# binaries built already (the tests' build); without it the function and
# bufdir-exports are built with `cargo build --workspace`, so nothing else
# is compiled again after `make test`'s build.
#
# Prints the function's answer on stdout; the function's own log goes to
# target/invoke/<function>.log.
set -euo pipefail
cd "$(dirname "$0")/.."

fn="${1:?usage: scripts/invoke.sh <function> [event.json]}"
event="${2:-events/$fn.json}"
[ -d "functions/$fn" ] || { echo "no function functions/$fn" >&2; exit 2; }
[ -f "$event" ] || { echo "no event file $event" >&2; exit 2; }
py=.venv/bin/python
cargo_lambda=.venv/bin/cargo-lambda
[ -x "$cargo_lambda" ] || { echo "cargo-lambda is not installed: make tools" >&2; exit 1; }

if [ -z "${BIN_DIR:-}" ]; then
  cargo build --workspace --locked --quiet --bin "$fn" --bin bufdir-exports
  BIN_DIR="${CARGO_TARGET_DIR:-target}/debug"
fi
work=target/invoke
mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    "$py" -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing answered on port $1 ($2)" >&2
  exit 1
}

if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  port=$(free_port)
  "$py" scripts/moto_server.py -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
  pids+=($!)
  wait_port "$port" moto
  AWS_ENDPOINT_URL="http://127.0.0.1:$port"
fi

# The stack's names, with the emulator where the container would reach it.
"$py" - "$AWS_ENDPOINT_URL" >"$work/env" <<'EOF'
import json, sys
params = json.load(open("events/local-env.json"))["Parameters"]
for k, v in params.items():
    print(f"{k}={v.replace('http://host.docker.internal:5000', sys.argv[1])}")
EOF
set -a
. "$work/env"
AWS_REGION="${AWS_REGION:-eu-north-1}"
AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
set +a
"$BIN_DIR/bufdir-exports" activities seed --backend aws --provision --org org-demo --count 40 --year 2025 \
  >"$work/seed.log" 2>&1 || { cat "$work/seed.log" >&2; exit 1; }

rt_port=$(free_port)
"$cargo_lambda" lambda watch --only-lambda-apis -A 127.0.0.1 -P "$rt_port" >"$work/watch.log" 2>&1 &
pids+=($!)
wait_port "$rt_port" "cargo lambda watch"

AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$rt_port/.rt" AWS_LAMBDA_FUNCTION_NAME=_ \
  AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_LOG_FORMAT=JSON \
  "$BIN_DIR/$fn" >"$work/$fn.log" 2>&1 &
pids+=($!)

payload="$work/event.json"
if [ -n "${EXPORT_ID:-}" ]; then
  sed "s/exp-20260326-xyz789/$EXPORT_ID/g" "$event" >"$payload"
else
  cp "$event" "$payload"
fi
# The emulator's one function is `_` (the name `--only-lambda-apis` gives it).
if ! timeout "${INVOKE_TIMEOUT:-300}" "$cargo_lambda" lambda invoke -A 127.0.0.1 -P "$rt_port" \
    --data-file "$payload" --output-format json _; then
  echo "the invocation failed; the function's log, $work/$fn.log, ends:" >&2
  tail -n 20 "$work/$fn.log" >&2
  exit 1
fi
