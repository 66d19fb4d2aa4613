# `make test` is the one test command (README, .ci/run): it installs what
# the tests need (moto server, the template linters and Playwright into
# .venv, asl-validator and axe-core into node_modules, Debian's LibreOffice
# and Chromium when missing), then runs every Rust suite, the
# infrastructure checks and the console's browser tests.

CARGO ?= cargo
VENV  := .venv

.PHONY: test tools libreoffice chromium invoke invoke-test console-test console-screenshots build-tests lint rust-test e2e-aws report-readback fuzz infra-check bench lambdas cold-start run clean-tools

# The phases that wait on different things run side by side: the tools
# install (network) beside the build (CPU); clippy beside the moto pass
# (moto's one Python process is what that pass waits on); the last
# checks, each a server and one browser, linter or fuzzer process, two
# at a time.
test:
	$(MAKE) -j2 --output-sync=target tools build-tests
	$(MAKE) rust-test
	$(MAKE) -j2 --output-sync=target e2e-aws lint
	$(MAKE) -j2 --output-sync=target invoke-test fuzz console-test report-readback infra-check

tools: $(VENV)/.installed node_modules/.bin/asl-validator libreoffice chromium

# LibreOffice opens the golden workbook (report-readback) and prints it,
# and pdftotext reads the print; Debian's headless Calc and poppler-utils
# are installed when missing.
libreoffice:
	@{ command -v soffice && command -v pdftotext; } >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui poppler-utils >/dev/null; }

# The console's browser tests drive Debian's Chromium (installed when missing).
chromium:
	@{ command -v chromium || command -v chromium-browser; } >/dev/null || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# The console in headless Chromium against `serve --demo` (tests/browser).
# The binary is the one the test build makes (the same features as the
# tests, so after build-tests nothing is compiled again).
console-test: tools
	$(CARGO) test --workspace --locked --no-run --quiet
	$(VENV)/bin/python tests/browser/console_test.py target/debug/bufdir-exports

# One function's own binary invoked with its fixture (or EVENT=file)
# through cargo-lambda's Runtime API emulation, against moto: no Docker
# (scripts/invoke.sh; README, "Developing with SAM local").
FN ?= api-get
invoke: $(VENV)/.installed
	scripts/invoke.sh $(FN) $(EVENT)

# The same for an export's way through the functions the state machine
# runs, and a scheduled one (tests/invoke). Only these binaries are
# linked: their dependencies are the test build's.
INVOKED := api-create generate complete api-get watchdog bufdir-exports
invoke-test: $(VENV)/.installed
	$(CARGO) build --workspace --locked --quiet $(addprefix --bin ,$(INVOKED))
	$(VENV)/bin/python tests/invoke/invoke_test.py target/debug

# The screenshots the README shows, taken by the same tests.
console-screenshots: tools
	$(CARGO) test --workspace --locked --no-run --quiet
	$(VENV)/bin/python tests/browser/console_test.py target/debug/bufdir-exports --screenshots docs/screenshots

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.bin/asl-validator: package.json package-lock.json
	npm ci --no-audit --no-fund --silent

# Formatting first: it takes a second and fails before a long build.
build-tests:
	$(CARGO) fmt --all -- --check
	$(CARGO) test --workspace --locked --no-run

# No clippy warnings in any target. Its own target directory, so it never
# waits for the test run's lock on target/.
lint:
	$(CARGO) fmt --all -- --check
	CARGO_TARGET_DIR=target/clippy $(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Each test binary starts one moto server from .venv (shared/testing).
rust-test:
	$(CARGO) test --workspace --locked

# The end-to-end suites that differ between the backends once more,
# unchanged, on `serve --backend aws --runner local` against moto
# (tests/e2e/support/backend.rs). Same package selection as rust-test, so
# nothing is compiled again.
E2E_AWS_SUITES := http_api:: activities_api:: attachments:: cors:: imports:: restart_recovery:: idempotency:: races:: hardening:: tokens:: webhooks:: metrics:: audit:: erasure::
e2e-aws:
	BUFDIR_E2E_BACKEND=aws $(CARGO) test --workspace --locked --test e2e -- $(E2E_AWS_SUITES)

# The golden workbook opened by LibreOffice, not only by our own reader.
report-readback:
	scripts/libreoffice-readback.sh
	scripts/libreoffice-template.sh

# schemathesis against the local server from infra/openapi.json.
fuzz:
	scripts/fuzz.sh

infra-check:
	scripts/lint-infra.sh

# Every function built as `sam build` would (cargo-lambda, release,
# arm64), with each bootstrap's size. Not part of test: a long build.
lambdas: $(VENV)/.installed
	scripts/build-lambdas.sh

# Spawn-to-first-/next of the Lambda bootstraps against a fake Runtime
# API (scripts/cold_start.py), for native builds of one API and one step
# function with the Lambdas' profile (functions/.cargo/config.toml, read
# because cargo runs in functions/). Not part of test.
cold-start:
	cd functions && $(CARGO) build --manifest-path ../Cargo.toml --release --locked -p api-get -p generate
	python3 scripts/cold_start.py api-get=target/release/api-get generate=target/release/generate

# Speed and memory of an excel export of 1 000 000 activities against a
# bare writer and Python XlsxWriter; writes BENCHMARKS.md. Not part of test.
bench: $(VENV)/.installed node_modules/.bin/asl-validator
	scripts/bench.sh

run:
	$(CARGO) run --release -- serve --demo

clean-tools:
	rm -rf $(VENV) node_modules
