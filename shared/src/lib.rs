//! The Bufdir export orchestrator as one library: what the
//! `bufdir-exports` program and the test suites build on. It re-exports
//! the crates under `shared/`, each of which a Lambda can link alone.
//!
//! # Layout
//!
//! - [`domain`] (`shared/core/src/domain/`): the export job, its statuses
//!   and the transition table (`status.rs`), the create request and its
//!   validation, dates, organisation ids, the activity record, its shape
//!   (`activity_shape.rs`, the published schema's rules) and its checks
//!   (`activity_check.rs`), the import job and its table
//!   (`import.rs`), the organisation, kommunenummer and the report
//!   profiles. No storage, no HTTP, no AWS.
//! - [`ports`] (`shared/core/src/ports/`): one narrow trait per outside
//!   thing the services need: `JobStore` (with idempotency keys and the
//!   in-flight cap), `ActivitySource`, `FileStore` (and the download name
//!   and key rules, signed uploads), `AttachmentFiles`, `WorkflowStarter`,
//!   `EventPublisher`, `BufdirSubmitter`, `ActivityStore` (small writes and
//!   whole-file imports), `ImportStore`, `OrganisationStore`,
//!   `AttachmentUploads`, `WebhookStore`, `WebhookSender`, `Metrics` (the
//!   metrics and their dimensions).
//! - [`service`] (`shared/core/src/service/`): what callers can do with
//!   exports (create, list, get, cancel, retry, delete), imports
//!   (`imports.rs`), activities (`activities.rs`), organisations and
//!   webhook endpoints (`webhooks.rs`); delivering webhooks
//!   (`webhook_delivery.rs`: fan-out, ordered, signed, retried);
//!   idempotency, estimates, and the housekeeping nobody asks for (expired
//!   files, the watchdog, the import sweep); where each metric is recorded
//!   (`measure.rs`).
//! - [`import`] (`shared/import/`): reading an import's file (JSON Lines,
//!   CSV as Norwegian Excel writes it, workbooks), the two passes of a run
//!   (check every row, then write), the templates, the local runner.
//! - [`http`] (`shared/core/src/http/`): the axum router (a router per
//!   operation in `endpoints.rs`, one for each API Lambda), problem answers,
//!   authentication from claims, the OpenAPI document, signed downloads and
//!   the local server's connection handling.
//! - [`backoff`]: the one way anything is retried.
//! - [`report`] (`shared/report/`): the streaming report writer (xlsx, the
//!   csv ZIP, json), the counting, suppression and the attachment bundle.
//! - [`workflow`] (`shared/workflow/`): the steps (generate -> submit ->
//!   complete, or mark failed) and the in-process runner that plays Step
//!   Functions locally.
//! - [`adapters::embedded`] (`shared/embedded/`): SQLite, files in the data
//!   directory, the local Bufdir receiver, local tokens, demo data, the
//!   Prometheus registry behind `GET /metrics`; and
//!   [`EmbeddedApp`](adapters::embedded::EmbeddedApp), which wires them.
//! - [`adapters::aws`] (`shared/aws/`, `shared/aws-steps/`): DynamoDB, S3,
//!   SQS, Step Functions, API Gateway's caller, EMF metric lines, and
//!   [`AwsApp`](adapters::aws::AwsApp), which every Lambda builds once per
//!   cold start; the step Lambdas add the workflow (`WorkflowWiring`), the
//!   import function its queue batches (`imports`).
//! - [`adapters::maskinporten`] (`shared/maskinporten/`): submitting to a
//!   Bufdir receiver over HTTP with a Maskinporten token.
//! - [`adapters::webhooks`] (`shared/webhooks/`): webhook deliveries over
//!   HTTP, pinned to the addresses the target rules approved.
//!
//! The program is `src/` (its commands in `src/commands/`); each Lambda is
//! a crate in `functions/` whose `main` only wires configuration.

pub use bufdir_core::{backoff, domain, http, ports, service};
pub use bufdir_embedded::demo;
pub use bufdir_import as import;
pub use bufdir_report as report;
pub use bufdir_workflow as workflow;

pub mod adapters {
    pub use bufdir_embedded as embedded;
    pub use bufdir_maskinporten as maskinporten;
    pub use bufdir_webhooks as webhooks;

    /// The AWS adapters and, for the step Lambdas, the workflow on them.
    pub mod aws {
        pub use bufdir_aws::*;
        pub use bufdir_aws_steps::{WorkflowWiring, bufdir_key, imports, steps, webhooks};
    }
}
