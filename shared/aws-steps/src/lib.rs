//! The work on AWS besides the API: the import function's batches
//! ([`imports`]); webhook deliveries from the events queue and their
//! retries ([`webhooks`]); the export workflow's generate, submit, complete and
//! mark-failed steps as Step Functions tasks ([`steps`]), the workflow
//! context they run in, built from the same [`AwsApp`] as the API, and
//! the Bufdir receiver's Maskinporten key from a file or Secrets Manager
//! ([`bufdir_key`]). Only the step Lambdas and `serve --backend aws
//! --runner local` need this; the API Lambdas do not link the report
//! writer, the workflow or the RSA code.

pub mod bufdir_key;
pub mod imports;
pub mod steps;
pub mod webhooks;
mod wiring;

pub use wiring::WorkflowWiring;

use bufdir_aws::AwsApp;
use bufdir_core::domain;
use bufdir_workflow as workflow;
