//! Resource bundles with Mesos's text syntax and arithmetic.
//!
//! A bundle is a canonical, sorted list of entries, one per key (name, role,
//! principal, volume). Every constructor canonicalises, so equality, hashing
//! and printing only ever see one representation of a bundle, and every
//! binary operation is a linear merge of two sorted lists.
//!
//! `pyactors/_reference/resources.py` is the executable specification of
//! this module: the two must agree on every result and every error message.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Names, roles, principals, volume ids and set items are shared, not
/// copied, between the many bundles an allocator holds.
pub type Name = Arc<str>;

/// The largest scalar one entry may hold, in millis (1e12 units). Sums are
/// held to it as well, so every bundle prints to text that parses back,
/// which pickling relies on.
pub const MAX_MILLIS: i64 = 1_000_000_000_000_000;
const MAX_UNITS: i64 = MAX_MILLIS / 1000;

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

    fn same_type(&self, other: &Value) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    fn type_phrase(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "a scalar",
            Value::Ranges(_) => "ranges",
            Value::Set(_) => "a set",
        }
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

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resource {
    pub name: Name,
    /// `None` is unreserved (Mesos's role "*").
    pub role: Option<Name>,
    /// Present only for dynamic reservations.
    pub principal: Option<Name>,
    /// Persistent-volume id, only for reserved "disk".
    pub volume: Option<Name>,
    pub value: Value,
}

impl Resource {
    /// The canonical order: by (name, role, principal, volume) with "*" for
    /// unreserved and "" for absent parts, compared bytewise. Bundles derived
    /// from one another share their `Arc` names, so pointer equality settles
    /// most comparisons on the hot path before any bytes are compared.
    fn cmp_key(&self, other: &Resource) -> Ordering {
        fn names(a: &Name, b: &Name) -> Ordering {
            if Arc::ptr_eq(a, b) {
                Ordering::Equal
            } else {
                a.as_bytes().cmp(b.as_bytes())
            }
        }
        fn parts(a: &Option<Name>, b: &Option<Name>, absent: &str) -> Ordering {
            match (a, b) {
                (None, None) => Ordering::Equal,
                (Some(a), Some(b)) => names(a, b),
                (None, Some(b)) => absent.as_bytes().cmp(b.as_bytes()),
                (Some(a), None) => a.as_bytes().cmp(absent.as_bytes()),
            }
        }
        names(&self.name, &other.name)
            .then_with(|| parts(&self.role, &other.role, "*"))
            .then_with(|| parts(&self.principal, &other.principal, ""))
            .then_with(|| parts(&self.volume, &other.volume, ""))
    }

    /// The entry's key in the text syntax, e.g. "disk(eng,alice)[v1]".
    pub fn key_text(&self) -> String {
        KeyText(self).to_string()
    }

    /// Checks an entry built by hand the way the text parser checks its
    /// input, and normalises it (role "*" becomes `None`, ranges merge).
    pub fn validated(&self) -> Result<Resource> {
        let key = Key::new(
            &self.name,
            self.role.as_deref(),
            self.principal.as_deref(),
            self.volume.as_deref(),
        )?;
        let value = match &self.value {
            Value::Scalar(millis) => scalar_from_millis(*millis)?,
            Value::Ranges(ranges) => ranges_from_pairs(ranges.clone())?,
            Value::Set(items) => {
                for item in items {
                    check_set_item(item)?;
                }
                Value::Set(items.clone())
            }
        };
        Ok(key.with_value(value))
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", KeyText(self), self.value)
    }
}

/// Prints the key of an entry, valid or not (a role "*" prints as such).
struct KeyText<'a>(&'a Resource);

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

/// The part of an entry before the ':', validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub name: Name,
    pub role: Option<Name>,
    pub principal: Option<Name>,
    pub volume: Option<Name>,
}

