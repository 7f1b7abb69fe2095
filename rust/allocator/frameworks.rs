//! Frameworks: registration, roles and capabilities, (de)activation,
//! suppression and revival, and the bookkeeping of which memberships are
//! offerable (in their role's sorter order).
//!
//! Contracts (each returns `UnknownFramework` for an id not registered, and
//! an error leaves the allocator unchanged):
//! - `add_framework`: registers a framework in a non-empty list of distinct
//!   valid roles; `Duplicate` if the id is registered.
//! - `update_framework`: new roles (in the caller's order) and/or
//!   capabilities; `InvalidArgument` when a dropped role still holds
//!   resources on some agent.
//! - `remove_framework`: everything allocated to the framework returns to
//!   its agents; its filters go.
//! - `activate_framework` / `deactivate_framework`: whether it is offered;
//!   allocations and filters stay.
//! - `suppress` / `revive`: stop or resume offers in the given roles (all
//!   when `None`); reviving clears those roles' filters. `InvalidArgument`
//!   for a role the framework is not in.

use crate::error::{Error, Result};
use crate::filters::{BitSet, FrameworkSlot, RoleId};
use crate::quantities::Quantities;
use crate::resources::{validate_role, Name, Resources};
use crate::sorter::new_sorter;

use super::types::{Framework, Membership};
use super::{check_id, check_time, AgentSlot, Allocator};

impl Allocator {
    fn check_roles(roles: &[String]) -> Result<()> {
        if roles.is_empty() {
            return Err(Error::invalid(
                "roles must be a non-empty list of role names, got []",
            ));
        }
        for (index, role) in roles.iter().enumerate() {
            validate_role(role)?;
            if roles[..index].contains(role) {
                return Err(Error::invalid(format!("role '{role}' is listed twice")));
            }
        }
        Ok(())
    }

    fn check_capabilities(capabilities: &[String]) -> Result<()> {
        if capabilities.iter().any(|c| c.is_empty()) {
            return Err(Error::invalid("capability must be a non-empty string"));
        }
        Ok(())
    }

    /// Registers a framework in its roles; inactive ones are offered nothing
    /// until activated.
    pub fn add_framework(
        &mut self,
        framework_id: &str,
        roles: Vec<String>,
        now: f64,
        capabilities: Vec<String>,
        active: bool,
    ) -> Result<()> {
        check_id(framework_id, "framework id")?;
        if self.framework_slots.contains_key(framework_id) {
            return Err(Error::duplicate(format!(
                "framework '{framework_id}' is already registered"
            )));
        }
        let now = check_time(now, "now")?;
        Self::check_roles(&roles)?;
        Self::check_capabilities(&capabilities)?;
        let slot = match self.free_framework_slots.pop() {
            Some(slot) => slot,
            None => {
                self.frameworks.push(None);
                (self.frameworks.len() - 1) as FrameworkSlot
            }
        };
        let id = Name::from(framework_id);
        let serial = self.take_serial();
        self.frameworks[slot as usize] = Some(Framework {
            id: id.clone(),
            serial,
            roles: Vec::new(),
            capabilities: capabilities.into_iter().collect(),
            registered_at: now,
            active,
            filtered_agents: BitSet::default(),
        });
        self.framework_slots.insert(id, slot);
        for role in &roles {
            self.join_role(slot, role);
        }
        Ok(())
    }

    fn join_role(&mut self, slot: FrameworkSlot, path: &str) {
        let role = self.role_id(path);
        if self.role(role).frameworks == 0 && self.role(role).framework_sorter.is_none() {
            // The role enters the role sorter with its first framework and
            // stays, keeping its allocation counters.
            self.role_sorter.add(role, path);
        }
        let policy = self.policy.clone();
        let framework_id = self.framework(slot).id.clone();
        let node = self.role_mut(role);
        node.frameworks += 1;
        let sorter = node
            .framework_sorter
            .get_or_insert_with(|| new_sorter(&policy, false).expect("validated policy"));
        sorter.add(slot, &framework_id);
        self.framework_mut(slot).roles.push(Membership {
            role,
            suppressed: false,
            offerable: false,
            allocation: Quantities::default(),
        });
        self.totals_changed = true;
        self.sync_offerable(slot);
    }

