//! The figure sheets (everything but the activity and attachment lists) as
//! plain rows of typed cells. The Excel and CSV writers both render these
//! same rows, so a sheet and its CSV twin cannot disagree on a figure, a
//! label or a hidden cell.

use chrono::{DateTime, NaiveDate, Utc};

use super::ReportMeta;
use super::attachments::BundleCounts;
use super::labels::{
    self, SHEET_CONTROL, SHEET_COVER, SHEET_GEOGRAPHY, SHEET_PARTICIPANTS, SHEET_SUMMARY, SHEET_VOLUNTEERS,
};
use super::summary::{Summary, TypeFigures};
use super::suppression::Suppressed;
use crate::domain::fylke_name;
use crate::domain::{ActivityType, NotCountedReason, Profile};

/// What a hidden cell shows, as Statistics Norway prints it.
pub const HIDDEN: &str = ":";

#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Int(u64),
    Dec(f64),
    Date(NaiveDate),
    /// A month, stored as its first day.
    Month(NaiveDate),
    DateTime(DateTime<Utc>),
    Hidden,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Title,
    Header,
    Body,
    Total,
    /// An explanation under or above a table.
    Note,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub style: Style,
    pub cells: Vec<Cell>,
}

/// Where Sammendrag's month table sits, for the chart drawn from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChartSpec {
    pub header_row: u32,
    pub first_row: u32,
    pub last_row: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SheetModel {
    pub name: &'static str,
    pub rows: Vec<Row>,
    pub widths: Vec<f64>,
    /// Print titles: the row repeated at the top of each printed page.
    pub header_row: Option<u32>,
    pub chart: Option<ChartSpec>,
}

impl SheetModel {
    fn new(name: &'static str, widths: Vec<f64>) -> Self {
        SheetModel { name, rows: Vec::new(), widths, header_row: None, chart: None }
    }

    fn push(&mut self, style: Style, cells: Vec<Cell>) -> u32 {
        if style == Style::Header && self.header_row.is_none() {
            self.header_row = Some(self.rows.len() as u32);
        }
        self.rows.push(Row { style, cells });
        self.rows.len() as u32 - 1
    }

    fn text(&mut self, style: Style, s: impl Into<String>) {
        self.push(style, vec![Cell::Text(s.into())]);
    }

    fn blank(&mut self) {
        self.push(Style::Body, vec![]);
    }

