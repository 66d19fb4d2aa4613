//! The report writer: turns a stream of activities into the file an
//! organisation hands to Bufdir. One pass, constant memory: rows are
//! written as they arrive and the summary is aggregated on the way.
//!
//! Owned by the report work; see `write_report` for the contract the
//! workflow relies on. One file per format (`xlsx`, `csv`, `json`); the
//! labels they share live in `labels`, the figures in `summary` (made
//! beside the writer, with the data checksum, in `tally`), the
//! figure sheets as rows both Excel and CSV render in `sheets`, hidden
//! small counts in `suppression`; `bundle` packs the report with the
//! attachment files when they are asked for.

mod attachments;
mod bundle;
mod csv;
mod json;
mod labels;
mod sheets;
mod summary;
pub mod suppression;
mod tally;
mod xlsx;

#[cfg(test)]
mod test_data;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{Activity, ActivityType, ExportFormat, NotCountedReason, Profile, find_profile};
use crate::ports::PortError;

pub use attachments::{AttachmentBundler, InBundle};
use attachments::{AttachmentLog, AttachmentRow, BundleCounts, Scratch};
pub use bundle::{ATTACHMENT_FOLDER, FetchAttachment, MANIFEST, bundle_name, write_bundle};
pub use summary::{Summary, SummaryBuilder, TypeFigures, VolunteerFigures};
use tally::Tally;

use bufdir_core::{domain, ports};

/// What the report says about itself (cover sheet, file name).
#[derive(Clone, Debug)]
pub struct ReportMeta {
    pub export_id: String,
    pub org_id: String,
    /// What the organisation calls itself (`PUT /api/v1/organisations`), if it said.
    pub organisation_name: Option<String>,
    /// Its nine-digit organisation number, if it said.
    pub organisation_number: Option<String>,
    pub format: ExportFormat,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    /// Empty means every type.
    pub activity_types: Vec<ActivityType>,
    pub report_profile: String,
    pub generated_at: DateTime<Utc>,
}

/// The finished file, still in the working directory.
#[derive(Clone, Debug)]
pub struct ReportOutput {
    pub path: PathBuf,
    /// Name offered on download, e.g. `bufdir-org-demo-2025-01-01-2025-12-31.xlsx`.
    pub filename: String,
    pub content_type: String,
    /// Activities written.
    pub rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The progress callback asked to stop.
    #[error("cancelled")]
    Cancelled,
    /// Reading activities failed.
    #[error("reading activities: {0}")]
    Source(PortError),
    /// Writing the file failed.
    #[error("writing the report: {0}")]
    Write(String),
    /// The job names a profile this build does not ship.
    #[error("unknown report profile {0:?}")]
    UnknownProfile(String),
    /// An included activity names an attachment whose file is not in the
    /// attachment store, and the profile says that fails the export.
    #[error("the attachment {name:?} of activity {activity_id} is not in the attachment store")]
    MissingAttachment { activity_id: String, name: String },
    /// The attachment store could not be read.
    #[error("reading an attachment: {0}")]
    Attachment(PortError),
}

// Every writer error ends up as text: the caller can only report it, and a
// write failure is never worth retrying differently from any other.
impl From<std::io::Error> for ReportError {
    fn from(e: std::io::Error) -> Self {
        ReportError::Write(e.to_string())
    }
}

impl From<rust_xlsxwriter::XlsxError> for ReportError {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        ReportError::Write(e.to_string())
    }
}

impl From<zip::result::ZipError> for ReportError {
    fn from(e: zip::result::ZipError) -> Self {
        ReportError::Write(e.to_string())
    }
}

impl From<serde_json::Error> for ReportError {
    fn from(e: serde_json::Error) -> Self {
        ReportError::Write(e.to_string())
    }
}

/// Everything known once the last row is in.
struct Finished<'a> {
    profile: &'a Profile,
    summary: Summary,
    /// SHA-256 over the activities as JSON Lines in report order: a
    /// reader can tell whether two reports were made from the same data.
    data_sha256: String,
    attachments: Scratch<AttachmentRow>,
    /// Only when the attachment files were bundled.
    bundle: Option<BundleCounts>,
}

/// One output format: takes rows in order, each with whether it counted,
/// then everything else once at the end.
trait Sink {
    fn row(&mut self, a: &Activity, outcome: Result<(), NotCountedReason>) -> Result<(), ReportError>;
    fn finish(self, done: Finished) -> Result<(), ReportError>;
}

