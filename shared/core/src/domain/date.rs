//! Calendar dates as the API and the files it reads spell them: exactly
//! `YYYY-MM-DD`. chrono's `%Y-%m-%d` also takes `2025-1- 1`, `+2025-01-01`
//! and padded fields, so a caller's slip would silently become another
//! date; here anything but ten characters in that one shape is refused.

use chrono::{Datelike, NaiveDate};

/// Years a reported date may fall in: activity records start in this
/// century, and a year like 0000 or 9999 is a typing slip, not a period.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

/// Why a date string was refused, worded to follow the field's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DateError {
    /// Not `YYYY-MM-DD`, or no such day (2025-02-30).
    NotIso,
    /// A real day, outside [`YEARS`].
    OutOfRange,
}

impl DateError {
    pub fn message(&self, got: &str) -> String {
        match self {
            DateError::NotIso => format!("must be an ISO date YYYY-MM-DD, got {got:?}"),
            DateError::OutOfRange => {
                format!("must be a date in the years {} to {}, got {got:?}", YEARS.start(), YEARS.end())
            }
        }
    }
}

/// Parses exactly `YYYY-MM-DD` (ASCII digits, dashes at 4 and 7) naming a
/// real day in [`YEARS`].
pub fn parse_iso_date(s: &str) -> Result<NaiveDate, DateError> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    if !shaped {
        return Err(DateError::NotIso);
    }
    let field = |range: std::ops::Range<usize>| s[range].parse::<u32>().map_err(|_| DateError::NotIso);
    let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(DateError::NotIso)?;
    if YEARS.contains(&date.year()) { Ok(date) } else { Err(DateError::OutOfRange) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_one_shape_is_a_date() {
        assert_eq!(parse_iso_date("2025-01-01"), Ok(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()));
        assert_eq!(parse_iso_date("2000-02-29"), Ok(NaiveDate::from_ymd_opt(2000, 2, 29).unwrap()));
        for slip in [
            "2025-01- 1",
            " 2025-1-01",
            "+2025-1-01",
            "2025- 1-01",
            "+02025-1-1",
            "2025-1-1",
            "2025-01-1 ",
            "2025/01/01",
            "20250101",
            "2025-01-01T00:00:00",
            "2025-02-30",
            "2025-13-01",
            "2025-00-10",
            "２０２５-01-01",
            "",
            "2025-0a-01",
            "-2025-01-0",
        ] {
            assert_eq!(parse_iso_date(slip), Err(DateError::NotIso), "{slip:?}");
        }
        for far in ["0000-01-01", "1999-12-31", "2100-01-01", "9999-12-31"] {
            assert_eq!(parse_iso_date(far), Err(DateError::OutOfRange), "{far:?}");
        }
    }
}
