//! Schema helpers shared by the CRDs.

use serde_json::{Map, Value};

/// The largest integer a status field may hold: 2^53 - 1, the largest integer a float64 (what
/// the API server compares `maximum` with) holds exactly. Seconds, counts and generations never
/// come near it; a value above it is not one drover wrote.
pub const MAX_STATUS_INTEGER: i64 = (1 << 53) - 1;

/// A `schemars` transform for drover's status types: every integer without a `maximum` gets the
/// one its Rust type can hold (`int32`/`uint32`) or [`MAX_STATUS_INTEGER`] (64-bit), so the API
/// server refuses a status value drover could not read back (a poison pill in every list and
/// watch). Unsigned types keep the `minimum: 0` schemars gives them.
pub fn bound_integers(schema: &mut schemars::Schema) {
    if let Some(object) = schema.as_object_mut() {
        bound_object(object);
    }
}

fn bound_object(object: &mut Map<String, Value>) {
    // `Option<i64>` is `"type": ["integer", "null"]` until kube makes it `nullable`.
    let integer = match object.get("type") {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(types)) => types.iter().any(|t| t == "integer"),
        _ => false,
    };
    if integer && !object.contains_key("maximum") {
        let max = match object.get("format").and_then(Value::as_str) {
            Some("int8") => i64::from(i8::MAX),
            Some("uint8") => i64::from(u8::MAX),
            Some("int16") => i64::from(i16::MAX),
            Some("uint16") => i64::from(u16::MAX),
            Some("int32") => i64::from(i32::MAX),
            Some("uint32") => i64::from(u32::MAX),
            _ => MAX_STATUS_INTEGER,
        };
        object.insert("maximum".into(), Value::from(max));
    }
    for value in object.values_mut() {
        bound_value(value);
    }
}

fn bound_value(value: &mut Value) {
    match value {
        Value::Object(object) => bound_object(object),
        Value::Array(items) => items.iter_mut().for_each(bound_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_integer_gets_the_maximum_of_its_type_and_given_ones_stay() {
        let mut schema = schemars::json_schema!({
            "type": "object",
            "properties": {
                "generation": {"type": ["integer", "null"], "format": "int64"},
                "attempt": {"type": "integer", "format": "uint32", "minimum": 0},
                "steps": {"type": "integer", "format": "int32", "maximum": 100},
                "list": {"type": "array", "items": {"type": "object", "properties": {
                    "n": {"type": "integer"}
                }}},
                "name": {"type": "string"}
            }
        });
        bound_integers(&mut schema);
        let v = schema.as_value();
        let p = &v["properties"];
        assert_eq!(p["generation"]["maximum"], MAX_STATUS_INTEGER);
        assert_eq!(p["attempt"]["maximum"], i64::from(u32::MAX));
        assert_eq!(p["attempt"]["minimum"], 0);
        assert_eq!(p["steps"]["maximum"], 100);
        assert_eq!(p["list"]["items"]["properties"]["n"]["maximum"], MAX_STATUS_INTEGER);
        assert!(p["name"].get("maximum").is_none());
    }
}