/// Streams activities into a report file in `dir`. `on_row(rows_done)` is called after each
/// activity is written; returning false stops: Err(ReportError::Cancelled).
/// On ANY error (cancel, source error, write error) every partial file it created in `dir` is removed.
pub fn write_report<I, F>(meta: &ReportMeta, dir: &Path, activities: I, on_row: F) -> Result<ReportOutput, ReportError>
where
    I: Iterator<Item = Result<Activity, PortError>>,
    F: FnMut(u64) -> bool,
{
    write_report_with(meta, dir, activities, on_row, None, xlsx::MAX_DATA_ROWS)
}

/// [`write_report`] with the Excel per-sheet row limit as a parameter, so
/// tests can prove the spill onto "Aktiviteter (2)" without a million rows.
fn write_report_with<I, F>(
    meta: &ReportMeta,
    dir: &Path,
    activities: I,
    on_row: F,
    bundler: Option<&mut dyn AttachmentBundler>,
    rows_per_sheet: u32,
) -> Result<ReportOutput, ReportError>
where
    I: Iterator<Item = Result<Activity, PortError>>,
    F: FnMut(u64) -> bool,
{
    let (ext, content_type) = match meta.format {
        ExportFormat::Excel => ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ExportFormat::Csv => ("zip", "application/zip"),
        ExportFormat::Json => ("json", "application/json"),
    };
    let profile =
        find_profile(&meta.report_profile).ok_or_else(|| ReportError::UnknownProfile(meta.report_profile.clone()))?;
    let filename = file_name(meta, ext);
    let path = dir.join(&filename);
    // Armed before anything is created, so every early return below cleans up.
    let guard = PartialFile(Some(path.clone()));
    let run = Run { meta, profile, dir };
    let rows = match meta.format {
        ExportFormat::Excel => {
            run.stream(xlsx::XlsxSink::create(meta, dir, &path, rows_per_sheet)?, activities, on_row, bundler)?
        }
        ExportFormat::Csv => run.stream(csv::CsvSink::create(meta, &path)?, activities, on_row, bundler)?,
        ExportFormat::Json => run.stream(json::JsonSink::create(meta, profile, &path)?, activities, on_row, bundler)?,
    };
    guard.keep();
    Ok(ReportOutput { path, filename, content_type: content_type.to_string(), rows })
}

struct Run<'a> {
    meta: &'a ReportMeta,
    profile: &'a Profile,
    dir: &'a Path,
}

impl Run<'_> {
    /// The one pass: each activity is judged once, written, and folded
    /// into the figures; nothing per activity is kept.
    fn stream<S, I, F>(
        &self,
        mut sink: S,
        activities: I,
        mut on_row: F,
        bundler: Option<&mut dyn AttachmentBundler>,
    ) -> Result<u64, ReportError>
    where
        S: Sink,
        I: Iterator<Item = Result<Activity, PortError>>,
        F: FnMut(u64) -> bool,
    {
        let mut tally = Tally::start(SummaryBuilder::new(
            self.meta.period_from,
            self.meta.period_to,
            self.profile.suppression_threshold,
        ))?;
        let mut attachments = AttachmentLog::create(self.dir)?;
        let mut rows = 0u64;
        for item in activities {
            let a = item.map_err(ReportError::Source)?;
            let outcome = self.profile.counts(&a);
            sink.row(&a, outcome)?;
            attachments.add(&a)?;
            tally.add(a, outcome)?;
            rows += 1;
            if !on_row(rows) {
                return Err(ReportError::Cancelled);
            }
        }
        let (attachments, bundle) = attachments.finish(self.dir, bundler, self.profile.missing_attachments)?;
        let (summary, data_sha256) = tally.finish()?;
        let done = Finished { profile: self.profile, summary, data_sha256, attachments, bundle };
        sink.finish(done)?;
        Ok(rows)
    }
}

/// `bufdir-{org_id}-{from}-{to}.{ext}`. The org id comes from a token or a
/// request, so anything that could leave `dir` or upset a download header
/// is replaced.
fn file_name(meta: &ReportMeta, ext: &str) -> String {
    let org: String =
        meta.org_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    format!("bufdir-{org}-{}-{}.{ext}", meta.period_from.format("%Y-%m-%d"), meta.period_to.format("%Y-%m-%d"))
}

