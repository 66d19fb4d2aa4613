//! The activity record's shape, as `docs/activity.schema.json` publishes
//! it: which fields an activity has, of which type, in which bounds. The
//! schema document is what integrators read and validate against; this
//! table is what every row is checked with. A general JSON Schema
//! validator would link two regex engines and big-number arithmetic into
//! every function that takes activities (2.3 MiB of a Lambda's bootstrap)
//! and take most of an import's time; the schema uses a handful of
//! keywords, all of them here. The tests below run the published schema,
//! with a real validator, and this table side by side over thousands of
//! records and fail on any verdict they disagree on.

use serde_json::{Map, Value};

/// One thing wrong with a record's shape: the field by its path
/// (`participants.by_gender.male`, `target_groups.3`), and
/// `missing_value` / `unknown_field` / `invalid_value`.
#[derive(Debug, PartialEq)]
pub struct ShapeError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

enum Kind {
    /// A string of `min..=max` characters (Unicode scalar values, as JSON
    /// Schema counts them) that `rule` accepts; `null` too when nullable.
    Text {
        min: usize,
        max: usize,
        rule: Option<Rule>,
        nullable: bool,
    },
    OneOf(&'static [&'static str]),
    /// An integer, written without a fraction.
    Integer {
        min: u64,
        max: u64,
    },
    Number {
        min: f64,
        max: f64,
    },
    Bool,
    Object(&'static [Field]),
    List {
        max: usize,
        item: &'static Kind,
    },
}

/// A rule on a string's characters, with what it asks for in words.
struct Rule {
    test: fn(&str) -> bool,
    wants: &'static str,
}

struct Field {
    name: &'static str,
    required: bool,
    kind: Kind,
}

const fn field(name: &'static str, kind: Kind) -> Field {
    Field { name, required: true, kind }
}

const fn optional(name: &'static str, kind: Kind) -> Field {
    Field { name, required: false, kind }
}

const fn text(min: usize, max: usize) -> Kind {
    Kind::Text { min, max, rule: None, nullable: false }
}

const COUNT: Kind = Kind::Integer { min: 0, max: u32::MAX as u64 };

fn digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_org_id(s: &str) -> bool {
    super::OrgId::parse(s).is_ok()
}

fn is_date_shape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && s.starts_with("20")
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(&s[2..4], 2)
        && digits(&s[5..7], 2)
        && digits(&s[8..], 2)
}

const ACTIVITY: &[Field] = &[
    field(
        "activity_id",
        Kind::Text {
            min: 1,
            max: 100,
            rule: Some(Rule {
                test: |s| s.chars().any(|c| !c.is_whitespace()),
                wants: "a character that is not a space",
            }),
            nullable: false,
        },
    ),
    optional(
        "org_id",
        Kind::Text {
            min: 0,
            max: usize::MAX,
            rule: Some(Rule { test: is_org_id, wants: "1 to 100 of A-Z, a-z, 0-9, _ and -" }),
            nullable: false,
        },
    ),
    field(
        "activity_type",
        Kind::OneOf(&[
            "group_session",
            "individual_counseling",
            "peer_support_course",
            "outreach_visit",
            "open_meeting",
            "volunteer_training",
        ]),
    ),
    field("title", text(0, 500)),
    field(
        "date",
        Kind::Text {
            min: 0,
            max: usize::MAX,
            rule: Some(Rule { test: is_date_shape, wants: "YYYY-MM-DD in the years 2000 to 2099" }),
            nullable: false,
        },
    ),
    optional(
        "start_time",
        Kind::Text {
            min: 0,
            max: usize::MAX,
            rule: Some(Rule { test: super::activity::valid_clock_time, wants: "HH:MM on a 24-hour clock" }),
            nullable: true,
        },
    ),
    field("duration_minutes", Kind::Integer { min: 1, max: 1440 }),
    field("mode", Kind::OneOf(&["in_person", "digital", "phone"])),
    field(
        "kommunenummer",
        Kind::Text {
            min: 0,
            max: usize::MAX,
            rule: Some(Rule { test: |s| digits(s, 4), wants: "four digits" }),
            nullable: false,
        },
    ),
    field("in_norway", Kind::Bool),
    field(
        "participants",
        Kind::Object(&[
            field("total", COUNT),
            field("new", COUNT),
            field(
                "by_gender",
                Kind::Object(&[
                    field("female", COUNT),
                    field("male", COUNT),
                    field("other", COUNT),
                    field("unknown", COUNT),
                ]),
            ),
            field(
                "by_age",
                Kind::Object(&[
                    field("0-5", COUNT),
                    field("6-12", COUNT),
                    field("13-17", COUNT),
                    field("18-24", COUNT),
                    field("25-66", COUNT),
                    field("67+", COUNT),
                    field("unknown", COUNT),
                ]),
            ),
        ]),
    ),
    field(
        "volunteers",
        Kind::Object(&[field("count", COUNT), field("hours", Kind::Number { min: 0.0, max: 100_000.0 })]),
    ),
    optional("led_by_peer", Kind::Bool),
    optional("target_groups", Kind::List { max: 50, item: &text(0, 100) }),
    optional(
        "attachments",
        Kind::List {
            max: 50,
            item: &Kind::Object(&[
                field("name", text(1, 255)),
                field("content_type", text(1, 255)),
                field("key", text(1, 1024)),
            ]),
        },
    ),
];

