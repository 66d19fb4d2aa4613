//! End-to-end suites of the `bufdir-exports` program: the real binary
//! serving on a free port, driven by a real HTTP client, and its commands.
//! One test binary; each module is a suite, and `cargo test --test e2e
//! <module>::` runs one. With `BUFDIR_E2E_BACKEND=aws` the server runs on
//! the AWS adapters against moto (see `support`); `make e2e-aws` runs the
//! suites that differ between the backends that way.

mod support;

mod activities_api;
mod attachment_sweep;
mod attachments;
mod audit;
mod cli;
mod console;
mod cors;
mod download_links;
mod erasure;
mod hardening;
mod http_api;
mod idempotency;
mod imports;
mod logs;
mod metrics;
mod openapi;
mod races;
mod restart_recovery;
mod tokens;
mod transitions;
mod webhooks;
