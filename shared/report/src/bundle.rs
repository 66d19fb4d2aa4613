//! `include_attachments`: one ZIP holding the report, the included
//! activities' attachment files under `vedlegg/{activity}/`, and
//! `manifest.json` naming every file with its size and SHA-256 (and the
//! attachments whose file was missing, when the profile lists them instead
//! of failing). Files go into the archive one at a time while the Vedlegg
//! sheet is written, so neither memory nor scratch disk grows with their
//! number.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

use super::attachments::{AttachmentBundler, Scratch};
use super::{PartialFile, ReportError, ReportMeta, ReportOutput, csv::zip_options, file_name, write_report_with, xlsx};
use crate::domain::Activity;
use crate::ports::PortError;

pub const MANIFEST: &str = "manifest.json";
pub const ATTACHMENT_FOLDER: &str = "vedlegg";
const MANIFEST_VERSION: u32 = 1;
/// Past this an entry needs zip64 headers.
const ZIP32_LIMIT: u64 = u32::MAX as u64;

/// Copies the attachment file stored under `key` to the local path;
/// `Ok(false)` when the store has no such file.
pub type FetchAttachment<'a> = dyn FnMut(&str, &Path) -> Result<bool, PortError> + 'a;

/// [`super::write_report`], bundled with the attachment files `fetch` finds.
/// On any error nothing it created in `dir` is left.
pub fn write_bundle<I, F>(
    meta: &ReportMeta,
    dir: &Path,
    activities: I,
    on_row: F,
    fetch: &mut FetchAttachment<'_>,
) -> Result<ReportOutput, ReportError>
where
    I: Iterator<Item = Result<Activity, PortError>>,
    F: FnMut(u64) -> bool,
{
    let filename = bundle_name(meta);
    let path = dir.join(&filename);
    let guard = PartialFile(Some(path.clone()));
    let mut bundle = Bundle::create(meta, dir, &path, fetch)?;
    let report = write_report_with(meta, dir, activities, on_row, Some(&mut bundle), xlsx::MAX_DATA_ROWS)?;
    // The report file is only a part of the bundle: removed however this ends.
    let _inner = PartialFile(Some(report.path.clone()));
    bundle.finish(meta, &report)?;
    guard.keep();
    Ok(ReportOutput { path, filename, content_type: "application/zip".into(), rows: report.rows })
}

/// `bufdir-{org}-{from}-{to}-med-vedlegg.zip`.
pub fn bundle_name(meta: &ReportMeta) -> String {
    file_name(meta, "zip").replace(".zip", "-med-vedlegg.zip")
}

#[derive(Serialize, Deserialize)]
struct Included {
    file: String,
    activity_id: String,
    name: String,
    size_bytes: u64,
    sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Missing {
    activity_id: String,
    name: String,
}

struct Bundle<'f, 'a> {
    zip: ZipWriter<BufWriter<File>>,
    options: SimpleFileOptions,
    dir: PathBuf,
    fetch: &'f mut FetchAttachment<'a>,
    included: Scratch<Included>,
    missing: Scratch<Missing>,
    /// Entry names already used by the current activity (its attachments
    /// come together, so only one activity's names are ever held).
    activity: String,
    used: HashSet<String>,
}

impl<'f, 'a> Bundle<'f, 'a> {
    fn create(
        meta: &ReportMeta,
        dir: &Path,
        path: &Path,
        fetch: &'f mut FetchAttachment<'a>,
    ) -> Result<Self, ReportError> {
        Ok(Bundle {
            zip: ZipWriter::new(BufWriter::new(File::create(path)?)),
            options: zip_options(meta),
            dir: dir.to_path_buf(),
            fetch,
            included: Scratch::create(dir)?,
            missing: Scratch::create(dir)?,
            activity: String::new(),
            used: HashSet::new(),
        })
    }

    /// `vedlegg/{activity}/{name}`, made safe to unpack anywhere and
    /// unique within the activity.
    fn entry_name(&mut self, activity_id: &str, name: &str) -> String {
        if self.activity != activity_id {
            self.activity = activity_id.to_string();
            self.used.clear();
        }
        let name = safe_component(name, "vedlegg");
        let (stem, ext) = match name.rfind('.') {
            Some(i) if i > 0 => name.split_at(i),
            _ => (name.as_str(), ""),
        };
        let mut candidate = name.clone();
        let mut n = 2;
        while !self.used.insert(candidate.clone()) {
            candidate = format!("{stem} ({n}){ext}");
            n += 1;
        }
        format!("{ATTACHMENT_FOLDER}/{}/{candidate}", safe_component(activity_id, "aktivitet"))
    }

