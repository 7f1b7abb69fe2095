//! Returning resources and converting them in place.
//!
//! Contracts (an error leaves the allocator unchanged):
//! - `recover`: a framework gives back part of what it holds on an agent
//!   (declined or released); with `refuse_seconds` > 0 it is not offered a
//!   subset of them there in that role until `now + refuse_seconds` (capped
//!   at `MAX_REFUSE_SECONDS`). `InvalidArgument` if it does not hold them.
//! - `recover_many`: a batch of recoveries sharing `refuse_seconds` and
//!   `now` (a round's declines), with the results of `recover` called on
//!   each in order; the whole batch is checked before any of it is applied,
//!   so a bad item changes nothing. Its error names the item.
//! - `update_allocation`: a framework's RESERVE, UNRESERVE, CREATE or
//!   DESTROY on what it holds on an agent in one role.
//! - `update_available`: an operator's reserve, unreserve, create or destroy
//!   on what an agent has available, for any role.
//!
//! Both conversions keep the quantities (`InvalidArgument` otherwise), so
//! cluster totals and shares do not move; reservations count for quota at
//! once, and a volume id may exist only once per agent.

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::filters::{BitSet, FrameworkSlot, RoleId};
use crate::quantities::Quantities;
use crate::resources::{in_context, Name, Resource, Resources};

use super::{check_time, AgentSlot, Allocator, Token, MAX_REFUSE_SECONDS};

/// One item of `recover_many`: what one `recover` call names.
#[derive(Debug, Clone, Copy)]
pub struct Recovery<'a> {
    pub framework_id: &'a str,
    pub agent_id: &'a str,
    /// None: the first role (by name) whose allocation there holds them.
    pub role: Option<&'a str>,
    pub resources: &'a Resources,
}

/// One item of `recover_many_by_token`: a `Recovery` naming the framework
/// and the agent by their tokens (`agent_token`, `framework_token`).
#[derive(Debug, Clone, Copy)]
pub struct TokenRecovery<'a> {
    pub framework: Token,
    pub agent: Token,
    /// None: the first role (by name) whose allocation there holds them.
    pub role: Option<&'a str>,
    pub resources: &'a Resources,
}

/// What a batch needs of its items, whichever way they name the holder.
trait BatchItem {
    /// The framework's and the agent's slots; the framework is looked at
    /// first, so an item naming neither fails on the framework.
    fn holder(&self, allocator: &Allocator) -> Result<(FrameworkSlot, AgentSlot)>;
    fn role(&self) -> Option<&str>;
    fn resources(&self) -> &Resources;
}

impl BatchItem for Recovery<'_> {
    fn holder(&self, allocator: &Allocator) -> Result<(FrameworkSlot, AgentSlot)> {
        let framework = allocator.framework_slot(self.framework_id)?;
        Ok((framework, allocator.agent_slot(self.agent_id)?))
    }

    fn role(&self) -> Option<&str> {
        self.role
    }

    fn resources(&self) -> &Resources {
        self.resources
    }
}

impl BatchItem for TokenRecovery<'_> {
    fn holder(&self, allocator: &Allocator) -> Result<(FrameworkSlot, AgentSlot)> {
        let framework = allocator.framework_of_token(self.framework)?;
        Ok((framework, allocator.agent_of_token(self.agent)?))
    }

    fn role(&self) -> Option<&str> {
        self.role
    }

    fn resources(&self) -> &Resources {
        self.resources
    }
}

/// A recovery checked against the state: whose allocation it comes out of.
struct Resolved {
    framework: FrameworkSlot,
    agent: AgentSlot,
    role: RoleId,
    /// The recovery is all the allocation holds (then, when applied).
    whole: bool,
}

/// How many items ahead a batch asks for the records it will read: enough
/// to cover a miss while the items between are worked on.
const PREFETCH_AHEAD: usize = 16;

type HoldingKey = (AgentSlot, FrameworkSlot, RoleId);

/// What a batch's earlier items take out of an allocation: one item (the
/// common case, a round's declines, costs no copy) or what several leave.
enum Earlier {
    Item(usize),
    Left(Resources),
}

/// The items of one agent checked so far in a batch, so that each item is
/// checked against the state the items before it make (items of other
/// agents cannot change what it finds).
struct Taken<'i, T> {
    items: &'i [T],
    /// Few: the agent's allocations that earlier items came out of.
    by_key: Vec<(HoldingKey, Earlier)>,
}

