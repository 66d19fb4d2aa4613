//! GET / and GET /console/{file}: the grant officers' console, beside the API on its domain.
//!
//! Static files compiled into the function, served without the JWT
//! authorizer (the page signs people in itself); how they sign in comes
//! from the environment (the identity provider the API trusts).

use bufdir_aws::console::{console_function, sign_in_from_env};
use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    bufdir_aws::logging::init();
    lambda_http::run(console_function(sign_in_from_env()?)).await
}