    fn leave_role(&mut self, slot: FrameworkSlot, role: RoleId) {
        let index = self
            .framework(slot)
            .membership(role)
            .expect("framework is in the role");
        self.framework_mut(slot).roles[index].suppressed = true;
        self.sync_offerable(slot);
        self.framework_mut(slot).roles.remove(index);
        let node = self.role_mut(role);
        node.frameworks -= 1;
        node.framework_sorter
            .as_mut()
            .expect("role with frameworks has a sorter")
            .remove(slot);
    }

    /// Puts each of the framework's memberships in or out of its role's order
    /// to match `active && !suppressed`, and the role in or out of the role
    /// order as its offerable frameworks come and go.
    fn sync_offerable(&mut self, slot: FrameworkSlot) {
        let active = self.framework(slot).active;
        for index in 0..self.framework(slot).roles.len() {
            let membership = &self.framework(slot).roles[index];
            let wanted = active && !membership.suppressed;
            if membership.offerable == wanted {
                continue;
            }
            let role = membership.role;
            self.framework_mut(slot).roles[index].offerable = wanted;
            let node = self.role_mut(role);
            let sorter = node
                .framework_sorter
                .as_mut()
                .expect("role with frameworks has a sorter");
            if wanted {
                sorter.activate(slot);
                let first = node.offerable.is_empty();
                node.offerable.insert(slot);
                if first {
                    self.role_sorter.activate(role);
                }
            } else {
                sorter.deactivate(slot);
                node.offerable.remove(slot);
                if node.offerable.is_empty() {
                    self.role_sorter.deactivate(role);
                }
            }
        }
    }

    fn roles_of(&self, slot: FrameworkSlot, roles: Option<&[String]>) -> Result<Vec<RoleId>> {
        let framework = self.framework(slot);
        match roles {
            None => Ok(framework.roles.iter().map(|m| m.role).collect()),
            Some(names) => names
                .iter()
                .map(|name| {
                    self.role_ids
                        .get(name.as_str())
                        .copied()
                        .filter(|&r| framework.membership(r).is_some())
                        .ok_or_else(|| {
                            Error::invalid(format!(
                                "framework '{}' is not subscribed to role '{name}'",
                                framework.id
                            ))
                        })
                })
                .collect(),
        }
    }

    /// Changes a framework's roles or capabilities. A role it still holds
    /// allocations in cannot be dropped.
    pub fn update_framework(
        &mut self,
        framework_id: &str,
        roles: Option<Vec<String>>,
        capabilities: Option<Vec<String>>,
    ) -> Result<()> {
        let slot = self.framework_slot(framework_id)?;
        if let Some(roles) = &roles {
            Self::check_roles(roles)?;
        }
        if let Some(capabilities) = &capabilities {
            Self::check_capabilities(capabilities)?;
        }
        if let Some(roles) = roles {
            let current: Vec<RoleId> = self.framework(slot).roles.iter().map(|m| m.role).collect();
            let dropped: Vec<RoleId> = current
                .iter()
                .copied()
                .filter(|&r| !roles.iter().any(|name| *self.role(r).path == **name))
                .collect();
            for &role in &dropped {
                if let Some(agent) = self
                    .agent_order
                    .iter()
                    .flatten()
                    .find(|&&a| self.agent(a).allocation(slot, role).is_some())
                {
                    return Err(Error::invalid(format!(
                        "framework '{framework_id}' still holds resources in role '{}' on agent \
                         '{}'; recover them first",
                        self.role(role).path,
                        self.agent(*agent).id
                    )));
                }
            }
            for &role in &dropped {
                self.drop_filters(slot, |r| r == role);
                self.leave_role(slot, role);
            }
            for name in &roles {
                let known = self.role_ids.get(name.as_str()).copied();
                if known.is_none_or(|r| self.framework(slot).membership(r).is_none()) {
                    self.join_role(slot, name);
                }
            }
            // Keep the caller's order of roles.
            let order: Vec<RoleId> = roles
                .iter()
                .map(|name| self.role_ids[name.as_str()])
                .collect();
            self.framework_mut(slot)
                .roles
                .sort_by_key(|m| order.iter().position(|&r| r == m.role));
        }
        if let Some(capabilities) = capabilities {
            self.framework_mut(slot).capabilities = capabilities.into_iter().collect();
        }
        Ok(())
    }

