//! The Sammendrag figures, aggregated while the rows stream past. A fixed
//! table indexed by `ActivityType::index()` keeps memory flat however many
//! activities there are.

use crate::domain::{Activity, ActivityType};

/// Sums for one activity type (or for all of them).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TypeFigures {
    pub activities: u64,
    pub minutes: u64,
    /// Sum of `participants.total`: one person at three meetings counts three times.
    pub participations: u64,
    pub new_participants: u64,
    pub volunteers: u64,
    pub volunteer_hours: f64,
}

impl TypeFigures {
    pub fn hours(&self) -> f64 {
        self.minutes as f64 / 60.0
    }

    fn add(&mut self, a: &Activity) {
        self.activities += 1;
        self.minutes += u64::from(a.duration_minutes);
        self.participations += u64::from(a.participants.total);
        self.new_participants += u64::from(a.participants.new);
        self.volunteers += u64::from(a.volunteers.count);
        self.volunteer_hours += a.volunteers.hours;
    }

    fn merge(&mut self, o: &TypeFigures) {
        self.activities += o.activities;
        self.minutes += o.minutes;
        self.participations += o.participations;
        self.new_participants += o.new_participants;
        self.volunteers += o.volunteers;
        self.volunteer_hours += o.volunteer_hours;
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// In [`ActivityType::ALL`] order; types with no activities are zeros.
    pub by_type: [TypeFigures; 6],
    pub total: TypeFigures,
    pub rows: u64,
}

impl Summary {
    /// Every type with its label, in report order.
    pub fn rows_by_type(&self) -> impl Iterator<Item = (ActivityType, &TypeFigures)> {
        ActivityType::ALL.into_iter().zip(self.by_type.iter())
    }
}

#[derive(Clone, Debug, Default)]
pub struct SummaryBuilder {
    by_type: [TypeFigures; 6],
    rows: u64,
}

impl SummaryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, a: &Activity) {
        self.by_type[a.activity_type.index()].add(a);
        self.rows += 1;
    }

    pub fn finish(&self) -> Summary {
        // The total is the sum of the printed rows (not a separate running
        // sum), so a reader adding up the column gets exactly the total.
        let mut total = TypeFigures::default();
        for t in &self.by_type {
            total.merge(t);
        }
        Summary { by_type: self.by_type, total, rows: self.rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    #[test]
    fn sums_per_type_and_total() {
        let mut b = SummaryBuilder::new();
        let a = fixtures::activity(); // group_session, 90 min, 8/2 participants, 2 volunteers 4.0 h
        let mut c = a.clone();
        c.activity_type = ActivityType::OpenMeeting;
        c.duration_minutes = 30;
        c.volunteers.hours = 0.5;
        b.add(&a);
        b.add(&a);
        b.add(&c);
        let s = b.finish();
        let g = &s.by_type[ActivityType::GroupSession.index()];
        assert_eq!((g.activities, g.minutes, g.participations, g.new_participants, g.volunteers), (2, 180, 16, 4, 4));
        assert_eq!(g.volunteer_hours, 8.0);
        assert_eq!(g.hours(), 3.0);
        assert_eq!(s.by_type[ActivityType::PeerSupportCourse.index()], TypeFigures::default());
        assert_eq!((s.total.activities, s.total.minutes, s.rows), (3, 210, 3));
        assert_eq!(s.total.volunteer_hours, 8.5);
        assert_eq!(s.total.hours(), 3.5);
    }
}
