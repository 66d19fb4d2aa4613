use async_trait::async_trait;
use chrono::NaiveDate;
use futures::stream::BoxStream;

use super::PortResult;
use crate::domain::{Activity, ActivityType, ImportId, Period};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityQuery {
    pub org_id: String,
    /// Inclusive.
    pub from: NaiveDate,
    /// Inclusive.
    pub to: NaiveDate,
    /// Empty means every type.
    pub types: Vec<ActivityType>,
}

impl ActivityQuery {
    pub fn matches(&self, a: &Activity) -> bool {
        a.org_id == self.org_id
            && a.date >= self.from
            && a.date <= self.to
            && (self.types.is_empty() || self.types.contains(&a.activity_type))
    }
}

/// The organisation's recorded activities, read as a stream so no export
/// ever holds a whole organisation in memory.
#[async_trait]
pub trait ActivitySource: Send + Sync {
    /// How many activities the query matches, reading whatever that takes.
    async fn count(&self, query: &ActivityQuery) -> PortResult<u64>;
    /// How many activities the query matches, when the store can tell
    /// without reading them (an index); `None` where only reading every
    /// activity would tell. DynamoDB answers `None`: counting a range
    /// costs the same read capacity as reading it, so an export would pay
    /// for its period twice. An export's progress then estimates its total
    /// from how far into the period the rows have come.
    async fn known_count(&self, query: &ActivityQuery) -> PortResult<Option<u64>> {
        let _ = query;
        Ok(None)
    }

    /// The matching activities ordered by date, then activity id.
    fn stream(&self, query: ActivityQuery) -> BoxStream<'static, PortResult<Activity>>;
}

/// Whether a stored activity was new or replaced one with its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stored {
    Created,
    Replaced,
}

/// What a whole-file import changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub written: u64,
    /// Activities of the replaced period the file did not name.
    pub removed: u64,
}

/// Where activities are written: small batches (the API), one at a time
/// (delete), and whole files (imports). Every activity written has passed
/// the domain's checks; the store keeps one record per (organisation,
/// activity id), the latest.
#[async_trait]
pub trait ActivityStore: ActivitySource {
    /// Stores the activities, all of `org_id` with distinct ids, each
    /// replacing a stored one with its id; says for each whether it was new.
    async fn put_activities(&self, org_id: &str, activities: Vec<Activity>) -> PortResult<Vec<Stored>>;

    /// Removes one; `false` when there was none.
    async fn delete_activity(&self, org_id: &str, activity_id: &str) -> PortResult<bool>;

    /// Up to `limit` of the query's activities in report order (date, then
    /// id), starting after `after` (the last date and id of the page before).
    async fn activity_page(
        &self,
        query: &ActivityQuery,
        after: Option<(NaiveDate, String)>,
        limit: u32,
    ) -> PortResult<Vec<Activity>>;

    /// A writer for one import of `org_id`'s activities. With `replace`,
    /// what the import does not name in that period is removed when it
    /// finishes. Dropping the writer unfinished leaves the stored activities
    /// as they were where the store can promise that (SQLite: one
    /// transaction), and otherwise as the rows written so far (DynamoDB);
    /// running the same import again from the start finishes it either way.
    async fn begin_import(
        &self,
        org_id: &str,
        import_id: &ImportId,
        replace: Option<Period>,
    ) -> PortResult<Box<dyn ImportWriter>>;

    /// Removes every activity of `org_id` (not its details, which the
    /// organisation store keeps); how many went. For erasing an
    /// organisation that leaves.
    async fn erase_activities(&self, org_id: &str) -> PortResult<u64>;

    /// Whether a writer dropped unfinished leaves nothing of its rows: then
    /// an import may write while it checks, and drop the writer at the
    /// first bad row, instead of checking the whole file before writing.
    fn imports_atomically(&self) -> bool {
        false
    }
}

/// Writes one import's activities, in file order.
#[async_trait]
pub trait ImportWriter: Send {
    async fn write(&mut self, batch: Vec<Activity>) -> PortResult<()>;

    /// Makes the import take effect (and removes what `replace` left out).
    async fn finish(self: Box<Self>) -> PortResult<ImportOutcome>;
}
