//! The report's figures (Sammendrag and the per-profile counts) and its
//! data checksum (Forside's "Sjekksum for dataene", Kontroll's
//! `data_sha256`: SHA-256 over the activities as JSON Lines in report
//! order), made on a thread of their own.
//!
//! Encoding every activity as JSON again costs about as much as writing its
//! row to the workbook, and adding it to the figures a few per cent more;
//! the writer is what an export waits for. So the writer hands each
//! activity over with its counting outcome once it is written, in batches
//! (one hand-over per row would cost more than it saves), and this thread
//! adds, encodes, hashes and drops them beside it, below the writer's
//! priority (`bufdir_core::helper_thread`).

use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::{Activity, NotCountedReason, ReportError, Summary, SummaryBuilder};

/// Activities handed over at a time.
const BATCH: usize = 256;
/// Batches in flight: the writer never waits unless the thread falls
/// behind, and memory stays a few hundred activities whatever the row count.
const IN_FLIGHT: usize = 4;

type Counted = (Activity, Result<(), NotCountedReason>);

pub(super) struct Tally {
    batch: Vec<Counted>,
    to_thread: Option<SyncSender<Vec<Counted>>>,
    thread: Option<JoinHandle<Result<(Summary, String), String>>>,
}

impl Tally {
    pub(super) fn start(mut figures: SummaryBuilder) -> Result<Self, ReportError> {
        let (tx, rx) = sync_channel::<Vec<Counted>>(IN_FLIGHT);
        let thread = bufdir_core::helper_thread::spawn("report-tally", move || {
            let mut sha = Sha256::new();
            // One reused buffer: serde_json's many small writes straight
            // into the hasher cost more than the hashing itself.
            let mut line = Vec::with_capacity(1024);
            for batch in rx {
                for (a, outcome) in &batch {
                    figures.add(a, *outcome);
                    line.clear();
                    serde_json::to_writer(&mut line, a).map_err(|e| e.to_string())?;
                    line.push(b'\n');
                    sha.update(&line);
                }
            }
            Ok((figures.finish(), hex::encode(sha.finalize())))
        })?;
        Ok(Tally { batch: Vec::with_capacity(BATCH), to_thread: Some(tx), thread: Some(thread) })
    }

    /// Takes the next activity in report order, with how it counted.
    pub(super) fn add(&mut self, a: Activity, outcome: Result<(), NotCountedReason>) -> Result<(), ReportError> {
        self.batch.push((a, outcome));
        if self.batch.len() == BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn send(&mut self) -> Result<(), ReportError> {
        let full = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        let sent = self.to_thread.as_ref().is_some_and(|tx| tx.send(full).is_ok());
        if sent {
            return Ok(());
        }
        // The thread only hangs up when it failed: its error says why.
        Err(self.join().err().unwrap_or_else(|| ReportError::Write("the data checksum stopped early".into())))
    }

    /// The figures and the hex digest, once every activity is in.
    pub(super) fn finish(mut self) -> Result<(Summary, String), ReportError> {
        if !self.batch.is_empty() {
            self.send()?;
        }
        self.join()
    }

    fn join(&mut self) -> Result<(Summary, String), ReportError> {
        self.to_thread = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Ok(done))) => Ok(done),
            Some(Ok(Err(e))) => Err(ReportError::Write(format!("data checksum: {e}"))),
            Some(Err(_)) => Err(ReportError::Write("the figures' thread panicked".into())),
            None => Err(ReportError::Write("the data checksum was already taken".into())),
        }
    }
}

/// A report that stops early (cancel, source or write error) lets the
/// thread finish what it holds and waits for it, so nothing outlives the
/// report.
impl Drop for Tally {
    fn drop(&mut self) {
        if self.thread.is_some() {
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
    fn the_thread_gives_the_json_lines_sha256_and_the_figures_across_batches() {
        let mut acts = Vec::new();
        while acts.len() < 2 * BATCH + 7 {
            acts.extend(fifty());
        }
        let (from, to) = (acts.iter().map(|a| a.date).min().unwrap(), acts.iter().map(|a| a.date).max().unwrap());
        // Every other activity not counted, so both kinds of outcome cross.
        let outcome = |i: usize| if i.is_multiple_of(2) { Ok(()) } else { Err(NotCountedReason::Phone) };
        for n in [0, 1, BATCH, acts.len()] {
            let mut here = SummaryBuilder::new(from, to, 5);
            let mut t = Tally::start(SummaryBuilder::new(from, to, 5)).unwrap();
            for (i, a) in acts[..n].iter().cloned().enumerate() {
                here.add(&a, outcome(i));
                t.add(a, outcome(i)).unwrap();
            }
            let (figures, sha) = t.finish().unwrap();
            assert_eq!(sha, json_lines_sha256(&acts[..n]), "{n} activities");
            assert_eq!(figures, here.finish(), "{n} activities");
        }
    }
}
