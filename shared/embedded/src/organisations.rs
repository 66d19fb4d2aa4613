//! Organisations' own details in SQLite, one JSON record each.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::sqlite::{self, blocking, lock, map_err};
use crate::domain::Organisation;
use crate::ports::{OrganisationStore, PortError, PortResult};

#[derive(Clone)]
pub struct SqliteOrganisations {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteOrganisations {
    pub fn open(db_path: &Path) -> PortResult<Self> {
        Ok(SqliteOrganisations { conn: Arc::new(Mutex::new(sqlite::open(db_path)?)) })
    }
}

#[async_trait]
impl OrganisationStore for SqliteOrganisations {
    async fn get_organisation(&self, org_id: &str) -> PortResult<Option<Organisation>> {
        let (conn, org_id) = (self.conn.clone(), org_id.to_string());
        blocking(move || {
            let body: Option<String> = lock(&conn)?
                .query_row("SELECT body FROM organisations WHERE org_id = ?1", [org_id], |r| r.get(0))
                .optional()
                .map_err(map_err)?;
            body.map(|b| {
                serde_json::from_str(&b)
                    .map_err(|e| PortError::Permanent(format!("stored organisation is unreadable: {e}")))
            })
            .transpose()
        })
        .await
    }

    async fn put_organisation(&self, org: &Organisation) -> PortResult<()> {
        let body = serde_json::to_string(org).map_err(|e| PortError::Permanent(format!("encode organisation: {e}")))?;
        let (conn, org_id) = (self.conn.clone(), org.org_id.clone());
        blocking(move || {
            lock(&conn)?
                .execute(
                    "INSERT INTO organisations (org_id, body) VALUES (?1, ?2)
                     ON CONFLICT (org_id) DO UPDATE SET body = excluded.body",
                    params![org_id, body],
                )
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn delete_organisation(&self, org_id: &str) -> PortResult<bool> {
        let (conn, org_id) = (self.conn.clone(), org_id.to_string());
        blocking(move || {
            let removed = sqlite::erase(&mut *lock(&conn)?, &["DELETE FROM organisations WHERE org_id = ?1"], &org_id)?;
            Ok(removed[0] > 0)
        })
        .await
    }
}
