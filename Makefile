# `make test` is the one test command (README, .ci/run): it installs what
# the tests need into the project folder (moto server and the template
# linters into .venv, asl-validator into node_modules), then runs every
# Rust suite and the infrastructure checks.

CARGO ?= cargo
VENV  := .venv

.PHONY: test tools libreoffice rust-test e2e-aws report-readback fuzz infra-check bench lambdas run clean-tools

test: tools rust-test e2e-aws report-readback fuzz infra-check

tools: $(VENV)/.installed node_modules/.bin/asl-validator libreoffice

# LibreOffice opens the golden workbook (report-readback) and prints it,
# and pdftotext reads the print; Debian's headless Calc and poppler-utils
# are installed when missing.
libreoffice:
	@{ command -v soffice && command -v pdftotext; } >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui poppler-utils >/dev/null; }

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.bin/asl-validator: package.json package-lock.json
	npm ci --no-audit --no-fund --silent

# The AWS suites start moto from .venv themselves (shared/tests/aws_support).
rust-test:
	$(CARGO) test --workspace --locked

# The end-to-end suites once more, unchanged, on `serve --backend aws
# --runner local` against moto (tests/support/backend.rs).
e2e-aws:
	BUFDIR_E2E_BACKEND=aws $(CARGO) test --locked --test http_api --test attachments --test restart_recovery --test idempotency --test races --test hardening --test tokens

# The golden workbook opened by LibreOffice, not only by our own reader.
report-readback:
	scripts/libreoffice-readback.sh

# schemathesis against the local server from infra/openapi.json.
fuzz:
	scripts/fuzz.sh

infra-check:
	scripts/lint-infra.sh

# Every function built as `sam build` would (cargo-lambda, release,
# arm64), with each bootstrap's size. Not part of test: a long build.
lambdas: $(VENV)/.installed
	scripts/build-lambdas.sh

# Speed and memory of an excel export of 1 000 000 activities against a
# bare writer and Python XlsxWriter; writes BENCHMARKS.md. Not part of test.
bench: $(VENV)/.installed
	scripts/bench.sh

run:
	$(CARGO) run --release -- serve --demo

clean-tools:
	rm -rf $(VENV) node_modules