impl<'i, T> Taken<'i, T> {
    fn new(items: &'i [T]) -> Self {
        Taken {
            items,
            by_key: Vec::new(),
        }
    }

    fn get(&self, key: HoldingKey) -> Option<&Earlier> {
        self.by_key
            .iter()
            .find(|(taken, _)| *taken == key)
            .map(|(_, earlier)| earlier)
    }

    fn set(&mut self, key: HoldingKey, earlier: Earlier) {
        match self.by_key.iter_mut().find(|(taken, _)| *taken == key) {
            Some((_, slot)) => *slot = earlier,
            None => self.by_key.push((key, earlier)),
        }
    }
}

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
        self.framework_slot(framework_id)?;
        self.agent_slot(agent_id)?;
        let expires = filter_expiry(refuse_seconds, now)?;
        let item = Recovery {
            framework_id,
            agent_id,
            role,
            resources,
        };
        let (framework, agent) = item.holder(self)?;
        let resolved = self.check_recovery(framework, agent, &item, &Taken::new(&[item]))?;
        if let Some(resolved) = resolved {
            let (quantities, unreserved) = self.names.split_quantities(resources);
            self.untally(resolved.framework, resolved.role, &quantities, &unreserved);
            let whole = self.take_from_agent(
                resolved.agent,
                resolved.framework,
                resolved.role,
                resources,
                resolved.whole,
            );
            self.return_to_agent(&resolved, resources, whole, expires);
            self.count_available(resolved.agent, resources, 1);
        }
        Ok(())
    }

    /// `recover` on each item in order, with one `refuse_seconds` and `now`
    /// for all, as one call: every item is checked (against what the items
    /// before it leave) before any is applied, so an error changes nothing.
    /// The error is the first item's that fails, prefixed with its index.
    ///
    /// The items of an agent named more than once are checked and applied
    /// together, in their own order; the records each item reads are asked
    /// for some items ahead. The result is the same as in the batch's order,
    /// as items of different agents touch different records and the
    /// tallies only sum.
    pub fn recover_many(
        &mut self,
        items: &[Recovery<'_>],
        refuse_seconds: f64,
        now: Option<f64>,
    ) -> Result<()> {
        self.recover_batch(items, refuse_seconds, now)
    }

    /// `recover_many` with the frameworks and agents named by their tokens:
    /// no id is hashed or compared. A token whose registration ended fails
    /// its item as an unknown framework or agent.
    pub fn recover_many_by_token(
        &mut self,
        items: &[TokenRecovery<'_>],
        refuse_seconds: f64,
        now: Option<f64>,
    ) -> Result<()> {
        self.recover_batch(items, refuse_seconds, now)
    }

    fn recover_batch<T: BatchItem>(
        &mut self,
        items: &[T],
        refuse_seconds: f64,
        now: Option<f64>,
    ) -> Result<()> {
        let expires = filter_expiry(refuse_seconds, now)?;
        // The first item naming an unknown framework or agent ends the walk:
        // only the items before it can fail first.
        let mut failure: Option<(usize, Error)> = None;
        let mut order: Vec<(AgentSlot, u32, FrameworkSlot)> = Vec::with_capacity(items.len());
        let mut seen_agents = BitSet::default();
        let mut agent_repeats = false;
        for (index, item) in items.iter().enumerate() {
            match item.holder(self) {
                Ok((framework, agent)) => {
                    agent_repeats |= seen_agents.contains(agent);
                    seen_agents.insert(agent);
                    order.push((agent, index as u32, framework));
                }
                Err(error) => {
                    failure = Some((index, error));
                    break;
                }
            }
        }
        // Each item is checked against what the earlier items of its agent
        // leave: when an agent has several, they are brought together (in
        // their own order). A round's declines name each agent once and are
        // walked as given.
        if agent_repeats {
            order.sort_unstable();
        }
        let mut checked_items: Vec<(Resolved, &Resources)> = Vec::with_capacity(order.len());
        // The tallies and sorters move once per (framework, role), by the sum
        // of its items: the end state is the same, as sums and orders by key
        // do not depend on the order of the changes.
        let mut sums: Vec<(FrameworkSlot, RoleId, Quantities, Quantities)> = Vec::new();
        let mut sum_index: FxHashMap<(FrameworkSlot, RoleId), usize> = FxHashMap::default();
        let mut returned_to_inactive: Vec<&Resources> = Vec::new();
        let mut taken = Taken::new(items);
        let mut taken_agent: Option<AgentSlot> = None;
        // Checking reads each item's bundle and its allocation; what else
        // needs the bundle's contents (the sums) is done then, while they are
        // in cache, so that applying moves bundles without reading them again.
        for (position, &(agent, index, framework)) in order.iter().enumerate() {
            if let Some(&(ahead, ahead_index, _)) = order.get(position + PREFETCH_AHEAD) {
                self.prefetch_agent(ahead);
                items[ahead_index as usize].resources().prefetch_header();
            }
            if let Some(&(near, near_index, _)) = order.get(position + PREFETCH_AHEAD / 2) {
                self.agent(near).prefetch_parts();
                items[near_index as usize].resources().prefetch_entries();
            }
            let (item, index) = (&items[index as usize], index as usize);
            if taken_agent != Some(agent) {
                taken.by_key.clear();
                taken_agent = Some(agent);
            }
            let checked = self.check_recovery(framework, agent, item, &taken);
            // A failing item is passed over and the walk goes on: the batch
            // fails with the earliest in its own order, which the walk in
            // agent order may meet later. The items after a failing one on
            // its agent come later in the batch too, so whatever they find
            // cannot be the earliest failure.
            let checked = match checked {
                Ok(checked) => checked,
                Err(error) => {
                    if failure.as_ref().is_none_or(|(first, _)| index < *first) {
                        failure = Some((index, error));
                    }
                    continue;
                }
            };
            let Some(checked) = checked else { continue };
            let key = (checked.agent, checked.framework, checked.role);
            let earlier = match taken.get(key) {
                None => Earlier::Item(index),
                Some(_) => Earlier::Left(
                    self.held(&taken, key)
                        .expect("resolve found it held")
                        .checked_sub(item.resources())
                        .expect("resolve checked containment"),
                ),
            };
            taken.set(key, earlier);
            if failure.is_some() {
                continue;
            }
            let slot = *sum_index
                .entry((checked.framework, checked.role))
                .or_insert_with(|| {
                    sums.push((
                        checked.framework,
                        checked.role,
                        Quantities::default(),
                        Quantities::default(),
                    ));
                    sums.len() - 1
                });
            let (_, _, all, unreserved) = &mut sums[slot];
            self.names
                .add_split_quantities(item.resources(), all, unreserved);
            if !self.agent(checked.agent).active {
                returned_to_inactive.push(item.resources());
            }
            checked_items.push((checked, item.resources()));
        }
        if let Some((index, error)) = failure {
            return Err(Error::new(
                error.kind,
                format!("recovery {index}: {}", error.message),
            ));
        }
        for position in 0..checked_items.len() {
            if let Some((ahead, _)) = checked_items.get(position + PREFETCH_AHEAD) {
                self.prefetch_agent(ahead.agent);
            }
            if let Some((near, _)) = checked_items.get(position + PREFETCH_AHEAD / 2) {
                self.agent(near.agent).prefetch_parts();
            }
            let (checked, resources) = (&checked_items[position].0, checked_items[position].1);
            let whole = self.take_from_agent(
                checked.agent,
                checked.framework,
                checked.role,
                resources,
                checked.whole,
            );
            self.return_to_agent(checked, resources, whole, expires);
        }
        // What came back is available, and counts for the headroom where
        // its agent is active.
        for (framework, role, quantities, unreserved) in sums {
            self.untally(framework, role, &quantities, &unreserved);
            self.count_unreserved_available(&unreserved, 1);
        }
        for resources in returned_to_inactive {
            let unreserved = self.names.unreserved_quantities(resources);
            self.count_unreserved_available(&unreserved, -1);
        }
        Ok(())
    }

    /// What (framework, role) holds on the agent once a batch's earlier items
    /// are taken out.
    fn held<'s, T: BatchItem>(
        &'s self,
        taken: &'s Taken<'_, T>,
        key: HoldingKey,
    ) -> Option<Cow<'s, Resources>> {
        let (agent, framework, role) = key;
        let held = self.agent(agent).allocation(framework, role)?;
        match taken.get(key) {
            None => Some(Cow::Borrowed(held)),
            Some(Earlier::Item(index)) => Some(Cow::Owned(
                held.checked_sub(taken.items[*index].resources())
                    .expect("checked when taken"),
            )),
            Some(Earlier::Left(left)) => Some(Cow::Borrowed(left)),
        }
    }

    /// Checks one recovery from (framework, role) on the agent: None when
    /// it returns nothing (empty resources).
    fn check_recovery<T: BatchItem>(
        &self,
        framework: FrameworkSlot,
        agent: AgentSlot,
        item: &T,
        taken: &Taken<'_, T>,
    ) -> Result<Option<Resolved>> {
        let (role, resources) = (item.role(), item.resources());
        let framework_id = &self.framework(framework).id;
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
            return Ok(None);
        }
        // Whether the allocation holds the resources, and whether they are
        // all of it: a whole offer declined (the common case) then needs no
        // other comparison when applied.
        let holds = |role: RoleId| {
            let held = self.held(taken, (agent, framework, role))?;
            if *held == *resources {
                Some((role, true))
            } else {
                held.contains(resources).then_some((role, false))
            }
        };
        let held_by = match chosen_role {
            Some(role) => holds(role),
            None => {
                let mut roles: Vec<RoleId> = self
                    .framework(framework)
                    .roles
                    .iter()
                    .map(|m| m.role)
                    .collect();
                roles.sort_by(|a, b| self.role(*a).path.cmp(&self.role(*b).path));
                roles.into_iter().find_map(holds)
            }
        };
        let Some((role, whole)) = held_by else {
            let held: Vec<String> = self
                .agent(agent)
                .allocated
                .iter()
                .filter(|(f, _, _)| *f == framework)
                .filter_map(|(_, r, _)| Some((*r, self.held(taken, (agent, framework, *r))?)))
                .filter(|(_, res)| !res.is_empty())
                .map(|(r, res)| format!("{}: {res}", self.role(r).path))
                .collect();
            return Err(Error::invalid(format!(
                "cannot recover {resources}: framework '{framework_id}' holds {} on agent \
                 '{}'",
                if held.is_empty() {
                    "nothing".to_string()
                } else {
                    held.join(", ")
                },
                self.agent(agent).id
            )));
        };
        Ok(Some(Resolved {
            framework,
            agent,
            role,
            whole,
        }))
    }

    /// Returns checked resources, already out of the allocation's books, to
    /// the agent's available part and sets the filter expiring then, if any.
    /// `whole`: the allocation's own bundle
    /// when all of it came back, moved rather than copied into an empty
    /// available part (a decline, usually).
    fn return_to_agent(
        &mut self,
        item: &Resolved,
        resources: &Resources,
        whole: Option<Resources>,
        filter: Option<f64>,
    ) {
        let Resolved {
            framework,
            agent,
            role,
            ..
        } = *item;
        let available = &mut self.agent_mut(agent).available;
        match whole {
            Some(whole) if available.is_empty() => *available = whole,
            _ => available
                .add_assign(resources)
                .expect("recovered resources were part of the agent's total"),
        }
        // Something is available there now (recoveries are never empty).
        let returned_to = self.agent(agent);
        if returned_to.active {
            self.offerable_agents.insert(returned_to.sequence);
        }
        if let Some(expires) = filter {
            self.agent_mut(agent)
                .filters
                .add(framework, role, resources, expires);
            self.framework_mut(framework).filtered_agents.insert(agent);
            self.next_filter_expiry = self.next_filter_expiry.min(expires);
        }
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
        self.count_available(agent, consumed, -1);
        self.count_available(agent, converted, 1);
        self.agent_mut(agent).available = available;
        self.sync_offerable_agent(agent);
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

/// When a recovery's filter expires: None without one (`refuse_seconds` 0).
fn filter_expiry(refuse_seconds: f64, now: Option<f64>) -> Result<Option<f64>> {
    let refuse = check_time(refuse_seconds, "refuse_seconds")?;
    if refuse < 0.0 {
        return Err(Error::invalid(format!(
            "refuse_seconds must not be negative, got {refuse}"
        )));
    }
    let refuse = refuse.min(MAX_REFUSE_SECONDS);
    match (refuse > 0.0, now) {
        (false, _) => Ok(None),
        (true, None) => Err(Error::invalid("now is required to set a filter")),
        (true, Some(now)) => Ok(Some(check_time(now, "now")? + refuse)),
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
