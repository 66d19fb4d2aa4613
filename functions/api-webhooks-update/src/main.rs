//! PATCH /api/v1/webhook-endpoints/{endpoint_id}: change a webhook endpoint, or enable it again.
//!
//! API Gateway routes only this endpoint here; the shared router answers
//! it exactly as the local server does. The caller comes from the JWT
//! authorizer's claims; resource names from the environment.

use bufdir_aws::api_state_from_env;
use bufdir_core::http::{api_router, finish};
use lambda_http::{Error, run, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let state = api_state_from_env().await?;
    run(finish(api_router(state))).await
}
