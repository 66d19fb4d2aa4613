//! The JSON report: the same figures as the Excel file, for machines.
//! Streamed: each activity is serialised and written as it arrives, so the
//! whole list is never in memory.
//!
//! Schema (format_version 1; one activity per line inside the array):
//!
//! ```text
//! {
//!   "report": {
//!     "format_version": 1,
//!     "export_id": string,
//!     "org_id": string,
//!     "report_profile": string,
//!     "period_from": "YYYY-MM-DD",
//!     "period_to": "YYYY-MM-DD",
//!     "activity_types": [snake_case type, ...],   // the types included; all six when the request named none
//!     "generated_at": RFC 3339 UTC, e.g. "2025-03-04T10:00:00Z"
//!   },
//!   "activities": [
//!     { "activity_id": string, "date": "YYYY-MM-DD",
//!       "activity_type": snake_case type, "title": string,
//!       "mode": "in_person" | "digital" | "phone",
//!       "duration_minutes": int,
//!       "kommunenummer": "4 digits, as recorded", "fylkesnummer": "2 digits",
//!       "participants": int, "new_participants": int,
//!       "volunteers": int, "volunteer_hours": number,
//!       "led_by_peer": bool, "in_norway": bool }, ...
//!   ],
//!   "summary": {
//!     "by_type": [   // always six entries, zeros included, in this order: group_session,
//!                    // individual_counseling, peer_support_course, outreach_visit,
//!                    // open_meeting, volunteer_training
//!       { "activity_type": snake_case type, "label": bokmål label,
//!         "activities": int, "hours": number (minutes / 60),
//!         "participations": int, "new_participants": int,
//!         "volunteers": int, "volunteer_hours": number }, ...
//!     ],
//!     "total": { the same fields without "activity_type" and "label" }
//!   }
//! }
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use super::{Activity, ActivityType, ReportError, ReportMeta, Sink, Summary, TypeFigures};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Header<'a> {
    format_version: u32,
    export_id: &'a str,
    org_id: &'a str,
    report_profile: &'a str,
    period_from: NaiveDate,
    period_to: NaiveDate,
    activity_types: Vec<&'static str>,
    generated_at: String,
}

/// Borrows from the activity: nothing is copied per row.
#[derive(Serialize)]
struct Row<'a> {
    activity_id: &'a str,
    date: NaiveDate,
    activity_type: &'static str,
    title: &'a str,
    mode: &'static str,
    duration_minutes: u32,
    kommunenummer: &'a str,
    fylkesnummer: &'a str,
    participants: u32,
    new_participants: u32,
    volunteers: u32,
    volunteer_hours: f64,
    led_by_peer: bool,
    in_norway: bool,
}

#[derive(Serialize)]
struct Figures {
    #[serde(skip_serializing_if = "Option::is_none")]
    activity_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'static str>,
    activities: u64,
    hours: f64,
    participations: u64,
    new_participants: u64,
    volunteers: u64,
    volunteer_hours: f64,
}

impl Figures {
    fn new(t: Option<ActivityType>, f: &TypeFigures) -> Self {
        Figures {
            activity_type: t.map(ActivityType::as_str),
            label: t.map(ActivityType::label_nb),
            activities: f.activities,
            hours: f.hours(),
            participations: f.participations,
            new_participants: f.new_participants,
            volunteers: f.volunteers,
            volunteer_hours: f.volunteer_hours,
        }
    }
}

#[derive(Serialize)]
struct SummaryOut {
    by_type: Vec<Figures>,
    total: Figures,
}

pub(super) struct JsonSink {
    out: BufWriter<File>,
    first: bool,
}

impl JsonSink {
    pub(super) fn create(meta: &ReportMeta, path: &Path) -> Result<Self, ReportError> {
        let types: &[ActivityType] =
            if meta.activity_types.is_empty() { &ActivityType::ALL } else { &meta.activity_types };
        let header = Header {
            format_version: FORMAT_VERSION,
            export_id: &meta.export_id,
            org_id: &meta.org_id,
            report_profile: &meta.report_profile,
            period_from: meta.period_from,
            period_to: meta.period_to,
            activity_types: types.iter().map(|t| t.as_str()).collect(),
            generated_at: meta.generated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let mut out = BufWriter::with_capacity(64 * 1024, File::create(path)?);
        out.write_all(b"{\"report\":")?;
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b",\"activities\":[")?;
        Ok(JsonSink { out, first: true })
    }
}

