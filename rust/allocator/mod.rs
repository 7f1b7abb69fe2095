//! The hierarchical allocator: agents, frameworks, roles and the offer cycle.
//!
//! The semantics are those of `pyactors/_reference/allocator/`, the
//! executable specification; read its module documentation first. This
//! implementation keeps everything incremental so that a cycle costs a walk
//! over the candidate agents and, per agent, over the frameworks it skips:
//! - shares live in the sorters and are re-sorted only when totals or weights
//!   changed; an allocation moves one entry;
//! - quota consumption and allocation totals are kept per role subtree;
//! - the bundle offered to a role on an agent is shaped once and reused for
//!   every framework visited until something is allocated there;
//! - filters are grouped per agent by refused bundle (see `filters`).
//!
//! This module holds the `Allocator` state, its constructor and the lookups
//! every part uses; the `impl Allocator` blocks live by concern:
//! - `agents`: registration and changes of agents;
//! - `frameworks`: registration, roles, (de)activation, suppress/revive;
//! - `roles`: the role tree, weights and quota;
//! - `operations`: `recover`, `recover_many` (a round's declines in one
//!   call) and the in-place conversions of resources;
//! - `cycle`: `allocate`, one offer cycle;
//! - `shaping`: what a role may be offered on an agent (limits, headroom);
//! - `accounting`: the books every allocation change goes through;
//! - `snapshot`: the state document;
//! - `types`: the per-agent, per-framework, per-role and per-cycle records.
//!
//! Every public method checks its arguments before it changes anything, so
//! an error leaves the allocator as it was. Errors are `UnknownAgent` and
//! `UnknownFramework` for ids not registered, `Duplicate` for ids registered
//! twice, `Resource` for malformed role names and `InvalidArgument` for
//! everything else.

mod accounting;
mod agents;
mod cycle;
mod frameworks;
mod operations;
#[cfg(test)]
mod recovery_tests;
mod roles;
mod shaping;
mod snapshot;
#[cfg(test)]
mod tests;
mod types;

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{Error, Result};
use crate::filters::{BitSet, FrameworkSlot, RoleId};
use crate::quantities::{Names, Quantities};
use crate::resources::{Name, Resources};
use crate::rng::SplitMix64;
use crate::sorter::{new_sorter, Sorter};

pub use operations::Recovery;
use types::{Agent, Framework, Role};

pub const GPU_CAPABILITY: &str = "GPU_RESOURCES";
/// Mesos caps refuse_seconds at a year; a longer filter is a mistake.
pub const MAX_REFUSE_SECONDS: f64 = 365.0 * 24.0 * 3600.0;
const MAX_ID_LENGTH: usize = 256;

type AgentSlot = u32;

/// One offer of a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub framework_id: Name,
    pub agent_id: Name,
    pub role: Name,
    pub resources: Resources,
}

/// Scalar quantities by name as the caller gives them (millis); a limit may
/// hold zeros ("none of this"), which `Resources` cannot express.
pub type NamedQuantities = Vec<(String, i64)>;

/// The hierarchical allocator. Agents and frameworks live in slots reused
/// after removal; roles are never forgotten, so their ids stay valid.
pub struct Allocator {
    policy: String,
    rng: SplitMix64,
    min_allocatable: Vec<Vec<(Name, i64)>>,
    fairness_exclude: BTreeSet<String>,
    names: Names,
    agents: Vec<Option<Agent>>,
    agent_slots: FxHashMap<Name, AgentSlot>,
    /// Agents in registration order (the order candidates are taken in
    /// before shuffling): each one's slot at its sequence number, None once
    /// removed; renumbered when most are removed.
    agent_order: Vec<Option<AgentSlot>>,
    removed_agents: usize,
    /// The sequence numbers of the active agents with something available:
    /// a cycle's candidates (less those under maintenance), kept as available
    /// parts change so that idle agents cost a cycle nothing.
    offerable_agents: BitSet,
    free_agent_slots: Vec<AgentSlot>,
    frameworks: Vec<Option<Framework>>,
    framework_slots: FxHashMap<Name, FrameworkSlot>,
    free_framework_slots: Vec<FrameworkSlot>,
    roles: Vec<Role>,
    role_ids: FxHashMap<Name, RoleId>,
    role_sorter: Box<dyn Sorter + Send + Sync>,
    quota_roles: BTreeSet<RoleId>,
    totals: Quantities,
    allocated_total: Quantities,
    /// Unreserved scalars available on the active agents, kept as available
    /// parts change: a cycle's headroom starts from it (less the agents under
    /// maintenance) instead of a walk over every candidate.
    active_unreserved_available: Quantities,
    /// Agents with a maintenance window set.
    maintained_agents: FxHashSet<AgentSlot>,
    /// Totals changed since the sorters last heard of them.
    totals_changed: bool,
    next_filter_expiry: f64,
    last_cycle_visits: usize,
    last_cycle_candidates: usize,
}

