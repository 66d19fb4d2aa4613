use crate::domain::{ExportStatus, FieldError, TransitionRefused};
use crate::ports::PortError;

/// What can go wrong when a caller asks for something; the HTTP layer
/// turns each variant into one problem type with a stable code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    /// A query parameter is invalid (400, as the handler's own checks).
    #[error("the query is invalid")]
    InvalidQuery(Vec<FieldError>),
    /// The caller may not act for this organisation.
    #[error("not allowed to create exports for organisation {0}")]
    Forbidden(String),
    /// Unknown export, or one of an organisation the caller may not see:
    /// the two answers are the same on purpose.
    #[error("export not found")]
    NotFound,
    #[error("{0}")]
    InvalidTransition(#[from] TransitionRefused),
    #[error("the export has been retried {0} times, the most allowed")]
    RetryLimit(u32),
    /// The organisation already has `limit` exports queued or running.
    #[error("{limit} exports are already queued or running")]
    TooManyInFlight { limit: u32, retry_after: u64 },
    /// The organisation already has the most webhook endpoints it may.
    #[error("the organisation already has {0} webhook endpoints, the most allowed")]
    WebhookEndpointLimit(u32),
    /// The idempotency key was first used with a different request.
    #[error("the idempotency key was used with a different request")]
    IdempotencyKeyReused,
    /// The export has no file to download in this status.
    #[error("the export is {0}; it has no file")]
    FileNotReady(ExportStatus),
    /// The export completed, but its file has expired and was deleted.
    #[error("the export's file has expired")]
    FileGone,
    /// Storage or workflow is briefly unavailable; the caller may try again.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// Only an administrator may do this.
    #[error("only an administrator may do this")]
    AdminOnly,
    /// An import of the organisation is being checked or written.
    #[error("an import of the organisation is running")]
    ImportRunning,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<PortError> for ServiceError {
    fn from(e: PortError) -> Self {
        match e {
            PortError::Transient(m) => ServiceError::Unavailable(m),
            PortError::Conflict => ServiceError::Unavailable("the export changed concurrently; try again".into()),
            // The service answers this itself (with when to try again)
            // wherever a write can occupy a slot; reaching here is a bug.
            PortError::InFlightCapReached | PortError::LimitReached => {
                ServiceError::Internal("in-flight cap reached on an unexpected write".into())
            }
            PortError::Permanent(m) => ServiceError::Internal(m),
        }
    }
}
