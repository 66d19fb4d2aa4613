//! The import service: make an import (with a signed place to upload its
//! file), list, look at; start it once its file has arrived; expire it
//! when no file came. Reading and writing the rows is the import runner's
//! (`bufdir-import`), which the local server and the import Lambda call.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::ServiceError;
use super::access::acting_for;
use super::idempotency::{IdempotencyKey, KEY_TTL_HOURS};
use crate::domain::{Caller, CreateImportRequest, ImportId, ImportJob, ImportMove, ImportStatus, ValidImportRequest};
use crate::ports::{
    FileStore, ImportKey, ImportKeyed, ImportPage, ImportQuery, ImportStore, PortError, PortResult, UploadRefused,
    UploadTarget,
};

/// Runs an import once its file is there: the in-process runner locally;
/// on AWS the upload's S3 notification starts the import Lambda instead,
/// and nothing needs to be told.
#[async_trait]
pub trait ImportRunner: Send + Sync {
    async fn start(&self, id: &ImportId) -> PortResult<()>;
}

#[derive(Clone)]
pub struct ImportPorts {
    pub imports: Arc<dyn ImportStore>,
    pub uploads: Arc<dyn FileStore>,
    pub runner: Arc<dyn ImportRunner>,
}

#[derive(Clone, Debug)]
pub struct ImportSettings {
    /// The largest file the upload link takes.
    pub max_upload_bytes: u64,
    /// How long the upload link works; after that the import expires.
    pub upload_ttl: Duration,
}

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings { max_upload_bytes: 200 * 1024 * 1024, upload_ttl: Duration::from_secs(3600) }
    }
}

/// An import as the caller sees it, with a freshly signed upload link
/// while its file may still come.
pub struct ImportView {
    pub job: ImportJob,
    pub upload: Option<UploadTarget>,
    /// The answer repeats an earlier request with the same Idempotency-Key.
    pub replayed: bool,
}

pub struct ImportService {
    ports: ImportPorts,
    settings: ImportSettings,
}