    /// A header row. Headers wrap between words but a word never breaks,
    /// so each column is widened to fit its header's longest word: two
    /// tables sharing a column (Sammendrag's) then both fit.
    fn headers(&mut self, hs: impl IntoIterator<Item = impl Into<String>>) {
        let cells: Vec<Cell> = hs.into_iter().map(|h| Cell::Text(h.into())).collect();
        for (c, cell) in cells.iter().enumerate() {
            if let Cell::Text(h) = cell {
                let longest = h.split_whitespace().map(|w| w.chars().count()).max().unwrap_or(0);
                // Bold text is wider than the width unit (one '0' of the body font).
                let fit = longest as f64 * 1.15 + 2.0;
                match self.widths.get_mut(c) {
                    Some(w) => *w = w.max(fit),
                    None => {
                        self.widths.resize(c, 8.43);
                        self.widths.push(fit);
                    }
                }
            }
        }
        self.push(Style::Header, cells);
    }
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn shown(s: &Suppressed, r: usize, c: usize) -> Cell {
    s.shown(r, c).map_or(Cell::Hidden, Cell::Int)
}

/// The sheets that come before the activity list.
pub fn leading(meta: &ReportMeta, profile: &Profile, s: &Summary, data_sha256: &str) -> Vec<SheetModel> {
    vec![cover(meta, profile, s, data_sha256), summary(s)]
}

/// The sheets that follow the activity list, except Vedlegg (streamed) and Kontroll.
pub fn trailing(s: &Summary) -> Vec<SheetModel> {
    vec![participants(s), geography(s), volunteers(s)]
}

fn cover(meta: &ReportMeta, profile: &Profile, s: &Summary, data_sha256: &str) -> SheetModel {
    let mut m = SheetModel::new(SHEET_COVER, vec![26.0, 70.0]);
    m.text(Style::Title, labels::TITLE);
    m.blank();
    let types = if meta.activity_types.is_empty() {
        "Alle".to_string()
    } else {
        meta.activity_types.iter().map(|t| t.label_nb()).collect::<Vec<_>>().join(", ")
    };
    let rows: Vec<(&str, Cell)> = vec![
        ("Organisasjon", text(meta.organisation_name.as_deref().unwrap_or(&meta.org_id))),
        ("Organisasjonsnummer", text(meta.organisation_number.as_deref().unwrap_or(labels::NOT_GIVEN))),
        ("Organisasjons-ID", text(&meta.org_id)),
        ("Rapportprofil", text(&meta.report_profile)),
        ("Tilskuddsordning", text(&profile.scheme)),
        ("Periode fra", Cell::Date(meta.period_from)),
        ("Periode til", Cell::Date(meta.period_to)),
        ("Aktivitetstyper", text(types)),
        ("Generert", Cell::DateTime(meta.generated_at)),
        ("Eksport-ID", text(&meta.export_id)),
        ("Antall aktiviteter", Cell::Int(s.rows)),
        ("Tellende aktiviteter", Cell::Int(s.total.countable)),
        ("Kodeliste", text(labels::CODE_LIST)),
        ("Prikkegrense", Cell::Int(s.threshold.into())),
        ("Sjekksum for dataene (SHA-256)", text(data_sha256)),
    ];
    for (label, value) in rows {
        m.push(Style::Body, vec![text(label), value]);
    }
    m
}

fn figures(label: &str, t: &TypeFigures) -> Vec<Cell> {
    vec![
        text(label),
        Cell::Int(t.activities),
        Cell::Int(t.countable),
        Cell::Int(t.activity_days),
        Cell::Dec(t.hours()),
        Cell::Int(t.participations),
        Cell::Int(t.new_participants),
        Cell::Int(t.volunteers),
        Cell::Dec(t.volunteer_hours),
    ]
}

fn summary(s: &Summary) -> SheetModel {
    let mut m = SheetModel::new(SHEET_SUMMARY, vec![26.0, 12.0, 12.0, 14.0, 10.0, 12.0, 13.0, 11.0, 13.0]);
    m.headers(labels::SUMMARY_HEADERS);
    for (t, f) in s.rows_by_type() {
        m.push(Style::Body, figures(t.label_nb(), f));
    }
    m.push(Style::Total, figures(labels::TOTAL, &s.total));
    m.blank();
    m.text(Style::Note, "Tellende aktiviteter per måned");
    let mut headers = vec!["Måned".to_string()];
    headers.extend(ActivityType::ALL.iter().map(|t| t.label_nb().to_string()));
    headers.push(labels::TOTAL.to_string());
    m.headers(headers);
    let header_row = m.rows.len() as u32 - 1;
    for (month, counts) in &s.months {
        let mut cells = vec![Cell::Month(*month)];
        cells.extend(counts.iter().map(|&n| Cell::Int(n)));
        cells.push(Cell::Int(counts.iter().sum()));
        m.push(Style::Body, cells);
    }
    let last_row = m.rows.len() as u32 - 1;
    if !s.months.is_empty() {
        m.chart = Some(ChartSpec { header_row, first_row: header_row + 1, last_row });
    }
    m
}

/// A suppressed table with its row labels, a total column and a total row.
fn table(m: &mut SheetModel, corner: &str, cols: &[&str], rows: &[String], t: &Suppressed) {
    let mut headers = vec![corner.to_string()];
    headers.extend(cols.iter().map(|c| c.to_string()));
    headers.push(labels::TOTAL.to_string());
    m.headers(headers);
    for (r, label) in rows.iter().enumerate() {
        let mut cells = vec![text(label)];
        cells.extend((0..cols.len()).map(|c| shown(t, r, c)));
        cells.push(Cell::Int(t.row_total(r)));
        m.push(Style::Body, cells);
    }
    let mut cells = vec![text(labels::TOTAL)];
    cells.extend((0..cols.len()).map(|c| Cell::Int(t.col_total(c))));
    cells.push(Cell::Int(t.total()));
    m.push(Style::Total, cells);
}

fn type_labels() -> Vec<String> {
    ActivityType::ALL.iter().map(|t| t.label_nb().to_string()).collect()
}

fn hidden_note(threshold: u32) -> String {
    format!(
        "Deltakelser (én person på tre møter teller tre ganger). {HIDDEN} = skjult: under {threshold}, eller skjult så en skjult verdi ikke kan regnes ut fra summene."
    )
}

fn participants(s: &Summary) -> SheetModel {
    let mut m = SheetModel::new(SHEET_PARTICIPANTS, vec![26.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]);
    m.text(Style::Note, hidden_note(s.threshold));
    m.blank();
    m.text(Style::Note, "Etter kjønn");
    table(&mut m, "Aktivitetstype", &labels::GENDERS, &type_labels(), &s.by_gender);
    m.blank();
    m.text(Style::Note, "Etter alder");
    table(&mut m, "Aktivitetstype", &labels::AGE_BANDS, &type_labels(), &s.by_age);
    m
}

fn geography(s: &Summary) -> SheetModel {
    let mut m = SheetModel::new(SHEET_GEOGRAPHY, vec![30.0, 14.0, 14.0, 14.0, 14.0, 14.0, 14.0, 10.0]);
    m.text(Style::Note, hidden_note(s.threshold));
    m.blank();
    m.text(Style::Note, "Per fylke (fylkesnummer som registrert)");
    let types: Vec<&str> = ActivityType::ALL.iter().map(|t| t.label_nb()).collect();
    let areas: Vec<String> = s
        .areas
        .iter()
        .map(|a| if a.code.is_empty() { a.name.clone() } else { format!("{} {}", a.code, a.name) })
        .collect();
    table(&mut m, "Fylke", &types, &areas, &s.by_area);
    m.blank();
    m.text(
        Style::Note,
        format!("Per kommune: bare kommuner der ingen verdi må skjules ({} kommuner er utelatt)", s.kommuner_left_out),
    );
    let mut headers = vec!["Kommunenr.".to_string(), "Fylke".to_string()];
    headers.extend(type_labels());
    headers.push(labels::TOTAL.to_string());
    m.headers(headers);
    for (k, row) in &s.kommuner {
        let mut cells = vec![text(k), text(fylke_name(k.get(..2).unwrap_or_default()))];
        cells.extend(row.iter().map(|&n| Cell::Int(n)));
        cells.push(Cell::Int(row.iter().sum()));
        m.push(Style::Body, cells);
    }
    m
}

fn volunteers(s: &Summary) -> SheetModel {
    let mut m = SheetModel::new(SHEET_VOLUNTEERS, vec![12.0, 26.0, 12.0, 12.0, 14.0]);
    m.headers(labels::VOLUNTEER_HEADERS);
    let (mut acts, mut vols, mut hours) = (0, 0, 0.0);
    for (month, t, v) in &s.volunteers {
        m.push(
            Style::Body,
            vec![
                Cell::Month(*month),
                text(t.label_nb()),
                Cell::Int(v.activities),
                Cell::Int(v.volunteers),
                Cell::Dec(v.hours),
            ],
        );
        acts += v.activities;
        vols += v.volunteers;
        hours += v.hours;
    }
    m.push(Style::Total, vec![text(labels::TOTAL), Cell::Empty, Cell::Int(acts), Cell::Int(vols), Cell::Dec(hours)]);
    m
}

/// Kontroll: what was left out and why, what was hidden, and what made the file.
pub fn control(meta: &ReportMeta, profile: &Profile, s: &Summary, bundle: Option<BundleCounts>) -> SheetModel {
    let mut m = SheetModel::new(SHEET_CONTROL, vec![40.0, 50.0, 12.0]);
    m.text(Style::Title, "Kontroll");
    m.blank();
    m.push(Style::Body, vec![text("Aktiviteter lest"), Cell::Empty, Cell::Int(s.rows)]);
    m.push(Style::Body, vec![text("Tellende aktiviteter"), Cell::Empty, Cell::Int(s.total.countable)]);
    m.push(Style::Body, vec![text("Ikke tellende aktiviteter"), Cell::Empty, Cell::Int(s.rows - s.total.countable)]);
    m.blank();
    m.headers(["Årsak (ikke tellende)", "Forklaring", "Antall"]);
    for r in NotCountedReason::ALL {
        m.push(Style::Body, vec![text(r.code()), text(r.explanation_nb()), Cell::Int(s.not_counted[r.index()])]);
    }
    m.blank();
    m.headers(["Skjulte celler (prikking)", "Grunn", "Antall"]);
    let tables = [
        ("Deltakere etter kjønn", &s.by_gender),
        ("Deltakere etter alder", &s.by_age),
        ("Geografi per fylke", &s.by_area),
    ];
    let mut total = 0;
    for (name, t) in tables {
        m.push(Style::Body, vec![text(name), text(format!("under {}", s.threshold)), Cell::Int(t.primary as u64)]);
        m.push(
            Style::Body,
            vec![text(name), text("sekundær (så summene ikke avslører)"), Cell::Int(t.secondary as u64)],
        );
        total += t.hidden_count() as u64;
    }
    m.push(Style::Total, vec![text("Skjulte celler i alt"), Cell::Empty, Cell::Int(total)]);
    let open: u64 = tables.iter().map(|(_, t)| t.unprotected.len() as u64).sum();
    m.push(
        Style::Body,
        vec![
            text("Skjulte celler som summene likevel avslører"),
            text("tabellen har for få rader eller kolonner"),
            Cell::Int(open),
        ],
    );
    m.push(Style::Body, vec![text("Kommuner utelatt i Geografi"), Cell::Empty, Cell::Int(s.kommuner_left_out as u64)]);
    m.blank();
    m.push(Style::Body, vec![text("Vedlegg i aktivitetene"), Cell::Empty, Cell::Int(s.attachments)]);
    if let Some(b) = bundle {
        m.push(
            Style::Body,
            vec![text("Vedleggsfiler med i pakken"), text("vedlegg/ i ZIP-filen"), Cell::Int(b.included)],
        );
        m.push(
            Style::Body,
            vec![text("Vedleggsfiler som mangler"), text("listet i Vedlegg og manifest.json"), Cell::Int(b.missing)],
        );
    }
    m.blank();
    m.push(Style::Body, vec![text("Rapportprofil"), text(&profile.name)]);
    m.push(Style::Body, vec![text("Eksport-ID"), text(&meta.export_id)]);
    m.push(Style::Body, vec![text("Programversjon"), text(concat!("bufdir-exports ", env!("CARGO_PKG_VERSION")))]);
    m
}