fn check_id(value: &str, what: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_ID_LENGTH {
        return Err(Error::invalid(format!(
            "{what} must be a non-empty string of at most {MAX_ID_LENGTH} bytes, got '{value}'"
        )));
    }
    Ok(())
}

fn check_time(value: f64, what: &str) -> Result<f64> {
    if !value.is_finite() {
        return Err(Error::invalid(format!(
            "{what} must be a finite number of seconds, got {value}"
        )));
    }
    Ok(value)
}

impl Allocator {
    /// `min_allocatable`: a bundle is worth offering if it holds all of one
    /// of these quantity sets (Mesos's default is cpus:0.01 or mem:32); empty
    /// means any non-empty bundle.
    pub fn new(
        policy: &str,
        seed: u64,
        min_allocatable: Vec<Resources>,
        fairness_exclude: Vec<String>,
    ) -> Result<Self> {
        let role_sorter = new_sorter(policy, true).ok_or_else(|| {
            Error::invalid(format!(
                "sorter must be one of ('drf', 'random'), not '{policy}'"
            ))
        })?;
        Ok(Allocator {
            policy: policy.to_string(),
            rng: SplitMix64::new(seed),
            min_allocatable: min_allocatable.iter().map(|r| r.totals_millis()).collect(),
            fairness_exclude: fairness_exclude.into_iter().collect(),
            names: Names::default(),
            agents: Vec::new(),
            agent_slots: FxHashMap::default(),
            agent_order: Vec::new(),
            removed_agents: 0,
            offerable_agents: BitSet::default(),
            free_agent_slots: Vec::new(),
            frameworks: Vec::new(),
            framework_slots: FxHashMap::default(),
            free_framework_slots: Vec::new(),
            roles: Vec::new(),
            role_ids: FxHashMap::default(),
            role_sorter,
            quota_roles: BTreeSet::new(),
            totals: Quantities::default(),
            allocated_total: Quantities::default(),
            active_unreserved_available: Quantities::default(),
            maintained_agents: FxHashSet::default(),
            totals_changed: false,
            next_filter_expiry: f64::INFINITY,
            last_cycle_visits: 0,
            last_cycle_candidates: 0,
        })
    }

    // ------------------------------------------------------------ lookups

    fn agent_slot(&self, agent_id: &str) -> Result<AgentSlot> {
        self.agent_slots
            .get(agent_id)
            .copied()
            .ok_or_else(|| Error::unknown_agent(agent_id))
    }

    fn framework_slot(&self, framework_id: &str) -> Result<FrameworkSlot> {
        self.framework_slots
            .get(framework_id)
            .copied()
            .ok_or_else(|| Error::unknown_framework(framework_id))
    }

    fn agent(&self, slot: AgentSlot) -> &Agent {
        self.agents[slot as usize]
            .as_ref()
            .expect("live agent slot")
    }

    fn agent_mut(&mut self, slot: AgentSlot) -> &mut Agent {
        self.agents[slot as usize]
            .as_mut()
            .expect("live agent slot")
    }

    /// Starts loading an agent's record (`prefetch`).
    fn prefetch_agent(&self, slot: AgentSlot) {
        crate::prefetch::prefetch(self.agents.as_ptr().wrapping_add(slot as usize));
    }

    fn framework(&self, slot: FrameworkSlot) -> &Framework {
        self.frameworks[slot as usize]
            .as_ref()
            .expect("live framework slot")
    }

    fn framework_mut(&mut self, slot: FrameworkSlot) -> &mut Framework {
        self.frameworks[slot as usize]
            .as_mut()
            .expect("live framework slot")
    }

    /// Keeps `offerable_agents` true after the agent's available part or
    /// activity changed.
    fn sync_offerable_agent(&mut self, slot: AgentSlot) {
        let agent = self.agent(slot);
        let sequence = agent.sequence;
        if agent.active && !agent.available.is_empty() {
            self.offerable_agents.insert(sequence);
        } else {
            self.offerable_agents.remove(sequence);
        }
    }

    /// Keeps `active_unreserved_available` true when `resources` join
    /// (`sign` 1) or leave (-1) the available part of an active agent.
    fn count_available(&mut self, slot: AgentSlot, resources: &Resources, sign: i64) {
        if !self.agent(slot).active {
            return;
        }
        let unreserved = self.names.unreserved_quantities(resources);
        self.count_unreserved_available(&unreserved, sign);
    }

    fn count_unreserved_available(&mut self, unreserved: &Quantities, sign: i64) {
        if sign > 0 {
            self.active_unreserved_available.add(unreserved);
        } else {
            self.active_unreserved_available.sub(unreserved);
        }
    }

    /// The live agents in registration order.
    fn agents_in_order(&self) -> Vec<AgentSlot> {
        self.agent_order.iter().flatten().copied().collect()
    }

    fn role(&self, id: RoleId) -> &Role {
        &self.roles[id as usize]
    }

    fn role_mut(&mut self, id: RoleId) -> &mut Role {
        &mut self.roles[id as usize]
    }
}
