use async_trait::async_trait;
use chrono::NaiveDate;
use futures::stream::BoxStream;

use super::PortResult;
use crate::domain::{Activity, ActivityType};

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
    /// How many activities the query matches (for the estimate and progress).
    async fn count(&self, query: &ActivityQuery) -> PortResult<u64>;

    /// The matching activities ordered by date, then activity id.
    fn stream(&self, query: ActivityQuery) -> BoxStream<'static, PortResult<Activity>>;
}
