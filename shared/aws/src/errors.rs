//! How an AWS SDK failure becomes a [`PortError`]: throttling, timeouts,
//! dropped connections and 5xx answers are worth another try; everything
//! else (access denied, a missing table, a validation error) is not.

use aws_sdk_dynamodb::config::http::HttpResponse as Response;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::ports::PortError;

/// Error codes the AWS services use for "slow down" or "try again".
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "KMSThrottlingException",
];

pub(crate) fn is_transient_code(code: Option<&str>) -> bool {
    code.is_some_and(|c| TRANSIENT_CODES.contains(&c))
}

/// Maps any SDK failure; `what` names the operation for the message.
pub(crate) fn port_error<E>(what: &str, err: SdkError<E, Response>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PortError::Transient(format!("{what}: {}", summary(&err)))
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            if is_transient_code(service.err().code()) || status >= 500 || status == 429 {
                PortError::Transient(format!("{what}: {}", summary(&err)))
            } else {
                PortError::Permanent(format!("{what}: {}", summary(&err)))
            }
        }
        _ => PortError::Permanent(format!("{what}: {}", summary(&err))),
    }
}

/// Code and message without the request's content.
fn summary<E>(err: &SdkError<E, Response>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(s) => {
            let e = s.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("HTTP {}", s.raw().status().as_u16()),
            }
        }
        other => aws_sdk_dynamodb::error::DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_conflicts_are_transient() {
        assert!(is_transient_code(Some("ProvisionedThroughputExceededException")));
        assert!(is_transient_code(Some("TransactionConflictException")));
        assert!(!is_transient_code(Some("AccessDeniedException")));
        assert!(!is_transient_code(None));
    }
}