/// Every way `record` departs from the activity's shape; empty when it
/// has none.
pub fn shape_errors(record: &Map<String, Value>) -> Vec<ShapeError> {
    let mut out = Vec::new();
    check_object(ACTIVITY, record, &At::Root, &mut out);
    out
}

/// Where a value sits in the record, spelt out only for an error: most
/// records have none, and an import checks a million.
enum At<'a> {
    Root,
    Field(&'a At<'a>, &'a str),
    Item(&'a At<'a>, usize),
}

impl At<'_> {
    fn path(&self) -> String {
        match self {
            At::Root => String::new(),
            At::Field(At::Root, name) => name.to_string(),
            At::Field(parent, name) => format!("{}.{name}", parent.path()),
            At::Item(parent, i) => format!("{}.{i}", parent.path()),
        }
    }
}

fn check_object(fields: &[Field], record: &Map<String, Value>, at: &At<'_>, out: &mut Vec<ShapeError>) {
    let start = out.len();
    let mut known = 0;
    for f in fields {
        match record.get(f.name) {
            Some(value) => {
                known += 1;
                check_value(&f.kind, value, &At::Field(at, f.name), out);
            }
            None if f.required => {
                let field = At::Field(at, f.name).path();
                out.push(ShapeError { message: format!("{field} is required"), field, code: "missing_value" });
            }
            None => {}
        }
    }
    // Keys are unique, so a record with as many keys as it has known
    // fields has no other: most records skip comparing every key with
    // every field name.
    if known == record.len() {
        return;
    }
    let mut unknown = Vec::new();
    for name in record.keys() {
        if !fields.iter().any(|f| f.name == name) {
            // A name is shown as far as a real one could go: a key of a
            // megabyte would otherwise come back twice in every answer.
            let shortened = shortened(name);
            let field = At::Field(at, &shortened).path();
            let message = if matches!(at, At::Root) {
                format!("{field} is not a field of an activity (no names, birth dates or diagnoses are kept)")
            } else {
                format!("{field} is not a field here")
            };
            unknown.push(ShapeError { field, code: "unknown_field", message });
        }
    }
    // Named before the object's other problems, as they always were.
    out.splice(start..start, unknown);
}

