//! Bundle arithmetic: `+`, `-` and containment as linear merges of two
//! canonical entry lists, with the range and set algebra they need.
//!
//! Contracts:
//! - `checked_add` / `add_assign`: the sum; `Resource` error when a name has
//!   two value types, ranges overlap, a set item is in both, or a scalar sum
//!   exceeds the maximum. `add_assign` leaves `self` unchanged on error.
//! - `checked_sub` / `sub_assign`: the difference; `Resource` error unless
//!   `self` contains `other`. `sub_assign` leaves `self` unchanged on error.
//! - `contains`: whether every entry of `other` fits in the entry of `self`
//!   with the same key (no borrowing across roles or names).

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};

use super::value::push_coalescing;
use super::{Resource, Resources, Value, MAX_MILLIS, MAX_UNITS};

impl Resources {
    pub fn checked_add(&self, other: &Resources) -> Result<Resources> {
        if other.is_empty() {
            return Ok(self.clone());
        }
        if self.is_empty() {
            return Ok(other.clone());
        }
        check_add(&self.entries, &other.entries)?;
        Ok(Resources {
            entries: Arc::new(merge_sum(&self.entries, &other.entries)),
        })
    }

    /// Adds in place; on error `self` is unchanged.
    pub fn add_assign(&mut self, other: &Resources) -> Result<()> {
        if other.is_empty() {
            return Ok(());
        }
        if self.is_empty() {
            // Shared, not copied: the bundle keeps its identity.
            *self = other.clone();
            return Ok(());
        }
        let keys_present = check_add(&self.entries, &other.entries)?;
        if keys_present {
            // The common case of an allocator returning resources to an agent:
            // no new keys, so the entries are updated where they are.
            let entries = Arc::make_mut(&mut self.entries);
            let mut i = 0;
            for entry in other.entries.iter() {
                while entries[i].cmp_key(entry) == Ordering::Less {
                    i += 1;
                }
                combine_value(&mut entries[i].value, &entry.value);
            }
        } else {
            self.entries = Arc::new(merge_sum(&self.entries, &other.entries));
        }
        Ok(())
    }

    pub fn checked_sub(&self, other: &Resources) -> Result<Resources> {
        self.check_sub(other)?;
        let mut result = self.clone();
        result.subtract_contained(other);
        Ok(result)
    }

    /// Subtracts in place; on error `self` is unchanged.
    pub fn sub_assign(&mut self, other: &Resources) -> Result<()> {
        self.check_sub(other)?;
        self.subtract_contained(other);
        Ok(())
    }

    fn check_sub(&self, other: &Resources) -> Result<()> {
        match self.first_not_contained(other) {
            None => Ok(()),
            Some(entry) => {
                let from = if self.is_empty() {
                    "empty resources".to_string()
                } else {
                    self.to_text()
                };
                Err(Error::resource(format!(
                    "cannot subtract {entry}: not contained in {from}"
                )))
            }
        }
    }

    fn subtract_contained(&mut self, other: &Resources) {
        if other.is_empty() {
            return;
        }
        let entries = Arc::make_mut(&mut self.entries);
        let mut i = 0;
        for entry in other.entries.iter() {
            while entries[i].cmp_key(entry) == Ordering::Less {
                i += 1;
            }
            subtract_value(&mut entries[i].value, &entry.value);
        }
        entries.retain(|entry| !entry.value.is_empty());
    }

    /// Whether every entry of `other` fits in the entry of `self` with the
    /// same key.
    pub fn contains(&self, other: &Resources) -> bool {
        self.first_not_contained(other).is_none()
    }

    fn first_not_contained<'a>(&self, other: &'a Resources) -> Option<&'a Resource> {
        let mut i = 0;
        for entry in other.entries.iter() {
            while i < self.entries.len() && self.entries[i].cmp_key(entry) == Ordering::Less {
                i += 1;
            }
            match self.entries.get(i) {
                Some(mine)
                    if mine.cmp_key(entry) == Ordering::Equal
                        && value_fits(&entry.value, &mine.value) => {}
                _ => return Some(entry),
            }
        }
        None
    }
}

/// Checks that `b` can be added to `a` (both canonical) without allocating;
/// returns whether every key of `b` is already in `a`.
fn check_add(a: &[Resource], b: &[Resource]) -> Result<bool> {
    // Types first, per name, since keys differing only in role must agree too.
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].name.cmp(&b[j].name) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                if !a[i].value.same_type(&b[j].value) {
                    return Err(conflicting_types(&a[i], &b[j]));
                }
                let name = &a[i].name;
                while i < a.len() && a[i].name == *name {
                    i += 1;
                }
                while j < b.len() && b[j].name == *name {
                    j += 1;
                }
            }
        }
    }
    let mut keys_present = true;
    let mut i = 0;
    for entry in b {
        while i < a.len() && a[i].cmp_key(entry) == Ordering::Less {
            i += 1;
        }
        match a.get(i) {
            Some(mine) if mine.cmp_key(entry) == Ordering::Equal => check_combine(mine, entry)?,
            _ => keys_present = false,
        }
    }
    Ok(keys_present)
}

