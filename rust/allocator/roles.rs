//! The role tree and per-role policy: roles are created on first use with
//! their ancestors; weights scale DRF shares, quota guarantees and limits
//! bound what a subtree consumes.
//!
//! Contracts (an error leaves the allocator unchanged):
//! - `set_weight`: the role's weight among its siblings; `InvalidArgument`
//!   unless finite and positive, `Resource` for an invalid role name.
//! - `set_quota`: guarantee and limit (unreserved scalar millis) of a role's
//!   subtree; an empty guarantee without a limit removes the quota.
//!   `InvalidArgument` for role "*", negative quantities, or a limit below
//!   the guarantee.

use crate::error::{Error, Result};
use crate::filters::{BitSet, RoleId};
use crate::quantities::{NameId, Quantities};
use crate::resources::{format_millis, validate_role, Name};

use super::types::{Quota, Role};
use super::{Allocator, NamedQuantities};

impl Allocator {
    /// The role's id, creating it (and its ancestors) on first use.
    pub(super) fn role_id(&mut self, path: &str) -> RoleId {
        if let Some(&id) = self.role_ids.get(path) {
            return id;
        }
        let parent = path.rfind('/').map(|cut| self.role_id(&path[..cut]));
        let id = self.roles.len() as RoleId;
        let name = Name::from(path);
        self.roles.push(Role {
            path: name.clone(),
            parent,
            weight: None,
            quota: None,
            frameworks: 0,
            offerable: BitSet::default(),
            reserving_agents: 0,
            allocation: Quantities::default(),
            consumed: Quantities::default(),
            framework_sorter: None,
        });
        self.role_ids.insert(name, id);
        id
    }

    /// The role and its ancestors, innermost first.
    pub(super) fn lineage(&self, role: RoleId) -> impl Iterator<Item = RoleId> + '_ {
        std::iter::successors(Some(role), |&current| self.role(current).parent)
    }

    /// Applies `change` to the role and each of its ancestors.
    pub(super) fn update_lineage(&mut self, role: RoleId, mut change: impl FnMut(&mut Role)) {
        let mut current = Some(role);
        while let Some(id) = current {
            let node = self.role_mut(id);
            change(node);
            current = node.parent;
        }
    }

    /// The role's weight: its DRF share among its siblings is divided by it.
    pub fn set_weight(&mut self, role: &str, weight: f64) -> Result<()> {
        validate_role(role)?;
        if !weight.is_finite() || weight <= 0.0 {
            return Err(Error::invalid(format!(
                "weight of '{role}' must be a positive number, got {weight}"
            )));
        }
        let id = self.role_id(role);
        self.role_mut(id).weight = Some(weight);
        self.role_sorter.set_weight(role, weight);
        Ok(())
    }

    /// Guarantee (served first) and limit (never exceeded) for a role's
    /// subtree, as unreserved scalar quantities in millis. An empty guarantee
    /// with no limit removes the quota.
    pub fn set_quota(
        &mut self,
        role: &str,
        guarantee: NamedQuantities,
        limit: Option<NamedQuantities>,
    ) -> Result<()> {
        validate_role(role)?;
        if role == "*" {
            return Err(Error::invalid("quota cannot be set on the role '*'"));
        }
        let guarantee: Vec<(String, i64)> = guarantee.into_iter().filter(|(_, m)| *m > 0).collect();
        for (what, quantities) in [("guarantee", Some(&guarantee)), ("limit", limit.as_ref())] {
            for (name, millis) in quantities.into_iter().flatten() {
                if *millis < 0 {
                    return Err(Error::invalid(format!(
                        "quota {what} of '{role}' must not be negative, got {name}:{millis}"
                    )));
                }
            }
        }
        if let Some(limit) = &limit {
            for (name, millis) in &guarantee {
                if let Some((_, cap)) = limit.iter().find(|(n, _)| n == name) {
                    if cap < millis {
                        return Err(Error::invalid(format!(
                            "quota of '{role}': limit {name}:{} is below the guarantee {name}:{}",
                            format_millis(*cap),
                            format_millis(*millis)
                        )));
                    }
                }
            }
        }
        let id = self.role_id(role);
        let mut intern = |quantities: Vec<(String, i64)>| -> Vec<(NameId, i64)> {
            quantities
                .into_iter()
                .map(|(name, millis)| (self.names.id(&Name::from(name.as_str())), millis))
                .collect()
        };
        if guarantee.is_empty() && limit.is_none() {
            self.role_mut(id).quota = None;
            self.quota_roles.remove(&id);
        } else {
            let quota = Quota {
                guarantee: intern(guarantee),
                limit: limit.map(&mut intern),
            };
            self.role_mut(id).quota = Some(quota);
            self.quota_roles.insert(id);
        }
        Ok(())
    }
}
