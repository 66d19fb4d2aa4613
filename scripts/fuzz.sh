#!/usr/bin/env bash
# Fuzzes the local server from the checked-in OpenAPI document with
# schemathesis (from .venv, see requirements-dev.txt): a fixed seed, at
# least 1000 requests. Fails on any 5xx, any answer the document does not
# describe (status, content type, headers, body), and any schema-invalid
# input the server accepts. Prints how many requests it sent.
#
# Not checked: that every schema-valid request succeeds. Some rules span
# fields or depend on the caller (period order and span, the token's
# organisations, the in-flight cap, the export's status), so a valid
# request may rightly get 403, 409, 422 or 429, all documented.
set -euo pipefail
cd "$(dirname "$0")/.."

ST=${ST:-.venv/bin/st}
SEED=${FUZZ_SEED:-20261128}
EXAMPLES=${FUZZ_EXAMPLES:-150}
MIN_REQUESTS=${FUZZ_MIN_REQUESTS:-1000}
CARGO=${CARGO:-cargo}

if [ ! -x "$ST" ]; then
    echo "fuzz: $ST not found; install the tools first (make tools)" >&2
    exit 1
fi

# The binary make test's build already made (the same selection and
# features as `cargo test --workspace`, so nothing is compiled again).
"$CARGO" test --workspace --locked --quiet --no-run
target_dir=$("$CARGO" metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

work=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A private copy, so a build running alongside cannot swap the binary mid-run.
cp "$target_dir/debug/bufdir-exports" "$work/bufdir-exports"
"$work/bufdir-exports" serve --demo --addr 127.0.0.1:0 --data-dir "$work/data" >"$work/stdout" 2>"$work/server.log" &
server_pid=$!

base=
for _ in $(seq 600); do
    base=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work/stdout" | head -n1)
    [ -n "$base" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "fuzz: the server did not start" >&2; exit 1; }
    sleep 0.1
done
[ -n "$base" ] || { echo "fuzz: the server did not say where it listens" >&2; exit 1; }
token=$("$work/bufdir-exports" token --org org-demo --data-dir "$work/data")

# Answers: no 5xx; status, content type, headers and body as documented.
# Inputs: schema-invalid ones refused, the token required, methods and
# Allow headers right. State: a deleted export stays gone, a created one
# can be fetched.
CHECKS=$(printf '%s,' \
    not_a_server_error \
    status_code_conformance content_type_conformance response_headers_conformance response_schema_conformance \
    negative_data_rejection ignored_auth missing_required_header unsupported_method allow_header_conformance \
    use_after_free ensure_resource_availability)
CHECKS=${CHECKS%,}

st_status=0
"$ST" run infra/openapi.json \
    --url "$base" \
    --header "Authorization: Bearer $token" \
    --seed "$SEED" \
    --max-examples "$EXAMPLES" \
    --workers 1 \
    --checks "$CHECKS" \
    --report ndjson --report-ndjson-path "$work/run.ndjson" \
    --no-color >"$work/st.log" 2>&1 || st_status=$?

if [ ! -s "$work/run.ndjson" ]; then
    cat "$work/st.log" >&2
    echo "fuzz: schemathesis wrote no report (exit $st_status)" >&2
    exit 1
fi
# Count from schemathesis's own record of every request it sent.
summary=$(python3 - "$work/run.ndjson" <<'EOF'
import collections, json, sys
statuses = collections.Counter()
for line in open(sys.argv[1]):
    event = json.loads(line).get("ScenarioFinished")
    if not event:
        continue
    for interaction in (event.get("recorder") or {}).get("interactions", {}).values():
        response = interaction.get("response")
        statuses[response["status_code"] if response else "no answer"] += 1
total = sum(statuses.values())
server_errors = sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500)
by_status = " ".join(f"{s}:{n}" for s, n in sorted(statuses.items(), key=lambda kv: str(kv[0])))
print(total, server_errors, by_status)
EOF
)
read -r requests server_errors by_status <<<"$summary"

if [ "$st_status" -ne 0 ]; then
    if grep -q FAILURES "$work/st.log"; then sed -n '/FAILURES/,$p' "$work/st.log" >&2; else cat "$work/st.log" >&2; fi
fi
echo "fuzz: $requests requests (seed $SEED, $EXAMPLES examples per operation); answers $by_status; 5xx: $server_errors"
if [ "$st_status" -ne 0 ]; then
    echo "fuzz: schemathesis found failures (exit $st_status)" >&2
    exit 1
fi
if [ "$server_errors" -ne 0 ]; then
    echo "fuzz: $server_errors answers were 5xx" >&2
    exit 1
fi
if [ "$requests" -lt "$MIN_REQUESTS" ]; then
    echo "fuzz: only $requests requests, fewer than $MIN_REQUESTS" >&2
    exit 1
fi
echo "fuzz: passed"