fn check_value(kind: &Kind, value: &Value, at: &At<'_>, out: &mut Vec<ShapeError>) {
    let mut invalid = |wants: String| {
        let field = at.path();
        out.push(ShapeError {
            message: format!("{field} must be {wants}, got {}", shown(value)),
            field,
            code: "invalid_value",
        });
    };
    match (kind, value) {
        (Kind::Text { nullable: true, .. }, Value::Null) => {}
        (Kind::Text { min, max, rule, .. }, Value::String(s)) => {
            // Bytes bound characters from above: most strings need no count.
            let fits =
                if s.len() <= *max && *min <= 1 { s.len() >= *min } else { (*min..=*max).contains(&s.chars().count()) };
            if !fits {
                invalid(if *max == usize::MAX {
                    format!("at least {min} characters")
                } else {
                    format!("{min} to {max} characters")
                });
            } else if let Some(rule) = rule
                && !(rule.test)(s)
            {
                invalid(rule.wants.to_string());
            }
        }
        (Kind::Text { nullable, .. }, _) => invalid(if *nullable { "text or null" } else { "text" }.to_string()),
        (Kind::OneOf(allowed), Value::String(s)) if allowed.contains(&s.as_str()) => {}
        (Kind::OneOf(allowed), _) => invalid(format!("one of {}", allowed.join(", "))),
        (Kind::Integer { min, max }, Value::Number(n)) if n.as_u64().is_some_and(|n| (*min..=*max).contains(&n)) => {}
        (Kind::Integer { min, max }, _) => invalid(format!("a whole number from {min} to {max}")),
        (Kind::Number { min, max }, Value::Number(n)) if n.as_f64().is_some_and(|n| (*min..=*max).contains(&n)) => {}
        (Kind::Number { min, max }, _) => invalid(format!("a number from {min} to {max}")),
        (Kind::Bool, Value::Bool(_)) => {}
        (Kind::Bool, _) => invalid("true or false".to_string()),
        (Kind::Object(fields), Value::Object(record)) => check_object(fields, record, at, out),
        (Kind::Object(_), _) => invalid("an object".to_string()),
        (Kind::List { max, item }, Value::Array(items)) => {
            if items.len() > *max {
                invalid(format!("a list of at most {max}"));
            }
            for (i, v) in items.iter().enumerate() {
                check_value(item, v, &At::Item(at, i), out);
            }
        }
        (Kind::List { .. }, _) => invalid("a list".to_string()),
    }
}

/// The longest unknown field name shown whole.
const MAX_NAME_SHOWN: usize = 64;

fn shortened(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME_SHOWN) {
        Some((end, _)) => format!("{}...", &name[..end]),
        None => name.to_string(),
    }
}

