//! Scalar quantities by resource name, as dense integer vectors (millis).
//!
//! Shares, quota and headroom only ever need "how much of each scalar", so the
//! allocator interns resource names once and keeps these vectors instead of
//! full `Resources` on its hot path.

use rustc_hash::FxHashMap;

use crate::resources::{Name, Resources, Value};

/// Index of a scalar resource name in `Names`.
pub type NameId = usize;

/// Up to this many names, `get` scans them instead of hashing.
const LINEAR_LOOKUP: usize = 16;

/// The interned scalar resource names the allocator has seen.
#[derive(Debug, Default, Clone)]
pub struct Names {
    names: Vec<Name>,
    ids: FxHashMap<Name, NameId>,
}

impl Names {
    pub fn id(&mut self, name: &Name) -> NameId {
        if let Some(id) = self.get(name) {
            return id;
        }
        let id = self.names.len();
        self.names.push(name.clone());
        self.ids.insert(name.clone(), id);
        id
    }

    pub fn get(&self, name: &str) -> Option<NameId> {
        // Clusters name a handful of resources: comparing a few short strings
        // costs less than hashing one (recovering a round calls this per
        // scalar of every offer).
        if self.names.len() <= LINEAR_LOOKUP {
            // Names parsed anywhere share one allocation for the common ones
            // (resources::key), so the pointer usually answers.
            return self
                .names
                .iter()
                .position(|known| {
                    known.len() == name.len() && std::ptr::eq(known.as_ptr(), name.as_ptr())
                })
                .or_else(|| self.names.iter().position(|known| **known == *name));
        }
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: NameId) -> &Name {
        &self.names[id]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The scalar quantities of `resources` (all reservations summed).
    pub fn quantities(&mut self, resources: &Resources) -> Quantities {
        let mut out = Quantities::default();
        for resource in resources.iter() {
            if let Value::Scalar(millis) = resource.value {
                let id = self.id(&resource.name);
                out.add_at(id, millis);
            }
        }
        out
    }

    /// `quantities` and `unreserved_quantities` in one pass.
    pub fn split_quantities(&mut self, resources: &Resources) -> (Quantities, Quantities) {
        let mut all = Quantities::default();
        let mut unreserved = Quantities::default();
        for resource in resources.iter() {
            if let Value::Scalar(millis) = resource.value {
                let id = self.id(&resource.name);
                all.add_at(id, millis);
                if resource.role.is_none() {
                    unreserved.add_at(id, millis);
                }
            }
        }
        (all, unreserved)
    }

    /// Adds what `split_quantities` would return to running sums, for
    /// resources whose names are all interned (part of an allocation).
    pub fn add_split_quantities(
        &self,
        resources: &Resources,
        all: &mut Quantities,
        unreserved: &mut Quantities,
    ) {
        for resource in resources.iter() {
            if let Value::Scalar(millis) = resource.value {
                let id = self
                    .get(&resource.name)
                    .expect("an allocated name is interned");
                all.add_at(id, millis);
                if resource.role.is_none() {
                    unreserved.add_at(id, millis);
                }
            }
        }
    }

    /// Like `quantities`, for the unreserved scalars only.
    pub fn unreserved_quantities(&mut self, resources: &Resources) -> Quantities {
        let mut out = Quantities::default();
        for resource in resources.iter() {
            if let (None, Value::Scalar(millis)) = (&resource.role, &resource.value) {
                let id = self.id(&resource.name);
                out.add_at(id, *millis);
            }
        }
        out
    }
}

/// Millis per `NameId`; missing trailing entries are zero.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Quantities(Vec<i64>);

impl Quantities {
    pub fn get(&self, id: NameId) -> i64 {
        self.0.get(id).copied().unwrap_or(0)
    }

    pub fn add_at(&mut self, id: NameId, millis: i64) {
        if self.0.len() <= id {
            self.0.resize(id + 1, 0);
        }
        self.0[id] += millis;
    }

    pub fn set(&mut self, id: NameId, millis: i64) {
        if self.0.len() <= id {
            self.0.resize(id + 1, 0);
        }
        self.0[id] = millis;
    }

    pub fn add(&mut self, other: &Quantities) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine += theirs;
        }
    }

    /// Exact subtraction; callers only remove what they added.
    pub fn sub(&mut self, other: &Quantities) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine -= theirs;
        }
    }

    /// `self - other` per name, clamped at zero.
    pub fn minus_clamped(&self, other: &Quantities) -> Quantities {
        Quantities(
            self.0
                .iter()
                .enumerate()
                .map(|(id, &m)| (m - other.get(id)).max(0))
                .collect(),
        )
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&m| m == 0)
    }

    /// (id, millis) of the non-zero entries.
    pub fn iter(&self) -> impl Iterator<Item = (NameId, i64)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, &m)| m != 0)
            .map(|(id, &m)| (id, m))
    }
}

/// The dominant share of `allocation` over `totals`, ignoring names with a
/// zero total and names excluded from fairness; computed exactly as the
/// reference does (integer millis converted to f64, then divided) so both
/// implementations order clients identically.
pub fn dominant_share(allocation: &Quantities, totals: &Quantities, excluded: &[bool]) -> f64 {
    let mut share = 0.0f64;
    for (id, total) in totals.iter() {
        if total <= 0 || excluded.get(id).copied().unwrap_or(false) {
            continue;
        }
        let part = allocation.get(id) as f64 / total as f64;
        if part > share {
            share = part;
        }
    }
    share
}
