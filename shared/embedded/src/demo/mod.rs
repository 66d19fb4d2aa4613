//! Demo data and activity import: how activities get into the embedded
//! store before there is a recording system to read them from.

mod import;
mod seed;

pub use import::{ImportError, LineError, MAX_REPORTED_ERRORS, check_file, import_file, parse_jsonl, read_checked};
pub use seed::generate;
