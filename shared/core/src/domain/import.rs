//! An activity import: a file an organisation uploads (JSON Lines, CSV or
//! a filled workbook), checked whole and then written whole, the same
//! asynchronous shape as an export. Its moves go through one table, like
//! an export's.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ImportId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Jsonl,
    Csv,
    Xlsx,
}

impl ImportFormat {
    pub const ALL: [ImportFormat; 3] = [ImportFormat::Jsonl, ImportFormat::Csv, ImportFormat::Xlsx];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Jsonl => "jsonl",
            ImportFormat::Csv => "csv",
            ImportFormat::Xlsx => "xlsx",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Made; the file has not arrived.
    AwaitingUpload,
    /// The file arrived and every row is being checked; nothing is written yet.
    Validating,
    /// Every row was good; they are being written.
    Importing,
    Completed,
    /// The file or some row was bad (see `errors`), or writing failed.
    Failed,
    /// No file arrived before `upload_expires_at`.
    Expired,
}

impl ImportStatus {
    pub const ALL: [ImportStatus; 6] = [
        ImportStatus::AwaitingUpload,
        ImportStatus::Validating,
        ImportStatus::Importing,
        ImportStatus::Completed,
        ImportStatus::Failed,
        ImportStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::AwaitingUpload => "awaiting_upload",
            ImportStatus::Validating => "validating",
            ImportStatus::Importing => "importing",
            ImportStatus::Completed => "completed",
            ImportStatus::Failed => "failed",
            ImportStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, ImportStatus::Completed | ImportStatus::Failed | ImportStatus::Expired)
    }
}

impl std::fmt::Display for ImportStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportMove {
    /// The file arrived (or a worker picks the import up again).
    Check,
    /// Every row passed.
    Write,
    Complete,
    Fail,
    /// The upload window closed with no file.
    Expire,
}

use ImportMove::*;
use ImportStatus::*;

/// The import transition table: (from, move, to). Anything else is refused.
pub const IMPORT_TRANSITIONS: &[(ImportStatus, ImportMove, ImportStatus)] = &[
    (AwaitingUpload, Check, Validating),
    (AwaitingUpload, Expire, Expired),
    (AwaitingUpload, Fail, Failed),
    (Validating, Write, Importing),
    (Validating, Fail, Failed),
    (Importing, Complete, Completed),
    (Importing, Fail, Failed),
];

pub fn next_import_status(from: ImportStatus, by: ImportMove) -> Option<ImportStatus> {
    IMPORT_TRANSITIONS.iter().find(|(f, m, _)| *f == from && *m == by).map(|(_, _, to)| *to)
}

/// The period a file is the whole truth for: activities in it that the
/// file does not name are removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Period {
    #[schema(value_type = String, format = Date, example = "2025-01-01")]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date, example = "2025-12-31")]
    pub to: NaiveDate,
}

impl Period {
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }
}

/// One problem with one row (or the file's header), as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RowError {
    /// The line of a JSON Lines file, or the spreadsheet row of a CSV file
    /// or workbook (the header is row 1); 0 for the file as a whole.
    pub line: u64,
    /// The field or column, when the problem is in one.
    pub field: Option<String>,
    /// Stable, for programs: `invalid_json`, `invalid_value`, `missing_value`,
    /// `unknown_field`, `duplicate_activity_id`, `other_organisation`,
    /// `outside_replace_period`, `unknown_kommunenummer`, `inconsistent_counts`, ...
    pub code: String,
    pub message: String,
}

impl RowError {
    pub fn new(line: u64, field: Option<&str>, code: &str, message: impl Into<String>) -> Self {
        RowError { line, field: field.map(str::to_string), code: code.to_string(), message: message.into() }
    }
}

/// Runs one import may take (a run that dies is taken over when its lease
/// lapses): enough for a crash or two, not a loop.
pub const MAX_IMPORT_RUNS: u32 = 3;

/// The most row errors an import keeps; `error_count` counts them all.
pub const MAX_KEPT_ERRORS: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJob {
    pub import_id: ImportId,
    pub org_id: String,
    pub status: ImportStatus,
    pub format: ImportFormat,
    pub replace_period: Option<Period>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where the file is uploaded, in the upload store.
    pub upload_key: String,
    pub upload_expires_at: DateTime<Utc>,
    pub max_upload_bytes: u64,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Rows read so far while validating; every row once validated.
    pub rows_total: u64,
    pub rows_written: u64,
    /// Activities of `replace_period` the file did not name, removed.
    pub rows_removed: u64,
    pub error_count: u64,
    /// The first [`MAX_KEPT_ERRORS`], in file order.
    pub errors: Vec<RowError>,
    /// Why the import failed as a whole (the file, not a row), for programs.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Until when the run that claimed the import holds it; a run renews
    /// it with its progress. Another run (a redelivered message, the
    /// sweep) leaves a claimed import alone, so one import never runs twice
    /// at once, and takes over one whose lease lapsed.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    /// Runs that claimed the import; past [`MAX_IMPORT_RUNS`] it fails
    /// rather than being started again for ever.
    #[serde(default)]
    pub runs: u32,
    pub version: u64,
}

/// A move the table does not allow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an import that is {from} cannot {by:?}")]
pub struct ImportMoveRefused {
    pub from: ImportStatus,
    pub by: ImportMove,
}

impl ImportJob {
    /// Moves the import along the table, stamping the times.
    pub fn apply(&mut self, by: ImportMove, at: DateTime<Utc>) -> Result<(), ImportMoveRefused> {
        let to = next_import_status(self.status, by).ok_or(ImportMoveRefused { from: self.status, by })?;
        self.status = to;
        self.updated_at = at;
        match by {
            Check => self.uploaded_at = self.uploaded_at.or(Some(at)),
            Complete | Fail | Expire => self.finished_at = Some(at),
            Write => {}
        }
        Ok(())
    }

    /// Whether a live run holds the import.
    pub fn is_claimed(&self, now: DateTime<Utc>) -> bool {
        self.lease_until.is_some_and(|until| until > now)
    }

    /// Records a row error, keeping the first [`MAX_KEPT_ERRORS`].
    pub fn add_error(&mut self, e: RowError) {
        self.error_count += 1;
        if self.errors.len() < MAX_KEPT_ERRORS {
            self.errors.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_moves_forward_only() {
        assert_eq!(next_import_status(AwaitingUpload, Check), Some(Validating));
        assert_eq!(next_import_status(Validating, Write), Some(Importing));
        assert_eq!(next_import_status(Importing, Complete), Some(Completed));
        assert_eq!(next_import_status(AwaitingUpload, Expire), Some(Expired));
        for from in [Completed, Failed, Expired] {
            for by in [Check, Write, Complete, Fail, Expire] {
                assert_eq!(next_import_status(from, by), None, "{from} {by:?}");
            }
        }
        assert_eq!(next_import_status(AwaitingUpload, Complete), None, "nothing is written unchecked");
        assert_eq!(next_import_status(Validating, Complete), None);
        assert_eq!(next_import_status(Validating, Expire), None, "a file that arrived never expires");
    }

    #[test]
    fn statuses_and_formats_round_trip_their_names() {
        for s in ImportStatus::ALL {
            assert_eq!(ImportStatus::parse(s.as_str()), Some(s));
        }
        for f in ImportFormat::ALL {
            assert_eq!(ImportFormat::parse(f.as_str()), Some(f));
        }
    }
}
