//! The attachments the included activities name, for the Vedlegg sheet
//! and the bundle. There can be as many as there are activities, so they
//! go to an anonymous scratch file in the working directory during the
//! pass and are read back once, at the end, instead of being held in memory.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ReportError;
use crate::domain::{Activity, MissingAttachments};

/// Records written once and read back once, in order, from a file that is
/// unlinked from the start: nothing is left behind, whatever happens.
pub struct Scratch<T> {
    out: BufWriter<File>,
    _rows: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> Scratch<T> {
    pub fn create(dir: &Path) -> Result<Self, ReportError> {
        Ok(Scratch { out: BufWriter::new(tempfile::tempfile_in(dir)?), _rows: PhantomData })
    }

    pub fn push(&mut self, row: &T) -> Result<(), ReportError> {
        serde_json::to_writer(&mut self.out, row)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    pub fn rows(self) -> Result<impl Iterator<Item = Result<T, ReportError>>, ReportError> {
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok(BufReader::new(file).lines().map(|line| Ok(serde_json::from_str(&line?)?)))
    }
}

/// An attachment as an activity names it, with the key its file is stored
/// under (never shown in the report).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Named {
    activity_id: String,
    name: String,
    content_type: String,
    key: String,
}

/// Whether the file of a listed attachment went into the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InBundle {
    Included,
    /// The file was not in the attachment store; the profile lists it instead of failing.
    Missing,
}

/// One line of the Vedlegg sheet. Size, checksum and bundle status are
/// only known when the files were asked for (`include_attachments`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachmentRow {
    pub activity_id: String,
    pub name: String,
    pub content_type: String,
    pub size_bytes: Option<u64>,
    pub sha256: Option<String>,
    pub in_bundle: Option<InBundle>,
}

/// How many attachment files went into the bundle, and how many were missing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BundleCounts {
    pub included: u64,
    pub missing: u64,
}

/// Where the attachment files go when they are asked for: see `bundle.rs`.
pub trait AttachmentBundler {
    /// Adds the file stored under `key` to the bundle as the attachment
    /// `name` of `activity_id`; its size and SHA-256, or `None` when the
    /// store has no such file.
    fn add(&mut self, activity_id: &str, name: &str, key: &str) -> Result<Option<(u64, String)>, ReportError>;
    /// Notes an attachment whose file was missing and is listed, not carried.
    fn missing(&mut self, activity_id: &str, name: &str) -> Result<(), ReportError>;
}

pub struct AttachmentLog {
    named: Scratch<Named>,
}

impl AttachmentLog {
    pub fn create(dir: &Path) -> Result<Self, ReportError> {
        Ok(AttachmentLog { named: Scratch::create(dir)? })
    }

    pub fn add(&mut self, a: &Activity) -> Result<(), ReportError> {
        for att in &a.attachments {
            self.named.push(&Named {
                activity_id: a.activity_id.clone(),
                name: att.name.clone(),
                content_type: att.content_type.clone(),
                key: att.key.clone(),
            })?;
        }
        Ok(())
    }