/// A value as a message shows it: short, and a string's content only in
/// part (a field can hold anything a client sent).
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() > 40 => format!("{:?}...", s.chars().take(40).collect::<String>()),
        Value::Array(a) => format!("a list of {}", a.len()),
        Value::Object(_) => "an object".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! The published schema and this table, side by side: every record
    //! below gets the same verdict from both, and the same fields named.
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::fixtures;

    const SCHEMA: &str = include_str!("../../../../docs/activity.schema.json");

    fn schema() -> jsonschema::Validator {
        jsonschema::validator_for(&serde_json::from_str(SCHEMA).unwrap()).unwrap()
    }

    fn path(at: &str, name: &str) -> String {
        if at.is_empty() { name.to_string() } else { format!("{at}.{name}") }
    }

    /// The fields a validator's errors name, as this table names them.
    fn schema_fields(validator: &jsonschema::Validator, record: &Value) -> BTreeSet<String> {
        use jsonschema::error::ValidationErrorKind as K;
        validator
            .iter_errors(record)
            .flat_map(|e| {
                let at: Vec<&str> = e.instance_path().as_str().split('/').filter(|s| !s.is_empty()).collect();
                let at = at.join(".");
                match e.kind() {
                    K::Required { property } => vec![path(&at, property.as_str().unwrap())],
                    K::AdditionalProperties { unexpected } => unexpected.iter().map(|u| path(&at, u)).collect(),
                    _ => vec![at],
                }
            })
            .collect()
    }

    fn good() -> Value {
        let mut v = serde_json::to_value(fixtures::activity()).unwrap();
        v["start_time"] = "18:30".into();
        v["target_groups"] = serde_json::json!(["foreldre"]);
        v["attachments"] =
            serde_json::json!([{"name": "a.pdf", "content_type": "application/pdf", "key": "org-demo/a"}]);
        v
    }

    /// Values that probe each keyword's edges: types, bounds, lengths
    /// counted in characters, and the patterns' every clause.
    fn probes() -> Vec<Value> {
        let mut out: Vec<Value> = serde_json::json!([
            null, true, false, 0, 1, -1, 2, 1.5, 0.0, -0.5, 1440, 1441, 100000, 100000.5, 4294967295u64,
            4294967296u64, 18446744073709551615u64, -9223372036854775808i64, "", " ", "\t", "x", " x ", "\u{a0}",
            "group_session", "in_person", "digital", "open_meeting", "Group_session",
            "2025-03-14", "2000-01-01", "2099-12-31", "1999-12-31", "2100-01-01", "2025-3-14", "2025-03-14T00:00",
            " 2025-03-14", "20250314", "2025-13-45", "2025/03/14",
            "00:00", "23:59", "24:00", "19:60", "9:30", "09:30:00", "0930", "ab:cd",
            "0301", "301", "03011", "03a1", "\u{660}\u{661}\u{662}\u{663}",
            "org-demo", "org_demo", "ORG9", "org demo", "org.demo", "ø", [], {}, ["x"], {"x": 1}
        ])
        .as_array()
        .unwrap()
        .clone();
        for n in [1, 99, 100, 101, 254, 255, 256, 499, 500, 501, 1024, 1025] {
            out.push(Value::String("a".repeat(n)));
            out.push(Value::String("ø".repeat(n)));
        }
        out.push(Value::Array(vec![Value::from("x"); 50]));
        out.push(Value::Array(vec![Value::from("x"); 51]));
        out.push(Value::Array(vec![Value::from("a".repeat(101))]));
        out
    }

    /// Every path to a value in the good record, objects and lists included.
    fn paths(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let mut p = at.clone();
                    p.push(k.clone());
                    out.push(p.clone());
                    paths(child, p, out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    let mut p = at.clone();
                    p.push(i.to_string());
                    out.push(p.clone());
                    paths(child, p, out);
                }
            }
            _ => {}
        }
    }

    fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
        path.iter().fold(v, |v, k| match v {
            Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
            other => &mut other[k.as_str()],
        })
    }

    fn agree(validator: &jsonschema::Validator, record: &Value) {
        let ours: BTreeSet<String> = match record {
            Value::Object(m) => shape_errors(m).into_iter().map(|e| e.field).collect(),
            _ => unreachable!(),
        };
        let theirs = schema_fields(validator, record);
        assert_eq!(ours, theirs, "the schema and the table differ on {record}");
    }

    #[test]
    fn the_table_and_the_published_schema_agree() {
        let validator = schema();
        let good = good();
        agree(&validator, &good);
        assert!(shape_errors(good.as_object().unwrap()).is_empty());
        let mut all = Vec::new();
        paths(&good, Vec::new(), &mut all);
        let probes = probes();
        let mut checked = 0;
        for path in &all {
            for probe in &probes {
                // JSON Schema counts 5.0 as an integer; the table does not,
                // since a count written with a fraction is a slip.
                let fraction_for_integer = probe.as_f64().is_some_and(|f| f.fract() == 0.0) && probe.is_f64();
                if fraction_for_integer {
                    continue;
                }
                let mut record = good.clone();
                *at_mut(&mut record, path) = probe.clone();
                agree(&validator, &record);
                checked += 1;
            }
            // Left out, and one more field beside it.
            let (parent, name) = path.split_at(path.len() - 1);
            let mut record = good.clone();
            if let Value::Object(m) = at_mut(&mut record, parent) {
                m.remove(&name[0]);
                m.insert("diagnosis".into(), "x".into());
                agree(&validator, &record);
                checked += 1;
            }
        }
        assert!(checked > 3000, "{checked}");
    }

    #[test]
    fn every_problem_is_named_once_with_its_code() {
        let mut record = good();
        record["participants"]["total"] = Value::from(-1);
        record["mode"] = "boat".into();
        record.as_object_mut().unwrap().remove("volunteers");
        record["name"] = "Kari".into();
        let errors = shape_errors(record.as_object().unwrap());
        let named: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            named,
            [
                ("name", "unknown_field"),
                ("mode", "invalid_value"),
                ("participants.total", "invalid_value"),
                ("volunteers", "missing_value"),
            ]
        );
        assert!(errors[1].message.contains("in_person, digital, phone"), "{}", errors[1].message);
    }
}
