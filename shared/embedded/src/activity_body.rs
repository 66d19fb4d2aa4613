//! How an activity is kept in the `body` column of SQLite's activities.
//!
//! A body used to be the activity's JSON (about 520 bytes). Now it is a
//! blob: a version byte, then the fields in postcard (about 110 bytes).
//! The table is what an import writes and an export reads, so its size is
//! most of both: a million-row import wrote every page twice (the WAL, then
//! the checkpoint), and an export's reading thread was mostly parsing JSON. Text bodies written before stay readable as JSON, so
//! no migration rewrites a database. The column is still declared TEXT:
//! SQLite's TEXT affinity converts only numbers, so a blob stays a blob.
//!
//! Fields go in a fixed order with no names, so the order below is the
//! format: a change to it, or to the fields of `Participants`,
//! `Volunteers` or `Attachment`, or to the order of the variants of
//! `ActivityType` and `Mode` (kept by their position, the same as in their
//! `ALL`), needs a new version byte (the test pinning version 1's
//! bytes fails otherwise).

use chrono::{Datelike, NaiveDate};
use rusqlite::types::ValueRef;

use crate::domain::{Activity, ActivityType, Attachment, Mode, Participants, Volunteers};
use crate::ports::{PortError, PortResult};

const VERSION_1: u8 = 1;

/// Version 1's fields, borrowed for writing.
type Fields<'a> = (
    &'a str,
    &'a str,
    u8,
    &'a str,
    i32,
    &'a Option<String>,
    u32,
    u8,
    &'a str,
    bool,
    &'a Participants,
    &'a Volunteers,
    bool,
    &'a [String],
    &'a [Attachment],
);

/// The same fields, owned, as they are read back.
type OwnedFields = (
    String,
    String,
    u8,
    String,
    i32,
    Option<String>,
    u32,
    u8,
    String,
    bool,
    Participants,
    Volunteers,
    bool,
    Vec<String>,
    Vec<Attachment>,
);

/// The body to store for `a`.
pub fn encode(a: &Activity) -> PortResult<Vec<u8>> {
    let fields: Fields<'_> = (
        &a.activity_id,
        &a.org_id,
        a.activity_type as u8,
        &a.title,
        a.date.num_days_from_ce(),
        &a.start_time,
        a.duration_minutes,
        a.mode as u8,
        &a.kommunenummer,
        a.in_norway,
        &a.participants,
        &a.volunteers,
        a.led_by_peer,
        &a.target_groups,
        &a.attachments,
    );
    let mut out = Vec::with_capacity(160);
    out.push(VERSION_1);
    postcard::to_extend(&fields, out).map_err(|e| PortError::Permanent(format!("encode activity: {e}")))
}