pub(super) fn conflicting_types(first: &Resource, second: &Resource) -> Error {
    Error::resource(format!(
        "conflicting types for '{}': {first} is {}, {second} is {}",
        first.name,
        first.value.type_phrase(),
        second.value.type_phrase()
    ))
}

/// Checks that `b` can be added to `a`, two entries of the same key and type.
pub(super) fn check_combine(a: &Resource, b: &Resource) -> Result<()> {
    let problem = match (&a.value, &b.value) {
        (Value::Scalar(x), Value::Scalar(y)) => match x.checked_add(*y) {
            Some(sum) if sum <= MAX_MILLIS => None,
            _ => Some(format!("total above the maximum {MAX_UNITS}")),
        },
        (Value::Ranges(x), Value::Ranges(y)) => first_range_overlap(x, y)
            .map(|(p, q)| format!("overlapping ranges {}-{} and {}-{}", p.0, p.1, q.0, q.1)),
        (Value::Set(x), Value::Set(y)) => x
            .intersection(y)
            .next()
            .map(|item| format!("item '{item}' in both")),
        _ => unreachable!("types are checked before values are combined"),
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::resource(format!("cannot add {b} to {a}: {problem}"))),
    }
}

/// Adds `b` into `a`; `check_combine` has accepted them.
pub(super) fn combine_value(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Scalar(x), Value::Scalar(y)) => *x += y,
        (Value::Ranges(x), Value::Ranges(y)) => *x = union_disjoint(x, y),
        (Value::Set(x), Value::Set(y)) => x.extend(y.iter().cloned()),
        _ => unreachable!("types are checked before values are combined"),
    }
}

/// The sum of two canonical lists whose addition `check_add` has accepted.
fn merge_sum(a: &[Resource], b: &[Resource]) -> Vec<Resource> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp_key(&b[j]) {
            Ordering::Less => {
                out.push(a[i].clone());
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j].clone());
                j += 1;
            }
            Ordering::Equal => {
                let mut entry = a[i].clone();
                combine_value(&mut entry.value, &b[j].value);
                out.push(entry);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

fn value_fits(part: &Value, whole: &Value) -> bool {
    match (part, whole) {
        (Value::Scalar(x), Value::Scalar(y)) => x <= y,
        (Value::Ranges(x), Value::Ranges(y)) => ranges_subset(x, y),
        (Value::Set(x), Value::Set(y)) => x.is_subset(y),
        _ => false,
    }
}

/// Removes `part` from `whole`; `value_fits(part, whole)` holds.
fn subtract_value(whole: &mut Value, part: &Value) {
    match (whole, part) {
        (Value::Scalar(x), Value::Scalar(y)) => *x -= y,
        (Value::Ranges(x), Value::Ranges(y)) => *x = ranges_difference(x, y),
        (Value::Set(x), Value::Set(y)) => x.retain(|item| !y.contains(item)),
        _ => unreachable!("containment is checked before subtracting"),
    }
}

/// The first pair of intersecting ranges met by a merge walk.
fn first_range_overlap(a: &[(u64, u64)], b: &[(u64, u64)]) -> Option<((u64, u64), (u64, u64))> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x.0 <= y.1 && y.0 <= x.1 {
            return Some((x, y));
        }
        if x.1 < y.1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    None
}

/// Union of two canonical, disjoint range lists.
fn union_disjoint(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = if j == b.len() || (i < a.len() && a[i].0 < b[j].0) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        push_coalescing(&mut out, next);
    }
    out
}

fn ranges_subset(part: &[(u64, u64)], whole: &[(u64, u64)]) -> bool {
    // Canonical ranges are maximal, so each part range must sit inside one
    // whole range.
    let mut i = 0;
    for &(begin, end) in part {
        while i < whole.len() && whole[i].1 < begin {
            i += 1;
        }
        match whole.get(i) {
            Some(&(lo, hi)) if lo <= begin && end <= hi => {}
            _ => return false,
        }
    }
    true
}

/// `whole` minus `part`, where `part` is a subset of `whole`.
fn ranges_difference(whole: &[(u64, u64)], part: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(whole.len() + part.len());
    let mut j = 0;
    for &(lo, hi) in whole {
        // The start of what is left of this range; `None` once it is used up.
        let mut start = Some(lo);
        while j < part.len() && part[j].0 <= hi {
            let (begin, end) = part[j];
            if let Some(s) = start.filter(|&s| s < begin) {
                out.push((s, begin - 1));
            }
            start = end.checked_add(1).filter(|&s| s <= hi);
            j += 1;
        }
        if let Some(s) = start {
            out.push((s, hi));
        }
    }
    out
}
