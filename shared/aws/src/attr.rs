//! Plain JSON values to DynamoDB attribute values and back, so records
//! are stored as native attributes (readable in the console, usable in
//! expressions) without a mapping written field by field.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use crate::ports::PortError;

pub type Item = HashMap<String, AttributeValue>;

pub fn to_attr(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(o) => AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()),
    }
}

pub fn from_attr(value: &AttributeValue) -> Result<Value, PortError> {
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => Value::Number(parse_number(n)?),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => Value::Object(
            m.iter().map(|(k, v)| Ok((k.clone(), from_attr(v)?))).collect::<Result<Map<_, _>, PortError>>()?,
        ),
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(n) => {
            Value::Array(n.iter().map(|n| parse_number(n).map(Value::Number)).collect::<Result<_, _>>()?)
        }
        other => return Err(PortError::Permanent(format!("unsupported attribute type {other:?}"))),
    })
}

fn parse_number(n: &str) -> Result<Number, PortError> {
    if let Ok(u) = n.parse::<u64>() {
        return Ok(u.into());
    }
    if let Ok(i) = n.parse::<i64>() {
        return Ok(i.into());
    }
    n.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| PortError::Permanent(format!("stored number {n:?} is not representable")))
}

/// A record's fields as top-level attributes.
pub fn to_item<T: Serialize>(record: &T) -> Result<Item, PortError> {
    match serde_json::to_value(record).map_err(|e| PortError::Permanent(format!("encode record: {e}")))? {
        Value::Object(fields) => Ok(fields.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()),
        _ => Err(PortError::Permanent("a record must encode to an object".into())),
    }
}

/// The record back from its attributes; attributes the record does not
/// know (keys, index and bookkeeping attributes) are left out.
pub fn from_item<T: DeserializeOwned>(item: &Item, skip: &[&str]) -> Result<T, PortError> {
    let mut fields = Map::new();
    for (k, v) in item {
        if !skip.contains(&k.as_str()) {
            fields.insert(k.clone(), from_attr(v)?);
        }
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| PortError::Permanent(format!("decode record: {e}")))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let v = serde_json::json!({
            "a": null, "b": true, "c": 42, "d": -7, "e": 4.5, "f": "x", "g": [1, "y", {"h": []}], "i": {}
        });
        let back = from_attr(&to_attr(&v)).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn integers_written_as_floats_come_back_as_numbers() {
        // DynamoDB normalises 4.0 to 4; a float field still reads it
        let n: f64 = serde_json::from_value(from_attr(&AttributeValue::N("4".into())).unwrap()).unwrap();
        assert_eq!(n, 4.0);
    }
}