    /// The Vedlegg rows in the order the activities came. With a bundler,
    /// each file is fetched into the bundle on the way; a missing one fails
    /// the report or is listed as missing, as the profile says.
    pub fn finish(
        self,
        dir: &Path,
        bundler: Option<&mut dyn AttachmentBundler>,
        missing: MissingAttachments,
    ) -> Result<(Scratch<AttachmentRow>, Option<BundleCounts>), ReportError> {
        let mut rows = Scratch::create(dir)?;
        let mut counts = bundler.as_ref().map(|_| BundleCounts::default());
        let mut bundler = bundler;
        for named in self.named.rows()? {
            let Named { activity_id, name, content_type, key } = named?;
            let (mut size_bytes, mut sha256, mut in_bundle) = (None, None, None);
            if let (Some(bundler), Some(counts)) = (bundler.as_deref_mut(), counts.as_mut()) {
                match bundler.add(&activity_id, &name, &key)? {
                    Some((size, sum)) => {
                        (size_bytes, sha256, in_bundle) = (Some(size), Some(sum), Some(InBundle::Included));
                        counts.included += 1;
                    }
                    None if missing == MissingAttachments::SkipAndList => {
                        bundler.missing(&activity_id, &name)?;
                        in_bundle = Some(InBundle::Missing);
                        counts.missing += 1;
                    }
                    None => return Err(ReportError::MissingAttachment { activity_id, name }),
                }
            }
            rows.push(&AttachmentRow { activity_id, name, content_type, size_bytes, sha256, in_bundle })?;
        }
        Ok((rows, counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Attachment, fixtures};

    fn log_of_two_activities(dir: &Path) -> AttachmentLog {
        let mut log = AttachmentLog::create(dir).unwrap();
        let mut a = fixtures::activity();
        log.add(&a).unwrap();
        a.activity_id = "act-2".into();
        a.attachments.push(Attachment {
            name: "b\n;\"x\".pdf".into(),
            content_type: "application/pdf".into(),
            key: "k2".into(),
        });
        log.add(&a).unwrap();
        a.attachments.clear();
        log.add(&a).unwrap();
        log
    }

    #[test]
    fn rows_come_back_in_order_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_of_two_activities(dir.path());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let (rows, counts) = log.finish(dir.path(), None, MissingAttachments::Fail).unwrap();
        assert_eq!(counts, None);
        let rows: Vec<AttachmentRow> = rows.rows().unwrap().map(Result::unwrap).collect();
        let names: Vec<(&str, &str)> = rows.iter().map(|r| (r.activity_id.as_str(), r.name.as_str())).collect();
        assert_eq!(
            names,
            [("act-000123", "oppmøteliste.pdf"), ("act-2", "oppmøteliste.pdf"), ("act-2", "b\n;\"x\".pdf")]
        );
        assert!(rows.iter().all(|r| r.size_bytes.is_none() && r.sha256.is_none() && r.in_bundle.is_none()));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// Has every key but `k2`.
    #[derive(Default)]
    struct Recording {
        added: Vec<String>,
        missing: Vec<String>,
    }

    impl AttachmentBundler for Recording {
        fn add(&mut self, activity_id: &str, _name: &str, key: &str) -> Result<Option<(u64, String)>, ReportError> {
            if key == "k2" {
                return Ok(None);
            }
            self.added.push(format!("{activity_id}:{key}"));
            Ok(Some((7, "ab".repeat(32))))
        }
        fn missing(&mut self, activity_id: &str, name: &str) -> Result<(), ReportError> {
            self.missing.push(format!("{activity_id}:{name}"));
            Ok(())
        }
    }

    #[test]
    fn a_missing_file_is_listed_or_fails_as_the_profile_says() {
        let dir = tempfile::tempdir().unwrap();
        let mut bundler = Recording::default();
        let (rows, counts) = log_of_two_activities(dir.path())
            .finish(dir.path(), Some(&mut bundler), MissingAttachments::SkipAndList)
            .unwrap();
        assert_eq!(counts, Some(BundleCounts { included: 2, missing: 1 }));
        assert_eq!(bundler.added.len(), 2);
        assert_eq!(bundler.missing, ["act-2:b\n;\"x\".pdf"]);
        let rows: Vec<AttachmentRow> = rows.rows().unwrap().map(Result::unwrap).collect();
        assert_eq!(rows[0].in_bundle, Some(InBundle::Included));
        assert_eq!(rows[0].size_bytes, Some(7));
        assert_eq!((rows[2].in_bundle, rows[2].size_bytes.is_none()), (Some(InBundle::Missing), true));

        let failed = log_of_two_activities(dir.path()).finish(
            dir.path(),
            Some(&mut Recording::default()),
            MissingAttachments::Fail,
        );
        match failed {
            Err(ReportError::MissingAttachment { activity_id, name }) => {
                assert_eq!((activity_id.as_str(), name.as_str()), ("act-2", "b\n;\"x\".pdf"))
            }
            other => panic!("expected a missing attachment, got {:?}", other.map(|(_, c)| c)),
        }
    }
}