    /// Forgets a framework; everything allocated to it returns to its agents.
    pub fn remove_framework(&mut self, framework_id: &str) -> Result<()> {
        let slot = self.framework_slot(framework_id)?;
        for agent in self.agents_in_order() {
            let held: Vec<(RoleId, Resources)> = self
                .agent(agent)
                .allocated
                .iter()
                .filter(|(f, _, _)| *f == slot)
                .map(|(_, r, res)| (*r, res.clone()))
                .collect();
            for (role, resources) in held {
                self.track_unallocated(agent, slot, role, &resources);
                self.agent_mut(agent).available.add_assign(&resources)?;
                self.count_available(agent, &resources, 1);
                self.sync_offerable_agent(agent);
            }
        }
        self.drop_filters(slot, |_| true);
        let roles: Vec<RoleId> = self.framework(slot).roles.iter().map(|m| m.role).collect();
        for role in roles {
            self.leave_role(slot, role);
        }
        self.frameworks[slot as usize] = None;
        self.framework_slots.remove(framework_id);
        self.free_framework_slots.push(slot);
        Ok(())
    }

    /// Offers to this framework again, in the roles it does not suppress.
    pub fn activate_framework(&mut self, framework_id: &str) -> Result<()> {
        let slot = self.framework_slot(framework_id)?;
        self.framework_mut(slot).active = true;
        self.sync_offerable(slot);
        Ok(())
    }

    /// No offers to this framework until activated; allocations and filters
    /// stay.
    pub fn deactivate_framework(&mut self, framework_id: &str) -> Result<()> {
        let slot = self.framework_slot(framework_id)?;
        self.framework_mut(slot).active = false;
        self.sync_offerable(slot);
        Ok(())
    }

    /// Stops offers to the framework in these roles (all when None) until
    /// revived.
    pub fn suppress(&mut self, framework_id: &str, roles: Option<&[String]>) -> Result<()> {
        let slot = self.framework_slot(framework_id)?;
        let chosen = self.roles_of(slot, roles)?;
        for membership in &mut self.framework_mut(slot).roles {
            if chosen.contains(&membership.role) {
                membership.suppressed = true;
            }
        }
        self.sync_offerable(slot);
        Ok(())
    }

    /// Resumes offers in these roles (all when None) and clears their filters.
    pub fn revive(&mut self, framework_id: &str, roles: Option<&[String]>) -> Result<()> {
        let slot = self.framework_slot(framework_id)?;
        let chosen = self.roles_of(slot, roles)?;
        for membership in &mut self.framework_mut(slot).roles {
            if chosen.contains(&membership.role) {
                membership.suppressed = false;
            }
        }
        self.sync_offerable(slot);
        self.drop_filters(slot, |role| chosen.contains(&role));
        Ok(())
    }

    fn drop_filters(&mut self, slot: FrameworkSlot, drop_role: impl Fn(RoleId) -> bool) {
        let agents: Vec<AgentSlot> = self.framework(slot).filtered_agents.iter().collect();
        for agent in agents {
            let filters = &mut self.agent_mut(agent).filters;
            filters.remove_framework(slot, &drop_role);
            let still_filtered = filters.iter().any(|(f, _, _, _)| f == slot);
            if !still_filtered {
                self.framework_mut(slot).filtered_agents.remove(agent);
            }
        }
    }
}
