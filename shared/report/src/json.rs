//! The JSON report: the same figures as the workbook, for machines, hidden
//! cells included (as `null`). The schema is checked in as
//! `docs/report.schema.json` (format_version 4); a test validates a
//! generated report against it.
//!
//! Streamed: each activity is serialised and written as it arrives, so the
//! whole list is never in memory. Layout, in this order: `report` (who,
//! what period, which profile), `activities` (one per line), `attachments`,
//! `summary` (Sammendrag with its month table), `participants`
//! (Deltakere), `geography` (Geografi), `volunteers` (Frivillige) and
//! `control` (Kontroll).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use super::labels;
use super::summary::Summary;
use super::suppression::Suppressed;
use super::{Activity, ActivityType, Finished, NotCountedReason, ReportError, ReportMeta, Sink, TypeFigures};
use crate::domain::Profile;
use crate::domain::fylke_name;

pub const FORMAT_VERSION: u32 = 4;

#[derive(Serialize)]
struct Header<'a> {
    format_version: u32,
    export_id: &'a str,
    org_id: &'a str,
    organisation_name: Option<&'a str>,
    organisation_number: Option<&'a str>,
    report_profile: &'a str,
    scheme: &'a str,
    suppression_threshold: u32,
    period_from: NaiveDate,
    period_to: NaiveDate,
    activity_types: Vec<&'static str>,
    generated_at: String,
    code_list: &'static str,
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
    counted: bool,
    not_counted_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Figures {
    #[serde(skip_serializing_if = "Option::is_none")]
    activity_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'static str>,
    activities: u64,
    countable_activities: u64,
    activity_days: u64,
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
            countable_activities: f.countable,
            activity_days: f.activity_days,
            hours: f.hours(),
            participations: f.participations,
            new_participants: f.new_participants,
            volunteers: f.volunteers,
            volunteer_hours: f.volunteer_hours,
        }
    }
}

#[derive(Serialize)]
struct Month {
    month: String,
    countable_by_type: Vec<u64>,
    total: u64,
}

#[derive(Serialize)]
struct SummaryOut {
    by_type: Vec<Figures>,
    total: Figures,
    /// `countable_by_type` follows `types`.
    types: Vec<&'static str>,
    months: Vec<Month>,
}

#[derive(Serialize)]
struct TableRow {
    key: String,
    label: String,
    /// `null` where the workbook shows `:`.
    cells: Vec<Option<u64>>,
    total: u64,
}

#[derive(Serialize)]
struct Table {
    columns: Vec<String>,
    column_labels: Vec<&'static str>,
    rows: Vec<TableRow>,
    column_totals: Vec<u64>,
    total: u64,
    hidden_primary: usize,
    hidden_secondary: usize,
    hidden_but_derivable: usize,
}

impl Table {
    fn new(
        columns: Vec<String>,
        column_labels: Vec<&'static str>,
        rows: Vec<(String, String)>,
        t: &Suppressed,
    ) -> Self {
        Table {
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(r, (key, label))| TableRow {
                    key,
                    label,
                    cells: (0..columns.len()).map(|c| t.shown(r, c)).collect(),
                    total: t.row_total(r),
                })
                .collect(),
            column_totals: (0..columns.len()).map(|c| t.col_total(c)).collect(),
            columns,
            column_labels,
            total: t.total(),
            hidden_primary: t.primary,
            hidden_secondary: t.secondary,
            hidden_but_derivable: t.unprotected.len(),
        }
    }
}

fn type_keys() -> Vec<String> {
    ActivityType::ALL.iter().map(|t| t.as_str().to_string()).collect()
}

fn type_rows() -> Vec<(String, String)> {
    ActivityType::ALL.iter().map(|t| (t.as_str().to_string(), t.label_nb().to_string())).collect()
}

fn type_labels() -> Vec<&'static str> {
    ActivityType::ALL.iter().map(|t| t.label_nb()).collect()
}

#[derive(Serialize)]
struct Participants {
    by_gender: Table,
    by_age: Table,
}

#[derive(Serialize)]
struct Kommune {
    kommunenummer: String,
    fylke: &'static str,
    by_type: Vec<u64>,
    total: u64,
}

#[derive(Serialize)]
struct Geography {
    /// Rows are fylker by code; activities abroad have the key "".
    fylker: Table,
    kommuner: Vec<Kommune>,
    kommuner_left_out: usize,
}

#[derive(Serialize)]
struct VolunteerRow {
    month: String,
    activity_type: &'static str,
    activities: u64,
    volunteers: u64,
    volunteer_hours: f64,
}

#[derive(Serialize)]
struct Reason {
    code: &'static str,
    explanation: &'static str,
    activities: u64,
}

#[derive(Serialize)]
struct Control {
    activities_read: u64,
    countable_activities: u64,
    not_counted: Vec<Reason>,
    hidden_cells: usize,
    attachments: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    attachment_files_in_bundle: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attachment_files_missing: Option<u64>,
    data_sha256: String,
    software_version: &'static str,
}

pub(super) struct JsonSink {
    out: BufWriter<File>,
    first: bool,
}

