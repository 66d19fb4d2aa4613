//! Demo data: how activities get into the embedded store before there is
//! a recording system to read them from. Files are imported the way the
//! API imports them (`bufdir_import`).

mod seed;

pub use seed::generate;