impl Key {
    /// Parses `name[(role[,principal])][[volume]]`, e.g. "disk(eng,alice)[v1]".
    pub fn parse(text: &str) -> Result<Key> {
        let text = trim(text);
        let invalid = || Error::resource(format!("invalid resource key '{text}'"));
        let name_end = text.find(['(', '[']).unwrap_or(text.len());
        let (name, mut rest) = text.split_at(name_end);
        let (mut role, mut principal, mut volume) = (None, None, None);
        if let Some(after) = rest.strip_prefix('(') {
            let close = after.find(')').ok_or_else(invalid)?;
            let mut parts = after[..close].split(',');
            role = parts.next();
            principal = parts.next();
            if parts.next().is_some() {
                return Err(invalid());
            }
            rest = &after[close + 1..];
        }
        if let Some(after) = rest.strip_prefix('[') {
            volume = Some(after.strip_suffix(']').ok_or_else(invalid)?);
            rest = "";
        }
        if !rest.is_empty() {
            return Err(invalid());
        }
        Key::new(name, role, principal, volume)
    }

    /// Validates the parts of a key; role "*" (or `None`) is unreserved.
    pub fn new(
        name: &str,
        role: Option<&str>,
        principal: Option<&str>,
        volume: Option<&str>,
    ) -> Result<Key> {
        if name.is_empty() || !name.bytes().all(is_name_byte) {
            return Err(Error::resource(format!("invalid resource name '{name}'")));
        }
        if let Some(role) = role {
            validate_role(role)?;
        }
        if let Some(principal) = principal {
            validate_identifier("principal", principal)?;
        }
        if let Some(volume) = volume {
            validate_identifier("volume", volume)?;
        }
        let role = role.filter(|role| *role != "*");
        if let (None, Some(principal)) = (role, principal) {
            return Err(Error::resource(format!(
                "principal '{principal}' requires a reserved role"
            )));
        }
        if let Some(volume) = volume {
            if name != "disk" {
                return Err(Error::resource(format!(
                    "volume '{volume}' is only allowed for disk"
                )));
            }
            if role.is_none() {
                return Err(Error::resource(format!(
                    "volume '{volume}' requires a reservation"
                )));
            }
        }
        Ok(Key {
            name: name.into(),
            role: role.map(Name::from),
            principal: principal.map(Name::from),
            volume: volume.map(Name::from),
        })
    }

    pub fn with_value(self, value: Value) -> Resource {
        Resource {
            name: self.name,
            role: self.role,
            principal: self.principal,
            volume: self.volume,
            value,
        }
    }
}

/// A canonical bundle: entries sorted by key, one per key, none empty, one
/// value type per name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    entries: Vec<Resource>,
}

impl Resources {
    pub fn new() -> Self {
        Self::default()
    }

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