fn fingerprint(org_id: &str, valid: &ValidImportRequest) -> String {
    let canonical = serde_json::json!({
        "org_id": org_id,
        "format": valid.format.as_str(),
        "replace_period": valid.replace_period.map(|p| [p.from.to_string(), p.to.to_string()]),
    });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Where an import's file goes in the upload store.
pub fn upload_key(job_org: &str, id: &ImportId, format: crate::domain::ImportFormat) -> String {
    format!("{job_org}/{id}/upload.{}", format.as_str())
}

/// The import an upload key belongs to, for whoever hears that a file arrived.
pub fn import_of_upload(key: &str) -> Option<ImportId> {
    let mut parts = key.split('/');
    let (_org, id, _file) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then_some(())?;
    ImportId::parse(id)
}

impl ImportService {
    pub fn new(ports: ImportPorts, settings: ImportSettings) -> Self {
        ImportService { ports, settings }
    }

    /// The same service with other limits.
    pub fn reconfigured(&self, settings: ImportSettings) -> Self {
        ImportService { ports: self.ports.clone(), settings }
    }

    pub fn settings(&self) -> &ImportSettings {
        &self.settings
    }

    pub async fn create(
        &self,
        caller: &Caller,
        request: &CreateImportRequest,
        key: Option<&IdempotencyKey>,
    ) -> Result<ImportView, ServiceError> {
        let valid = request.validate().map_err(ServiceError::Validation)?;
        let org_id = acting_for(caller, valid.org_id.clone())?;
        let fingerprint = fingerprint(&org_id, &valid);
        if let Some(key) = key
            && let Some(existing) = self.ports.imports.import_key(&org_id, key.as_str(), Utc::now()).await?
        {
            return self.replay(&existing, &fingerprint).await;
        }
        let now = Utc::now();
        let mut job = self.new_import(caller, org_id, &valid, now);
        for tries in 0.. {
            let stored = match key {
                None => self.ports.imports.insert_import(&job).await.map(|()| ImportKeyed::Inserted),
                Some(key) => {
                    let record = ImportKey {
                        scope: job.org_id.clone(),
                        key: key.as_str().to_string(),
                        fingerprint: fingerprint.clone(),
                        import_id: job.import_id.clone(),
                        created_at: now,
                        expires_at: now + chrono::Duration::hours(KEY_TTL_HOURS),
                    };
                    self.ports.imports.insert_import_keyed(&job, &record).await
                }
            };
            match stored {
                Ok(ImportKeyed::Inserted) => break,
                Ok(ImportKeyed::KeyTaken(existing)) => return self.replay(&existing, &fingerprint).await,
                // A clash of random ids: draw another.
                Err(PortError::Conflict) if tries < 3 => {
                    job.import_id = ImportId::generate(now.date_naive());
                    job.upload_key = upload_key(&job.org_id, &job.import_id, job.format);
                }
                Err(e) => return Err(e.into()),
            }
        }
        info!(import_id = %job.import_id, org_id = %job.org_id, format = job.format.as_str(), "import created");
        let upload = Some(self.upload_target(&job).await?);
        Ok(ImportView { job, upload, replayed: false })
    }

    fn new_import(
        &self,
        caller: &Caller,
        org_id: String,
        valid: &ValidImportRequest,
        now: chrono::DateTime<Utc>,
    ) -> ImportJob {
        let import_id = ImportId::generate(now.date_naive());
        let ttl = chrono::Duration::from_std(self.settings.upload_ttl).unwrap_or(chrono::Duration::hours(1));
        ImportJob {
            upload_key: upload_key(&org_id, &import_id, valid.format),
            import_id,
            org_id,
            status: ImportStatus::AwaitingUpload,
            format: valid.format,
            replace_period: valid.replace_period,
            requested_by: caller.subject.clone(),
            created_at: now,
            updated_at: now,
            upload_expires_at: now + ttl,
            max_upload_bytes: self.settings.max_upload_bytes,
            uploaded_at: None,
            finished_at: None,
            rows_total: 0,
            rows_written: 0,
            rows_removed: 0,
            error_count: 0,
            errors: Vec::new(),
            error_code: None,
            error_message: None,
            lease_until: None,
            runs: 0,
            version: 1,
        }
    }

    async fn replay(&self, existing: &ImportKey, fingerprint: &str) -> Result<ImportView, ServiceError> {
        if existing.fingerprint != fingerprint {
            return Err(ServiceError::IdempotencyKeyReused);
        }
        let job = self
            .ports
            .imports
            .get_import(&existing.import_id)
            .await?
            .ok_or_else(|| ServiceError::Unavailable("the import this key made is not readable yet".into()))?;
        let (job, _) = self.expired_if_due(job, Utc::now()).await?;
        let upload = self.live_upload(&job).await?;
        Ok(ImportView { job, upload, replayed: true })
    }

    /// A link to upload to, valid until the import's own upload deadline.
    async fn upload_target(&self, job: &ImportJob) -> PortResult<UploadTarget> {
        let left = (job.upload_expires_at - Utc::now()).to_std().unwrap_or(Duration::from_secs(1));
        self.ports.uploads.signed_upload(&job.upload_key, job.max_upload_bytes, left.max(Duration::from_secs(1))).await
    }

    async fn live_upload(&self, job: &ImportJob) -> PortResult<Option<UploadTarget>> {
        if job.status == ImportStatus::AwaitingUpload && job.upload_expires_at > Utc::now() {
            Ok(Some(self.upload_target(job).await?))
        } else {
            Ok(None)
        }
    }

    /// Loads an import the caller may see; every other case is `NotFound`.
    async fn load(&self, caller: &Caller, id: &ImportId) -> Result<ImportJob, ServiceError> {
        match self.ports.imports.get_import(id).await? {
            Some(job) if caller.may_act_for(&job.org_id) => Ok(job),
            _ => Err(ServiceError::NotFound),
        }
    }

    pub async fn get(&self, caller: &Caller, id: &ImportId) -> Result<ImportView, ServiceError> {
        let (job, _) = self.expired_if_due(self.load(caller, id).await?, Utc::now()).await?;
        let upload = self.live_upload(&job).await?;
        Ok(ImportView { job, upload, replayed: false })
    }

    pub async fn list(
        &self,
        caller: &Caller,
        status: Option<ImportStatus>,
        page: u32,
        limit: u32,
    ) -> Result<ImportPage, ServiceError> {
        // Listed as stored: an import past its deadline shows expired here
        // from the next sweep (a GET of it shows that at once).
        Ok(self.ports.imports.list_imports(&ImportQuery { scope: caller.scope.clone(), status, page, limit }).await?)
    }

    /// An import whose upload window closed with no file, expired: by the
    /// sweep, and when one import is looked at (GET, a repeated POST), so
    /// a client polling it sees `expired` as soon as its link stops
    /// working. `true` if this call expired it; one changed meanwhile (its
    /// file came, or another caller expired it) is returned as it was.
    async fn expired_if_due(
        &self,
        job: ImportJob,
        now: chrono::DateTime<Utc>,
    ) -> Result<(ImportJob, bool), ServiceError> {
        if job.status != ImportStatus::AwaitingUpload
            || job.upload_expires_at > now
            || self.ports.uploads.size_of(&job.upload_key).await?.is_some()
        {
            return Ok((job, false));
        }
        let mut next = job.clone();
        if next.apply(ImportMove::Expire, now).is_err() {
            return Ok((job, false));
        }
        next.error_code = Some("upload_expired".into());
        next.error_message = Some("no file was uploaded before the upload link expired".into());
        next.version = job.version + 1;
        match self.ports.imports.update_import(&next, job.version).await {
            Ok(()) => Ok((next, true)),
            Err(PortError::Conflict) => Ok((job, false)),
            Err(e) => Err(e.into()),
        }
    }

    /// Why a file for `key` is not wanted, if it is not: its import
    /// already had its file (which is removed once read, so the store
    /// alone would take a second), or the import is gone.
    pub async fn upload_refused(&self, key: &str) -> Result<Option<UploadRefused>, ServiceError> {
        let Some(id) = import_of_upload(key) else { return Ok(None) };
        Ok(match self.ports.imports.get_import(&id).await? {
            Some(job) if job.status == ImportStatus::AwaitingUpload => None,
            Some(job) if job.status == ImportStatus::Expired => Some(UploadRefused::Link),
            Some(_) => Some(UploadRefused::AlreadyUploaded),
            None => Some(UploadRefused::Link),
        })
    }

    /// A file arrived at `key` in the upload store: start its import.
    pub async fn uploaded(&self, key: &str) -> Result<(), ServiceError> {
        let Some(id) = import_of_upload(key) else { return Ok(()) };
        if self.ports.imports.get_import(&id).await?.is_none() {
            // Its import is gone (erased with its organisation, the link
            // still valid): nothing will ever read the file.
            let folder = key.rsplit_once('/').map_or(key.to_string(), |(folder, _)| format!("{folder}/"));
            self.ports.uploads.delete_prefix(&folder).await?;
            info!(import_id = %id, "a file uploaded for an import that no longer exists removed");
            return Ok(());
        }
        Ok(self.ports.runner.start(&id).await?)
    }

    /// Imports whose upload window closed with no file are expired (a file
    /// that arrives after that is removed by the run it starts); an unfinished one with its
    /// file there and no live run (its lease lapsed: the process running it
    /// died; or it never had one: the notification was lost) is started again.
    /// Returns (expired, restarted).
    pub async fn sweep(&self, now: chrono::DateTime<Utc>) -> Result<(usize, usize), ServiceError> {
        let (mut expired, mut restarted) = (0, 0);
        for job in self.ports.imports.unfinished_imports().await? {
            let (job, expired_now) = self.expired_if_due(job, now).await?;
            if expired_now {
                expired += 1;
                continue;
            }
            let arrived = self.ports.uploads.size_of(&job.upload_key).await?.is_some();
            if arrived && !job.is_claimed(now) {
                if let Err(e) = self.ports.runner.start(&job.import_id).await {
                    warn!(import_id = %job.import_id, error = %e, "import not started again");
                } else {
                    restarted += 1;
                }
            }
        }
        Ok((expired, restarted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ImportFormat;

    #[test]
    fn upload_keys_name_their_import() {
        let id = ImportId::parse("imp-20261129-abc123").unwrap();
        let key = upload_key("org-a", &id, ImportFormat::Xlsx);
        assert_eq!(key, "org-a/imp-20261129-abc123/upload.xlsx");
        assert_eq!(import_of_upload(&key), Some(id));
        for other in
            ["org-a/exp-20261129-abc123/upload.csv", "org-a/imp-20261129-abc123", "a/imp-20261129-abc123/x/y", ""]
        {
            assert_eq!(import_of_upload(other), None, "{other}");
        }
    }
}
