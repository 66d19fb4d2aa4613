//! The attachments the included activities name, for the Vedlegg sheet.
//! There can be as many as there are activities, so they go to an
//! anonymous scratch file in the working directory during the pass and are
//! read back once, at the end, instead of being held in memory.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ReportError;
use crate::domain::Activity;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachmentRow {
    pub activity_id: String,
    pub name: String,
    pub content_type: String,
}

pub struct AttachmentLog {
    out: BufWriter<File>,
}

impl AttachmentLog {
    pub fn create(dir: &Path) -> Result<Self, ReportError> {
        // Unlinked at once: nothing is left behind, whatever happens.
        Ok(AttachmentLog { out: BufWriter::new(tempfile::tempfile_in(dir)?) })
    }

    pub fn add(&mut self, a: &Activity) -> Result<(), ReportError> {
        for att in &a.attachments {
            let row = AttachmentRow {
                activity_id: a.activity_id.clone(),
                name: att.name.clone(),
                content_type: att.content_type.clone(),
            };
            serde_json::to_writer(&mut self.out, &row)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Every row in the order the activities came.
    pub fn rows(self) -> Result<impl Iterator<Item = Result<AttachmentRow, ReportError>>, ReportError> {
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok(BufReader::new(file).lines().map(|line| Ok(serde_json::from_str(&line?)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{fixtures, Attachment};

    #[test]
    fn rows_come_back_in_order_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = AttachmentLog::create(dir.path()).unwrap();
        let mut a = fixtures::activity();
        log.add(&a).unwrap();
        a.activity_id = "act-2".into();
        a.attachments.push(Attachment { name: "b\n;\"x\".pdf".into(), content_type: "application/pdf".into(), key: "k2".into() });
        log.add(&a).unwrap();
        a.attachments.clear();
        log.add(&a).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let rows: Vec<AttachmentRow> = log.rows().unwrap().map(Result::unwrap).collect();
        let names: Vec<(&str, &str)> = rows.iter().map(|r| (r.activity_id.as_str(), r.name.as_str())).collect();
        assert_eq!(names, [("act-000123", "oppmøteliste.pdf"), ("act-2", "oppmøteliste.pdf"), ("act-2", "b\n;\"x\".pdf")]);
    }
}
