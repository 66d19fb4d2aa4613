//! Attachment files as plain files under the data directory's
//! `attachments/` folder, at the path their key names.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::ports::{AttachmentFiles, PortError, PortResult};

#[derive(Clone)]
pub struct DiskAttachments {
    root: PathBuf,
}

impl DiskAttachments {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DiskAttachments { root: root.into() }
    }

    /// A key that is not an attachment key (`domain::is_attachment_key`:
    /// one that could reach outside the folder, say) names no file here.
    fn path_of(&self, key: &str) -> Option<PathBuf> {
        crate::domain::is_attachment_key(key).then(|| self.root.join(key))
    }
}

#[async_trait]
impl AttachmentFiles for DiskAttachments {
    async fn fetch(&self, key: &str, local: &Path) -> PortResult<bool> {
        let Some(src) = self.path_of(key) else { return Ok(false) };
        let local = local.to_path_buf();
        let copied = tokio::task::spawn_blocking(move || {
            if !src.is_file() {
                return Ok(false);
            }
            std::fs::copy(&src, &local).map(|_| true)
        })
        .await
        .map_err(|e| PortError::Permanent(format!("reading an attachment: {e}")))?;
        match copied {
            Ok(found) => Ok(found),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(PortError::Transient(format!("reading an attachment: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fetches_by_key_and_never_outside_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("attachments");
        std::fs::create_dir_all(root.join("org-a/act-1")).unwrap();
        std::fs::write(root.join("org-a/act-1/liste.pdf"), b"%PDF").unwrap();
        std::fs::write(dir.path().join("secret"), b"no").unwrap();
        let store = DiskAttachments::new(&root);
        let out = dir.path().join("out");

        assert!(store.fetch("org-a/act-1/liste.pdf", &out).await.unwrap());
        assert_eq!(std::fs::read(&out).unwrap(), b"%PDF");
        for absent in
            ["org-a/act-1/other.pdf", "org-a/act-1", "../secret", "/etc/passwd", "org-a/./act-1/liste.pdf", ""]
        {
            assert!(!store.fetch(absent, &out).await.unwrap(), "{absent}");
        }
    }
}
