//! The hierarchical allocator: agents, frameworks, roles and the offer cycle.
//!
//! The semantics are those of `pyactors/_reference/allocator.py`, the
//! executable specification; read its module documentation first. This
//! implementation keeps everything incremental so that a cycle costs a walk
//! over the candidate agents and, per agent, over the frameworks it skips:
//! - shares live in the sorters and are re-sorted only when totals or weights
//!   changed; an allocation moves one entry;
//! - quota consumption and allocation totals are kept per role subtree;
//! - the bundle offered to a role on an agent is shaped once and reused for
//!   every framework visited until something is allocated there;
//! - filters are grouped per agent by refused bundle (see `filters`).

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use serde_json::{json, Map, Value as Json};

use crate::error::{Error, Result};
use crate::filters::{AgentFilters, BitSet, FrameworkSlot, RoleId};
use crate::quantities::{dominant_share, NameId, Names, Quantities};
use crate::resources::{
    in_context, is_ancestor_or_self, validate_role, Name, Resource, Resources, Value,
};
use crate::rng::SplitMix64;
use crate::sorter::{new_sorter, Sorter};

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

#[derive(Debug)]
struct Agent {
    id: Name,
    total: Resources,
    available: Resources,
    attributes: BTreeMap<String, String>,
    registered_at: f64,
    /// Offered or allocated resources per (framework, role); few per agent.
    allocated: Vec<(FrameworkSlot, RoleId, Resources)>,
    active: bool,
    unavailability: Option<(f64, Option<f64>)>,
    has_gpus: bool,
    filters: AgentFilters,
}

impl Agent {
    fn unavailable_at(&self, now: f64) -> bool {
        match self.unavailability {
            None => false,
            Some((start, duration)) => start <= now && duration.is_none_or(|d| now < start + d),
        }
    }

    fn allocation(&self, framework: FrameworkSlot, role: RoleId) -> Option<&Resources> {
        self.allocated
            .iter()
            .find(|(f, r, _)| *f == framework && *r == role)
            .map(|(_, _, resources)| resources)
    }
}

#[derive(Debug)]
struct Membership {
    role: RoleId,
    suppressed: bool,
    /// Whether the framework is in the role's sorter order right now.
    offerable: bool,
    allocation: Quantities,
}

#[derive(Debug)]
struct Framework {
    id: Name,
    roles: Vec<Membership>,
    capabilities: BTreeSet<String>,
    registered_at: f64,
    active: bool,
    /// Agents where this framework has filters.
    filtered_agents: BTreeSet<AgentSlot>,
}

impl Framework {
    fn membership(&self, role: RoleId) -> Option<usize> {
        self.roles.iter().position(|m| m.role == role)
    }

    fn has_gpu_capability(&self) -> bool {
        self.capabilities.contains(GPU_CAPABILITY)
    }
}

#[derive(Debug, Clone)]
struct Quota {
    guarantee: Vec<(NameId, i64)>,
    limit: Option<Vec<(NameId, i64)>>,
}

struct Role {
    path: Name,
    parent: Option<RoleId>,
    weight: Option<f64>,
    quota: Option<Quota>,
    /// Frameworks subscribed to this exact role, and those offerable in it.
    frameworks: usize,
    offerable: BitSet,
    /// Agents whose total holds reservations for this exact role.
    reserving_agents: usize,
    /// Scalars allocated to the subtree (reserved or not).
    allocation: Quantities,
    /// Quota consumption of the subtree: reservations plus unreserved
    /// allocations.
    consumed: Quantities,
    framework_sorter: Option<Box<dyn Sorter + Send + Sync>>,
}

/// Bookkeeping of one `allocate` call.
struct Cycle {
    offers: Vec<Offer>,
    offer_index: FxHashMap<(FrameworkSlot, AgentSlot), (RoleId, usize)>,
    /// Tracked only when some role has a guarantee to hold headroom for.
    headroom: Option<Headroom>,
}

/// Unreserved scalars still free on the candidate agents, and those the
/// outermost guaranteed roles still need; both change only with a grant.
struct Headroom {
    available: Quantities,
    required: Quantities,
}

/// What a role would be offered on an agent, shaped once and reused until
/// something is allocated there.
struct Shaped {
    /// The bundle; None when it is everything the agent has available, which
    /// the grant then takes without copying (the common case: no quota, no
    /// reservations for other roles).
    bundle: Option<Resources>,
    applicable_filters: Vec<usize>,
}

