//! Why an export failed, as a stable code clients can branch on and alarms
//! can count, beside the `error_message` written for people.

use serde::{Deserialize, Serialize};

/// The codes a failed export can carry. Each names one cause and says
/// whose it is to fix (see [`FailureCode::fault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// An activity names an attachment that is not in storage.
    AttachmentMissing,
    /// Bufdir's receiver refused the report (its content or the
    /// organisation's authorisation).
    ReceiverRefused,
    /// Bufdir's receiver could not be reached or kept failing after retries.
    ReceiverUnavailable,
    /// Submission was asked for, but this deployment has no receiver.
    ReceiverNotConfigured,
    /// A step stopped reporting or ran past its time limit.
    Timeout,
    /// The workflow could not be started for the export.
    NotStarted,
    /// Anything else: storage, the writer, a bug.
    Internal,
}

/// Whose a failure is to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The caller's data or Bufdir's answer to it: retrying as is repeats it,
    /// and no operator needs to wake up.
    User,
    /// The service or what it depends on: an operator should look.
    System,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::User => "user",
            Fault::System => "system",
        }
    }
}

impl FailureCode {
    pub const ALL: [FailureCode; 7] = [
        FailureCode::AttachmentMissing,
        FailureCode::ReceiverRefused,
        FailureCode::ReceiverUnavailable,
        FailureCode::ReceiverNotConfigured,
        FailureCode::Timeout,
        FailureCode::NotStarted,
        FailureCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::AttachmentMissing => "attachment_missing",
            FailureCode::ReceiverRefused => "receiver_refused",
            FailureCode::ReceiverUnavailable => "receiver_unavailable",
            FailureCode::ReceiverNotConfigured => "receiver_not_configured",
            FailureCode::Timeout => "timeout",
            FailureCode::NotStarted => "not_started",
            FailureCode::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<FailureCode> {
        FailureCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn fault(self) -> Fault {
        match self {
            FailureCode::AttachmentMissing | FailureCode::ReceiverRefused => Fault::User,
            FailureCode::ReceiverUnavailable
            | FailureCode::ReceiverNotConfigured
            | FailureCode::Timeout
            | FailureCode::NotStarted
            | FailureCode::Internal => Fault::System,
        }
    }
}

impl std::fmt::Display for FailureCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure as it travels between processes where only text passes (a
/// Lambda's error message, which Step Functions hands to the step that
/// marks the export failed): `code: message`.
pub fn encode_failure(code: FailureCode, message: &str) -> String {
    format!("{code}: {message}")
}

/// The code and message of [`encode_failure`]'s text, when it has a code.
pub fn split_failure(text: &str) -> Option<(FailureCode, &str)> {
    let (code, message) = text.split_once(": ")?;
    Some((FailureCode::parse(code)?, message))
}

/// The code and message of [`encode_failure`]'s text. Text without a known
/// code (a runtime's own error, an older message) is `internal`, whole.
pub fn decode_failure(text: &str) -> (FailureCode, String) {
    split_failure(text)
        .map(|(code, message)| (code, message.to_string()))
        .unwrap_or_else(|| (FailureCode::Internal, text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_as_themselves() {
        for code in FailureCode::ALL {
            assert_eq!(FailureCode::parse(code.as_str()), Some(code));
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        assert_eq!(FailureCode::parse("Internal"), None);
    }

    #[test]
    fn failures_travel_as_text_and_unknown_text_is_internal() {
        let text = encode_failure(FailureCode::ReceiverRefused, "submission to Bufdir failed: 422: bad sheet");
        assert_eq!(
            decode_failure(&text),
            (FailureCode::ReceiverRefused, "submission to Bufdir failed: 422: bad sheet".to_string())
        );
        assert_eq!(decode_failure("out of memory: killed"), (FailureCode::Internal, "out of memory: killed".into()));
        assert_eq!(decode_failure(""), (FailureCode::Internal, String::new()));
    }

    #[test]
    fn only_the_callers_causes_are_theirs() {
        let user: Vec<_> = FailureCode::ALL.into_iter().filter(|c| c.fault() == Fault::User).collect();
        assert_eq!(user, [FailureCode::AttachmentMissing, FailureCode::ReceiverRefused]);
    }
}
