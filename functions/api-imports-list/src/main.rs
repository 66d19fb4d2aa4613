//! GET /api/v1/activity-imports: the caller's imports, newest first.
//!
//! API Gateway routes only this endpoint here, and this function builds only
//! its router, which answers exactly as the local server's does. The caller
//! comes from the JWT authorizer's claims; resource names from the
//! environment.

use bufdir_aws::{api_state_from_env, run_api};
use bufdir_core::http::endpoints;
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    bufdir_aws::logging::init();
    let state = api_state_from_env().await?;
    run_api(endpoints::list_imports(), state).await
}
