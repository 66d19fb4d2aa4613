#!/usr/bin/env bash
# Checks the infrastructure: cfn-lint and `sam validate --lint` on
# template.yaml, asl-validator on the state machine, and the project's own
# template checks (scripts/check_template.py). Installs the tools into
# .venv and node_modules first when they are missing. Exits non-zero on
# any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/sam ] || [ ! -x .venv/bin/cfn-lint ] || ! .venv/bin/python -c "import moto" 2>/dev/null; then
  echo "== installing Python tools into .venv (requirements-dev.txt)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
fi
if [ ! -x node_modules/.bin/asl-validator ]; then
  echo "== installing Node tools (package.json)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi
fi

export SAM_CLI_TELEMETRY=0
# sam validate wants a region and credentials even though it stays offline
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-north-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"

status=0
step() {
  echo "== $*"
  if ! "$@"; then
    echo "!! failed: $*"
    status=1
  fi
}

step .venv/bin/cfn-lint template.yaml
step .venv/bin/sam validate --lint --template-file template.yaml
for asl in infra/statemachine/*.asl.json; do
  step node_modules/.bin/asl-validator --json-path "$asl"
done
step .venv/bin/python scripts/check_template.py template.yaml

if [ "$status" -eq 0 ]; then echo "infrastructure checks: all passed"; else echo "infrastructure checks: FAILED"; fi
exit "$status"
