//! The entry and its key: name, role (None is unreserved "*"), principal of
//! a dynamic reservation, persistent-volume id; the validation rules for
//! each part and the role tree's ancestry.
//!
//! Contracts:
//! - `Key::parse` reads `name[(role[,principal])][[volume]]`; `Key::new`
//!   validates the parts. Both return `Resource` errors naming the bad part.
//! - `Resource::validated` checks an entry built by hand as the parser would
//!   and normalises it.
//! - `validate_role` accepts "*" or '/'-separated valid components;
//!   `is_ancestor_or_self` answers on whole components only.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::error::{Error, Result};

use super::text::{trim, KeyText};
use super::value::{check_set_item, scalar_from_millis};
use super::{ranges_from_pairs, Name, Value};

#[derive(Clone, Debug, Eq)]
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

/// Equality as derived, but names shared by bundles derived from one
/// another compare by pointer first: `Arc<str>`'s own `==` always compares
/// the bytes, and a round's recoveries compare whole bundles.
impl PartialEq for Resource {
    fn eq(&self, other: &Resource) -> bool {
        fn same(a: &Name, b: &Name) -> bool {
            Arc::ptr_eq(a, b) || a == b
        }
        fn same_part(a: &Option<Name>, b: &Option<Name>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => same(a, b),
                _ => false,
            }
        }
        same(&self.name, &other.name)
            && same_part(&self.role, &other.role)
            && same_part(&self.principal, &other.principal)
            && same_part(&self.volume, &other.volume)
            && self.value == other.value
    }
}

/// As derived; written out only because `PartialEq` is.
impl Hash for Resource {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.role.hash(state);
        self.principal.hash(state);
        self.volume.hash(state);
        self.value.hash(state);
    }
}

impl Resource {
    /// The canonical order: by (name, role, principal, volume) with "*" for
    /// unreserved and "" for absent parts, compared bytewise. Bundles derived
    /// from one another share their `Arc` names, so pointer equality settles
    /// most comparisons on the hot path before any bytes are compared.
    pub(super) fn cmp_key(&self, other: &Resource) -> Ordering {
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
            name: shared_name(name),
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

/// Whether `ancestor` is `role` or one of its ancestors in the role tree
/// ("a" of "a/b" but not of "ab").
/// The resource names nearly every bundle holds, one allocation each for
/// the whole process: bundles parsed apart then share them, and the
/// allocator's name lookups (per scalar of every recovery) find them by
/// pointer.
const COMMON_NAMES: [&str; 5] = ["cpus", "mem", "disk", "ports", "gpus"];

fn shared_name(name: &str) -> Name {
    static SHARED: std::sync::OnceLock<Vec<Name>> = std::sync::OnceLock::new();
    let shared = SHARED.get_or_init(|| COMMON_NAMES.iter().map(|&n| Name::from(n)).collect());
    match shared.iter().find(|known| ***known == *name) {
        Some(known) => known.clone(),
        None => name.into(),
    }
}

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

pub(super) fn is_set_item_byte(b: u8) -> bool {
    is_identifier_byte(b) || matches!(b, b'/' | b':')
}
