//! Every figure the report prints outside the activity list, aggregated
//! while the rows stream past. All state is keyed by small keys (type,
//! month, fylke, kommune, reason), never by activity, so memory stays flat
//! however many activities there are.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use super::suppression::{Suppressed, is_small, suppress};
use crate::domain::{Activity, ActivityType, NotCountedReason, fylke_name};

/// Label of the Geografi row for activities held outside Norway.
pub const ABROAD: &str = "Utlandet";

/// Sums for one activity type (or for all of them).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TypeFigures {
    pub activities: u64,
    /// Activities the report profile counts.
    pub countable: u64,
    /// Distinct dates with at least one countable activity: the schemes
    /// count per activity day.
    pub activity_days: u64,
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

    fn add(&mut self, a: &Activity, counted: bool) {
        self.activities += 1;
        self.countable += u64::from(counted);
        self.minutes += u64::from(a.duration_minutes);
        self.participations += u64::from(a.participants.total);
        self.new_participants += u64::from(a.participants.new);
        self.volunteers += u64::from(a.volunteers.count);
        self.volunteer_hours += a.volunteers.hours;
    }

    fn merge(&mut self, o: &TypeFigures) {
        self.activities += o.activities;
        self.countable += o.countable;
        self.activity_days += o.activity_days;
        self.minutes += o.minutes;
        self.participations += o.participations;
        self.new_participants += o.new_participants;
        self.volunteers += o.volunteers;
        self.volunteer_hours += o.volunteer_hours;
    }
}

/// Volunteer effort for one type in one month.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VolunteerFigures {
    pub activities: u64,
    pub volunteers: u64,
    pub hours: f64,
}

/// One Geografi line: a fylke (or abroad) with participations per type.
#[derive(Clone, Debug, PartialEq)]
pub struct Area {
    pub code: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// In [`ActivityType::ALL`] order; types with no activities are zeros.
    pub by_type: [TypeFigures; 6],
    pub total: TypeFigures,
    pub rows: u64,
    /// Every month of the period (first day) with countable activities per type.
    pub months: Vec<(NaiveDate, [u64; 6])>,
    /// Participations, type (rows) x gender: female, male, other, unknown.
    pub by_gender: Suppressed,
    /// Participations, type (rows) x age band, as in `AGE_BANDS`.
    pub by_age: Suppressed,
    /// Participations, area (rows) x type; areas sorted by code, abroad last.
    pub areas: Vec<Area>,
    pub by_area: Suppressed,
    /// Kommuner whose figures can be shown without giving away a hidden one.
    pub kommuner: Vec<(String, [u64; 6])>,
    /// Kommuner with activities that are left out of the list.
    pub kommuner_left_out: usize,
    /// (month, type) with any activity, in order.
    pub volunteers: Vec<(NaiveDate, ActivityType, VolunteerFigures)>,
    /// Indexed by [`NotCountedReason::index`].
    pub not_counted: [u64; 6],
    pub attachments: u64,
    pub threshold: u32,
}

impl Summary {
    /// Every type with its label, in report order.
    pub fn rows_by_type(&self) -> impl Iterator<Item = (ActivityType, &TypeFigures)> {
        ActivityType::ALL.into_iter().zip(self.by_type.iter())
    }
}

/// Days as bits from the start of the period; a date before it (which the
/// query never returns) goes to a small overflow list.
#[derive(Clone, Debug, Default)]
struct DaySet {
    bits: Vec<u64>,
    before: Vec<NaiveDate>,
}

impl DaySet {
    fn insert(&mut self, start: NaiveDate, d: NaiveDate) {
        match usize::try_from((d - start).num_days()) {
            Ok(i) => {
                if self.bits.len() <= i / 64 {
                    self.bits.resize(i / 64 + 1, 0);
                }
                self.bits[i / 64] |= 1 << (i % 64);
            }
            Err(_) if !self.before.contains(&d) => self.before.push(d),
            Err(_) => {}
        }
    }

    fn len(&self) -> u64 {
        self.bits.iter().map(|b| u64::from(b.count_ones())).sum::<u64>() + self.before.len() as u64
    }
}

#[derive(Clone, Debug)]
pub struct SummaryBuilder {
    start: NaiveDate,
    threshold: u32,
    by_type: [TypeFigures; 6],
    days: [DaySet; 6],
    months: BTreeMap<NaiveDate, [u64; 6]>,
    gender: [[u64; 4]; 6],
    age: [[u64; 7]; 6],
    fylker: BTreeMap<String, [u64; 6]>,
    abroad: [u64; 6],
    kommuner: BTreeMap<String, [u64; 6]>,
    volunteers: BTreeMap<(NaiveDate, ActivityType), VolunteerFigures>,
    not_counted: [u64; 6],
    attachments: u64,
    rows: u64,
}

