//! The value of an entry (a fixed-point scalar, ranges or a set) and the
//! constructors that check values given by callers.
//!
//! Contracts: every constructor returns a canonical value or a `Resource`
//! error: `scalar_from_f64` / `scalar_from_units` reject negative, non-finite
//! and too large numbers (`shown` is how the caller writes the number);
//! `ranges_from_pairs` merges adjacent ranges and rejects overlapping or
//! reversed ones; `set_from_items` rejects duplicates and invalid items.

use std::collections::BTreeSet;

use crate::error::{Error, Result};

use super::key::is_set_item_byte;
use super::{format_millis, Name, MAX_MILLIS, MAX_UNITS};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// Fixed point with three decimals, as integer millis, so that sums are
    /// exact (0.1 + 0.2 is 0.3) and equality is meaningful.
    Scalar(i64),
    /// Sorted, disjoint, non-adjacent inclusive intervals.
    Ranges(Vec<(u64, u64)>),
    Set(BTreeSet<Name>),
}

impl Value {
    pub fn is_empty(&self) -> bool {
        match self {
            Value::Scalar(millis) => *millis == 0,
            Value::Ranges(ranges) => ranges.is_empty(),
            Value::Set(items) => items.is_empty(),
        }
    }

    pub(super) fn same_type(&self, other: &Value) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    pub(super) fn type_phrase(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "a scalar",
            Value::Ranges(_) => "ranges",
            Value::Set(_) => "a set",
        }
    }
}

/// Millis from a number given by a caller, e.g. a Python float; `shown`
/// says how the caller writes that number, called only for an error message.
pub fn scalar_from_f64(value: f64, shown: impl FnOnce() -> String) -> Result<Value> {
    if !value.is_finite() {
        return Err(Error::resource(format!("invalid scalar {}", shown())));
    }
    if value < 0.0 {
        return Err(Error::resource(format!("negative quantity {}", shown())));
    }
    let millis = (value * 1000.0 + 0.5).floor();
    if millis > MAX_MILLIS as f64 {
        return Err(Error::resource(format!(
            "quantity {} above the maximum {MAX_UNITS}",
            shown()
        )));
    }
    // In range and integral, so the cast is exact.
    Ok(Value::Scalar(millis as i64))
}

/// Millis from a whole number of units given by a caller.
pub fn scalar_from_units(units: i64, shown: &str) -> Result<Value> {
    if units < 0 {
        return Err(Error::resource(format!("negative quantity {shown}")));
    }
    if units > MAX_UNITS {
        return Err(Error::resource(format!(
            "quantity {shown} above the maximum {MAX_UNITS}"
        )));
    }
    Ok(Value::Scalar(units * 1000))
}

pub(super) fn scalar_from_millis(millis: i64) -> Result<Value> {
    if millis < 0 {
        return Err(Error::resource(format!(
            "negative quantity {}",
            format_millis(millis)
        )));
    }
    if millis > MAX_MILLIS {
        return Err(Error::resource(format!(
            "quantity {} above the maximum {MAX_UNITS}",
            format_millis(millis)
        )));
    }
    Ok(Value::Scalar(millis))
}

/// Canonical ranges from (begin, end) pairs in any order; adjacent ones
/// merge, overlapping ones are an error (a port cannot exist twice).
pub fn ranges_from_pairs(mut pairs: Vec<(u64, u64)>) -> Result<Value> {
    if let Some((begin, end)) = pairs.iter().find(|(begin, end)| begin > end) {
        return Err(Error::resource(format!(
            "invalid range '{begin}-{end}': begin above end"
        )));
    }
    pairs.sort_unstable();
    let mut ranges = Vec::with_capacity(pairs.len());
    for (i, &pair) in pairs.iter().enumerate() {
        // Sorted and free of overlaps so far, so the previous pair ends last.
        if let Some(&previous) = i.checked_sub(1).map(|k| &pairs[k]) {
            if pair.0 <= previous.1 {
                return Err(Error::resource(format!(
                    "overlapping ranges {}-{} and {}-{}",
                    previous.0, previous.1, pair.0, pair.1
                )));
            }
        }
        push_coalescing(&mut ranges, pair);
    }
    Ok(Value::Ranges(ranges))
}

/// A set from items in any order; duplicates are an error.
pub fn set_from_items<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Value> {
    let mut set = BTreeSet::new();
    for item in items {
        check_set_item(item)?;
        if !set.insert(Name::from(item)) {
            return Err(Error::resource(format!("duplicate set item '{item}'")));
        }
    }
    Ok(Value::Set(set))
}

pub(super) fn check_set_item(item: &str) -> Result<()> {
    if !item.is_empty() && item.bytes().all(is_set_item_byte) {
        Ok(())
    } else {
        Err(Error::resource(format!("invalid set item '{item}'")))
    }
}

/// Appends a range that starts after the last one, merging adjacent ones.
pub(super) fn push_coalescing(out: &mut Vec<(u64, u64)>, range: (u64, u64)) {
    match out.last_mut() {
        Some(last) if last.1.checked_add(1) == Some(range.0) => last.1 = range.1,
        _ => out.push(range),
    }
}
