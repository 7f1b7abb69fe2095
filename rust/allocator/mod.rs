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

use crate::error::{Error, ErrorKind, Result};
use crate::filters::{BitSet, FrameworkSlot, RoleId};
use crate::quantities::{Names, Quantities};
use crate::resources::{Name, Resources};
use crate::rng::SplitMix64;
use crate::sorter::{new_sorter, Sorter};

pub use operations::{Recovery, TokenRecovery};
use types::{Agent, Framework, Role};

pub const GPU_CAPABILITY: &str = "GPU_RESOURCES";
/// Mesos caps refuse_seconds at a year; a longer filter is a mistake.
pub const MAX_REFUSE_SECONDS: f64 = 365.0 * 24.0 * 3600.0;
const MAX_ID_LENGTH: usize = 256;

type AgentSlot = u32;

/// Names an agent's or a framework's registration without its id: its
/// serial (never 0) above its slot. Batch calls that take tokens find the
/// record without hashing or comparing ids; a token of a registration that
/// ended names nothing (its slot holds another serial, or none).
pub type Token = u64;

fn token(serial: u32, slot: u32) -> Token {
    (u64::from(serial) << 32) | u64::from(slot)
}

/// (serial, slot) of a token.
fn token_parts(token: Token) -> (u32, u32) {
    ((token >> 32) as u32, token as u32)
}

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
    /// Each agent slot's registration serial (0: free), apart from the
    /// records so that checking a token reads a small dense array.
    agent_serials: Vec<u32>,
    /// The serial the next registration (agent or framework) gets.
    next_serial: u32,
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
            agent_serials: Vec::new(),
            next_serial: 1,
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

    /// A serial for a new registration: never 0, which marks a free slot.
    fn take_serial(&mut self) -> u32 {
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1).max(1);
        serial
    }

    /// The token of a registered agent (see `Token`).
    pub fn agent_token(&self, agent_id: &str) -> Result<Token> {
        let slot = self.agent_slot(agent_id)?;
        Ok(token(self.agent_serials[slot as usize], slot))
    }

    /// The token of a registered framework (see `Token`).
    pub fn framework_token(&self, framework_id: &str) -> Result<Token> {
        let slot = self.framework_slot(framework_id)?;
        Ok(token(self.framework(slot).serial, slot))
    }

    fn agent_of_token(&self, agent: Token) -> Result<AgentSlot> {
        let (serial, slot) = token_parts(agent);
        match self.agent_serials.get(slot as usize) {
            Some(&live) if live == serial && serial != 0 => Ok(slot),
            _ => Err(Error::new(
                ErrorKind::UnknownAgent,
                format!("agent token {agent} names no registered agent"),
            )),
        }
    }

    fn framework_of_token(&self, framework: Token) -> Result<FrameworkSlot> {
        let (serial, slot) = token_parts(framework);
        match self.frameworks.get(slot as usize) {
            Some(Some(record)) if record.serial == serial => Ok(slot),
            _ => Err(Error::new(
                ErrorKind::UnknownFramework,
                format!("framework token {framework} names no registered framework"),
            )),
        }
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
