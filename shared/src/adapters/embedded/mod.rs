//! Embedded adapters: everything in one data directory on one machine.
//! SQLite for jobs and activities, plain files for reports, a JSON Lines
//! outbox for events, and a local receiver standing in for Bufdir.

mod activity_store;
mod app;
mod attachment_files;
mod bufdir_receiver;
mod data_dir;
mod event_outbox;
mod file_store;
mod job_store;
pub mod sqlite;

pub use activity_store::{ActivityWriter, SqliteActivities};
pub use app::{EmbeddedApp, jwt_for};
pub use attachment_files::DiskAttachments;
pub use bufdir_receiver::LocalBufdirReceiver;
pub use data_dir::DataDir;
pub use event_outbox::JsonlEventOutbox;
pub use file_store::{DiskFileStore, DownloadRefused, validate_key};
pub use job_store::SqliteJobStore;
