//! Municipality (kommune) and county (fylke) codes, as Statistics Norway
//! numbers them. A kommunenummer is four digits; its first two are the
//! county. Both were reorganised in 2020 and 2024, and an activity keeps
//! the code it was recorded with, so which codes are right depends on the
//! activity's date:
//! - from 2024-01-01 the list is known exactly (`data/kommuner-2024.csv`,
//!   SSB classification 131 as valid from 2024-01-01, unchanged since), and
//!   a code must be on it;
//! - before that, the code must belong to a county that existed in the
//!   activity's year ([`COUNTIES`]); the municipalities of earlier
//!   years are not checked one by one.

use chrono::{Datelike, NaiveDate};

/// `code;name` per line, sorted by code.
const KOMMUNER_2024: &str = include_str!("../../data/kommuner-2024.csv");

/// The day the current municipality list took effect.
const LIST_FROM: (i32, u32, u32) = (2024, 1, 1);

/// The name of the municipality a 2024 code names.
pub fn kommune_name(code: &str) -> Option<&'static str> {
    // Asked once per activity written or imported: a scan of the 357 lines
    // each time was a tenth of an import's checking.
    static BY_CODE: std::sync::OnceLock<std::collections::HashMap<&'static str, &'static str>> =
        std::sync::OnceLock::new();
    BY_CODE.get_or_init(|| KOMMUNER_2024.lines().filter_map(|line| line.split_once(';')).collect()).get(code).copied()
}

/// Each county: its code, its name (with the years where two share one),
/// and its first and last year (counties change on 1 January): the
/// Trøndelag counties merged in 2018, the 2020 reform made Viken,
/// Innlandet, Vestfold og Telemark, Agder, Vestland and Troms og Finnmark,
/// and 2024 split three of them again.
const COUNTIES: &[(&str, &str, i32, i32)] = &[
    ("01", "Østfold (før 2020)", i32::MIN, 2019),
    ("02", "Akershus (før 2020)", i32::MIN, 2019),
    ("03", "Oslo", i32::MIN, i32::MAX),
    ("04", "Hedmark", i32::MIN, 2019),
    ("05", "Oppland", i32::MIN, 2019),
    ("06", "Buskerud (før 2020)", i32::MIN, 2019),
    ("07", "Vestfold (før 2020)", i32::MIN, 2019),
    ("08", "Telemark (før 2020)", i32::MIN, 2019),
    ("09", "Aust-Agder", i32::MIN, 2019),
    ("10", "Vest-Agder", i32::MIN, 2019),
    ("11", "Rogaland", i32::MIN, i32::MAX),
    ("12", "Hordaland", i32::MIN, 2019),
    ("14", "Sogn og Fjordane", i32::MIN, 2019),
    ("15", "Møre og Romsdal", i32::MIN, i32::MAX),
    ("16", "Sør-Trøndelag", i32::MIN, 2017),
    ("17", "Nord-Trøndelag", i32::MIN, 2017),
    ("18", "Nordland", i32::MIN, i32::MAX),
    ("19", "Troms (før 2020)", i32::MIN, 2019),
    ("20", "Finnmark (før 2020)", i32::MIN, 2019),
    ("30", "Viken", 2020, 2023),
    ("31", "Østfold", 2024, i32::MAX),
    ("32", "Akershus", 2024, i32::MAX),
    ("33", "Buskerud", 2024, i32::MAX),
    ("34", "Innlandet", 2020, i32::MAX),
    ("38", "Vestfold og Telemark", 2020, 2023),
    ("39", "Vestfold", 2024, i32::MAX),
    ("40", "Telemark", 2024, i32::MAX),
    ("42", "Agder", 2020, i32::MAX),
    ("46", "Vestland", 2020, i32::MAX),
    ("50", "Trøndelag", 2018, i32::MAX),
    ("54", "Troms og Finnmark", 2020, 2023),
    ("55", "Troms", 2024, i32::MAX),
    ("56", "Finnmark", 2024, i32::MAX),
];

