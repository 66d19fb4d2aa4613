//! Municipality (kommune) and county (fylke) codes, as Statistics Norway
//! numbers them. A kommunenummer is four digits; its first two are the
//! county. Both were reorganised in 2020 and 2024, and an activity keeps
//! the code it was recorded with, so which codes are right depends on the
//! activity's date:
//! - from 2024-01-01 the list is known exactly (`data/kommuner-2024.csv`,
//!   SSB classification 131 as valid from 2024-01-01, unchanged since), and
//!   a code must be on it;
//! - before that, the code must belong to a county that existed then; the
//!   municipalities of earlier years are not checked one by one.

use chrono::NaiveDate;

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

/// The county a kommunenummer's first two digits name, with the years the
/// name needs to be told apart.
pub fn fylke_name(code: &str) -> &'static str {
    match code {
        "01" => "Østfold (før 2020)",
        "02" => "Akershus (før 2020)",
        "03" => "Oslo",
        "04" => "Hedmark",
        "05" => "Oppland",
        "06" => "Buskerud (før 2020)",
        "07" => "Vestfold (før 2020)",
        "08" => "Telemark (før 2020)",
        "09" => "Aust-Agder",
        "10" => "Vest-Agder",
        "11" => "Rogaland",
        "12" => "Hordaland",
        "14" => "Sogn og Fjordane",
        "15" => "Møre og Romsdal",
        "16" => "Sør-Trøndelag",
        "17" => "Nord-Trøndelag",
        "18" => "Nordland",
        "19" => "Troms (før 2020)",
        "20" => "Finnmark (før 2020)",
        "30" => "Viken",
        "31" => "Østfold",
        "32" => "Akershus",
        "33" => "Buskerud",
        "34" => "Innlandet",
        "38" => "Vestfold og Telemark",
        "39" => "Vestfold",
        "40" => "Telemark",
        "42" => "Agder",
        "46" => "Vestland",
        "50" => "Trøndelag",
        "54" => "Troms og Finnmark",
        "55" => "Troms",
        "56" => "Finnmark",
        _ => "",
    }
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
    let known = if date >= from { kommune_name(code).is_some() } else { !fylke_name(&code[..2]).is_empty() };
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
        for bad in ["301", "03011", "03a1", "", " 301"] {
            assert_eq!(check_kommunenummer(bad, day(2025)), Err(KommuneError::Shape), "{bad:?}");
        }
    }
}
