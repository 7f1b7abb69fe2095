//! The JSON form of a bundle: Mesos's v1 `Resource` list,
//! `[{"name", "type", "scalar": {"value"} | "ranges": {"range": [{"begin",
//! "end"}]} | "set": {"item": [...]}, "role", "reservation": {"principal"},
//! "disk": {"persistence": {"id"}}}]`.
//!
//! Contracts:
//! - `Resources::from_json`: reads the form from `Data` (see `data` for JSON
//!   text). Every field is checked, and the first problem found is a
//!   `Resource` error naming it and the entry ("missing field 'name' in
//!   resource #0"); entries with one key add up as in `parse`. The checks and
//!   their messages are those of `PyResources.from_json` in the reference.
//! - `Resources::to_json`: the form of a bundle, entries in canonical order,
//!   fields in the order above, role "*" for unreserved entries; `from_json`
//!   reads it back to the same bundle.

use crate::error::{Error, Result};

use super::data::{float_repr, Data};
use super::{
    in_context, ranges_from_pairs, scalar_from_f64, scalar_from_units, set_from_items, Key,
    Resource, Resources, Value,
};

const FIELDS: [&str; 8] = [
    "name",
    "type",
    "scalar",
    "ranges",
    "set",
    "role",
    "reservation",
    "disk",
];
/// Each value type and the field that holds a value of it.
const VALUE_FIELDS: [(&str, &str); 3] =
    [("SCALAR", "scalar"), ("RANGES", "ranges"), ("SET", "set")];

impl Resources {
    /// Reads the JSON form; see the module documentation.
    pub fn from_json(data: &Data) -> Result<Resources> {
        let Data::List(items) = data else {
            return Err(Error::resource(format!(
                "expected a list of resources, got {}",
                data.type_name()
            )));
        };
        let entries = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                entry_from_json(item).map_err(|err| in_context(err, &format!("resource #{index}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Resources::from_entries(entries)
    }

    /// The JSON form; see the module documentation.
    pub fn to_json(&self) -> Data {
        Data::List(self.iter().map(entry_to_json).collect())
    }
}

fn entry_from_json(item: &Data) -> Result<Resource> {
    let Data::Object(fields) = item else {
        return Err(Error::resource(format!(
            "expected an object, got {}",
            item.type_name()
        )));
    };
    for (field, _) in fields {
        if !matches!(field, Data::Str(name) if FIELDS.contains(&name.as_str())) {
            return Err(Error::resource(format!("unknown field {}", field.repr())));
        }
    }
    let name = string_field(item, "name")?;
    let kind = string_field(item, "type")?;
    let value_field = VALUE_FIELDS
        .iter()
        .find(|(type_name, _)| *type_name == kind)
        .map(|(_, field)| *field)
        .ok_or_else(|| {
            Error::resource(format!(
                "unknown type '{kind}': expected SCALAR, RANGES or SET"
            ))
        })?;
    for (_, field) in VALUE_FIELDS {
        if field != value_field && item.field(field).is_some() {
            return Err(Error::resource(format!(
                "field '{field}' does not match type {kind}"
            )));
        }
    }
    let body = item
        .field(value_field)
        .ok_or_else(|| Error::resource(format!("missing field '{value_field}'")))?;
    let role = match item.field("role") {
        Some(_) => string_field(item, "role")?,
        None => "*",
    };
    let principal = match item.field("reservation") {
        None => None,
        Some(reservation) => match sole_field(reservation, "principal") {
            Some(Data::Str(principal)) => Some(principal.as_str()),
            _ => {
                return Err(Error::resource(
                    "field 'reservation' must be {\"principal\": string}",
                ))
            }
        },
    };
    let volume = match item.field("disk") {
        None => None,
        Some(disk) => match sole_field(disk, "persistence").and_then(|p| sole_field(p, "id")) {
            Some(Data::Str(id)) => Some(id.as_str()),
            _ => {
                return Err(Error::resource(
                    "field 'disk' must be {\"persistence\": {\"id\": string}}",
                ))
            }
        },
    };
    let key = Key::new(name, Some(role), principal, volume)?;
    Ok(key.with_value(value_from_json(value_field, body)?))
}

fn string_field<'a>(item: &'a Data, field: &str) -> Result<&'a str> {
    match item.field(field) {
        None => Err(Error::resource(format!("missing field '{field}'"))),
        Some(Data::Str(text)) => Ok(text),
        Some(_) => Err(Error::resource(format!("field '{field}' must be a string"))),
    }
}

/// Whether `value` is an object with exactly these fields.
fn has_only_fields(value: &Data, fields: &[&str]) -> bool {
    match value {
        Data::Object(entries) => {
            entries.len() == fields.len() && fields.iter().all(|f| value.field(f).is_some())
        }
        _ => false,
    }
}

/// The value of `field` if `value` is an object of that field alone.
fn sole_field<'a>(value: &'a Data, field: &str) -> Option<&'a Data> {
    if has_only_fields(value, &[field]) {
        value.field(field)
    } else {
        None
    }
}

