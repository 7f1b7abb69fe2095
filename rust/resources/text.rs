//! Mesos's text syntax, both ways: `Resources::parse` and the `Display`
//! impls (whose output `parse` reads back), and the scalar, range and set
//! value syntax.
//!
//! Contracts:
//! - `Resources::parse`: `;`-separated `key:value` entries, blank ones
//!   skipped, entries with one key added together; errors say what is wrong
//!   and in which entry ("invalid scalar 'x' in 'cpus:x'").
//! - `to_text` / `Display`: the canonical text; equal bundles print the same.
//! - `parse_scalar_text`: a non-negative decimal, rounded half up to millis.
//! - `format_millis`: the shortest decimal for millis ("2", "0.3").

use std::collections::BTreeSet;
use std::fmt;

use crate::error::{Error, Result};

use super::{
    in_context, ranges_from_pairs, set_from_items, Key, Resource, Resources, Value, MAX_MILLIS,
    MAX_UNITS,
};

impl Resources {
    /// Parses Mesos's text syntax, e.g. "cpus:2;mem:1024;ports:[31000-31999]".
    /// Entries with the same key are added together.
    pub fn parse(text: &str) -> Result<Self> {
        let mut entries = Vec::new();
        for segment in text.split(';') {
            let segment = trim(segment);
            if segment.is_empty() {
                continue;
            }
            let entry =
                parse_entry(segment).map_err(|err| in_context(err, &format!("'{segment}'")))?;
            entries.push(entry);
        }
        Self::canonicalize(entries)
    }

    /// The canonical text; `Resources::parse` reads it back.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(millis) => f.write_str(&format_millis(*millis)),
            Value::Ranges(ranges) => {
                f.write_str("[")?;
                for (i, (begin, end)) in ranges.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{begin}-{end}")?;
                }
                f.write_str("]")
            }
            Value::Set(items) => {
                f.write_str("{")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(item)?;
                }
                f.write_str("}")
            }
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", KeyText(self), self.value)
    }
}

/// Prints the key of an entry, valid or not (a role "*" prints as such).
pub(super) struct KeyText<'a>(pub(super) &'a Resource);

impl fmt::Display for KeyText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entry = self.0;
        write_key(
            f,
            &entry.name,
            entry.role.as_deref(),
            entry.principal.as_deref(),
            entry.volume.as_deref(),
        )
    }
}

fn write_key(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    role: Option<&str>,
    principal: Option<&str>,
    volume: Option<&str>,
) -> fmt::Result {
    f.write_str(name)?;
    match (role, principal) {
        (Some(role), Some(principal)) => write!(f, "({role},{principal})")?,
        (Some(role), None) => write!(f, "({role})")?,
        (None, Some(principal)) => write!(f, "(*,{principal})")?,
        (None, None) => {}
    }
    if let Some(volume) = volume {
        write!(f, "[{volume}]")?;
    }
    Ok(())
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

/// Prints millis as the shortest decimal: "2", "0.3", "1.25".
pub fn format_millis(millis: i64) -> String {
    let sign = if millis < 0 { "-" } else { "" };
    let magnitude = millis.unsigned_abs();
    let (whole, frac) = (magnitude / 1000, magnitude % 1000);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let digits = format!("{frac:03}");
        format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Parses a non-negative decimal `digits[.digits]` or `.digits` into millis,
/// rounding half up at the fourth decimal.
pub fn parse_scalar_text(text: &str) -> Result<i64> {
    if let Some(rest) = text.strip_prefix('-') {
        return Err(if split_decimal(rest).is_some() {
            Error::resource(format!("negative quantity '{text}'"))
        } else {
            Error::resource(format!("invalid scalar '{text}'"))
        });
    }
    let (whole, frac) =
        split_decimal(text).ok_or_else(|| Error::resource(format!("invalid scalar '{text}'")))?;
    let too_large = || Error::resource(format!("quantity '{text}' above the maximum {MAX_UNITS}"));
    let mut units: i64 = 0;
    for digit in whole.bytes() {
        units = units * 10 + i64::from(digit - b'0');
        if units > MAX_UNITS {
            return Err(too_large());
        }
    }
    let mut millis = units * 1000;
    for (place, digit) in [100, 10, 1].into_iter().zip(frac.bytes()) {
        millis += place * i64::from(digit - b'0');
    }
    if frac.as_bytes().get(3).is_some_and(|digit| *digit >= b'5') {
        millis += 1;
    }
    if millis > MAX_MILLIS {
        return Err(too_large());
    }
    Ok(millis)
}

/// Splits a decimal into its ASCII digit runs; `None` if it is not one.
fn split_decimal(text: &str) -> Option<(&str, &str)> {
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (whole, frac) = match text.split_once('.') {
        Some((whole, frac)) if !frac.is_empty() => (whole, frac),
        Some(_) => return None,
        None if !text.is_empty() => (text, ""),
        None => return None,
    };
    (all_digits(whole) && all_digits(frac)).then_some((whole, frac))
}

/// Parses a value in the text syntax: "[1-5,7-9]", "{a,b}" or a scalar.
pub fn parse_value_text(text: &str) -> Result<Value> {
    let text = trim(text);
    if text.starts_with('[') {
        let inner = text
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .ok_or_else(|| Error::resource(format!("invalid ranges '{text}'")))?;
        let inner = trim(inner);
        if inner.is_empty() {
            return Ok(Value::Ranges(Vec::new()));
        }
        let pairs = inner
            .split(',')
            .map(|part| parse_range(trim(part)))
            .collect::<Result<Vec<_>>>()?;
        ranges_from_pairs(pairs)
    } else if text.starts_with('{') {
        let inner = text
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
            .ok_or_else(|| Error::resource(format!("invalid set '{text}'")))?;
        let inner = trim(inner);
        if inner.is_empty() {
            return Ok(Value::Set(BTreeSet::new()));
        }
        set_from_items(inner.split(',').map(trim))
    } else {
        parse_scalar_text(text).map(Value::Scalar)
    }
}

fn parse_range(part: &str) -> Result<(u64, u64)> {
    let invalid = || Error::resource(format!("invalid range '{part}'"));
    let (begin, end) = part.split_once('-').ok_or_else(invalid)?;
    let (begin, end) = (trim(begin), trim(end));
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_number(begin) || !is_number(end) {
        return Err(invalid());
    }
    Ok((parse_bound(begin)?, parse_bound(end)?))
}

/// `digits` is a nonempty run of ASCII digits.
fn parse_bound(digits: &str) -> Result<u64> {
    digits
        .parse()
        .map_err(|_| Error::resource(format!("range bound {digits} out of bounds")))
}

/// Parses one `key:value` entry.
fn parse_entry(segment: &str) -> Result<Resource> {
    let (key, value) = segment
        .split_once(':')
        .ok_or_else(|| Error::resource("missing ':'"))?;
    let key = Key::parse(key)?;
    Ok(key.with_value(parse_value_text(value)?))
}

/// Trims ASCII whitespace only, so both implementations agree exactly on
/// what is whitespace.
pub(super) fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace())
}
