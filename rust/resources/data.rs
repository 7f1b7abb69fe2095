//! `Data`: a JSON-shaped value as a caller gave it, the input and output of
//! the JSON form (see `json`).
//!
//! It is read from JSON text here (serde_json does the parsing), or built by
//! a binding from its language's values. The error messages of the JSON form
//! are shared with the Python reference, so a value names its type and
//! prints itself the way Python does ("got dict", "unknown field 'x'",
//! "negative quantity -1.5"); a binding passes values JSON has no shape for
//! as `Other`, with their own type name and repr.
//!
//! Contracts:
//! - `Data::parse_json`: the document of a JSON text, with keys in document
//!   order and, for a key given twice, the last value at the first key's
//!   place (as Python's `json.loads`); integers keep every digit. Errors are
//!   serde_json's, for text that is not strict JSON.
//! - `type_name` / `repr`: Python's `type(x).__name__` and `repr(x)` of the
//!   value Python's `json.loads` would have made.

use std::fmt::{self, Write};

use rustc_hash::FxHashMap;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A value of the JSON data model, plus what a binding could not map to it.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Null,
    Bool(bool),
    /// The decimal digits of an integer of any size, '-' first if negative,
    /// no leading zeros (so they are its repr).
    Int(String),
    Float(f64),
    Str(String),
    List(Vec<Data>),
    /// Entries in the caller's order; keys are usually strings, but a
    /// binding may pass any key its language allows.
    Object(Vec<(Data, Data)>),
    /// A value with no JSON shape (say a tuple or bytes), known only by its
    /// type name and repr.
    Other {
        type_name: String,
        repr: String,
    },
}

impl Data {
    /// Reads a JSON text; see the module documentation.
    pub fn parse_json(text: &str) -> serde_json::Result<Data> {
        Data::from_raw(serde_json::from_str(text)?)
    }

    /// Reads one value that serde_json has already checked. Containers are
    /// split into the raw texts of their parts, which are read in turn, so
    /// that numbers are seen as written: serde_json would hand an integer
    /// beyond 64 bits over as a float.
    fn from_raw(raw: &RawValue) -> serde_json::Result<Data> {
        let text = raw.get();
        Ok(match text.as_bytes().first() {
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text)?;
                Data::List(
                    items
                        .into_iter()
                        .map(Data::from_raw)
                        .collect::<serde_json::Result<_>>()?,
                )
            }
            Some(b'{') => {
                let RawEntries(entries) = serde_json::from_str(text)?;
                let mut object: Vec<(Data, Data)> = Vec::with_capacity(entries.len());
                let mut positions: FxHashMap<String, usize> = FxHashMap::default();
                for (key, value) in entries {
                    let value = Data::from_raw(value)?;
                    match positions.get(&key) {
                        Some(&position) => object[position].1 = value,
                        None => {
                            positions.insert(key.clone(), object.len());
                            object.push((Data::Str(key), value));
                        }
                    }
                }
                Data::Object(object)
            }
            Some(b'"') => Data::Str(serde_json::from_str(text)?),
            Some(b't') => Data::Bool(true),
            Some(b'f') => Data::Bool(false),
            Some(b'n') => Data::Null,
            _ => number_from_literal(text),
        })
    }

    /// Python's name of the value's type.
    pub fn type_name(&self) -> &str {
        match self {
            Data::Null => "NoneType",
            Data::Bool(_) => "bool",
            Data::Int(_) => "int",
            Data::Float(_) => "float",
            Data::Str(_) => "str",
            Data::List(_) => "list",
            Data::Object(_) => "dict",
            Data::Other { type_name, .. } => type_name,
        }
    }

    /// Python's repr of the value.
    pub fn repr(&self) -> String {
        let mut out = String::new();
        self.write_repr(&mut out)
            .expect("writing to a String cannot fail");
        out
    }

    fn write_repr(&self, out: &mut String) -> fmt::Result {
        match self {
            Data::Null => out.write_str("None"),
            Data::Bool(true) => out.write_str("True"),
            Data::Bool(false) => out.write_str("False"),
            Data::Int(digits) => out.write_str(digits),
            Data::Float(value) => out.write_str(&float_repr(*value)),
            Data::Str(text) => write_str_repr(out, text),
            Data::List(items) => {
                out.write_char('[')?;
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.write_str(", ")?;
                    }
                    item.write_repr(out)?;
                }
                out.write_char(']')
            }
            Data::Object(entries) => {
                out.write_char('{')?;
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        out.write_str(", ")?;
                    }
                    key.write_repr(out)?;
                    out.write_str(": ")?;
                    value.write_repr(out)?;
                }
                out.write_char('}')
            }
            Data::Other { repr, .. } => out.write_str(repr),
        }
    }

    /// The value of the entry whose key is the string `key`.
    pub fn field(&self, key: &str) -> Option<&Data> {
        match self {
            Data::Object(entries) => entries
                .iter()
                .find(|(name, _)| matches!(name, Data::Str(name) if name == key))
                .map(|(_, value)| value),
            _ => None,
        }
    }
}