/// The activity a stored body holds: a blob as [`encode`] writes it, or
/// the JSON text of older rows.
pub fn decode(body: ValueRef<'_>) -> PortResult<Activity> {
    let unreadable = |why: String| PortError::Permanent(format!("stored activity is unreadable: {why}"));
    let bytes = match body {
        ValueRef::Text(json) => return serde_json::from_slice(json).map_err(|e| unreadable(e.to_string())),
        ValueRef::Blob(bytes) => bytes,
        _ => return Err(unreadable("the body is neither text nor a blob".into())),
    };
    let Some((&VERSION_1, rest)) = bytes.split_first() else {
        return Err(unreadable(format!("unknown body version {:?}", bytes.first())));
    };
    let (fields, left): (OwnedFields, _) = postcard::take_from_bytes(rest).map_err(|e| unreadable(e.to_string()))?;
    if !left.is_empty() {
        return Err(unreadable(format!("{} bytes after the activity", left.len())));
    }
    let (
        activity_id,
        org_id,
        activity_type,
        title,
        date,
        start_time,
        duration_minutes,
        mode,
        kommunenummer,
        in_norway,
        participants,
        volunteers,
        led_by_peer,
        target_groups,
        attachments,
    ) = fields;
    Ok(Activity {
        activity_id,
        org_id,
        activity_type: *ActivityType::ALL
            .get(usize::from(activity_type))
            .ok_or_else(|| unreadable(format!("activity type {activity_type}")))?,
        title,
        date: NaiveDate::from_num_days_from_ce_opt(date).ok_or_else(|| unreadable(format!("day {date}")))?,
        start_time,
        duration_minutes,
        mode: *Mode::ALL.get(usize::from(mode)).ok_or_else(|| unreadable(format!("mode {mode}")))?,
        kommunenummer,
        in_norway,
        participants,
        volunteers,
        led_by_peer,
        target_groups,
        attachments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    /// The demo's activities of two years, and the documented one with its
    /// attachment, with and without a start time.
    fn samples() -> Vec<Activity> {
        let mut out: Vec<Activity> = crate::demo::generate("org-x", 2000, 2024..=2025, 7).collect();
        let mut untimed = fixtures::activity();
        untimed.start_time = None;
        out.extend([fixtures::activity(), untimed]);
        out
    }

    fn blob(a: &Activity) -> Vec<u8> {
        encode(a).unwrap()
    }

    #[test]
    fn every_fixture_activity_reads_back_as_it_was_written() {
        let activities = samples();
        assert!(activities.iter().any(|a| a.start_time.is_none()) && activities.iter().any(|a| a.start_time.is_some()));
        for a in &activities {
            assert_eq!(decode(ValueRef::Blob(&blob(a))).unwrap(), *a);
        }
    }

    #[test]
    fn a_body_written_as_json_before_still_reads() {
        for a in samples() {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(decode(ValueRef::Text(json.as_bytes())).unwrap(), a);
        }
    }

    /// Version 1's bytes for one activity, written out: if this fails, the
    /// format changed and rows already stored would read wrong.
    #[test]
    fn version_1_bytes_are_pinned() {
        let a: Activity = serde_json::from_str(
            r#"{"activity_id":"a1","org_id":"o","activity_type":"open_meeting","title":"T","date":"2025-01-02",
                "start_time":"18:00","duration_minutes":90,"mode":"digital","kommunenummer":"0301","in_norway":true,
                "participants":{"total":3,"new":1,"by_gender":{"female":1,"male":1,"other":0,"unknown":1},
                "by_age":{"0-5":0,"6-12":0,"13-17":1,"18-24":0,"25-66":2,"67+":0,"unknown":0}},
                "volunteers":{"count":2,"hours":1.5},"led_by_peer":true,"target_groups":["youth"],
                "attachments":[{"name":"n","content_type":"application/pdf","key":"o/k"}]}"#,
        )
        .unwrap();
        let expected: Vec<u8> = [
            &[1u8, 2, b'a', b'1', 1, b'o', 4, 1, b'T'][..],
            &[0xea, 0x9e, 0x5a], // day 739 253 of the common era, zigzag varint
            &[1, 5, b'1', b'8', b':', b'0', b'0', 90, 1, 4, b'0', b'3', b'0', b'1', 1],
            &[3, 1, 1, 1, 0, 1, 0, 0, 1, 0, 2, 0, 0],
            &[2, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 1],
            &[1, 5, b'y', b'o', b'u', b't', b'h'],
            &[1, 1, b'n', 15],
            b"application/pdf",
            &[3, b'o', b'/', b'k'],
        ]
        .concat();
        assert_eq!(blob(&a), expected);
        assert_eq!(decode(ValueRef::Blob(&expected)).unwrap(), a);
    }

    #[test]
    fn a_damaged_body_is_an_error_not_a_wrong_activity() {
        let a = fixtures::activity();
        let good = blob(&a);
        let mut extra = good.clone();
        extra.push(0);
        let mut unknown_version = good.clone();
        unknown_version[0] = 2;
        for bad in [&good[..good.len() - 1], &extra[..], &unknown_version[..], &[][..], &b"{broken"[..]] {
            assert!(decode(ValueRef::Blob(bad)).is_err(), "{bad:?}");
        }
        assert!(decode(ValueRef::Text(b"{broken")).is_err());
        assert!(decode(ValueRef::Integer(1)).is_err());
        let mut bad_type = good.clone();
        bad_type[3 + a.activity_id.len() + a.org_id.len()] = 6;
        assert!(decode(ValueRef::Blob(&bad_type)).is_err());
    }
}