pub struct Allocator {
    policy: String,
    rng: SplitMix64,
    min_allocatable: Vec<Vec<(Name, i64)>>,
    fairness_exclude: BTreeSet<String>,
    names: Names,
    agents: Vec<Option<Agent>>,
    agent_slots: FxHashMap<Name, AgentSlot>,
    /// Registration order, the order candidates are taken before shuffling.
    agent_order: Vec<AgentSlot>,
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
    /// Totals changed since the sorters last heard of them.
    totals_changed: bool,
    next_filter_expiry: f64,
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

fn scalar_bundle(entries: impl IntoIterator<Item = (Name, i64)>) -> Resources {
    Resources::from_entries(
        entries
            .into_iter()
            .filter(|(_, millis)| *millis > 0)
            .map(|(name, millis)| Resource {
                name,
                role: None,
                principal: None,
                volume: None,
                value: Value::Scalar(millis),
            })
            .collect(),
    )
    .expect("unreserved scalars of distinct names form a valid bundle")
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

fn is_quota_scalar(resource: &Resource) -> bool {
    resource.role.is_none() && matches!(resource.value, Value::Scalar(_))
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
            totals_changed: false,
            next_filter_expiry: f64::INFINITY,
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

    fn role(&self, id: RoleId) -> &Role {
        &self.roles[id as usize]
    }

    fn role_mut(&mut self, id: RoleId) -> &mut Role {
        &mut self.roles[id as usize]
    }

    /// The role's id, creating it (and its ancestors) on first use.
    fn role_id(&mut self, path: &str) -> RoleId {
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
    fn lineage(&self, role: RoleId) -> impl Iterator<Item = RoleId> + '_ {
        std::iter::successors(Some(role), |&current| self.role(current).parent)
    }

    /// Applies `change` to the role and each of its ancestors.
    fn update_lineage(&mut self, role: RoleId, mut change: impl FnMut(&mut Role)) {
        let mut current = Some(role);
        while let Some(id) = current {
            let node = self.role_mut(id);
            change(node);
            current = node.parent;
        }
    }

    // ------------------------------------------------------------ agents

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
        self.agents[slot as usize] = Some(Agent {
            id: id.clone(),
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
        self.agent_order.push(slot);
        self.account_total(&total, 1);
        for (framework, role, resources) in used {
            let role = self.role_ids[role.as_str()];
            self.track_allocated(slot, framework, role, &resources, false);
        }
        Ok(())
    }

    /// Adds (`sign` 1) or removes (-1) an agent total from the cluster totals
    /// and its reservations from the roles' quota consumption.
    fn account_total(&mut self, total: &Resources, sign: i64) {
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
        let allocated = self.agent(slot).allocated.clone();
        for (framework, role, resources) in allocated {
            self.track_unallocated(slot, framework, role, &resources);
        }
        let agent = self.agents[slot as usize].take().expect("live agent slot");
        for (framework, _, _, _) in agent.filters.iter() {
            self.framework_mut(framework).filtered_agents.remove(&slot);
        }
        self.account_total(&agent.total, -1);
        self.agent_slots.remove(agent_id);
        self.agent_order.retain(|&s| s != slot);
        self.free_agent_slots.push(slot);
        Ok(())
    }

    pub fn activate_agent(&mut self, agent_id: &str) -> Result<()> {
        let slot = self.agent_slot(agent_id)?;
        self.agent_mut(slot).active = true;
        Ok(())
    }

    /// No offers from this agent until activated; allocations stay.
    pub fn deactivate_agent(&mut self, agent_id: &str) -> Result<()> {
        let slot = self.agent_slot(agent_id)?;
        self.agent_mut(slot).active = false;
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
            self.account_total(&old_total, -1);
            self.account_total(&total, 1);
            let agent = self.agent_mut(slot);
            agent.has_gpus = total.scalar_millis("gpus") > 0;
            agent.total = total;
            agent.available = available;
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
        Ok(())
    }

    // ------------------------------------------------------------ frameworks

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
        self.frameworks[slot as usize] = Some(Framework {
            id: id.clone(),
            roles: Vec::new(),
            capabilities: capabilities.into_iter().collect(),
            registered_at: now,
            active,
            filtered_agents: BTreeSet::new(),
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
        for &agent in &self.agent_order.clone() {
            let held: Vec<(RoleId, Resources)> = self
                .agent(agent)
                .allocated
                .iter()
                .filter(|(f, _, _)| *f == slot)
                .map(|(_, r, res)| (*r, res.clone()))
                .collect();
            for (role, resources) in held {
                self.track_unallocated(agent, slot, role, &resources);
                let agent = self.agent_mut(agent);
                agent.available.add_assign(&resources)?;
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
        let agents: Vec<AgentSlot> = self
            .framework(slot)
            .filtered_agents
            .iter()
            .copied()
            .collect();
        for agent in agents {
            let filters = &mut self.agent_mut(agent).filters;
            filters.remove_framework(slot, &drop_role);
            let still_filtered = filters.iter().any(|(f, _, _, _)| f == slot);
            if !still_filtered {
                self.framework_mut(slot).filtered_agents.remove(&agent);
            }
        }
    }

    // ------------------------------------------------------------ roles

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
                            crate::resources::format_millis(*cap),
                            crate::resources::format_millis(*millis)
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

    // ------------------------------------------------------------ allocation bookkeeping

    /// Records `resources` as allocated on `agent` to (framework, role): the
    /// agent's books, the framework's and roles' tallies, and the sorters.
    /// Returns the unreserved scalars it added to quota consumption.
    fn track_allocated(
        &mut self,
        agent: AgentSlot,
        framework: FrameworkSlot,
        role: RoleId,
        resources: &Resources,
        counted: bool,
    ) -> Quantities {
        let (quantities, unreserved) = self.names.split_quantities(resources);
        {
            let agent = self.agent_mut(agent);
            match agent
                .allocated
                .iter_mut()
                .find(|(f, r, _)| *f == framework && *r == role)
            {
                Some((_, _, held)) => held
                    .add_assign(resources)
                    .expect("allocations on one agent are disjoint"),
                None => agent.allocated.push((framework, role, resources.clone())),
            }
        }
        let index = self.framework(framework).membership(role).expect("member");
        self.framework_mut(framework).roles[index]
            .allocation
            .add(&quantities);
        self.update_lineage(role, |node| {
            node.allocation.add(&quantities);
            node.consumed.add(&unreserved);
        });
        self.allocated_total.add(&quantities);
        self.role_sorter.allocated(role, &quantities, counted);
        self.role_mut(role)
            .framework_sorter
            .as_mut()
            .expect("role with frameworks has a sorter")
            .allocated(framework, &quantities, counted);
        unreserved
    }

    /// The inverse of `track_allocated` (counters stay); the caller returns
    /// the resources to the agent's available part if they still exist.
    fn track_unallocated(
        &mut self,
        agent: AgentSlot,
        framework: FrameworkSlot,
        role: RoleId,
        resources: &Resources,
    ) {
        let (quantities, unreserved) = self.names.split_quantities(resources);
        {
            let agent = self.agent_mut(agent);
            let index = agent
                .allocated
                .iter()
                .position(|(f, r, _)| *f == framework && *r == role)
                .expect("allocation exists");
            let held = &mut agent.allocated[index].2;
            held.sub_assign(resources)
                .expect("callers recover only what is allocated");
            if held.is_empty() {
                agent.allocated.remove(index);
            }
        }
        let index = self.framework(framework).membership(role).expect("member");
        self.framework_mut(framework).roles[index]
            .allocation
            .sub(&quantities);
        self.update_lineage(role, |node| {
            node.allocation.sub(&quantities);
            node.consumed.sub(&unreserved);
        });
        self.allocated_total.sub(&quantities);
        self.role_sorter.unallocated(role, &quantities);
        self.role_mut(role)
            .framework_sorter
            .as_mut()
            .expect("role with frameworks has a sorter")
            .unallocated(framework, &quantities);
    }

    // ------------------------------------------------------------ offers

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

    fn expire_filters(&mut self, now: f64) {
        if now < self.next_filter_expiry {
            return;
        }
        let mut next = f64::INFINITY;
        for slot in self.agent_order.clone() {
            let agent = self.agent_mut(slot);
            if agent.filters.is_empty() {
                continue;
            }
            let released = agent.filters.expire(now);
            if let Some(earliest) = agent.filters.earliest_expiry() {
                next = next.min(earliest);
            }
            for framework in released {
                self.framework_mut(framework).filtered_agents.remove(&slot);
            }
        }
        self.next_filter_expiry = next;
    }

    fn excluded(&self) -> Vec<bool> {
        (0..self.names.len())
            .map(|id| self.fairness_exclude.contains(&**self.names.name(id)))
            .collect()
    }

    fn push_totals(&mut self) {
        if !self.totals_changed {
            return;
        }
        let excluded = self.excluded();
        self.role_sorter.set_totals(&self.totals, &excluded);
        for role in &mut self.roles {
            if let Some(sorter) = role.framework_sorter.as_mut() {
                sorter.set_totals(&self.totals, &excluded);
            }
        }
        self.totals_changed = false;
    }

    fn allocatable(&self, bundle: &Resources) -> bool {
        if bundle.is_empty() {
            return false;
        }
        self.min_allocatable.is_empty()
            || self.min_allocatable.iter().any(|requirement| {
                requirement
                    .iter()
                    .all(|(name, millis)| bundle.scalar_millis(name) >= *millis)
            })
    }

    /// Room left under the limits of the role and its ancestors, per name
    /// (None: unlimited), or None when no limit applies.
    fn limit_room(&self, role: RoleId) -> Option<Vec<Option<i64>>> {
        let mut room: Option<Vec<Option<i64>>> = None;
        for node in self.lineage(role) {
            let role = self.role(node);
            let Some(limit) = role.quota.as_ref().and_then(|q| q.limit.as_ref()) else {
                continue;
            };
            let room = room.get_or_insert_with(|| vec![None; self.names.len()]);
            for &(id, cap) in limit {
                let here = (cap - role.consumed.get(id)).max(0);
                room[id] = Some(room[id].map_or(here, |r| r.min(here)));
            }
        }
        room
    }

    /// Unreserved scalars the outermost guaranteed roles still need.
    fn required_headroom(&self) -> Quantities {
        let mut required = Quantities::default();
        for &role in &self.quota_roles {
            let Some(quota) = &self.role(role).quota else {
                continue;
            };
            if quota.guarantee.is_empty() {
                continue;
            }
            let nested = self.lineage(role).skip(1).any(|a| self.has_guarantee(a));
            if nested {
                continue;
            }
            for &(id, millis) in &quota.guarantee {
                required.add_at(id, (millis - self.role(role).consumed.get(id)).max(0));
            }
        }
        required
    }

    fn has_guarantee(&self, role: RoleId) -> bool {
        self.role(role)
            .quota
            .as_ref()
            .is_some_and(|q| !q.guarantee.is_empty())
    }

    fn unsatisfied_guarantee(&self, role: RoleId) -> Option<Quantities> {
        let node = self.role(role);
        let quota = node.quota.as_ref()?;
        let mut out = Quantities::default();
        for &(id, millis) in &quota.guarantee {
            out.add_at(id, (millis - node.consumed.get(id)).max(0));
        }
        Some(out)
    }

    fn shrink_to(&self, scalars: &Resources, target: &Quantities) -> Resources {
        scalar_bundle(scalars.totals_millis().into_iter().map(|(name, millis)| {
            let cap = self.names.get(&name).map_or(0, |id| target.get(id));
            (name, millis.min(cap))
        }))
    }

    fn shrink_limits(&self, scalars: Resources, room: Option<&Vec<Option<i64>>>) -> Resources {
        let Some(room) = room else {
            return scalars;
        };
        scalar_bundle(scalars.totals_millis().into_iter().map(|(name, millis)| {
            let cap = self
                .names
                .get(&name)
                .and_then(|id| room.get(id).copied().flatten());
            (name, cap.map_or(millis, |c| millis.min(c)))
        }))
    }

    /// What `role` would be offered out of `available` (its unreserved
    /// scalars are what it adds to the role's quota consumption); None when
    /// stage 1 (`unsatisfied`) can make no progress.
    /// `Some(None)` means all of `available`, unchanged.
    fn shape(
        &self,
        available: &Resources,
        role: RoleId,
        unsatisfied: Option<&Quantities>,
        headroom: Option<&Headroom>,
    ) -> Option<Option<Resources>> {
        let mut room = self.limit_room(role);
        let holds_back = headroom.is_some_and(|h| !h.required.is_zero());
        if unsatisfied.is_none() && room.is_none() && !holds_back {
            return Some(None);
        }
        let quota_scalars = available.filter(is_quota_scalar);
        let always = available.filter(|r| !is_quota_scalar(r));
        let mut guaranteed = Resources::new();
        if let Some(unsatisfied) = unsatisfied {
            guaranteed =
                self.shrink_limits(self.shrink_to(&quota_scalars, unsatisfied), room.as_ref());
            if guaranteed.is_empty() {
                return None;
            }
            if let Some(room) = room.as_mut() {
                for (name, millis) in guaranteed.totals_millis() {
                    let left = self.names.get(&name).and_then(|id| room.get_mut(id));
                    if let Some(Some(left)) = left {
                        *left = (*left - millis).max(0);
                    }
                }
            }
        }
        let rest = quota_scalars
            .checked_sub(&guaranteed)
            .expect("guaranteed part is cut from the quota scalars");
        let mut additional = self.shrink_limits(rest, room.as_ref());
        if let (true, Some(headroom)) = (holds_back, headroom) {
            if !additional.is_empty() {
                let surplus = headroom.available.minus_clamped(&headroom.required);
                additional = self.shrink_to(&additional, &surplus);
            }
        }
        let mut bundle = always;
        bundle
            .add_assign(&guaranteed)
            .expect("parts of one bundle are disjoint");
        bundle
            .add_assign(&additional)
            .expect("parts of one bundle are disjoint");
        Some(Some(bundle))
    }

    /// Runs one allocation cycle and returns every offer it makes; see the
    /// reference's module documentation for the order of things.
    pub fn allocate(&mut self, now: f64) -> Result<Vec<Offer>> {
        let now = check_time(now, "now")?;
        self.expire_filters(now);
        let mut candidates: Vec<AgentSlot> = self
            .agent_order
            .iter()
            .copied()
            .filter(|&slot| {
                let agent = self.agent(slot);
                agent.active && !agent.unavailable_at(now)
            })
            .collect();
        self.rng.shuffle(&mut candidates);
        self.push_totals();
        self.role_sorter.prepare_cycle(&mut self.rng);
        for role in self.role_sorter.order() {
            let sorter = self.roles[role as usize]
                .framework_sorter
                .as_mut()
                .expect("roles in the order have frameworks");
            sorter.prepare_cycle(&mut self.rng);
        }
        let any_guarantee = self.quota_roles.iter().any(|&r| self.has_guarantee(r));
        let headroom = any_guarantee.then(|| {
            let mut available = Quantities::default();
            let (names, agents) = (&mut self.names, &self.agents);
            for &slot in &candidates {
                let agent = agents[slot as usize].as_ref().expect("live agent slot");
                available.add(&names.unreserved_quantities(&agent.available));
            }
            Headroom {
                available,
                required: self.required_headroom(),
            }
        });
        let mut cycle = Cycle {
            offers: Vec::new(),
            offer_index: FxHashMap::default(),
            headroom,
        };
        if any_guarantee {
            for &agent in &candidates {
                self.visit(&mut cycle, agent, true);
            }
        }
        for &agent in &candidates {
            self.visit(&mut cycle, agent, false);
        }
        Ok(cycle.offers)
    }

    fn visit(&mut self, cycle: &mut Cycle, agent: AgentSlot, guarantees: bool) {
        for role in self.role_sorter.order() {
            if guarantees && !self.has_guarantee(role) {
                continue;
            }
            if self.agent(agent).available.is_empty() {
                break;
            }
            self.visit_role(cycle, agent, role, guarantees);
        }
    }

    /// Walks the role's frameworks in their order at the start of the visit.
    /// An allocation moves its framework later in the live order and shifts
    /// the rest back by one, so the walk stays at the same index and skips
    /// the frameworks it already allocated to.
    fn visit_role(&mut self, cycle: &mut Cycle, agent: AgentSlot, role: RoleId, guarantees: bool) {
        let mut index = 0;
        let mut served: Vec<FrameworkSlot> = Vec::new();
        // What the role would be offered here; reshaped after each grant.
        let mut offer: Option<Shaped> = None;
        let gpu_agent = self.agent(agent).has_gpus;
        while let Some(framework) = self.roles[role as usize]
            .framework_sorter
            .as_mut()
            .expect("roles in the order have frameworks")
            .nth(index)
        {
            if served.contains(&framework) {
                index += 1;
                continue;
            }
            if offer.is_none() {
                // Nothing this role can take here stops the walk: whoever
                // asks next would be refused the same way.
                match self.shape_for(cycle, agent, role, guarantees) {
                    Some(shaped) => offer = Some(shaped),
                    None => break,
                }
                // When every framework of the role refused this bundle here
                // (late rounds of mass declines), the walk cannot allocate.
                let shaped = offer.as_ref().expect("just shaped");
                if !shaped.applicable_filters.is_empty()
                    && self
                        .agent(agent)
                        .filters
                        .refuse_all(&shaped.applicable_filters, &self.role(role).offerable)
                {
                    break;
                }
            }
            let candidate = self.framework(framework);
            let offered_other_role = candidate.roles.len() > 1
                && cycle
                    .offer_index
                    .get(&(framework, agent))
                    .is_some_and(|&(offered_role, _)| offered_role != role);
            let refused = offered_other_role
                || (gpu_agent && !candidate.has_gpu_capability())
                || self.agent(agent).filters.refuses(
                    &offer.as_ref().expect("shaped above").applicable_filters,
                    framework,
                );
            if refused {
                index += 1;
                continue;
            }
            let granted = offer.take().expect("shaped above");
            self.grant(cycle, agent, framework, role, granted);
            served.push(framework);
        }
    }

    /// The bundle `role` would be offered on `agent` now, or None when the
    /// role can take nothing there in this stage.
    fn shape_for(
        &self,
        cycle: &Cycle,
        agent: AgentSlot,
        role: RoleId,
        guarantees: bool,
    ) -> Option<Shaped> {
        let unsatisfied = if guarantees {
            let unsatisfied = self.unsatisfied_guarantee(role).unwrap_or_default();
            if unsatisfied.is_zero() {
                return None;
            }
            Some(unsatisfied)
        } else {
            None
        };
        let agent = self.agent(agent);
        let path = &self.role(role).path;
        // Shape on a borrowed view when nothing on the agent is reserved for
        // another role, so a role that is refused here costs no copy.
        let cut = agent.available.iter().any(|r| {
            r.role
                .as_ref()
                .is_some_and(|owner| !is_ancestor_or_self(owner, path))
        });
        let allocatable_part = cut.then(|| agent.available.allocatable_to(path));
        let available = allocatable_part.as_ref().unwrap_or(&agent.available);
        if !self.allocatable(available) {
            return None;
        }
        let shaped = self.shape(
            available,
            role,
            unsatisfied.as_ref(),
            cycle.headroom.as_ref(),
        )?;
        let bundle = shaped.as_ref().unwrap_or(available);
        if !self.allocatable(bundle) {
            return None;
        }
        let applicable_filters = agent.filters.applicable(role, bundle);
        Some(Shaped {
            bundle: shaped.or(allocatable_part),
            applicable_filters,
        })
    }

    fn grant(
        &mut self,
        cycle: &mut Cycle,
        agent: AgentSlot,
        framework: FrameworkSlot,
        role: RoleId,
        offer: Shaped,
    ) {
        let available = &mut self.agent_mut(agent).available;
        let bundle = match offer.bundle {
            Some(bundle) => {
                available
                    .sub_assign(&bundle)
                    .expect("offers are cut from the available part");
                bundle
            }
            None => std::mem::take(available),
        };
        let unreserved = self.track_allocated(agent, framework, role, &bundle, true);
        if let Some(headroom) = cycle.headroom.as_mut() {
            headroom.available = headroom.available.minus_clamped(&unreserved);
            headroom.required = self.required_headroom();
        }
        match cycle.offer_index.get(&(framework, agent)) {
            Some(&(_, index)) => cycle.offers[index]
                .resources
                .add_assign(&bundle)
                .expect("offers from one agent are disjoint"),
            None => {
                cycle
                    .offer_index
                    .insert((framework, agent), (role, cycle.offers.len()));
                cycle.offers.push(Offer {
                    framework_id: self.framework(framework).id.clone(),
                    agent_id: self.agent(agent).id.clone(),
                    role: self.role(role).path.clone(),
                    resources: bundle,
                });
            }
        }
    }

    // ------------------------------------------------------------ state

    fn floats(&self, quantities: &Quantities, keep_zeros: bool) -> Json {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for id in 0..self.names.len() {
            let millis = quantities.get(id);
            if millis != 0 || keep_zeros {
                out.insert(self.names.name(id).to_string(), millis as f64 / 1000.0);
            }
        }
        json!(out)
    }

    fn named_floats(&self, quantities: &[(NameId, i64)]) -> Json {
        let out: BTreeMap<String, f64> = quantities
            .iter()
            .map(|&(id, millis)| (self.names.name(id).to_string(), millis as f64 / 1000.0))
            .collect();
        json!(out)
    }

    /// Roles worth listing: those with frameworks, a weight, a quota or
    /// reservations, and their ancestors.
    fn known_roles(&self) -> BTreeSet<RoleId> {
        let mut known = BTreeSet::new();
        for (id, role) in self.roles.iter().enumerate() {
            if role.frameworks > 0
                || role.weight.is_some()
                || role.quota.is_some()
                || role.reserving_agents > 0
            {
                known.extend(self.lineage(id as RoleId));
            }
        }
        known
    }

    /// Everything the allocator knows as plain sorted data; the reference
    /// produces the same document for the same history.
    pub fn snapshot(&self) -> Json {
        let excluded = self.excluded();
        let mut agents = Map::new();
        let mut agent_ids: Vec<&Name> = self.agent_slots.keys().collect();
        agent_ids.sort();
        for id in agent_ids {
            let agent = self.agent(self.agent_slots[id]);
            let mut allocated: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for (framework, role, resources) in &agent.allocated {
                allocated
                    .entry(self.framework(*framework).id.to_string())
                    .or_default()
                    .insert(self.role(*role).path.to_string(), resources.to_text());
            }
            agents.insert(
                id.to_string(),
                json!({
                    "total": agent.total.to_text(),
                    "available": agent.available.to_text(),
                    "allocated": allocated,
                    "active": agent.active,
                    "attributes": agent.attributes,
                    "unavailability": agent.unavailability.map(|(start, duration)| {
                        json!({"start": start, "duration": duration})
                    }),
                    "registered_at": agent.registered_at,
                }),
            );
        }
        let mut filters_by_framework: FxHashMap<FrameworkSlot, Vec<(String, String, String, f64)>> =
            FxHashMap::default();
        for agent in self.agents.iter().flatten() {
            for (framework, role, refused, expires) in agent.filters.iter() {
                filters_by_framework.entry(framework).or_default().push((
                    agent.id.to_string(),
                    self.role(role).path.to_string(),
                    refused.to_text(),
                    expires,
                ));
            }
        }
        let mut frameworks = Map::new();
        let mut framework_ids: Vec<&Name> = self.framework_slots.keys().collect();
        framework_ids.sort();
        for id in framework_ids {
            let slot = self.framework_slots[id];
            let framework = self.framework(slot);
            let mut memberships: Vec<&Membership> = framework.roles.iter().collect();
            memberships.sort_by(|a, b| self.role(a.role).path.cmp(&self.role(b.role).path));
            let mut allocated = Map::new();
            let mut shares = Map::new();
            for m in &memberships {
                let path = self.role(m.role).path.to_string();
                allocated.insert(path.clone(), self.floats(&m.allocation, false));
                shares.insert(
                    path,
                    json!(dominant_share(&m.allocation, &self.totals, &excluded)),
                );
            }
            let mut filters = filters_by_framework.remove(&slot).unwrap_or_default();
            filters.sort_by(|a, b| {
                (&a.0, &a.1, &a.2)
                    .cmp(&(&b.0, &b.1, &b.2))
                    .then(a.3.total_cmp(&b.3))
            });
            let mut suppressed: Vec<&str> = framework
                .roles
                .iter()
                .filter(|m| m.suppressed)
                .map(|m| &*self.role(m.role).path)
                .collect();
            suppressed.sort();
            frameworks.insert(
                id.to_string(),
                json!({
                    "roles": framework.roles.iter().map(|m| &*self.role(m.role).path).collect::<Vec<_>>(),
                    "active": framework.active,
                    "suppressed_roles": suppressed,
                    "capabilities": framework.capabilities,
                    "allocated": allocated,
                    "shares": shares,
                    "filters": filters.iter().map(|(agent, role, resources, expires)| json!({
                        "agent": agent, "role": role, "resources": resources, "expires": expires,
                    })).collect::<Vec<_>>(),
                    "registered_at": framework.registered_at,
                }),
            );
        }
        let mut roles = Map::new();
        for id in self.known_roles() {
            let role = self.role(id);
            let mut members: Vec<&str> = self
                .frameworks
                .iter()
                .flatten()
                .filter(|f| f.membership(id).is_some())
                .map(|f| &*f.id)
                .collect();
            members.sort();
            roles.insert(
                role.path.to_string(),
                json!({
                    "weight": role.weight.unwrap_or(1.0),
                    "guarantee": role.quota.as_ref().map_or(json!({}), |q| self.named_floats(&q.guarantee)),
                    "limit": role.quota.as_ref().and_then(|q| q.limit.as_ref()).map(|l| self.named_floats(l)),
                    "allocated": self.floats(&role.allocation, false),
                    "consumed_quota": self.floats(&role.consumed, false),
                    "share": dominant_share(&role.allocation, &self.totals, &excluded)
                        / role.weight.unwrap_or(1.0),
                    "frameworks": members,
                }),
            );
        }
        json!({
            "sorter": self.policy,
            "total": self.floats(&self.totals, false),
            "allocated": self.floats(&self.allocated_total, false),
            "agents": agents,
            "frameworks": frameworks,
            "roles": roles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(text: &str) -> Resources {
        Resources::parse(text).unwrap()
    }

    fn allocator(policy: &str) -> Allocator {
        Allocator::new(policy, 0, vec![res("cpus:0.01"), res("mem:32")], Vec::new()).unwrap()
    }

    /// Agent "agent" (cpus:4;mem:4096) and framework "fw" in role "r".
    fn one_agent_one_framework(policy: &str) -> Allocator {
        let mut a = allocator(policy);
        a.add_agent(
            "agent",
            res("cpus:4;mem:4096"),
            0.0,
            BTreeMap::new(),
            vec![],
        )
        .unwrap();
        a.add_framework("fw", vec!["r".into()], 0.0, vec![], true)
            .unwrap();
        a
    }

    fn offered(offers: &[Offer]) -> Vec<(String, String, String)> {
        offers
            .iter()
            .map(|o| {
                (
                    o.framework_id.to_string(),
                    o.role.to_string(),
                    o.resources.to_text(),
                )
            })
            .collect()
    }

    /// Ghodsi et al., NSDI 2011: 9 CPUs, 18 GB; A's tasks <1 CPU, 4 GB>, B's
    /// <3 CPUs, 1 GB>; each takes one task per offer and declines the rest.
    #[test]
    fn drf_paper_example() {
        let mut a = allocator("drf");
        a.add_agent(
            "agent",
            res("cpus:9;mem:18432"),
            0.0,
            BTreeMap::new(),
            vec![],
        )
        .unwrap();
        a.add_framework("A", vec!["a".into()], 0.0, vec![], true)
            .unwrap();
        a.add_framework("B", vec!["b".into()], 0.0, vec![], true)
            .unwrap();
        let task = |f: &str| {
            res(if f == "A" {
                "cpus:1;mem:4096"
            } else {
                "cpus:3;mem:1024"
            })
        };
        let mut running = BTreeMap::from([("A".to_string(), 0), ("B".to_string(), 0)]);
        for step in 1..50 {
            let now = step as f64;
            let mut launched = false;
            for offer in a.allocate(now).unwrap() {
                let need = task(&offer.framework_id);
                let rest = if offer.resources.contains(&need) {
                    *running.get_mut(&*offer.framework_id).unwrap() += 1;
                    launched = true;
                    offer.resources.checked_sub(&need).unwrap()
                } else {
                    offer.resources.clone()
                };
                a.recover(&offer.framework_id, &offer.agent_id, &rest, 0.0, None, None)
                    .unwrap();
            }
            if !launched {
                break;
            }
        }
        assert_eq!(running["A"], 3);
        assert_eq!(running["B"], 2);
    }

    #[test]
    fn filters_hold_until_expiry_and_revive_clears_them() {
        for policy in ["drf", "random"] {
            let mut a = one_agent_one_framework(policy);
            let offer = a.allocate(0.0).unwrap().remove(0);
            a.recover("fw", "agent", &offer.resources, 5.0, Some(0.0), None)
                .unwrap();
            assert!(a.allocate(4.5).unwrap().is_empty(), "{policy}");
            let offer = a.allocate(5.0).unwrap().remove(0);
            a.recover("fw", "agent", &offer.resources, 5.0, Some(5.0), None)
                .unwrap();
            a.revive("fw", None).unwrap();
            assert_eq!(a.allocate(6.0).unwrap().len(), 1, "{policy}");
        }
    }

    #[test]
    fn reservations_flow_down_the_role_tree_only() {
        let mut a = Allocator::new("drf", 0, vec![], vec![]).unwrap();
        a.add_agent(
            "agent",
            res("cpus(a):2;cpus(a/b):1"),
            0.0,
            BTreeMap::new(),
            vec![],
        )
        .unwrap();
        for (id, role) in [("fa", "a"), ("fb", "a/b"), ("fc", "c")] {
            a.add_framework(id, vec![role.into()], 0.0, vec![], true)
                .unwrap();
        }
        let offers = offered(&a.allocate(1.0).unwrap());
        assert_eq!(
            offers,
            vec![
                ("fa".into(), "a".into(), "cpus(a):2".into()),
                ("fb".into(), "a/b".into(), "cpus(a/b):1".into()),
            ]
        );
    }

    #[test]
    fn limits_cap_and_guarantees_come_first() {
        let mut a = allocator("drf");
        for i in 0..4 {
            a.add_agent(
                &format!("agent-{i}"),
                res("cpus:4;mem:4096"),
                0.0,
                BTreeMap::new(),
                vec![],
            )
            .unwrap();
        }
        a.add_framework("a-first", vec!["a".into()], 0.0, vec![], true)
            .unwrap();
        a.add_framework("q", vec!["q".into()], 0.0, vec![], true)
            .unwrap();
        a.set_quota(
            "q",
            vec![("cpus".into(), 8000)],
            Some(vec![("cpus".into(), 8000)]),
        )
        .unwrap();
        let mut cpus: BTreeMap<String, i64> = BTreeMap::new();
        for offer in a.allocate(1.0).unwrap() {
            *cpus.entry(offer.framework_id.to_string()).or_default() +=
                offer.resources.scalar_millis("cpus");
        }
        assert_eq!(cpus["q"], 8000);
        assert_eq!(cpus["a-first"], 8000);
    }

    fn quota_consumed(a: &Allocator, role: &str) -> Json {
        a.snapshot()["roles"][role]["consumed_quota"].clone()
    }

    #[test]
    fn a_reservation_made_in_an_allocation_returns_only_to_its_role() {
        let mut a = one_agent_one_framework("drf");
        a.add_framework("other", vec!["s".into()], 0.0, vec![], true)
            .unwrap();
        a.allocate(1.0).unwrap();
        a.update_allocation(
            "fw",
            "agent",
            "r",
            &res("cpus:1;mem:1024"),
            &res("cpus(r,alice):1;mem(r,alice):1024"),
        )
        .unwrap();
        let held = "cpus:3;cpus(r,alice):1;mem:3072;mem(r,alice):1024";
        let snapshot = a.snapshot();
        assert_eq!(snapshot["agents"]["agent"]["total"], held);
        assert_eq!(snapshot["total"], json!({"cpus": 4.0, "mem": 4096.0}));
        assert_eq!(quota_consumed(&a, "r"), json!({"cpus": 4.0, "mem": 4096.0}));
        a.recover("fw", "agent", &res(held), 0.0, None, None)
            .unwrap();
        assert_eq!(quota_consumed(&a, "r"), json!({"cpus": 1.0, "mem": 1024.0}));
        let offers = offered(&a.allocate(2.0).unwrap());
        assert_eq!(
            offers,
            vec![
                ("other".into(), "s".into(), "cpus:3;mem:3072".into()),
                (
                    "fw".into(),
                    "r".into(),
                    "cpus(r,alice):1;mem(r,alice):1024".into()
                ),
            ]
        );
        a.update_allocation(
            "fw",
            "agent",
            "r",
            &res("cpus(r,alice):1;mem(r,alice):1024"),
            &res("cpus:1;mem:1024"),
        )
        .unwrap();
        assert_eq!(a.snapshot()["agents"]["agent"]["total"], "cpus:4;mem:4096");
        assert_eq!(quota_consumed(&a, "r"), json!({"cpus": 1.0, "mem": 1024.0}));
    }

    #[test]
    fn volumes_are_created_on_reservations_and_destroyed() {
        let mut a = Allocator::new("drf", 0, vec![], vec![]).unwrap();
        a.add_agent(
            "agent",
            res("cpus:1;disk:100"),
            0.0,
            BTreeMap::new(),
            vec![],
        )
        .unwrap();
        a.add_framework("fw", vec!["db/main".into()], 0.0, vec![], true)
            .unwrap();
        a.update_available("agent", &res("disk:100"), &res("disk(db):100"))
            .unwrap();
        assert_eq!(quota_consumed(&a, "db"), json!({"disk": 100.0}));
        a.allocate(1.0).unwrap();
        // The parent's reservation is kept: the volume stays db's.
        a.update_allocation(
            "fw",
            "agent",
            "db/main",
            &res("disk(db):60"),
            &res("disk(db)[v1]:60"),
        )
        .unwrap();
        let before = a.snapshot();
        let again = a.update_allocation(
            "fw",
            "agent",
            "db/main",
            &res("disk(db):40"),
            &res("disk(db)[v1]:40"),
        );
        assert!(again
            .unwrap_err()
            .message
            .contains("volume 'v1' already exists"));
        assert_eq!(a.snapshot(), before);
        assert_eq!(
            before["agents"]["agent"]["allocated"]["fw"]["db/main"],
            "cpus:1;disk(db):40;disk(db)[v1]:60"
        );
        a.update_allocation(
            "fw",
            "agent",
            "db/main",
            &res("disk(db)[v1]:60"),
            &res("disk(db):60"),
        )
        .unwrap();
        assert_eq!(
            a.snapshot()["agents"]["agent"]["total"],
            "cpus:1;disk(db):100"
        );
    }

    #[test]
    fn bad_operations_change_nothing() {
        let mut a = one_agent_one_framework("drf");
        a.allocate(1.0).unwrap();
        let before = a.snapshot();
        let convert = |a: &mut Allocator, role: &str, consumed: &str, converted: &str| {
            a.update_allocation("fw", "agent", role, &res(consumed), &res(converted))
        };
        let errors = [
            convert(&mut a, "r", "cpus:5", "cpus(r):5"),
            convert(&mut a, "r", "cpus:1", "cpus(r):2"),
            convert(&mut a, "r", "cpus:1", "mem(r):1"),
            convert(&mut a, "r", "cpus:1", "cpus(elsewhere):1"),
            convert(&mut a, "s", "cpus:1", "cpus(s):1"),
            a.update_allocation("ghost", "agent", "r", &res(""), &res("")),
            a.update_allocation("fw", "ghost", "r", &res(""), &res("")),
            a.update_available("agent", &res("cpus:1"), &res("cpus(r):1")),
            a.update_available("agent", &res(""), &res("cpus(r):1")),
        ];
        for error in &errors {
            assert!(error.is_err(), "{error:?}");
        }
        assert_eq!(a.snapshot(), before);
    }

    #[test]
    fn bad_input_changes_nothing() {
        let mut a = one_agent_one_framework("drf");
        a.allocate(1.0).unwrap();
        let before = a.snapshot();
        let errors = [
            a.recover("fw", "agent", &res("cpus:100"), 0.0, None, None),
            a.recover("fw", "agent", &res("cpus:1"), -1.0, Some(1.0), None),
            a.update_agent("agent", Some(res("cpus:1")), None),
            a.add_framework("fw", vec!["r".into()], 0.0, vec![], true),
            a.set_weight("r", f64::NAN),
            a.allocate(f64::INFINITY).map(|_| ()),
        ];
        assert!(errors.iter().all(|e| e.is_err()));
        assert_eq!(a.snapshot(), before);
    }
}