impl JsonSink {
    pub(super) fn create(meta: &ReportMeta, profile: &Profile, path: &Path) -> Result<Self, ReportError> {
        let types: &[ActivityType] =
            if meta.activity_types.is_empty() { &ActivityType::ALL } else { &meta.activity_types };
        let header = Header {
            format_version: FORMAT_VERSION,
            export_id: &meta.export_id,
            org_id: &meta.org_id,
            organisation_name: meta.organisation_name.as_deref(),
            organisation_number: meta.organisation_number.as_deref(),
            report_profile: &meta.report_profile,
            scheme: &profile.scheme,
            suppression_threshold: profile.suppression_threshold,
            period_from: meta.period_from,
            period_to: meta.period_to,
            activity_types: types.iter().map(|t| t.as_str()).collect(),
            generated_at: meta.generated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            code_list: labels::CODE_LIST,
        };
        let mut out = BufWriter::with_capacity(64 * 1024, File::create(path)?);
        out.write_all(b"{\"report\":")?;
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b",\"activities\":[")?;
        Ok(JsonSink { out, first: true })
    }

    fn field<T: Serialize>(&mut self, name: &str, value: &T) -> Result<(), ReportError> {
        write!(self.out, ",\n\"{name}\":")?;
        serde_json::to_writer(&mut self.out, value)?;
        Ok(())
    }
}

fn summary_out(s: &Summary) -> SummaryOut {
    SummaryOut {
        by_type: s.rows_by_type().map(|(t, f)| Figures::new(Some(t), f)).collect(),
        total: Figures::new(None, &s.total),
        types: ActivityType::ALL.iter().map(|t| t.as_str()).collect(),
        months: s
            .months
            .iter()
            .map(|(m, c)| Month {
                month: m.format("%Y-%m").to_string(),
                countable_by_type: c.to_vec(),
                total: c.iter().sum(),
            })
            .collect(),
    }
}

fn geography(s: &Summary) -> Geography {
    let rows = s.areas.iter().map(|a| (a.code.clone(), a.name.clone())).collect();
    Geography {
        fylker: Table::new(type_keys(), type_labels(), rows, &s.by_area),
        kommuner: s
            .kommuner
            .iter()
            .map(|(k, row)| Kommune {
                kommunenummer: k.clone(),
                fylke: fylke_name(k.get(..2).unwrap_or_default()),
                by_type: row.to_vec(),
                total: row.iter().sum(),
            })
            .collect(),
        kommuner_left_out: s.kommuner_left_out,
    }
}

impl Sink for JsonSink {
    fn row(&mut self, a: &Activity, outcome: Result<(), NotCountedReason>) -> Result<(), ReportError> {
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
            counted: outcome.is_ok(),
            not_counted_reason: outcome.err().map(NotCountedReason::code),
        };
        serde_json::to_writer(&mut self.out, &row)?;
        Ok(())
    }

    fn finish(mut self, done: Finished) -> Result<(), ReportError> {
        let s = &done.summary;
        self.out.write_all(b"\n],\n\"attachments\":[")?;
        let mut first = true;
        let summary = summary_out(s);
        let participants = Participants {
            by_gender: Table::new(
                ["female", "male", "other", "unknown"].map(String::from).to_vec(),
                labels::GENDERS.to_vec(),
                type_rows(),
                &s.by_gender,
            ),
            by_age: Table::new(
                ["0-5", "6-12", "13-17", "18-24", "25-66", "67+", "unknown"].map(String::from).to_vec(),
                labels::AGE_BANDS.to_vec(),
                type_rows(),
                &s.by_age,
            ),
        };
        let geography = geography(s);
        let volunteers: Vec<VolunteerRow> = s
            .volunteers
            .iter()
            .map(|(m, t, v)| VolunteerRow {
                month: m.format("%Y-%m").to_string(),
                activity_type: t.as_str(),
                activities: v.activities,
                volunteers: v.volunteers,
                volunteer_hours: v.hours,
            })
            .collect();
        let control = Control {
            activities_read: s.rows,
            countable_activities: s.total.countable,
            not_counted: NotCountedReason::ALL
                .iter()
                .map(|r| Reason {
                    code: r.code(),
                    explanation: r.explanation_nb(),
                    activities: s.not_counted[r.index()],
                })
                .collect(),
            hidden_cells: [&s.by_gender, &s.by_age, &s.by_area].iter().map(|t| t.hidden_count()).sum(),
            attachments: s.attachments,
            attachment_files_in_bundle: done.bundle.map(|b| b.included),
            attachment_files_missing: done.bundle.map(|b| b.missing),
            data_sha256: done.data_sha256.clone(),
            software_version: concat!("bufdir-exports ", env!("CARGO_PKG_VERSION")),
        };
        for row in done.attachments.rows()? {
            self.out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer(&mut self.out, &row?)?;
        }
        self.out.write_all(b"\n]")?;
        self.field("summary", &summary)?;
        self.field("participants", &participants)?;
        self.field("geography", &geography)?;
        self.field("volunteers", &volunteers)?;
        self.field("control", &control)?;
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
        assert_eq!(r["format_version"], 4);
        assert_eq!((r["organisation_name"].is_null(), r["organisation_number"].is_null()), (true, true));
        assert_eq!(r["suppression_threshold"], 5);
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
            (&acts[2]["counted"], &acts[2]["not_counted_reason"]),
            (&serde_json::json!(false), &serde_json::json!("utlandet"))
        );
        assert_eq!(
            acts[0],
            serde_json::json!({"activity_id":"act-1","date":"2025-01-15","activity_type":"group_session",
                "title":"Samtalegruppe; pårørende","mode":"in_person","duration_minutes":90,
                "kommunenummer":"0301","fylkesnummer":"03","participants":8,"new_participants":2,
                "volunteers":2,"volunteer_hours":4.0,"led_by_peer":true,"in_norway":true,
                "counted":true,"not_counted_reason":null})
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
        assert_eq!(json_figures(&out.path)[6], [0.0; 8]);
    }
}
