//! The library's integration suites, in one test binary (one link of the
//! AWS SDKs, one moto server for all of them). Each module is a suite;
//! `cargo test -p shared --test integration <module>::` runs one.
//!
//! - `conformance`: what every adapter of a port must do (job, activity
//!   source and store, import and organisation stores, files, events), run
//!   on the embedded adapters (`embedded_ports`) and the AWS ones on moto
//!   (`aws_ports`);
//! - imports run through the import service on both backends
//!   (`import_runs::embedded`, `import_runs::aws`): good and bad files, the
//!   templates, replace_period, redelivery, takeover and expiry;
//! - the API Lambdas fed API Gateway events (`aws_api_lambda`), every
//!   function fed its fixture from `events/` (`lambda_fixtures`), the state
//!   machine on moto with the step handlers behind it (`aws_statemachine`);
//! - the report against hand-counted figures (`golden_report`), Bufdir
//!   submission (`bufdir_submission`), demo data (`demo_data`), injected
//!   faults (`faults`), input limits (`http_input_limits`) and the service
//!   on the embedded wiring (`service_embedded`).

mod aws_api_lambda;
mod aws_ports;
mod aws_statemachine;
mod bufdir_submission;
mod conformance;
mod demo_data;
mod embedded_ports;
mod faults;
mod golden_report;
mod http_input_limits;
mod import_runs;
mod lambda_fixtures;
mod service_embedded;
mod xray_subsegments;