fn value_from_json(field: &str, body: &Data) -> Result<Value> {
    match field {
        "scalar" => match sole_field(body, "value") {
            Some(Data::Float(number)) => scalar_from_f64(*number, || float_repr(*number)),
            Some(Data::Int(digits)) => scalar_from_units(clamped_i64(digits), digits),
            _ => Err(Error::resource(
                "field 'scalar' must be {\"value\": number}",
            )),
        },
        "ranges" => {
            let invalid = || {
                Error::resource(
                    "field 'ranges' must be {\"range\": [{\"begin\": integer, \"end\": integer}]}",
                )
            };
            let Some(Data::List(ranges)) = sole_field(body, "range") else {
                return Err(invalid());
            };
            let mut pairs = Vec::with_capacity(ranges.len());
            for range in ranges {
                if !has_only_fields(range, &["begin", "end"]) {
                    return Err(invalid());
                }
                match (range.field("begin"), range.field("end")) {
                    (Some(Data::Int(begin)), Some(Data::Int(end))) => pairs.push((begin, end)),
                    _ => return Err(invalid()),
                }
            }
            let pairs = pairs
                .into_iter()
                .map(|(begin, end)| Ok((range_bound(begin)?, range_bound(end)?)))
                .collect::<Result<Vec<_>>>()?;
            ranges_from_pairs(pairs)
        }
        _ => {
            let invalid = || Error::resource("field 'set' must be {\"item\": [string]}");
            let Some(Data::List(items)) = sole_field(body, "item") else {
                return Err(invalid());
            };
            let items = items
                .iter()
                .map(|item| match item {
                    Data::Str(text) => Ok(text.as_str()),
                    _ => Err(invalid()),
                })
                .collect::<Result<Vec<_>>>()?;
            set_from_items(items)
        }
    }
}

/// The integer, or the nearest i64 for one beyond: only its sign matters
/// then, since scalars are capped far below.
fn clamped_i64(digits: &str) -> i64 {
    digits.parse().unwrap_or(if digits.starts_with('-') {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn range_bound(digits: &str) -> Result<u64> {
    digits
        .parse()
        .map_err(|_| Error::resource(format!("range bound {digits} out of bounds")))
}

fn entry_to_json(entry: &Resource) -> Data {
    let object = |fields: Vec<(&str, Data)>| {
        Data::Object(
            fields
                .into_iter()
                .map(|(name, value)| (Data::Str(name.to_string()), value))
                .collect(),
        )
    };
    let text = |text: &str| Data::Str(text.to_string());
    let mut fields = vec![("name", text(&entry.name))];
    match &entry.value {
        Value::Scalar(millis) => {
            fields.push(("type", text("SCALAR")));
            // Exact for every stored quantity (below 2^53 millis), then one
            // rounding.
            let units = *millis as f64 / 1000.0;
            fields.push(("scalar", object(vec![("value", Data::Float(units))])));
        }
        Value::Ranges(ranges) => {
            fields.push(("type", text("RANGES")));
            let ranges = ranges
                .iter()
                .map(|(begin, end)| {
                    object(vec![
                        ("begin", Data::Int(begin.to_string())),
                        ("end", Data::Int(end.to_string())),
                    ])
                })
                .collect();
            fields.push(("ranges", object(vec![("range", Data::List(ranges))])));
        }
        Value::Set(items) => {
            fields.push(("type", text("SET")));
            let items = items.iter().map(|item| text(item)).collect();
            fields.push(("set", object(vec![("item", Data::List(items))])));
        }
    }
    fields.push(("role", text(entry.role.as_deref().unwrap_or("*"))));
    if let Some(principal) = &entry.principal {
        fields.push(("reservation", object(vec![("principal", text(principal))])));
    }
    if let Some(volume) = &entry.volume {
        let persistence = object(vec![("id", text(volume))]);
        fields.push(("disk", object(vec![("persistence", persistence)])));
    }
    object(fields)
}
