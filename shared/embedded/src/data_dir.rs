//! The one folder the embedded service keeps everything in. Knowing every
//! path in one place keeps backups and cleanup a matter of copying or
//! deleting a single directory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

const SECRET_FILE: &str = "secret.key";
const SECRET_LEN: usize = 32;

#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Creates the folder and its sub-folders if they are missing.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<DataDir> {
        let dir = DataDir { root: root.into() };
        fs::create_dir_all(&dir.root)?;
        for sub in [dir.files_dir(), dir.tmp_dir(), dir.bufdir_outbox_dir()] {
            fs::create_dir_all(sub)?;
        }
        Ok(dir)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Export jobs.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("bufdir.sqlite3")
    }

    /// Activities live in their own database so a long import, which holds
    /// its write lock for one whole transaction, never delays job updates.
    pub fn activities_db_path(&self) -> PathBuf {
        self.root.join("activities.sqlite3")
    }

    /// Generated reports, addressed by file-store key.
    pub fn files_dir(&self) -> PathBuf {
        self.root.join("files")
    }

    /// Reports being written. Nothing here survives a restart, so a crash
    /// mid-export leaves no half file anyone could download.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Import files as they were uploaded, until their import is over.
    pub fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    /// Attachment files uploaded through the API, until an activity names them.
    pub fn attachment_uploads_dir(&self) -> PathBuf {
        self.root.join("attachment-uploads")
    }

    /// The organisations' attachment files, at the path their key names;
    /// claimed from the uploads, or put there by whoever records the activities.
    pub fn attachments_dir(&self) -> PathBuf {
        self.root.join("attachments")
    }

    pub fn events_path(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    pub fn bufdir_outbox_dir(&self) -> PathBuf {
        self.root.join("bufdir-outbox")
    }

    /// Empties the working folder; called at start, before any export runs.
    pub fn clear_tmp(&self) -> io::Result<()> {
        let tmp = self.tmp_dir();
        match fs::remove_dir_all(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs::create_dir_all(tmp)
    }

    /// A 32-byte key for one purpose (token signing, URL signing, ...),
    /// derived from the directory's master secret. Deriving per purpose
    /// means a key leaked or misused in one role is useless in another.
    pub fn secret(&self, purpose: &str) -> io::Result<Vec<u8>> {
        let master = self.master_secret()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&master).expect("HMAC accepts any key length");
        mac.update(purpose.as_bytes());
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn master_secret(&self) -> io::Result<Vec<u8>> {
        let path = self.root.join(SECRET_FILE);
        match create_private(&path) {
            Ok(mut file) => {
                let mut key = [0u8; SECRET_LEN];
                rand::rng().fill(&mut key[..]);
                file.write_all(hex::encode(key).as_bytes())?;
                file.sync_all()?;
                return Ok(key.to_vec());
            }
            // Someone (maybe a concurrent start) made it first: use theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let text = fs::read_to_string(&path)?;
        match hex::decode(text.trim()) {
            Ok(key) if key.len() == SECRET_LEN => Ok(key),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} does not hold a {SECRET_LEN}-byte hex key", path.display()),
            )),
        }
    }
}

/// Creates the file only if it does not exist yet, readable by the owner only.
fn create_private(path: &Path) -> io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_stable_per_purpose_and_differ_between_purposes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(tmp.path().join("data")).unwrap();
        let token = dir.secret("token").unwrap();
        let url = dir.secret("url").unwrap();
        assert_eq!(token.len(), 32);
        assert_ne!(token, url);
        // a second opening reads the same master secret back
        let again = DataDir::open(tmp.path().join("data")).unwrap();
        assert_eq!(again.secret("token").unwrap(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.root().join(SECRET_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_secret_file_is_an_error_not_a_new_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(tmp.path()).unwrap();
        fs::write(dir.root().join(SECRET_FILE), "not hex").unwrap();
        assert_eq!(dir.secret("x").unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn clear_tmp_empties_the_working_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(tmp.path()).unwrap();
        fs::write(dir.tmp_dir().join("half.xlsx"), b"x").unwrap();
        dir.clear_tmp().unwrap();
        assert!(dir.tmp_dir().is_dir());
        assert_eq!(fs::read_dir(dir.tmp_dir()).unwrap().count(), 0);
    }
}
