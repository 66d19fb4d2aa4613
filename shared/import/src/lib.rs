//! Activity imports: a file an organisation uploads (JSON Lines, CSV as
//! Norwegian Excel writes it, or a filled workbook) is read as rows
//! ([`read`], [`xlsx`]; columns in [`columns`], cells in [`cells`]),
//! every row checked (the domain's `Checker`) before any is written, then written whole
//! ([`run`]). [`template`] makes the workbook and CSV a person fills in.
//! The API Lambdas serve the templates as files and never link this crate.

pub mod cells;
pub mod columns;
pub mod from_file;
pub mod local;
pub mod read;
pub mod run;
pub mod template;
pub mod xlsx;

use bufdir_core::{domain, ports, service};
