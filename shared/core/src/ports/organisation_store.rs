use async_trait::async_trait;

use super::PortResult;
use crate::domain::Organisation;

/// What organisations have told us about themselves (name, number, ...).
#[async_trait]
pub trait OrganisationStore: Send + Sync {
    async fn get_organisation(&self, org_id: &str) -> PortResult<Option<Organisation>>;

    /// Stores the record whole, replacing any earlier one.
    async fn put_organisation(&self, org: &Organisation) -> PortResult<()>;

    /// Removes the record; `false` when there was none.
    async fn delete_organisation(&self, org_id: &str) -> PortResult<bool>;
}
