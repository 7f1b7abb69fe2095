//! Returning resources and converting them in place.
//!
//! Contracts (an error leaves the allocator unchanged):
//! - `recover`: a framework gives back part of what it holds on an agent
//!   (declined or released); with `refuse_seconds` > 0 it is not offered a
//!   subset of them there in that role until `now + refuse_seconds` (capped
//!   at `MAX_REFUSE_SECONDS`). `InvalidArgument` if it does not hold them.
//! - `update_allocation`: a framework's RESERVE, UNRESERVE, CREATE or
//!   DESTROY on what it holds on an agent in one role.
//! - `update_available`: an operator's reserve, unreserve, create or destroy
//!   on what an agent has available, for any role.
//!
//! Both conversions keep the quantities (`InvalidArgument` otherwise), so
//! cluster totals and shares do not move; reservations count for quota at
//! once, and a volume id may exist only once per agent.

use crate::error::{Error, Result};
use crate::filters::RoleId;
use crate::resources::{in_context, Name, Resource, Resources};

use super::{check_time, AgentSlot, Allocator, MAX_REFUSE_SECONDS};

impl Allocator {
    /// Returns resources a framework declined or a task released. With
    /// `refuse_seconds` > 0 the framework is not offered a subset of them on
    /// this agent in this role until `now + refuse_seconds`. Without `role`,
    /// the role is the first (by name) whose allocation there holds them.
    pub fn recover(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        resources: &Resources,
        refuse_seconds: f64,
        now: Option<f64>,
        role: Option<&str>,
    ) -> Result<()> {
        let framework = self.framework_slot(framework_id)?;
        let agent = self.agent_slot(agent_id)?;
        let refuse = check_time(refuse_seconds, "refuse_seconds")?;
        if refuse < 0.0 {
            return Err(Error::invalid(format!(
                "refuse_seconds must not be negative, got {refuse}"
            )));
        }
        let refuse = refuse.min(MAX_REFUSE_SECONDS);
        let now = match (refuse > 0.0, now) {
            (false, _) => None,
            (true, None) => return Err(Error::invalid("now is required to set a filter")),
            (true, Some(now)) => Some(check_time(now, "now")?),
        };
        let chosen_role = match role {
            None => None,
            Some(name) => Some(
                self.role_ids
                    .get(name)
                    .copied()
                    .filter(|&r| self.framework(framework).membership(r).is_some())
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "framework '{framework_id}' is not subscribed to role '{name}'"
                        ))
                    })?,
            ),
        };
        if resources.is_empty() {
            return Ok(());
        }
        let candidates: Vec<RoleId> = match chosen_role {
            Some(role) => vec![role],
            None => {
                let mut roles: Vec<RoleId> = self
                    .framework(framework)
                    .roles
                    .iter()
                    .map(|m| m.role)
                    .collect();
                roles.sort_by(|a, b| self.role(*a).path.cmp(&self.role(*b).path));
                roles
            }
        };
        let held_by = candidates.into_iter().find(|&role| {
            self.agent(agent)
                .allocation(framework, role)
                .is_some_and(|held| held.contains(resources))
        });
        let Some(role) = held_by else {
            let held: Vec<String> = self
                .agent(agent)
                .allocated
                .iter()
                .filter(|(f, _, _)| *f == framework)
                .map(|(_, r, res)| format!("{}: {res}", self.role(*r).path))
                .collect();
            return Err(Error::invalid(format!(
                "cannot recover {resources}: framework '{framework_id}' holds {} on agent \
                 '{agent_id}'",
                if held.is_empty() {
                    "nothing".to_string()
                } else {
                    held.join(", ")
                }
            )));
        };
        self.track_unallocated(agent, framework, role, resources);
        self.agent_mut(agent).available.add_assign(resources)?;
        if let Some(now) = now {
            let expires = now + refuse;
            self.agent_mut(agent)
                .filters
                .add(framework, role, resources, expires);
            self.framework_mut(framework).filtered_agents.insert(agent);
            self.next_filter_expiry = self.next_filter_expiry.min(expires);
        }
        Ok(())
    }

    /// Applies a framework's RESERVE, UNRESERVE, CREATE or DESTROY: part of
    /// what it holds on the agent in `role` (`consumed`) becomes `converted`;
    /// see "Operations" in the reference's module documentation.
    pub fn update_allocation(
        &mut self,
        framework_id: &str,
        agent_id: &str,
        role: &str,
        consumed: &Resources,
        converted: &Resources,
    ) -> Result<()> {
        let framework = self.framework_slot(framework_id)?;
        let agent = self.agent_slot(agent_id)?;
        let role_id = self
            .role_ids
            .get(role)
            .copied()
            .filter(|&r| self.framework(framework).membership(r).is_some())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "framework '{framework_id}' is not subscribed to role '{role}'"
                ))
            })?;
        let nothing = Resources::new();
        let held = self
            .agent(agent)
            .allocation(framework, role_id)
            .unwrap_or(&nothing);
        if !held.contains(consumed) {
            return Err(Error::invalid(format!(
                "cannot convert '{consumed}': framework '{framework_id}' holds '{held}' in role \
                 '{role}' on agent '{agent_id}'"
            )));
        }
        check_conversion(consumed, converted)?;
        let kept = |reserved: &Name| consumed.iter().any(|c| c.role.as_ref() == Some(reserved));
        if let Some(reserved) = converted
            .iter()
            .filter_map(|entry| entry.role.as_ref())
            .find(|&reserved| **reserved != *role && !kept(reserved))
        {
            return Err(Error::invalid(format!(
                "framework '{framework_id}' holds these resources in role '{role}': it may \
                 reserve them for '{role}' only, not for '{reserved}'"
            )));
        }
        let total = self.converted_total(agent, consumed, converted)?;
        // The tracking below repeats this arithmetic and may not fail halfway.
        held.checked_sub(consumed)?.checked_add(converted)?;
        if consumed.is_empty() {
            return Ok(());
        }
        self.track_unallocated(agent, framework, role_id, consumed);
        self.track_allocated(agent, framework, role_id, converted, false);
        self.set_total(agent, total);
        Ok(())
    }

    /// Applies an operator's reserve, unreserve, create or destroy to part of
    /// what the agent has available (`consumed`), which becomes `converted`;
    /// reservations may be for any role.
    pub fn update_available(
        &mut self,
        agent_id: &str,
        consumed: &Resources,
        converted: &Resources,
    ) -> Result<()> {
        let agent = self.agent_slot(agent_id)?;
        let available = &self.agent(agent).available;
        if !available.contains(consumed) {
            return Err(Error::invalid(format!(
                "cannot convert '{consumed}': agent '{agent_id}' has '{available}' available; \
                 offered and allocated resources must be recovered first"
            )));
        }
        check_conversion(consumed, converted)?;
        let total = self.converted_total(agent, consumed, converted)?;
        let available = available.checked_sub(consumed)?.checked_add(converted)?;
        self.set_total(agent, total);
        self.agent_mut(agent).available = available;
        Ok(())
    }

    /// The agent's total after an operation, once its volume ids are checked:
    /// two volumes with one id on an agent would merge into one.
    fn converted_total(
        &self,
        agent: AgentSlot,
        consumed: &Resources,
        converted: &Resources,
    ) -> Result<Resources> {
        let agent = self.agent(agent);
        let has_volume = |bundle: &Resources, id: &Name| {
            bundle.iter().any(|entry| entry.volume.as_ref() == Some(id))
        };
        if let Some(id) = converted
            .iter()
            .filter_map(|entry| entry.volume.as_ref())
            .find(|id| has_volume(&agent.total, id) && !has_volume(consumed, id))
        {
            return Err(Error::invalid(format!(
                "volume '{id}' already exists on agent '{}'",
                agent.id
            )));
        }
        agent.total.checked_sub(consumed)?.checked_add(converted)
    }

    /// Replaces a total whose quantities an operation kept: reservations move
    /// between roles (quota consumption), cluster totals stay.
    fn set_total(&mut self, agent: AgentSlot, total: Resources) {
        self.account_total(&total, 1);
        let old = std::mem::replace(&mut self.agent_mut(agent).total, total);
        self.account_total(&old, -1);
    }
}

/// The bundle without reservations and volume ids: what an operation keeps.
fn stripped(resources: &Resources) -> Result<Resources> {
    let context = || format!("'{resources}' without its reservations and volumes");
    Resources::from_entries(
        resources
            .iter()
            .map(|entry| Resource {
                name: entry.name.clone(),
                role: None,
                principal: None,
                volume: None,
                value: entry.value.clone(),
            })
            .collect(),
    )
    .map_err(|err| in_context(err, &context()))
}

fn check_conversion(consumed: &Resources, converted: &Resources) -> Result<()> {
    let (before, after) = (stripped(consumed)?, stripped(converted)?);
    if before != after {
        return Err(Error::invalid(format!(
            "cannot convert '{consumed}' into '{converted}': an operation changes only \
             reservations and volumes, and '{before}' is not '{after}'"
        )));
    }
    Ok(())
}