fn month_of(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

impl SummaryBuilder {
    pub fn new(from: NaiveDate, to: NaiveDate, threshold: u32) -> Self {
        let mut months = BTreeMap::new();
        let mut m = month_of(from);
        while m <= to {
            months.insert(m, [0; 6]);
            m = m.checked_add_months(chrono::Months::new(1)).expect("within chrono's range");
        }
        SummaryBuilder {
            start: from,
            threshold,
            by_type: Default::default(),
            days: Default::default(),
            months,
            gender: [[0; 4]; 6],
            age: [[0; 7]; 6],
            fylker: BTreeMap::new(),
            abroad: [0; 6],
            kommuner: BTreeMap::new(),
            volunteers: BTreeMap::new(),
            not_counted: [0; 6],
            attachments: 0,
            rows: 0,
        }
    }

    pub fn add(&mut self, a: &Activity, outcome: Result<(), NotCountedReason>) {
        let t = a.activity_type.index();
        let counted = outcome.is_ok();
        self.by_type[t].add(a, counted);
        match outcome {
            Ok(()) => {
                self.days[t].insert(self.start, a.date);
                self.months.entry(month_of(a.date)).or_default()[t] += 1;
            }
            Err(reason) => self.not_counted[reason.index()] += 1,
        }
        let p = &a.participants;
        let g = &p.by_gender;
        for (cell, n) in self.gender[t].iter_mut().zip([g.female, g.male, g.other, g.unknown]) {
            *cell += u64::from(n);
        }
        let b = &p.by_age;
        let ages = [b.age_0_5, b.age_6_12, b.age_13_17, b.age_18_24, b.age_25_66, b.age_67_plus, b.unknown];
        for (cell, n) in self.age[t].iter_mut().zip(ages) {
            *cell += u64::from(n);
        }
        let n = u64::from(p.total);
        if a.in_norway {
            // Entries are made only for places seen: at most a few hundred.
            if let Some(row) = self.fylker.get_mut(a.fylkesnummer()) {
                row[t] += n;
            } else {
                self.fylker.entry(a.fylkesnummer().to_string()).or_default()[t] += n;
            }
            if let Some(row) = self.kommuner.get_mut(a.kommunenummer.as_str()) {
                row[t] += n;
            } else {
                self.kommuner.entry(a.kommunenummer.clone()).or_default()[t] += n;
            }
        } else {
            self.abroad[t] += n;
        }
        let v = self.volunteers.entry((month_of(a.date), a.activity_type)).or_default();
        v.activities += 1;
        v.volunteers += u64::from(a.volunteers.count);
        v.hours += a.volunteers.hours;
        self.attachments += a.attachments.len() as u64;
        self.rows += 1;
    }

    pub fn finish(&self) -> Summary {
        let mut by_type = self.by_type;
        for (f, d) in by_type.iter_mut().zip(&self.days) {
            f.activity_days = d.len();
        }
        // The total is the sum of the printed rows (not a separate running
        // sum), so a reader adding up the column gets exactly the total.
        let mut total = TypeFigures::default();
        for t in &by_type {
            total.merge(t);
        }
        let mut areas: Vec<Area> =
            self.fylker.keys().map(|code| Area { code: code.clone(), name: fylke_name(code).to_string() }).collect();
        let mut area_cells: Vec<Vec<u64>> = self.fylker.values().map(|r| r.to_vec()).collect();
        if self.abroad.iter().any(|&n| n > 0) {
            areas.push(Area { code: String::new(), name: ABROAD.to_string() });
            area_cells.push(self.abroad.to_vec());
        }
        let by_area = suppress(area_cells, self.threshold);
        let (kommuner, kommuner_left_out) = self.shown_kommuner(&areas, &by_area);
        Summary {
            by_type,
            total,
            rows: self.rows,
            months: self.months.iter().map(|(m, c)| (*m, *c)).collect(),
            by_gender: suppress(self.gender.iter().map(|r| r.to_vec()).collect(), self.threshold),
            by_age: suppress(self.age.iter().map(|r| r.to_vec()).collect(), self.threshold),
            areas,
            by_area,
            kommuner,
            kommuner_left_out,
            volunteers: self.volunteers.iter().map(|(&(m, t), v)| (m, t, *v)).collect(),
            not_counted: self.not_counted,
            attachments: self.attachments,
            threshold: self.threshold,
        }
    }

    /// A kommune is listed only when none of its figures is small, its
    /// fylke hides nothing (else the kommuner would add up to a hidden
    /// fylke cell), and the kommuner left out of its fylke do not add up
    /// to a small figure the fylke line would give away.
    fn shown_kommuner(&self, areas: &[Area], by_area: &Suppressed) -> (Vec<(String, [u64; 6])>, usize) {
        let small = |n: u64| is_small(n, self.threshold);
        let mut shown = Vec::new();
        for (i, area) in areas.iter().enumerate() {
            if area.name == ABROAD || by_area.hidden[i].iter().any(|&h| h) {
                continue;
            }
            let fylke = &by_area.cells[i];
            let mut list: Vec<(&String, &[u64; 6])> = self
                .kommuner
                .iter()
                .filter(|(k, row)| {
                    k.starts_with(&area.code) && !row.iter().any(|&n| small(n)) && !small(row.iter().sum())
                })
                .collect();
            loop {
                let mut rest = fylke.clone();
                for (_, row) in &list {
                    for (r, n) in rest.iter_mut().zip(row.iter()) {
                        *r -= n;
                    }
                }
                if !rest.iter().any(|&n| small(n)) && !small(rest.iter().sum()) {
                    break;
                }
                // Dropping the smallest kommune grows the remainder past
                // the threshold soonest.
                let Some(smallest) = (0..list.len()).min_by_key(|&k| (list[k].1.iter().sum::<u64>(), k)) else { break };
                list.remove(smallest);
            }
            shown.extend(list.into_iter().map(|(k, row)| (k.clone(), *row)));
        }
        let left_out = self.kommuner.len() - shown.len();
        (shown, left_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn sums_per_type_and_total() {
        let mut b = SummaryBuilder::new(d(2025, 1, 1), d(2025, 12, 31), 5);
        let a = fixtures::activity(); // group_session 2025-03-04, 90 min, 8/2 participants, 2 volunteers 4.0 h
        let mut c = a.clone();
        c.activity_type = ActivityType::OpenMeeting;
        c.duration_minutes = 30;
        c.volunteers.hours = 0.5;
        b.add(&a, Ok(()));
        b.add(&a, Ok(()));
        b.add(&c, Err(NotCountedReason::TooShort));
        let s = b.finish();
        let g = &s.by_type[ActivityType::GroupSession.index()];
        assert_eq!((g.activities, g.countable, g.activity_days, g.minutes), (2, 2, 1, 180));
        assert_eq!((g.participations, g.new_participants, g.volunteers), (16, 4, 4));
        assert_eq!(g.volunteer_hours, 8.0);
        assert_eq!(g.hours(), 3.0);
        assert_eq!(s.by_type[ActivityType::PeerSupportCourse.index()], TypeFigures::default());
        assert_eq!((s.total.activities, s.total.countable, s.total.minutes, s.rows), (3, 2, 210, 3));
        assert_eq!(s.total.volunteer_hours, 8.5);
        assert_eq!(s.not_counted[NotCountedReason::TooShort.index()], 1);
        assert_eq!(s.months.len(), 12);
        assert_eq!(s.months[2], (d(2025, 3, 1), [2, 0, 0, 0, 0, 0]));
        assert_eq!(s.attachments, 3);
    }

    #[test]
    fn activity_days_are_distinct_dates_of_countable_activities() {
        let mut set = DaySet::default();
        let start = d(2025, 1, 1);
        for day in [d(2025, 1, 1), d(2025, 1, 1), d(2025, 3, 7), d(2029, 12, 31), d(2024, 12, 31), d(2024, 12, 31)] {
            set.insert(start, day);
        }
        assert_eq!(set.len(), 4);
    }

    #[test]
    fn kommuner_are_listed_only_where_nothing_hidden_can_be_worked_out() {
        let mut b = SummaryBuilder::new(d(2025, 1, 1), d(2025, 12, 31), 5);
        let mut a = fixtures::activity();
        let mut put = |kommune: &str, total: u32| {
            a.kommunenummer = kommune.into();
            a.participants.total = total;
            b.add(&a, Ok(()));
        };
        // Fylke 46: 4601 and 4602 are large, 4603 small: listing both large
        // ones would give 4603 away as the fylke's remainder, so the
        // smaller of them goes too.
        put("4601", 20);
        put("4602", 9);
        put("4603", 2);
        // Fylke 03: one kommune, large: listed.
        put("0301", 30);
        // Fylke 50: a small fylke cell is hidden, so none of its kommuner is listed.
        put("5001", 3);
        put("5001", 1);
        let s = b.finish();
        let codes: Vec<&str> = s.kommuner.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(codes, ["0301", "4601"]);
        assert_eq!(s.kommuner_left_out, 3);
        assert_eq!(s.areas.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["Oslo", "Vestland", "Trøndelag"]);
    }
}
