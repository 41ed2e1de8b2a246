//! The part of JSON Schema (draft-07) the chart's values.schema.json uses, enough
//! to check values against it without a schema crate: type, enum, minimum,
//! maximum, minLength, uniqueItems, items, properties, additionalProperties,
//! required. (`pattern` is not checked: there is no regex engine here.)

use serde_json::Value;

fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_matches(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        other => panic!("the schema names an unknown type {other:?}"),
    }
}

/// What is wrong with `value` per `schema`; empty when it is valid.
pub fn validate(value: &Value, schema: &Value, path: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let shown = if path.is_empty() { "(root)" } else { path };
    match &schema["type"] {
        Value::String(t) if !type_matches(value, t) => {
            return vec![format!("{shown}: {value} is not of type {t}")];
        }
        Value::Array(ts) if !ts.iter().any(|t| type_matches(value, t.as_str().unwrap_or_default())) => {
            return vec![format!("{shown}: {value} is not of any type {ts:?}")];
        }
        _ => {}
    }
    if let Some(options) = schema["enum"].as_array()
        && !options.contains(value)
    {
        errors.push(format!("{shown}: {value} is not one of {options:?}"));
    }
    if let (Some(n), Some(min)) = (value.as_f64(), schema["minimum"].as_f64())
        && n < min
    {
        errors.push(format!("{shown}: {n} is below the minimum {min}"));
    }
    if let (Some(n), Some(max)) = (value.as_f64(), schema["maximum"].as_f64())
        && n > max
    {
        errors.push(format!("{shown}: {n} is above the maximum {max}"));
    }
    if let (Some(s), Some(min)) = (value.as_str(), schema["minLength"].as_u64())
        && (s.chars().count() as u64) < min
    {
        errors.push(format!("{shown}: {s:?} is shorter than {min}"));
    }
    if let Some(items) = value.as_array() {
        if schema["uniqueItems"] == true {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    errors.push(format!("{shown}: {item} appears twice"));
                }
            }
        }
        if schema["items"].is_object() {
            for (i, item) in items.iter().enumerate() {
                errors.extend(validate(item, &schema["items"], &format!("{shown}[{i}]")));
            }
        }
    }
    if let Some(fields) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten() {
            let key = required.as_str().unwrap_or_default();
            if !fields.contains_key(key) {
                errors.push(format!("{shown}: {key} is required"));
            }
        }
        for (key, field) in fields {
            match (schema["properties"].get(key), &schema["additionalProperties"]) {
                (Some(sub), _) => errors.extend(validate(field, sub, &at(path, key))),
                (None, Value::Bool(false)) => errors.push(format!("{}: not allowed here", at(path, key))),
                (None, sub @ Value::Object(_)) => errors.extend(validate(field, sub, &at(path, key))),
                (None, _) => {}
            }
        }
    }
    errors
}

/// Keys of `values` the schema does not describe (with a description), and keys the schema
/// describes that `values` lacks: wherever the schema lists `properties`, the two must match.
pub fn undescribed(values: &Value, schema: &Value, path: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(fields) = values.as_object() else {
        return problems;
    };
    if let Some(properties) = schema["properties"].as_object() {
        for (key, value) in fields {
            match properties.get(key) {
                None => problems.push(format!("{}: in values.yaml, not in the schema", at(path, key))),
                Some(sub) => {
                    if sub["description"].as_str().is_none_or(|d| d.trim().is_empty()) {
                        problems.push(format!("{}: no description in the schema", at(path, key)));
                    }
                    problems.extend(undescribed(value, sub, &at(path, key)));
                }
            }
        }
        for key in properties.keys().filter(|k| !fields.contains_key(*k)) {
            problems.push(format!("{}: in the schema, no default in values.yaml", at(path, key)));
        }
    } else if schema["additionalProperties"].is_object() {
        for (key, value) in fields {
            problems.extend(undescribed(value, &schema["additionalProperties"], &at(path, key)));
        }
    }
    problems
}