    /// Validates each entry (errors name its key) and canonicalises: entries
    /// with the same key are added together with the rules of `+`.
    pub fn from_entries(entries: Vec<Resource>) -> Result<Resources> {
        let entries = entries
            .iter()
            .map(|entry| {
                entry
                    .validated()
                    .map_err(|err| in_context(err, &format!("'{}'", entry.key_text())))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::canonicalize(entries)
    }

    /// Entries must be individually valid and normalised.
    fn canonicalize(mut entries: Vec<Resource>) -> Result<Self> {
        entries.retain(|entry| !entry.value.is_empty());
        // Stable, so entries with the same key are added in input order.
        entries.sort_by(Resource::cmp_key);
        let mut group = 0;
        for i in 1..entries.len() {
            if entries[i].name != entries[group].name {
                group = i;
            } else if !entries[i].value.same_type(&entries[group].value) {
                return Err(conflicting_types(&entries[group], &entries[i]));
            }
        }
        let mut merged: Vec<Resource> = Vec::with_capacity(entries.len());
        for entry in entries {
            match merged.last_mut() {
                Some(last) if last.cmp_key(&entry) == Ordering::Equal => {
                    check_combine(last, &entry)?;
                    combine_value(&mut last.value, &entry.value);
                }
                _ => merged.push(entry),
            }
        }
        Ok(Resources { entries: merged })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of entries (distinct keys).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.entries.iter()
    }

    pub fn checked_add(&self, other: &Resources) -> Result<Resources> {
        if other.is_empty() {
            return Ok(self.clone());
        }
        if self.is_empty() {
            return Ok(other.clone());
        }
        check_add(&self.entries, &other.entries)?;
        Ok(Resources {
            entries: merge_sum(&self.entries, &other.entries),
        })
    }

    /// Adds in place; on error `self` is unchanged.
    pub fn add_assign(&mut self, other: &Resources) -> Result<()> {
        if other.is_empty() {
            return Ok(());
        }
        let keys_present = check_add(&self.entries, &other.entries)?;
        if keys_present {
            // The common case of an allocator returning resources to an agent:
            // no new keys, so the entries are updated where they are.
            let mut i = 0;
            for entry in &other.entries {
                while self.entries[i].cmp_key(entry) == Ordering::Less {
                    i += 1;
                }
                combine_value(&mut self.entries[i].value, &entry.value);
            }
        } else {
            self.entries = merge_sum(&self.entries, &other.entries);
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
        let mut i = 0;
        for entry in &other.entries {
            while self.entries[i].cmp_key(entry) == Ordering::Less {
                i += 1;
            }
            subtract_value(&mut self.entries[i].value, &entry.value);
        }
        self.entries.retain(|entry| !entry.value.is_empty());
    }

    /// Whether every entry of `other` fits in the entry of `self` with the
    /// same key.
    pub fn contains(&self, other: &Resources) -> bool {
        self.first_not_contained(other).is_none()
    }

    fn first_not_contained<'a>(&self, other: &'a Resources) -> Option<&'a Resource> {
        let mut i = 0;
        for entry in &other.entries {
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

    pub fn filter(&self, keep: impl Fn(&Resource) -> bool) -> Resources {
        Resources {
            entries: self.entries.iter().filter(|e| keep(e)).cloned().collect(),
        }
    }

    pub fn unreserved(&self) -> Resources {
        self.filter(|entry| entry.role.is_none())
    }

    /// All reserved entries for `None`, else those reserved exactly to `role`.
    pub fn reserved(&self, role: Option<&str>) -> Resources {
        match role {
            None => self.filter(|entry| entry.role.is_some()),
            Some(role) => self.filter(|entry| entry.role.as_deref() == Some(role)),
        }
    }

    /// Unreserved entries plus those reserved to `role` or an ancestor of
    /// it: reservations flow down the role tree, never up or sideways.
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|entry| match &entry.role {
            None => true,
            Some(reserved) => is_ancestor_or_self(reserved, role),
        })
    }

    pub fn scalars(&self) -> Resources {
        self.filter(|entry| matches!(entry.value, Value::Scalar(_)))
    }

    /// Sum over every key with this name, in millis.
    pub fn scalar_millis(&self, name: &str) -> i64 {
        let start = self.entries.partition_point(|entry| &*entry.name < name);
        self.entries[start..]
            .iter()
            .take_while(|entry| &*entry.name == name)
            .map(|entry| match entry.value {
                Value::Scalar(millis) => millis,
                _ => 0,
            })
            // Each entry is capped but a name can have many roles.
            .fold(0, i64::saturating_add)
    }

    /// Per scalar name, the sum over its keys in millis; sorted by name.
    pub fn totals_millis(&self) -> Vec<(Name, i64)> {
        let mut totals: Vec<(Name, i64)> = Vec::new();
        for entry in &self.entries {
            if let Value::Scalar(millis) = entry.value {
                match totals.last_mut() {
                    Some((name, total)) if *name == entry.name => {
                        *total = total.saturating_add(millis);
                    }
                    _ => totals.push((entry.name.clone(), millis)),
                }
            }
        }
        totals
    }

    /// Sorted distinct names of all entries.
    pub fn names(&self) -> Vec<Name> {
        let mut names: Vec<Name> = Vec::new();
        for entry in &self.entries {
            if names.last() != Some(&entry.name) {
                names.push(entry.name.clone());
            }
        }
        names
    }

    /// The canonical text; `Resources::parse` reads it back.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
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

fn conflicting_types(first: &Resource, second: &Resource) -> Error {
    Error::resource(format!(
        "conflicting types for '{}': {first} is {}, {second} is {}",
        first.name,
        first.value.type_phrase(),
        second.value.type_phrase()
    ))
}

/// Checks that `b` can be added to `a`, two entries of the same key and type.
fn check_combine(a: &Resource, b: &Resource) -> Result<()> {
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
fn combine_value(a: &mut Value, b: &Value) {
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

/// Appends a range that starts after the last one, merging adjacent ones.
fn push_coalescing(out: &mut Vec<(u64, u64)>, range: (u64, u64)) {
    match out.last_mut() {
        Some(last) if last.1.checked_add(1) == Some(range.0) => last.1 = range.1,
        _ => out.push(range),
    }
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

/// Whether `ancestor` is `role` or one of its ancestors in the role tree
/// ("a" of "a/b" but not of "ab").
pub fn is_ancestor_or_self(ancestor: &str, role: &str) -> bool {
    match role.strip_prefix(ancestor) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A role is "*" or '/'-separated components of [A-Za-z0-9_.-], none of
/// them empty, "." or "..", nor starting with '-'.
pub fn validate_role(role: &str) -> Result<()> {
    let valid = role == "*"
        || role.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && !part.starts_with('-')
                && part.bytes().all(is_role_byte)
        });
    if valid {
        Ok(())
    } else {
        Err(Error::resource(format!("invalid role '{role}'")))
    }
}

fn validate_identifier(what: &str, text: &str) -> Result<()> {
    if !text.is_empty() && text.bytes().all(is_identifier_byte) {
        Ok(())
    } else {
        Err(Error::resource(format!("invalid {what} '{text}'")))
    }
}

fn is_role_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

fn is_name_byte(b: u8) -> bool {
    is_role_byte(b) || b == b'/'
}

fn is_identifier_byte(b: u8) -> bool {
    is_role_byte(b) || b == b'@'
}

fn is_set_item_byte(b: u8) -> bool {
    is_identifier_byte(b) || matches!(b, b'/' | b':')
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

/// Millis from a number given by a caller, e.g. a Python float; `shown` is
/// how the caller writes that number in error messages.
pub fn scalar_from_f64(value: f64, shown: &str) -> Result<Value> {
    if !value.is_finite() {
        return Err(Error::resource(format!("invalid scalar {shown}")));
    }
    if value < 0.0 {
        return Err(Error::resource(format!("negative quantity {shown}")));
    }
    let millis = (value * 1000.0 + 0.5).floor();
    if millis > MAX_MILLIS as f64 {
        return Err(Error::resource(format!(
            "quantity {shown} above the maximum {MAX_UNITS}"
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

fn scalar_from_millis(millis: i64) -> Result<Value> {
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

fn check_set_item(item: &str) -> Result<()> {
    if !item.is_empty() && item.bytes().all(is_set_item_byte) {
        Ok(())
    } else {
        Err(Error::resource(format!("invalid set item '{item}'")))
    }
}

/// Parses one `key:value` entry.
fn parse_entry(segment: &str) -> Result<Resource> {
    let (key, value) = segment
        .split_once(':')
        .ok_or_else(|| Error::resource("missing ':'"))?;
    let key = Key::parse(key)?;
    Ok(key.with_value(parse_value_text(value)?))
}

/// Appends where an error happened: "invalid scalar 'x' in 'cpus:x'".
pub fn in_context(err: Error, context: &str) -> Error {
    Error::new(err.kind, format!("{} in {context}", err.message))
}

/// Trims ASCII whitespace only, so both implementations agree exactly on
/// what is whitespace.
fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Resources {
        Resources::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    fn err(text: &str) -> String {
        Resources::parse(text).unwrap_err().message
    }

    #[test]
    fn parses_and_prints_canonically() {
        let bundle = r("cpus:2;mem:1024;disk:4096;gpus:1;ports:[31000-31999];cpus(eng):1");
        assert_eq!(
            bundle.to_text(),
            "cpus:2;cpus(eng):1;disk:4096;gpus:1;mem:1024;ports:[31000-31999]"
        );
        assert_eq!(bundle.len(), 6);
        assert_eq!(r(" ; cpus : 2 ;; ").to_text(), "cpus:2");
        assert_eq!(r("").to_text(), "");
        assert!(r("").is_empty());
        assert_eq!(r("zones:{b, a}").to_text(), "zones:{a,b}");
        assert_eq!(r("cpus(eng,alice):1").to_text(), "cpus(eng,alice):1");
        assert_eq!(
            r("disk(eng,alice)[vol-1]:1024").to_text(),
            "disk(eng,alice)[vol-1]:1024"
        );
        assert_eq!(r("disk(eng)[v]:1").to_text(), "disk(eng)[v]:1");
        assert_eq!(r("cpus(*):1").to_text(), "cpus:1");
    }

    #[test]
    fn sorts_unreserved_first_and_bytewise() {
        let bundle = r("cpus(b):1;cpus(a,p):1;cpus(a):1;cpus:1;cpus(A):1;Cpus:1");
        assert_eq!(
            bundle.to_text(),
            "Cpus:1;cpus:1;cpus(A):1;cpus(a):1;cpus(a,p):1;cpus(b):1"
        );
    }

    #[test]
    fn drops_empty_values() {
        assert_eq!(r("cpus:0;ports:[];zones:{};mem:0.0004").to_text(), "");
        assert_eq!(r("cpus:0;cpus(eng):[1-2]").to_text(), "cpus(eng):[1-2]");
    }

    #[test]
    fn scalars_are_fixed_point() {
        assert_eq!(
            r("cpus:0.1").checked_add(&r("cpus:0.2")).unwrap(),
            r("cpus:0.3")
        );
        assert_eq!(r("cpus:0.0005").to_text(), "cpus:0.001");
        assert_eq!(r("cpus:1.2345").to_text(), "cpus:1.235");
        assert_eq!(r("cpus:.5").to_text(), "cpus:0.5");
        assert_eq!(r("cpus:1.250").to_text(), "cpus:1.25");
        assert_eq!(r("cpus:0.9995").to_text(), "cpus:1");
        assert_eq!(r("cpus:007").to_text(), "cpus:7");
        assert_eq!(r("mem:1000000000000").scalar_millis("mem"), MAX_MILLIS);
        assert_eq!(format_millis(-1500), "-1.5");
        assert_eq!(format_millis(i64::MIN), "-9223372036854775.808");
        assert_eq!(parse_scalar_text("2.5"), Ok(2500));
    }

    #[test]
    fn rejects_bad_scalars() {
        assert_eq!(err("cpus:abc"), "invalid scalar 'abc' in 'cpus:abc'");
        assert_eq!(err("cpus:-1"), "negative quantity '-1' in 'cpus:-1'");
        assert_eq!(err("cpus:-x"), "invalid scalar '-x' in 'cpus:-x'");
        for bad in ["nan", "inf", "1e5", "1.", ".", "+1", "", "1.2.3", "١"] {
            assert!(
                err(&format!("cpus:{bad}")).starts_with("invalid scalar"),
                "{bad}"
            );
        }
        assert_eq!(
            err("mem:1000000000000.0005"),
            "quantity '1000000000000.0005' above the maximum 1000000000000 in \
             'mem:1000000000000.0005'"
        );
        assert!(err("mem:99999999999999999999999999").contains("above the maximum"));
    }

    #[test]
    fn ranges_merge_and_reject_overlaps() {
        assert_eq!(r("ports:[4-6, 1-3]").to_text(), "ports:[1-6]");
        assert_eq!(r("ports:[ 1 - 3 , 5-5 ]").to_text(), "ports:[1-3,5-5]");
        assert_eq!(
            err("ports:[31000-31005,31003-31010]"),
            "overlapping ranges 31000-31005 and 31003-31010 in 'ports:[31000-31005,31003-31010]'"
        );
        assert_eq!(
            err("ports:[1-3,4-6,5-8]"),
            "overlapping ranges 4-6 and 5-8 in 'ports:[1-3,4-6,5-8]'"
        );
        assert_eq!(
            err("ports:[5-3]"),
            "invalid range '5-3': begin above end in 'ports:[5-3]'"
        );
        assert_eq!(err("ports:[1-2,]"), "invalid range '' in 'ports:[1-2,]'");
        assert_eq!(err("ports:[1-2"), "invalid ranges '[1-2' in 'ports:[1-2'");
        assert_eq!(err("ports:[5]"), "invalid range '5' in 'ports:[5]'");
        assert_eq!(
            err("ports:[0-18446744073709551616]"),
            "range bound 18446744073709551616 out of bounds in 'ports:[0-18446744073709551616]'"
        );
        let top = r("ports:[18446744073709551615-18446744073709551615]");
        let below = r("ports:[18446744073709551613-18446744073709551614]");
        let sum = top.checked_add(&below).unwrap();
        assert_eq!(
            sum.to_text(),
            "ports:[18446744073709551613-18446744073709551615]"
        );
        assert_eq!(sum.checked_sub(&top).unwrap(), below);
    }

    #[test]
    fn sets_reject_duplicates_and_bad_items() {
        assert_eq!(
            err("zones:{a,a}"),
            "duplicate set item 'a' in 'zones:{a,a}'"
        );
        assert_eq!(err("zones:{a,}"), "invalid set item '' in 'zones:{a,}'");
        assert_eq!(
            err("zones:{a b}"),
            "invalid set item 'a b' in 'zones:{a b}'"
        );
        assert_eq!(err("zones:{a"), "invalid set '{a' in 'zones:{a'");
    }

    #[test]
    fn rejects_bad_keys() {
        assert_eq!(err("cpus"), "missing ':' in 'cpus'");
        assert_eq!(err(":1"), "invalid resource name '' in ':1'");
        assert_eq!(err("cp us:1"), "invalid resource name 'cp us' in 'cp us:1'");
        assert_eq!(err("cpus(..):1"), "invalid role '..' in 'cpus(..):1'");
        assert_eq!(err("cpus():1"), "invalid role '' in 'cpus():1'");
        assert_eq!(err("cpus(a//b):1"), "invalid role 'a//b' in 'cpus(a//b):1'");
        assert_eq!(err("cpus(-a):1"), "invalid role '-a' in 'cpus(-a):1'");
        assert_eq!(
            err("cpus(a,b,c):1"),
            "invalid resource key 'cpus(a,b,c)' in 'cpus(a,b,c):1'"
        );
        assert_eq!(
            err("cpus(a:1"),
            "invalid resource key 'cpus(a' in 'cpus(a:1'"
        );
        assert_eq!(
            err("cpus(a)x:1"),
            "invalid resource key 'cpus(a)x' in 'cpus(a)x:1'"
        );
        assert_eq!(err("cpus(a,):1"), "invalid principal '' in 'cpus(a,):1'");
        assert_eq!(
            err("cpus(*,alice):1"),
            "principal 'alice' requires a reserved role in 'cpus(*,alice):1'"
        );
        assert_eq!(
            err("mem(eng)[v]:1"),
            "volume 'v' is only allowed for disk in 'mem(eng)[v]:1'"
        );
        assert_eq!(
            err("disk[v]:1"),
            "volume 'v' requires a reservation in 'disk[v]:1'"
        );
        assert_eq!(err("disk(eng)[]:1"), "invalid volume '' in 'disk(eng)[]:1'");
        assert!(validate_role("*").is_ok());
        assert!(validate_role("a/b.c/d-e").is_ok());
        assert!(validate_role("a/./b").is_err());
    }

    #[test]
    fn duplicate_keys_add_up() {
        assert_eq!(r("cpus:1;cpus:2").to_text(), "cpus:3");
        assert_eq!(r("ports:[1-2];ports:[3-4]").to_text(), "ports:[1-4]");
        assert_eq!(
            err("ports:[1-6];ports:[5-10]"),
            "cannot add ports:[5-10] to ports:[1-6]: overlapping ranges 1-6 and 5-10"
        );
        assert_eq!(
            err("cpus:1;cpus(eng):[1-2]"),
            "conflicting types for 'cpus': cpus:1 is a scalar, cpus(eng):[1-2] is ranges"
        );
        assert_eq!(
            err("mem:1000000000000;mem:1"),
            "cannot add mem:1 to mem:1000000000000: total above the maximum 1000000000000"
        );
    }

    #[test]
    fn adds_and_subtracts() {
        let a = r("cpus:4;mem:1024;ports:[1-10];zones:{a}");
        let b = r("cpus:1.5;cpus(eng):1;ports:[11-20];zones:{b}");
        let sum = a.checked_add(&b).unwrap();
        assert_eq!(
            sum.to_text(),
            "cpus:5.5;cpus(eng):1;mem:1024;ports:[1-20];zones:{a,b}"
        );
        assert_eq!(sum.checked_sub(&b).unwrap(), a);
        assert_eq!(sum.checked_sub(&a).unwrap(), b);
        assert_eq!(sum.checked_sub(&sum).unwrap(), Resources::new());
        assert_eq!(
            r("ports:[1-10]")
                .checked_sub(&r("ports:[3-4,6-6]"))
                .unwrap()
                .to_text(),
            "ports:[1-2,5-5,7-10]"
        );
        assert_eq!(
            r("ports:[1-10,20-30]")
                .checked_sub(&r("ports:[1-10,25-30]"))
                .unwrap()
                .to_text(),
            "ports:[20-24]"
        );
        assert_eq!(
            r("cpus:4")
                .checked_sub(&r("cpus(eng):2"))
                .unwrap_err()
                .message,
            "cannot subtract cpus(eng):2: not contained in cpus:4"
        );
        assert_eq!(
            Resources::new()
                .checked_sub(&r("cpus:1"))
                .unwrap_err()
                .message,
            "cannot subtract cpus:1: not contained in empty resources"
        );
        assert_eq!(
            r("zones:{a,b}")
                .checked_add(&r("zones:{b,c}"))
                .unwrap_err()
                .message,
            "cannot add zones:{b,c} to zones:{a,b}: item 'b' in both"
        );
        assert_eq!(
            r("cpus:1")
                .checked_add(&r("cpus(eng):{a}"))
                .unwrap_err()
                .message,
            "conflicting types for 'cpus': cpus:1 is a scalar, cpus(eng):{a} is a set"
        );
    }

    #[test]
    fn errors_leave_values_unchanged() {
        let original = r("cpus:1;ports:[1-5]");
        let mut a = original.clone();
        assert!(a.add_assign(&r("cpus:2;ports:[5-6]")).is_err());
        assert_eq!(a, original);
        assert!(a.add_assign(&r("cpus(eng):2;ports:[5-6]")).is_err());
        assert_eq!(a, original);
        assert!(a.sub_assign(&r("cpus:0.5;ports:[6-6]")).is_err());
        assert_eq!(a, original);
        a.add_assign(&r("cpus:2;ports:[6-6]")).unwrap();
        assert_eq!(a, r("cpus:3;ports:[1-6]"));
        a.add_assign(&r("mem:2")).unwrap();
        assert_eq!(a, r("cpus:3;mem:2;ports:[1-6]"));
        a.sub_assign(&r("cpus:3;ports:[2-6]")).unwrap();
        assert_eq!(a, r("mem:2;ports:[1-1]"));
    }

    #[test]
    fn containment() {
        let a = r("cpus:4;mem:1024;ports:[1-10];cpus(eng):1");
        assert!(a.contains(&r("cpus:4;ports:[2-3,5-9]")));
        assert!(a.contains(&Resources::new()));
        assert!(!a.contains(&r("cpus:4.001")));
        assert!(!a.contains(&r("ports:[10-11]")));
        assert!(!a.contains(&r("cpus(ops):1")));
        assert!(!a.contains(&r("cpus(eng,p):1")));
        assert!(!r("ports:[1-3,5-6]").contains(&r("ports:[3-5]")));
        assert!(!r("cpus:1").contains(&r("cpus:[1-1]")));
        assert!(Resources::new().contains(&Resources::new()));
    }

    #[test]
    fn role_filters_follow_the_tree() {
        assert!(is_ancestor_or_self("a", "a"));
        assert!(is_ancestor_or_self("a", "a/b"));
        assert!(is_ancestor_or_self("a/b", "a/b/c"));
        assert!(!is_ancestor_or_self("a", "ab"));
        assert!(!is_ancestor_or_self("a/b", "a"));
        assert!(!is_ancestor_or_self("a/b", "a/c"));
        let bundle = r("cpus:1;cpus(a):2;cpus(a/b):4;cpus(a/c):8;cpus(ab):16;cpus(a,p):32");
        assert_eq!(
            bundle.allocatable_to("a/b").to_text(),
            "cpus:1;cpus(a):2;cpus(a,p):32;cpus(a/b):4"
        );
        assert_eq!(
            bundle.allocatable_to("a").to_text(),
            "cpus:1;cpus(a):2;cpus(a,p):32"
        );
        assert_eq!(bundle.allocatable_to("*").to_text(), "cpus:1");
        assert_eq!(bundle.unreserved().to_text(), "cpus:1");
        assert_eq!(
            bundle.reserved(Some("a")).to_text(),
            "cpus(a):2;cpus(a,p):32"
        );
        assert_eq!(bundle.reserved(None).len(), 5);
        assert_eq!(bundle.scalar_millis("cpus"), 63_000);
    }

    #[test]
    fn totals_and_names() {
        let bundle = r("cpus:1;cpus(eng):0.5;mem:10;ports:[1-2];zones:{a}");
        assert_eq!(bundle.scalar_millis("cpus"), 1500);
        assert_eq!(bundle.scalar_millis("ports"), 0);
        assert_eq!(bundle.scalar_millis("gpus"), 0);
        let totals: Vec<(String, i64)> = bundle
            .totals_millis()
            .into_iter()
            .map(|(name, millis)| (name.to_string(), millis))
            .collect();
        assert_eq!(
            totals,
            vec![("cpus".to_string(), 1500), ("mem".to_string(), 10_000)]
        );
        let names: Vec<String> = bundle.names().iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["cpus", "mem", "ports", "zones"]);
        assert_eq!(bundle.scalars().to_text(), "cpus:1;cpus(eng):0.5;mem:10");
    }

    #[test]
    fn from_entries_validates_and_canonicalises() {
        let entry = |role: Option<&str>, value: Value| Resource {
            name: "ports".into(),
            role: role.map(Name::from),
            principal: None,
            volume: None,
            value,
        };
        let bundle = Resources::from_entries(vec![
            entry(Some("*"), Value::Ranges(vec![(5, 6), (1, 4)])),
            entry(None, Value::Ranges(vec![(8, 9)])),
        ])
        .unwrap();
        assert_eq!(bundle.to_text(), "ports:[1-6,8-9]");
        assert_eq!(
            Resources::from_entries(vec![entry(Some("a b"), Value::Ranges(vec![]))])
                .unwrap_err()
                .message,
            "invalid role 'a b' in 'ports(a b)'"
        );
        let negative = Resource {
            name: "cpus".into(),
            role: None,
            principal: None,
            volume: None,
            value: Value::Scalar(-5),
        };
        assert_eq!(
            Resources::from_entries(vec![negative]).unwrap_err().message,
            "negative quantity -0.005 in 'cpus'"
        );
        assert_eq!(
            Resources::from_entries(bundle.iter().cloned().collect()).unwrap(),
            bundle
        );
    }

    #[test]
    fn numbers_from_callers() {
        assert_eq!(scalar_from_f64(0.1, "0.1"), Ok(Value::Scalar(100)));
        assert_eq!(scalar_from_f64(0.0005, "0.0005"), Ok(Value::Scalar(1)));
        assert_eq!(
            scalar_from_f64(-0.5, "-0.5").unwrap_err().message,
            "negative quantity -0.5"
        );
        assert_eq!(
            scalar_from_f64(f64::NAN, "nan").unwrap_err().message,
            "invalid scalar nan"
        );
        assert!(scalar_from_f64(1e13, "1e13").is_err());
        assert_eq!(scalar_from_units(3, "3"), Ok(Value::Scalar(3000)));
        assert!(scalar_from_units(MAX_UNITS + 1, "x").is_err());
        assert!(scalar_from_units(-1, "-1").is_err());
    }
}
