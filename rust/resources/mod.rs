//! Resource bundles with Mesos's text syntax and arithmetic.
//!
//! A bundle is a canonical, sorted list of entries, one per key (name, role,
//! principal, volume). Every constructor canonicalises, so equality, hashing
//! and printing only ever see one representation of a bundle, and every
//! binary operation is a linear merge of two sorted lists.
//!
//! `pyactors/_reference/resources/` is the executable specification of
//! this module: the two must agree on every result and every error message.
//!
//! This module holds the `Resources` type, its constructors and queries; the
//! rest lives by concern:
//! - `key`: the entry (`Resource`) and its key, with their validation;
//! - `value`: the value of an entry and the checked constructors of values;
//! - `text`: the text syntax, parsed and printed;
//! - `arithmetic`: `+`, `-` and containment;
//! - `json`: the JSON form (Mesos's v1 `Resource` list), read from and
//!   rendered to `Data`, the JSON-shaped values of `data`.
//!
//! Contracts of the queries: `filter`, `unreserved`, `reserved`,
//! `allocatable_to` and `scalars` return sub-bundles (still canonical);
//! `scalar_millis` and `totals_millis` sum scalars over every key of a name;
//! `names` lists distinct names in order. `from_entries` validates and
//! canonicalises entries built by hand; errors name the entry's key.

mod arithmetic;
mod data;
mod json;
#[cfg(test)]
mod json_tests;
mod key;
#[cfg(test)]
mod tests;
mod text;
mod value;

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::error::{Error, Result};

use arithmetic::{check_combine, combine_value, conflicting_types};

pub use data::Data;
pub use key::{is_ancestor_or_self, validate_role, Key, Resource};
pub use text::{format_millis, parse_scalar_text, parse_value_text};
pub use value::{ranges_from_pairs, scalar_from_f64, scalar_from_units, set_from_items, Value};

/// Names, roles, principals, volume ids and set items are shared, not
/// copied, between the many bundles an allocator holds.
pub type Name = Arc<str>;

/// The largest scalar one entry may hold, in millis (1e12 units). Sums are
/// held to it as well, so every bundle prints to text that parses back,
/// which pickling relies on.
pub const MAX_MILLIS: i64 = 1_000_000_000_000_000;
const MAX_UNITS: i64 = MAX_MILLIS / 1000;

/// A canonical bundle: entries sorted by key, one per key, none empty, one
/// value type per name.
///
/// The entries are shared between clones and copied on the first change
/// (`Arc::make_mut`): the allocator hands one bundle around (an agent's
/// available part, the offer made of it, the allocation, a decline's filter)
/// and then compares it with itself by pointer, not entry by entry.
#[derive(Clone, Debug, Default, Eq)]
pub struct Resources {
    entries: Arc<Vec<Resource>>,
}

impl PartialEq for Resources {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.entries, &other.entries) || self.entries == other.entries
    }
}

impl Hash for Resources {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.entries.hash(state);
    }
}

impl Resources {
    pub fn new() -> Self {
        Self::default()
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
        Ok(Resources {
            entries: Arc::new(merged),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Starts loading the shared header of the entries (`prefetch`).
    pub fn prefetch_header(&self) {
        crate::prefetch::prefetch(Arc::as_ptr(&self.entries));
    }

    /// Starts loading the entries themselves; reads the header, so ask for
    /// it (`prefetch_header`) some time before.
    pub fn prefetch_entries(&self) {
        crate::prefetch::prefetch(self.entries.as_ptr());
    }

    /// Number of entries (distinct keys).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.entries.iter()
    }

    pub fn filter(&self, keep: impl Fn(&Resource) -> bool) -> Resources {
        Resources {
            entries: Arc::new(self.entries.iter().filter(|e| keep(e)).cloned().collect()),
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
        for entry in self.entries.iter() {
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
        for entry in self.entries.iter() {
            if names.last() != Some(&entry.name) {
                names.push(entry.name.clone());
            }
        }
        names
    }
}

/// Appends where an error happened: "invalid scalar 'x' in 'cpus:x'".
pub fn in_context(err: Error, context: &str) -> Error {
    Error::new(err.kind, format!("{} in {context}", err.message))
}