/// Removes the output file on drop unless kept: covers errors, cancels and
/// panics alike. Excel's own scratch files are anonymous temp files in
/// `dir` and vanish when the workbook is dropped.
struct PartialFile(Option<PathBuf>);

impl PartialFile {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take()
            && let Err(e) = std::fs::remove_file(&p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %p.display(), error = %e, "could not remove a partial report");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_data::*;
    use super::*;

    #[test]
    fn every_format_carries_the_same_figures() {
        let acts = fifty();
        let want = expected_figures(&acts);
        let mut built = SummaryBuilder::new(date(2025, 1, 1), date(2025, 12, 31), 5);
        let standard = find_profile("standard").unwrap();
        acts.iter().for_each(|a| built.add(a, standard.counts(a)));
        let s = built.finish();
        let mut from_summary: Vec<[f64; 8]> = s.by_type.iter().map(figures).collect();
        from_summary.push(figures(&s.total));
        assert_eq!(from_summary, want);

        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let run =
            |f, d: &tempfile::TempDir| write_report(&meta(f), d.path(), ok_items(acts.clone()), |_| true).unwrap();
        let x = run(ExportFormat::Excel, &dirs[0]);
        let c = run(ExportFormat::Csv, &dirs[1]);
        let j = run(ExportFormat::Json, &dirs[2]);
        assert_eq!((x.rows, c.rows, j.rows), (50, 50, 50));
        assert_eq!(xlsx_figures(&x.path), want, "xlsx");
        assert_eq!(csv_figures(&c.path), want, "csv");
        assert_eq!(json_figures(&j.path), want, "json");
        assert_eq!(parse_csv(&zip_entry(&c.path, "Aktiviteter.csv")).len(), 51);
        assert_eq!(json(&j.path)["activities"].as_array().unwrap().len(), 50);
    }

    #[test]
    fn an_unknown_profile_is_refused_before_any_file_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = meta(ExportFormat::Excel);
        m.report_profile = "knitting".into();
        let err = write_report(&m, dir.path(), ok_items(tiny()), |_| true).unwrap_err();
        assert!(matches!(err, ReportError::UnknownProfile(ref p) if p == "knitting"), "{err}");
        assert!(files_in(dir.path()).is_empty());
    }

    #[test]
    fn progress_is_reported_per_row_and_false_cancels_leaving_no_files() {
        for format in ExportFormat::ALL {
            let dir = tempfile::tempdir().unwrap();
            let mut seen = Vec::new();
            let err = write_report(&meta(format), dir.path(), ok_items(fifty()), |n| {
                seen.push(n);
                n < 10
            })
            .unwrap_err();
            assert!(matches!(err, ReportError::Cancelled), "{format:?}: {err}");
            assert_eq!(seen, (1..=10).collect::<Vec<_>>());
            assert!(files_in(dir.path()).is_empty(), "{format:?} left {:?}", files_in(dir.path()));
        }
    }

    #[test]
    fn a_source_error_keeps_its_kind_and_leaves_no_files() {
        for format in ExportFormat::ALL {
            let dir = tempfile::tempdir().unwrap();
            let items = fifty()
                .into_iter()
                .take(5)
                .map(Ok)
                .chain(std::iter::once(Err(PortError::Transient("db busy".into()))))
                .chain(fifty().into_iter().map(Ok));
            let err = write_report(&meta(format), dir.path(), items, |_| true).unwrap_err();
            assert!(
                matches!(err, ReportError::Source(PortError::Transient(ref m)) if m == "db busy"),
                "{format:?}: {err}"
            );
            assert!(files_in(dir.path()).is_empty(), "{format:?} left {:?}", files_in(dir.path()));
        }
    }

    #[test]
    fn a_write_error_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-there");
        for format in ExportFormat::ALL {
            let err = write_report(&meta(format), &missing, ok_items(tiny()), |_| true).unwrap_err();
            assert!(matches!(err, ReportError::Write(_)), "{format:?}: {err}");
        }
    }

    #[test]
    fn the_file_name_cannot_leave_the_directory() {
        let mut m = meta(ExportFormat::Json);
        m.org_id = "../etc/pass wd".into();
        assert_eq!(file_name(&m, "json"), "bufdir-___etc_pass_wd-2025-01-01-2025-12-31.json");
    }
}
