//! Agents: registration, removal, (de)activation, total and attribute
//! changes, maintenance windows.
//!
//! Contracts (each returns `UnknownAgent` for an id not registered, and an
//! error leaves the allocator unchanged):
//! - `add_agent`: registers an agent with its total and what its running
//!   tasks already hold per (framework, role); `Duplicate` if the id is
//!   registered, `InvalidArgument` if a framework is not in that role or the
//!   held resources do not fit in the total.
//! - `remove_agent`: the agent, its allocations and the filters naming it
//!   leave the cluster.
//! - `activate_agent` / `deactivate_agent`: whether the agent is offered;
//!   allocations stay either way.
//! - `update_agent`: a new total (which must still hold what is allocated)
//!   and/or new attributes.
//! - `set_unavailability`: a maintenance window during which the agent is
//!   not offered; `None` for start clears it.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::filters::{AgentFilters, BitSet, FrameworkSlot, RoleId};
use crate::resources::{Name, Resources, Value};

use super::types::Agent;
use super::{check_id, check_time, AgentSlot, Allocator};

impl Allocator {
    /// Registers an agent; `allocated` (framework, role, resources) is what
    /// its running tasks already use, e.g. when it re-registers.
    pub fn add_agent(
        &mut self,
        agent_id: &str,
        total: Resources,
        now: f64,
        attributes: BTreeMap<String, String>,
        allocated: Vec<(String, String, Resources)>,
    ) -> Result<()> {
        check_id(agent_id, "agent id")?;
        if self.agent_slots.contains_key(agent_id) {
            return Err(Error::duplicate(format!(
                "agent '{agent_id}' is already registered"
            )));
        }
        let now = check_time(now, "now")?;
        let mut used: Vec<(FrameworkSlot, String, Resources)> = Vec::new();
        let mut used_sum = Resources::new();
        for (framework_id, role, resources) in allocated {
            let slot = self.framework_slot(&framework_id)?;
            let known_role = self.role_ids.get(role.as_str()).copied();
            if known_role.is_none_or(|r| self.framework(slot).membership(r).is_none()) {
                return Err(Error::invalid(format!(
                    "framework '{framework_id}' is not subscribed to role '{role}'"
                )));
            }
            if !resources.is_empty() {
                used_sum.add_assign(&resources)?;
                used.push((slot, role, resources));
            }
        }
        if !total.contains(&used_sum) {
            return Err(Error::invalid(format!(
                "agent '{agent_id}': allocated {used_sum} does not fit in its total {total}"
            )));
        }
        let available = total.checked_sub(&used_sum)?;
        let slot = match self.free_agent_slots.pop() {
            Some(slot) => slot,
            None => {
                self.agents.push(None);
                (self.agents.len() - 1) as AgentSlot
            }
        };
        let id = Name::from(agent_id);
        let sequence = self.agent_order.len() as u32;
        if self.agent_serials.len() <= slot as usize {
            self.agent_serials.resize(slot as usize + 1, 0);
        }
        self.agent_serials[slot as usize] = self.take_serial();
        self.agents[slot as usize] = Some(Agent {
            id: id.clone(),
            sequence,
            has_gpus: total.scalar_millis("gpus") > 0,
            total: total.clone(),
            available,
            attributes,
            registered_at: now,
            allocated: Vec::new(),
            active: true,
            unavailability: None,
            filters: AgentFilters::default(),
        });
        self.agent_slots.insert(id, slot);
        self.agent_order.push(Some(slot));
        self.account_total(&total, 1);
        for (framework, role, resources) in used {
            let role = self.role_ids[role.as_str()];
            self.track_allocated(slot, framework, role, &resources, false);
        }
        let available = self.agent(slot).available.clone();
        self.count_available(slot, &available, 1);
        self.sync_offerable_agent(slot);
        Ok(())
    }

    /// Adds (`sign` 1) or removes (-1) an agent total from the cluster totals
    /// and its reservations from the roles' quota consumption.
    pub(super) fn account_total(&mut self, total: &Resources, sign: i64) {
        let quantities = self.names.quantities(total);
        if sign > 0 {
            self.totals.add(&quantities);
        } else {
            self.totals.sub(&quantities);
        }
        self.totals_changed = true;
        let mut reserving: BTreeSet<RoleId> = BTreeSet::new();
        for resource in total.iter() {
            let (Some(role), Value::Scalar(millis)) = (&resource.role, &resource.value) else {
                continue;
            };
            let role = self.role_id(role);
            reserving.insert(role);
            let id = self.names.id(&resource.name);
            self.update_lineage(role, |node| node.consumed.add_at(id, sign * millis));
        }
        for role in reserving {
            let node = self.role_mut(role);
            node.reserving_agents = (node.reserving_agents as i64 + sign) as usize;
        }
    }

