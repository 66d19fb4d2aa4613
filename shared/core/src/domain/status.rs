//! Export statuses and the one table that says which moves are legal.
//!
//! Every state change in the system goes through [`next_status`], so the
//! API, the workflow and every store agree on what may happen from where.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl ExportStatus {
    pub const ALL: [ExportStatus; 5] = [
        ExportStatus::Queued,
        ExportStatus::Running,
        ExportStatus::Completed,
        ExportStatus::Failed,
        ExportStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Queued => "queued",
            ExportStatus::Running => "running",
            ExportStatus::Completed => "completed",
            ExportStatus::Failed => "failed",
            ExportStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Queued or running: work is pending and counts against the in-flight cap.
    pub fn is_active(self) -> bool {
        matches!(self, ExportStatus::Queued | ExportStatus::Running)
    }
}

impl std::fmt::Display for ExportStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to an export. `Start`, `Requeue`, `Complete` and `Fail`
/// belong to the workflow; `Cancel` and `Retry` to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    /// The workflow picked the export up.
    Start,
    /// The process running the export stopped; the same attempt is queued again.
    Requeue,
    /// The file is stored (and submitted, when asked for).
    Complete,
    /// A step failed for good.
    Fail,
    /// The caller no longer wants the export.
    Cancel,
    /// The caller asks for a new attempt.
    Retry,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Requeue => "requeue",
            Transition::Complete => "complete",
            Transition::Fail => "fail",
            Transition::Cancel => "cancel",
            Transition::Retry => "retry",
        }
    }
}

use ExportStatus::*;
use Transition::*;

/// The transition table: (from, transition, to). Anything not listed is refused.
pub const TRANSITIONS: &[(ExportStatus, Transition, ExportStatus)] = &[
    (Queued, Start, Running),
    (Queued, Cancel, Cancelled),
    (Queued, Fail, Failed),
    (Running, Requeue, Queued),
    (Running, Complete, Completed),
    (Running, Fail, Failed),
    (Running, Cancel, Cancelled),
    (Failed, Retry, Queued),
    (Cancelled, Retry, Queued),
];

pub fn next_status(from: ExportStatus, transition: Transition) -> Option<ExportStatus> {
    TRANSITIONS.iter().find(|(f, t, _)| *f == from && *t == transition).map(|(_, _, to)| *to)
}

/// Delete is allowed from every status; an export with pending work is
/// cancelled first so no worker writes a file after the record is gone.
pub fn delete_needs_cancel(from: ExportStatus) -> bool {
    from.is_active()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_actions_follow_the_contract() {
        // cancel: only from queued/running
        assert_eq!(next_status(Queued, Cancel), Some(Cancelled));
        assert_eq!(next_status(Running, Cancel), Some(Cancelled));
        for from in [Completed, Failed, Cancelled] {
            assert_eq!(next_status(from, Cancel), None, "cancel from {from}");
        }
        // retry: only from failed/cancelled
        assert_eq!(next_status(Failed, Retry), Some(Queued));
        assert_eq!(next_status(Cancelled, Retry), Some(Queued));
        for from in [Queued, Running, Completed] {
            assert_eq!(next_status(from, Retry), None, "retry from {from}");
        }
    }

    #[test]
    fn workflow_moves_are_limited() {
        assert_eq!(next_status(Queued, Start), Some(Running));
        assert_eq!(next_status(Running, Complete), Some(Completed));
        assert_eq!(next_status(Running, Fail), Some(Failed));
        assert_eq!(next_status(Queued, Fail), Some(Failed));
        assert_eq!(next_status(Running, Requeue), Some(Queued));
        // a cancelled or finished export is never picked up or completed again
        for from in [Completed, Failed, Cancelled] {
            for t in [Start, Complete, Fail, Requeue] {
                assert_eq!(next_status(from, t), None, "{} from {from}", t.as_str());
            }
        }
        assert_eq!(next_status(Queued, Complete), None);
        assert_eq!(next_status(Running, Start), None);
    }

    #[test]
    fn completed_is_final_except_delete() {
        for t in [Start, Requeue, Complete, Fail, Cancel, Retry] {
            assert_eq!(next_status(Completed, t), None);
        }
        assert!(!delete_needs_cancel(Completed));
        assert!(delete_needs_cancel(Running));
        assert!(delete_needs_cancel(Queued));
    }

    #[test]
    fn statuses_round_trip_their_names() {
        for s in ExportStatus::ALL {
            assert_eq!(ExportStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(ExportStatus::parse("done"), None);
    }
}