impl Sink for JsonSink {
    fn row(&mut self, a: &Activity) -> Result<(), ReportError> {
        self.out.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        let row = Row {
            activity_id: &a.activity_id,
            date: a.date,
            activity_type: a.activity_type.as_str(),
            title: &a.title,
            mode: a.mode.as_str(),
            duration_minutes: a.duration_minutes,
            kommunenummer: &a.kommunenummer,
            fylkesnummer: a.fylkesnummer(),
            participants: a.participants.total,
            new_participants: a.participants.new,
            volunteers: a.volunteers.count,
            volunteer_hours: a.volunteers.hours,
            led_by_peer: a.led_by_peer,
            in_norway: a.in_norway,
        };
        serde_json::to_writer(&mut self.out, &row)?;
        Ok(())
    }

    fn finish(mut self, summary: &Summary) -> Result<(), ReportError> {
        let out = SummaryOut {
            by_type: summary.rows_by_type().map(|(t, f)| Figures::new(Some(t), f)).collect(),
            total: Figures::new(None, &summary.total),
        };
        self.out.write_all(b"\n],\"summary\":")?;
        serde_json::to_writer(&mut self.out, &out)?;
        self.out.write_all(b"}\n")?;
        // into_inner surfaces the last flush's error instead of losing it in drop.
        self.out.into_inner().map_err(|e| e.into_error())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_data::*;
    use super::super::write_report;
    use crate::domain::{ActivityType, ExportFormat};

    #[test]
    fn json_has_the_documented_shape_and_hand_counted_summary() {
        let dir = tempfile::tempdir().unwrap();
        let out = write_report(&meta(ExportFormat::Json), dir.path(), ok_items(tiny()), |_| true).unwrap();
        assert_eq!(out.filename, "bufdir-org-demo-2025-01-01-2025-12-31.json");
        assert_eq!(out.content_type, "application/json");
        let v = json(&out.path);

        let r = &v["report"];
        assert_eq!(r["format_version"], 1);
        assert_eq!(r["export_id"], "exp-test-0001");
        assert_eq!(r["org_id"], "org-demo");
        assert_eq!(r["report_profile"], "standard");
        assert_eq!(r["period_from"], "2025-01-01");
        assert_eq!(r["period_to"], "2025-12-31");
        assert_eq!(r["generated_at"], "2025-06-01T10:30:00Z");
        let all: Vec<&str> = ActivityType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(r["activity_types"], serde_json::json!(all));

        let acts = v["activities"].as_array().unwrap();
        assert_eq!(acts.len(), 4);
        assert_eq!(
            acts[0],
            serde_json::json!({"activity_id":"act-1","date":"2025-01-15","activity_type":"group_session",
                "title":"Samtalegruppe; pårørende","mode":"in_person","duration_minutes":90,
                "kommunenummer":"0301","fylkesnummer":"03","participants":8,"new_participants":2,
                "volunteers":2,"volunteer_hours":4.0,"led_by_peer":true,"in_norway":true})
        );

        let by_type = v["summary"]["by_type"].as_array().unwrap();
        assert_eq!(by_type.len(), 6);
        for (entry, t) in by_type.iter().zip(ActivityType::ALL) {
            assert_eq!(entry["activity_type"], t.as_str());
            assert_eq!(entry["label"], t.label_nb());
        }
        let total = v["summary"]["total"].as_object().unwrap();
        assert!(!total.contains_key("activity_type") && !total.contains_key("label"));
        assert_eq!(json_figures(&out.path), tiny_expected());
    }

    #[test]
    fn json_lists_the_chosen_types_and_survives_no_activities() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = meta(ExportFormat::Json);
        m.activity_types = vec![ActivityType::OpenMeeting];
        let out = write_report(&m, dir.path(), ok_items(vec![]), |_| true).unwrap();
        let v = json(&out.path);
        assert_eq!(v["report"]["activity_types"], serde_json::json!(["open_meeting"]));
        assert_eq!(v["activities"], serde_json::json!([]));
        assert_eq!(json_figures(&out.path)[6], [0.0; 6]);
    }
}