    /// Copies a local file into a new entry; its size and SHA-256.
    fn copy_in(&mut self, entry: &str, local: &Path) -> Result<(u64, String), ReportError> {
        let mut src = File::open(local)?;
        let len = src.metadata()?.len();
        self.zip.start_file(entry, self.options.large_file(len >= ZIP32_LIMIT))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            self.zip.write_all(&buf[..n])?;
            size += n as u64;
        }
        Ok((size, hex::encode(hasher.finalize())))
    }

    fn finish(mut self, meta: &ReportMeta, report: &ReportOutput) -> Result<(), ReportError> {
        let (size_bytes, sha256) = self.copy_in(&report.filename, &report.path)?;
        self.zip.start_file(MANIFEST, self.options)?;
        let mut out = std::io::BufWriter::new(&mut self.zip);
        let header = serde_json::json!({
            "manifest_version": MANIFEST_VERSION,
            "export_id": meta.export_id,
            "org_id": meta.org_id,
            "organisation_name": meta.organisation_name,
            "organisation_number": meta.organisation_number,
            "report": {"file": report.filename, "size_bytes": size_bytes, "sha256": sha256},
        });
        let header = header.to_string();
        // The header object, left open so the two lists can be streamed in.
        out.write_all(&header.as_bytes()[..header.len() - 1])?;
        out.write_all(b",\n\"attachments\":[")?;
        write_list(&mut out, self.included.rows()?)?;
        out.write_all(b"],\n\"missing\":[")?;
        write_list(&mut out, self.missing.rows()?)?;
        out.write_all(b"]}\n")?;
        out.into_inner().map_err(|e| e.into_error())?;
        // into_inner surfaces the last flush's error instead of losing it in drop.
        self.zip.finish()?.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}

fn write_list<T: Serialize>(
    out: &mut impl Write,
    rows: impl Iterator<Item = Result<T, ReportError>>,
) -> Result<(), ReportError> {
    for (i, row) in rows.enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, &row?)?;
    }
    Ok(())
}

impl AttachmentBundler for Bundle<'_, '_> {
    fn add(&mut self, activity_id: &str, name: &str, key: &str) -> Result<Option<(u64, String)>, ReportError> {
        // Fetched beside the archive, copied in, and gone when this returns.
        let local = tempfile::NamedTempFile::new_in(&self.dir)?;
        if !(self.fetch)(key, local.path()).map_err(ReportError::Attachment)? {
            return Ok(None);
        }
        let file = self.entry_name(activity_id, name);
        let (size_bytes, sha256) = self.copy_in(&file, local.path())?;
        self.included.push(&Included {
            file,
            activity_id: activity_id.to_string(),
            name: name.to_string(),
            size_bytes,
            sha256: sha256.clone(),
        })?;
        Ok(Some((size_bytes, sha256)))
    }

    fn missing(&mut self, activity_id: &str, name: &str) -> Result<(), ReportError> {
        self.missing.push(&Missing { activity_id: activity_id.to_string(), name: name.to_string() })
    }
}

/// One path component that cannot climb out of its folder, name a device,
/// or trouble an unzip tool: separators, control and reserved characters
/// become `_`, leading and trailing dots and spaces go, and it is at most
/// 120 characters.
fn safe_component(raw: &str, fallback: &str) -> String {
    let replaced: String =
        raw.chars()
            .map(|c| {
                if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
    let trimmed: String = replaced.trim_matches(|c| c == '.' || c == ' ').chars().take(120).collect();
    if trimmed.is_empty() { fallback.to_string() } else { trimmed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_stay_in_their_folder_and_are_unique_per_activity() {
        assert_eq!(safe_component("../../etc/passwd", "x"), "_.._etc_passwd");
        assert_eq!(safe_component("..", "x"), "x");
        assert_eq!(safe_component(" a\nb:c.pdf ", "x"), "a_b_c.pdf");
        assert_eq!(safe_component(&"å".repeat(500), "x").chars().count(), 120);
    }
}
