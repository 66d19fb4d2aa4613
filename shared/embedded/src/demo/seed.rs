//! Believable demo activities for one organisation, generated lazily from
//! a seed: the same seed always gives the same activities, and a million
//! of them cost no more memory than one.

use std::ops::RangeInclusive;

use chrono::{Datelike, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::{Activity, ActivityType, ByAge, ByGender, Mode, Participants, Volunteers};

const TITLES: [(ActivityType, &[&str]); 6] = [
    (
        ActivityType::GroupSession,
        &[
            "Samtalegruppe for pårørende",
            "Samtalegruppe for foreldre",
            "Mestringsgruppe for ungdom",
            "Sorggruppe for etterlatte",
            "Samtalegruppe for søsken",
            "Temakveld: hverdagen med diagnose",
        ],
    ),
    (
        ActivityType::IndividualCounseling,
        &[
            "Likepersonssamtale",
            "Individuell oppfølgingssamtale",
            "Samtale med nyinnflyttet familie",
            "Veiledningssamtale",
        ],
    ),
    (
        ActivityType::PeerSupportCourse,
        &["Likepersonskurs trinn 1", "Likepersonskurs trinn 2", "Kurs i samtaleteknikk", "Mestringskurs for pårørende"],
    ),
    (
        ActivityType::OutreachVisit,
        &["Besøk på barneavdelingen", "Stand på videregående skole", "Hjemmebesøk", "Besøk på helsestasjon"],
    ),
    (
        ActivityType::OpenMeeting,
        &["Åpent medlemsmøte", "Familietreff", "Sommeravslutning", "Kafékveld", "Informasjonsmøte for nye medlemmer"],
    ),
    (
        ActivityType::VolunteerTraining,
        &[
            "Opplæring av nye frivillige",
            "Fagdag for frivillige",
            "Førstehjelpskurs for frivillige",
            "Veiledning av likepersoner",
        ],
    ),
];

/// Real municipalities, weighted roughly by population, each with its
/// code from 2024, in 2020-2023 and before 2020: an activity carries the
/// code of its date (the county reforms renumbered most of them). Trondheim
/// was 1601 before 2018.
const KOMMUNER: &[([&str; 3], u32)] = &[
    (["0301", "0301", "0301"], 30), // Oslo
    (["4601", "4601", "1201"], 12), // Bergen
    (["5001", "5001", "5001"], 9),  // Trondheim
    (["1103", "1103", "1103"], 7),  // Stavanger
    (["3201", "3024", "0219"], 6),  // Bærum
    (["4204", "4204", "1001"], 5),  // Kristiansand
    (["3205", "3030", "0231"], 5),  // Lillestrøm (Skedsmo before 2020)
    (["3107", "3004", "0106"], 4),  // Fredrikstad
    (["3301", "3005", "0602"], 4),  // Drammen
    (["5501", "5401", "1902"], 4),  // Tromsø
    (["3905", "3803", "0704"], 3),  // Tønsberg
    (["4003", "3807", "0806"], 3),  // Skien
    (["1804", "1804", "1804"], 3),  // Bodø
    (["3403", "3403", "0403"], 2),  // Hamar
    (["3405", "3405", "0501"], 2),  // Lillehammer
    (["1506", "1506", "1502"], 2),  // Molde
    (["1106", "1106", "1106"], 2),  // Haugesund
];

/// The code `codes` had on `day`.
fn code_on(codes: &[&'static str; 3], day: NaiveDate) -> &'static str {
    match day.year() {
        2024.. => codes[0],
        2020..=2023 => codes[1],
        year if year < 2018 && codes[2] == "5001" => "1601",
        _ => codes[2],
    }
}

const TARGET_GROUPS: &[&str] =
    &["relatives", "parents", "children", "youth", "siblings", "persons_with_disabilities", "bereaved", "newcomers"];

/// `count` activities for `org_id`, dated within `years`, numbered
/// `act-{seed}-{n:07}` so ids are unique per organisation and seed.
pub fn generate(
    org_id: &str,
    count: u64,
    years: RangeInclusive<i32>,
    seed: u64,
) -> impl Iterator<Item = Activity> + use<> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let org_id = org_id.to_string();
    let first = NaiveDate::from_ymd_opt(*years.start(), 1, 1).expect("start year is a valid year");
    let last = NaiveDate::from_ymd_opt(*years.end(), 12, 31).expect("end year is a valid year");
    let days = (last - first).num_days().max(0);
    (0..count).map(move |n| one(&mut rng, &org_id, seed, n, first, days))
}

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn pick_weighted<'a, T>(rng: &mut impl Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (item, weight) in items {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    &items[items.len() - 1].0
}

/// Splits `total` people over bins with the given weights, so the bins
/// always add up to the total.
fn split<const N: usize>(rng: &mut impl Rng, total: u32, weights: [u32; N]) -> [u32; N] {
    let indexed: [(usize, u32); N] = std::array::from_fn(|i| (i, weights[i]));
    let mut out = [0; N];
    for _ in 0..total {
        out[*pick_weighted(rng, &indexed)] += 1;
    }
    out
}

/// Mostly weekdays, as most activities are; weekends still happen.
fn date(rng: &mut impl Rng, first: NaiveDate, days: i64) -> NaiveDate {
    loop {
        let d = first + chrono::Days::new(rng.random_range(0..=days) as u64);
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        if !weekend || rng.random_bool(0.3) {
            return d;
        }
    }
}

fn one(rng: &mut ChaCha8Rng, org_id: &str, seed: u64, n: u64, first: NaiveDate, days: i64) -> Activity {
    use ActivityType::*;
    let activity_type = *pick_weighted(
        rng,
        &[
            (GroupSession, 30),
            (IndividualCounseling, 30),
            (PeerSupportCourse, 8),
            (OutreachVisit, 10),
            (OpenMeeting, 14),
            (VolunteerTraining, 8),
        ],
    );
    let title = pick(rng, TITLES[activity_type.index()].1).to_string();
    let quarter_hours = match activity_type {
        IndividualCounseling => rng.random_range(0..=4),
        PeerSupportCourse | VolunteerTraining => rng.random_range(4..=10),
        _ => rng.random_range(1..=8),
    };
    let duration_minutes = 30 + 15 * quarter_hours;
    let mode = match activity_type {
        // Phone calls are common one to one, and the peer-support rules
        // exclude them, so the demo shows that rule at work.
        IndividualCounseling => *pick_weighted(rng, &[(Mode::InPerson, 6), (Mode::Digital, 2), (Mode::Phone, 2)]),
        OutreachVisit => Mode::InPerson,
        _ => *pick_weighted(rng, &[(Mode::InPerson, 17), (Mode::Digital, 3)]),
    };
    let start_time = match activity_type {
        IndividualCounseling | OutreachVisit => {
            format!("{:02}:{:02}", rng.random_range(9..=15), 15 * rng.random_range(0..4))
        }
        _ => format!("{:02}:{:02}", rng.random_range(17..=19), 30 * rng.random_range(0..2)),
    };
    let total = match activity_type {
        IndividualCounseling => rng.random_range(1..=2),
        // Now and then a group falls under the three-participant minimum.
        GroupSession => rng.random_range(2..=12),
        PeerSupportCourse => rng.random_range(4..=16),
        OutreachVisit => rng.random_range(1..=8),
        OpenMeeting => rng.random_range(5..=40),
        VolunteerTraining => rng.random_range(3..=15),
    };
    let [female, male, other, unknown] = split(rng, total, [60, 36, 1, 3]);
    let age_weights = match activity_type {
        OpenMeeting => [6, 12, 8, 6, 58, 8, 2],
        OutreachVisit => [0, 4, 30, 20, 40, 4, 2],
        _ => [0, 1, 6, 10, 68, 13, 2],
    };
    let [age_0_5, age_6_12, age_13_17, age_18_24, age_25_66, age_67_plus, age_unknown] = split(rng, total, age_weights);
    let new = if rng.random_bool(0.6) { 0 } else { rng.random_range(0..=total) };
    let volunteer_count =
        if activity_type == IndividualCounseling { rng.random_range(0..=1) } else { rng.random_range(0..=4) };
    // Each volunteer is there for the activity plus some preparation, in half hours.
    let hours_each = ((duration_minutes as f64 / 60.0 + rng.random_range(0..=2) as f64 * 0.5) * 2.0).round() / 2.0;
    let in_norway = rng.random_bool(0.97);
    let led_by_peer = match activity_type {
        GroupSession | IndividualCounseling | PeerSupportCourse => rng.random_bool(0.85),
        _ => rng.random_bool(0.3),
    };
    let mut target_groups = vec![pick(rng, TARGET_GROUPS).to_string()];
    if rng.random_bool(0.3) {
        let second = pick(rng, TARGET_GROUPS).to_string();
        if second != target_groups[0] {
            target_groups.push(second);
        }
    }
    // Drawn in the order the fields were always drawn, so a seed makes the
    // same activities it always did.
    let day = date(rng, first, days);
    let kommunenummer = code_on(pick_weighted(rng, KOMMUNER), day).to_string();
    Activity {
        activity_id: format!("act-{seed}-{n:07}"),
        org_id: org_id.to_string(),
        activity_type,
        title,
        date: day,
        start_time: Some(start_time),
        duration_minutes,
        mode,
        kommunenummer,
        in_norway,
        participants: Participants {
            total,
            new,
            by_gender: ByGender { female, male, other, unknown },
            by_age: ByAge { age_0_5, age_6_12, age_13_17, age_18_24, age_25_66, age_67_plus, unknown: age_unknown },
        },
        volunteers: Volunteers { count: volunteer_count, hours: volunteer_count as f64 * hours_each },
        led_by_peer,
        target_groups,
        attachments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_lazy_and_numbered() {
        let mut it = generate("org-demo", u64::MAX, 2025..=2025, 7);
        assert_eq!(it.next().unwrap().activity_id, "act-7-0000000");
        assert_eq!(it.next().unwrap().activity_id, "act-7-0000001");
    }

    #[test]
    fn every_year_gets_the_codes_of_its_time() {
        for a in generate("org-demo", 3000, 2000..=2030, 3) {
            assert!(a.problems().is_empty(), "{} {}: {:?}", a.date, a.kommunenummer, a.problems());
        }
        let day = |y| NaiveDate::from_ymd_opt(y, 6, 1).unwrap();
        let trondheim = &KOMMUNER[2].0;
        let codes: Vec<&str> = [2017, 2018, 2020, 2024].map(|y| code_on(trondheim, day(y))).to_vec();
        assert_eq!(codes, ["1601", "5001", "5001", "5001"]);
    }
}