    /// Forgets an agent: its resources and every allocation on it leave the
    /// cluster, and filters that name it are dropped.
    pub fn remove_agent(&mut self, agent_id: &str) -> Result<()> {
        let slot = self.agent_slot(agent_id)?;
        let available = self.agent(slot).available.clone();
        self.count_available(slot, &available, -1);
        self.maintained_agents.remove(&slot);
        let allocated = self.agent(slot).allocated.clone();
        for (framework, role, resources) in allocated {
            self.track_unallocated(slot, framework, role, &resources);
        }
        let agent = self.agents[slot as usize].take().expect("live agent slot");
        for (framework, _, _, _) in agent.filters.iter() {
            self.framework_mut(framework).filtered_agents.remove(slot);
        }
        self.account_total(&agent.total, -1);
        self.agent_slots.remove(agent_id);
        self.agent_order[agent.sequence as usize] = None;
        self.offerable_agents.remove(agent.sequence);
        self.removed_agents += 1;
        if self.removed_agents > 1024 && 2 * self.removed_agents > self.agent_order.len() {
            self.renumber_agents();
        }
        self.agent_serials[slot as usize] = 0;
        self.free_agent_slots.push(slot);
        Ok(())
    }

    /// Gives the live agents sequence numbers 0.. in the same order, so that
    /// the order's gaps do not outgrow the agents.
    fn renumber_agents(&mut self) {
        let live = self.agents_in_order();
        self.offerable_agents = BitSet::default();
        for (sequence, &slot) in live.iter().enumerate() {
            self.agent_mut(slot).sequence = sequence as u32;
            self.sync_offerable_agent(slot);
        }
        self.agent_order = live.into_iter().map(Some).collect();
        self.removed_agents = 0;
    }

    /// Offers from this agent again.
    pub fn activate_agent(&mut self, agent_id: &str) -> Result<()> {
        let slot = self.agent_slot(agent_id)?;
        if !self.agent(slot).active {
            self.agent_mut(slot).active = true;
            let available = self.agent(slot).available.clone();
            self.count_available(slot, &available, 1);
        }
        self.sync_offerable_agent(slot);
        Ok(())
    }

    /// No offers from this agent until activated; allocations stay.
    pub fn deactivate_agent(&mut self, agent_id: &str) -> Result<()> {
        let slot = self.agent_slot(agent_id)?;
        let available = self.agent(slot).available.clone();
        self.count_available(slot, &available, -1);
        self.agent_mut(slot).active = false;
        self.sync_offerable_agent(slot);
        Ok(())
    }

    /// Changes an agent's total (it must still hold what is allocated) or
    /// attributes.
    pub fn update_agent(
        &mut self,
        agent_id: &str,
        total: Option<Resources>,
        attributes: Option<BTreeMap<String, String>>,
    ) -> Result<()> {
        let slot = self.agent_slot(agent_id)?;
        if let Some(total) = total {
            let agent = self.agent(slot);
            let in_use = agent.total.checked_sub(&agent.available)?;
            if !total.contains(&in_use) {
                return Err(Error::invalid(format!(
                    "agent '{agent_id}': new total {total} does not hold the allocated {in_use}"
                )));
            }
            let available = total.checked_sub(&in_use)?;
            let old_total = agent.total.clone();
            let old_available = agent.available.clone();
            self.count_available(slot, &old_available, -1);
            self.count_available(slot, &available, 1);
            self.account_total(&old_total, -1);
            self.account_total(&total, 1);
            let agent = self.agent_mut(slot);
            agent.has_gpus = total.scalar_millis("gpus") > 0;
            agent.total = total;
            agent.available = available;
            self.sync_offerable_agent(slot);
        }
        if let Some(attributes) = attributes {
            self.agent_mut(slot).attributes = attributes;
        }
        Ok(())
    }

    /// Maintenance: no offers from the agent while start <= now < start +
    /// duration (forever after start without a duration); no start clears it.
    pub fn set_unavailability(
        &mut self,
        agent_id: &str,
        start: Option<f64>,
        duration: Option<f64>,
    ) -> Result<()> {
        let slot = self.agent_slot(agent_id)?;
        let window = match start {
            None => None,
            Some(start) => {
                let start = check_time(start, "start")?;
                let duration = match duration {
                    None => None,
                    Some(d) => {
                        let d = check_time(d, "duration")?;
                        if d < 0.0 {
                            return Err(Error::invalid(format!(
                                "duration must not be negative, got {d}"
                            )));
                        }
                        Some(d)
                    }
                };
                Some((start, duration))
            }
        };
        self.agent_mut(slot).unavailability = window;
        if window.is_some() {
            self.maintained_agents.insert(slot);
        } else {
            self.maintained_agents.remove(&slot);
        }
        Ok(())
    }
}
