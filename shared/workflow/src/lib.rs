//! The export workflow: generate the report -> submit it to Bufdir when
//! asked -> complete; any failure -> mark failed. The steps are plain
//! functions over the ports, so the in-process runner here and the Step
//! Functions state machine run the very same code.

mod context;
mod local_runner;
mod ownership;
mod retry;
mod steps;

pub use context::WorkflowContext;
pub use local_runner::{LocalRunner, RunnerHandle};
pub use retry::RetryPolicy;
pub use steps::{StepError, complete, generate, mark_failed, run_export, submit};

use bufdir_core::{backoff, domain, ports, service};
use bufdir_report as report;
