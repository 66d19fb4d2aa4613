//! The data checksum (Forside's "Sjekksum for dataene", Kontroll's
//! `data_sha256`): SHA-256 over the activities as JSON Lines in report
//! order, computed on a thread of its own.
//!
//! Encoding every activity as JSON again costs about as much as writing its
//! row to the workbook, and the writer is what an export waits for. So the
//! writer hands each activity over once it is written, in batches (one
//! hand-over per row would cost more than it saves), and this thread
//! encodes, hashes and drops them beside it.

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::{Activity, ReportError};

/// Activities handed over at a time.
const BATCH: usize = 256;
/// Batches in flight: the writer never waits unless hashing falls behind,
/// and memory stays a few hundred activities whatever the row count.
const IN_FLIGHT: usize = 4;

pub(super) struct DataDigest {
    batch: Vec<Activity>,
    to_hasher: Option<SyncSender<Vec<Activity>>>,
    hasher: Option<JoinHandle<Result<String, String>>>,
}

impl DataDigest {
    pub(super) fn start() -> Result<Self, ReportError> {
        let (tx, rx) = sync_channel::<Vec<Activity>>(IN_FLIGHT);
        let hasher = std::thread::Builder::new().name("report-digest".into()).spawn(move || {
            let mut sha = Sha256::new();
            // One reused buffer: serde_json's many small writes straight
            // into the hasher cost more than the hashing itself.
            let mut line = Vec::with_capacity(1024);
            for batch in rx {
                for a in &batch {
                    line.clear();
                    serde_json::to_writer(&mut line, a).map_err(|e| e.to_string())?;
                    line.push(b'\n');
                    sha.update(&line);
                }
            }
            Ok(hex::encode(sha.finalize()))
        })?;
        Ok(DataDigest { batch: Vec::with_capacity(BATCH), to_hasher: Some(tx), hasher: Some(hasher) })
    }

    /// Takes the next activity in report order.
    pub(super) fn add(&mut self, a: Activity) -> Result<(), ReportError> {
        self.batch.push(a);
        if self.batch.len() == BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), ReportError> {
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let sent = self.to_hasher.as_ref().is_some_and(|tx| tx.send(full).is_ok());
        if sent {
            return Ok(());
        }
        // The hasher only hangs up when it failed: its error says why.
        Err(self.join().err().unwrap_or_else(|| ReportError::Write("the data checksum stopped early".into())))
    }

    /// The hex digest, once every activity is in.
    pub(super) fn finish(mut self) -> Result<String, ReportError> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        self.join()
    }

    fn join(&mut self) -> Result<String, ReportError> {
        self.to_hasher = None;
        match self.hasher.take().map(JoinHandle::join) {
            Some(Ok(Ok(hex))) => Ok(hex),
            Some(Ok(Err(e))) => Err(ReportError::Write(format!("data checksum: {e}"))),
            Some(Err(_)) => Err(ReportError::Write("the data checksum thread panicked".into())),
            None => Err(ReportError::Write("the data checksum was already taken".into())),
        }
    }
}

/// A report that stops early (cancel, source or write error) lets the
/// thread finish what it holds and waits for it, so nothing outlives the
/// report.
impl Drop for DataDigest {
    fn drop(&mut self) {
        if self.hasher.is_some() {
            let _ = self.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_data::fifty;
    use super::*;

    /// Written out here rather than called: the thread must give exactly
    /// the JSON Lines digest, however the activities are batched.
    fn json_lines_sha256(acts: &[Activity]) -> String {
        let mut text = String::new();
        for a in acts {
            text.push_str(&serde_json::to_string(a).unwrap());
            text.push('\n');
        }
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn the_digest_is_the_json_lines_sha256_across_batches() {
        let mut acts = Vec::new();
        while acts.len() < 2 * BATCH + 7 {
            acts.extend(fifty());
        }
        for n in [0, 1, BATCH, acts.len()] {
            let mut d = DataDigest::start().unwrap();
            for a in acts[..n].iter().cloned() {
                d.add(a).unwrap();
            }
            assert_eq!(d.finish().unwrap(), json_lines_sha256(&acts[..n]), "{n} activities");
        }
    }
}