/// The entries of a JSON object as raw texts, in document order.
struct RawEntries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawEntries<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = RawEntries<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(RawEntries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// A JSON number as Python reads it: an integer unless it has a fraction or
/// an exponent, and then the nearest float (infinite beyond the range).
fn number_from_literal(literal: &str) -> Data {
    if literal.contains(['.', 'e', 'E']) {
        Data::Float(literal.parse().expect("serde_json checked the number"))
    } else if literal == "-0" {
        Data::Int("0".to_string())
    } else {
        Data::Int(literal.to_string())
    }
}

/// Python's repr of a float: the shortest digits that read back, in
/// positional notation for exponents from -4 to 15, else scientific.
pub(super) fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value.is_infinite() {
        return format!("{sign}inf");
    }
    if value == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, exponent) = shortest_digits(value.abs());
    // Digits before the decimal point, as Python's dtoa counts them.
    let point = exponent + 1;
    if point <= -4 || point > 16 {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{sign}{first}{fraction}e{exponent_sign}{:02}",
            exponent.unsigned_abs()
        )
    } else if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else if point as usize >= digits.len() {
        format!(
            "{sign}{digits}{}.0",
            "0".repeat(point as usize - digits.len())
        )
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{sign}{whole}.{fraction}")
    }
}

/// The shortest decimal digits that read back as `value` (positive and
/// finite), and the exponent of the first: `value` ≈ d.ddd × 10^exponent.
/// Where two such digit strings are equally near `value`, Python takes the
/// one ending in an even digit; Rust's formatting may take the other.
fn shortest_digits(value: f64) -> (String, i32) {
    let split = |scientific: String| {
        let (mantissa, exponent) = scientific.split_once('e').expect("{:e} prints an exponent");
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        (
            digits,
            exponent.parse::<i32>().expect("an integer exponent"),
        )
    };
    let (digits, exponent) = split(format!("{value:e}"));
    // Every f64 is a decimal of at most 767 significant digits, so this is
    // its exact expansion.
    let (exact, exact_exponent) = split(format!("{value:.800e}"));
    let (kept, dropped) = exact.split_at(digits.len());
    let is_tie = dropped.starts_with('5') && dropped[1..].bytes().all(|b| b == b'0');
    let ends_even = kept
        .bytes()
        .last()
        .is_some_and(|b| (b - b'0').is_multiple_of(2));
    if is_tie && ends_even && kept != digits {
        let kept = kept.trim_end_matches('0');
        let kept = if kept.is_empty() { "0" } else { kept };
        let scale = exact_exponent - (kept.len() as i32 - 1);
        let reads_back = format!("{kept}e{scale}")
            .parse::<f64>()
            .is_ok_and(|parsed| parsed == value);
        if reads_back {
            return (kept.to_string(), exact_exponent);
        }
    }
    (digits, exponent)
}

/// Python's repr of a str: single quotes unless the text holds one and no
/// double quote, backslash escapes for the quote, backslash and
/// non-printable characters.
fn write_str_repr(out: &mut String, text: &str) -> fmt::Result {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    out.write_char(quote)?;
    for c in text.chars() {
        match c {
            '\\' => out.write_str("\\\\")?,
            '\t' => out.write_str("\\t")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            c if c == quote => write!(out, "\\{c}")?,
            c if is_printable(c) => out.write_char(c)?,
            c if (c as u32) < 0x100 => write!(out, "\\x{:02x}", c as u32)?,
            c if (c as u32) < 0x10000 => write!(out, "\\u{:04x}", c as u32)?,
            c => write!(out, "\\U{:08x}", c as u32)?,
        }
    }
    out.write_char(quote)
}

/// Characters Python's `str.isprintable` rejects beyond ASCII's controls:
/// separators other than the space, format characters, private use and
/// noncharacters. Python also escapes code points its Unicode version has
/// not assigned; those are printed as they are here.
const NOT_PRINTABLE: [(u32, u32); 26] = [
    (0x7f, 0xa0),
    (0xad, 0xad),
    (0x600, 0x605),
    (0x61c, 0x61c),
    (0x6dd, 0x6dd),
    (0x70f, 0x70f),
    (0x890, 0x891),
    (0x8e2, 0x8e2),
    (0x1680, 0x1680),
    (0x180e, 0x180e),
    (0x2000, 0x200f),
    (0x2028, 0x202f),
    (0x205f, 0x2064),
    (0x2066, 0x206f),
    (0x3000, 0x3000),
    (0xe000, 0xf8ff),
    (0xfdd0, 0xfdef),
    (0xfeff, 0xfeff),
    (0xfff9, 0xfffb),
    (0x110bd, 0x110bd),
    (0x110cd, 0x110cd),
    (0x13430, 0x13438),
    (0x1bca0, 0x1bca3),
    (0x1d173, 0x1d17a),
    (0xe0001, 0xe007f),
    (0xf0000, 0x10ffff),
];

fn is_printable(c: char) -> bool {
    let code = c as u32;
    if code < 0x80 {
        return code >= 0x20 && code != 0x7f;
    }
    if code & 0xfffe == 0xfffe {
        // U+xFFFE and U+xFFFF of every plane are noncharacters.
        return false;
    }
    !NOT_PRINTABLE
        .iter()
        .any(|&(first, last)| first <= code && code <= last)
}