/// The county a kommunenummer's first two digits name ("" for none).
pub fn fylke_name(code: &str) -> &'static str {
    COUNTIES.iter().find(|(c, ..)| *c == code).map_or("", |(_, name, ..)| name)
}

fn county_existed(county: &str, year: i32) -> bool {
    COUNTIES.iter().any(|&(code, _, first, last)| code == county && (first..=last).contains(&year))
}

/// Why a kommunenummer was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KommuneError {
    /// Not four digits.
    Shape,
    /// Four digits, but no municipality had that number on the date.
    Unknown,
}

/// Checks `code` for an activity held on `date`.
pub fn check_kommunenummer(code: &str, date: NaiveDate) -> Result<(), KommuneError> {
    if !(code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit())) {
        return Err(KommuneError::Shape);
    }
    let from = NaiveDate::from_ymd_opt(LIST_FROM.0, LIST_FROM.1, LIST_FROM.2).expect("a real day");
    let known = if date >= from { kommune_name(code).is_some() } else { county_existed(&code[..2], date.year()) };
    if known { Ok(()) } else { Err(KommuneError::Unknown) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, 6, 1).unwrap()
    }

    #[test]
    fn the_2024_list_is_whole_and_sorted() {
        let codes: Vec<&str> = KOMMUNER_2024.lines().map(|l| l.split_once(';').unwrap().0).collect();
        assert_eq!(codes.len(), 357, "Norway has 357 municipalities from 2024");
        assert!(codes.windows(2).all(|w| w[0] < w[1]));
        assert!(codes.iter().all(|c| !fylke_name(&c[..2]).is_empty()), "every county is named");
        assert!(codes.iter().all(|c| county_existed(&c[..2], 2024)), "and exists from 2024");
        assert!(COUNTIES.windows(2).all(|w| w[0].0 < w[1].0), "one row per county, sorted");
        assert_eq!(kommune_name("0301"), Some("Oslo - Oslove"));
        assert_eq!(kommune_name("4601"), Some("Bergen"));
    }

    #[test]
    fn codes_are_checked_against_the_list_of_their_time() {
        assert_eq!(check_kommunenummer("0301", day(2025)), Ok(()));
        assert_eq!(check_kommunenummer("3001", day(2025)), Err(KommuneError::Unknown), "Halden's 2020-2023 code");
        assert_eq!(check_kommunenummer("3001", day(2022)), Ok(()));
        assert_eq!(check_kommunenummer("0101", day(2015)), Ok(()), "Halden before 2020");
        assert_eq!(check_kommunenummer("9999", day(2025)), Err(KommuneError::Unknown));
        assert_eq!(check_kommunenummer("9999", day(2015)), Err(KommuneError::Unknown));
        assert_eq!(check_kommunenummer("1399", day(2015)), Err(KommuneError::Unknown), "no county 13");
        // Counties of their time only: Trøndelag from 2018, the 2024 counties from 2024.
        assert_eq!(check_kommunenummer("1601", day(2017)), Ok(()));
        assert_eq!(check_kommunenummer("1601", day(2018)), Err(KommuneError::Unknown));
        assert_eq!(check_kommunenummer("5001", day(2017)), Err(KommuneError::Unknown));
        assert_eq!(check_kommunenummer("5001", day(2018)), Ok(()));
        assert_eq!(check_kommunenummer("3101", day(2023)), Err(KommuneError::Unknown));
        assert_eq!(check_kommunenummer("0101", day(2020)), Err(KommuneError::Unknown), "Østfold's old code");
        assert_eq!(check_kommunenummer("1103", day(2001)), Ok(()), "Stavanger, always Rogaland");
        for bad in ["301", "03011", "03a1", "", " 301"] {
            assert_eq!(check_kommunenummer(bad, day(2025)), Err(KommuneError::Shape), "{bad:?}");
        }
    }
}
