//! The allocation cycle: candidate agents in seeded shuffled order, stage 1
//! for quota guarantees then stage 2 for the rest, each walking the role and
//! framework orders of the sorters; plus what a cycle does first (expire
//! filters, tell the sorters new totals).
//!
//! Contract of `allocate(now)`: returns the offers of one cycle, at most one
//! per (framework, agent), and records them as allocated; `InvalidArgument`
//! if `now` is not finite. The same history of calls and seed always yields
//! the same offers as the reference.

use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::filters::{FrameworkSlot, RoleId};
use crate::resources::is_ancestor_or_self;

use super::types::{Cycle, Headroom, Shaped};
use super::{check_time, AgentSlot, Allocator, Offer};

impl Allocator {
    /// Runs one allocation cycle and returns every offer it makes; see the
    /// reference's module documentation for the order of things.
    pub fn allocate(&mut self, now: f64) -> Result<Vec<Offer>> {
        let now = check_time(now, "now")?;
        self.expire_filters(now);
        // Only agents with something available are candidates: the others
        // would be offered nothing, so a cycle's work follows the agents
        // whose resources came back, not the cluster's size.
        let mut candidates: Vec<AgentSlot> = self
            .offerable_agents
            .iter()
            .map(|sequence| self.agent_order[sequence as usize].expect("offerable agents are live"))
            .filter(|&slot| !self.agent(slot).unavailable_at(now))
            .collect();
        self.last_cycle_candidates = candidates.len();
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
            // The candidates' unreserved scalars: the active agents' kept
            // total, less the agents under maintenance now.
            let mut available = self.active_unreserved_available.clone();
            let (names, agents) = (&mut self.names, &self.agents);
            for &slot in &self.maintained_agents {
                let agent = agents[slot as usize].as_ref().expect("live agent slot");
                if agent.active && agent.unavailable_at(now) {
                    available.sub(&names.unreserved_quantities(&agent.available));
                }
            }
            Headroom {
                available,
                required: self.required_headroom(),
            }
        });
        let mut cycle = Cycle {
            grants: 0,
            offers: Vec::new(),
            offer_index: FxHashMap::default(),
            headroom,
        };
        // Stage 1 lasts while a role in the order still misses part of its
        // guarantee: a grant only adds to consumption, so once none does, no
        // visit of this stage can grant anything (a cycle after the
        // guarantees are met, or once the first agents met them, visits no
        // agent more for them).
        let mut visits = 0;
        let mut guarantees_open = any_guarantee && self.guarantee_unmet();
        for &agent in &candidates {
            if !guarantees_open {
                break;
            }
            if !self.agent(agent).available.is_empty() {
                visits += 1;
                let grants = cycle.grants;
                self.visit(&mut cycle, agent, true);
                if cycle.grants != grants {
                    guarantees_open = self.guarantee_unmet();
                }
            }
        }
        // An agent emptied in stage 1 is passed over in stage 2 without a
        // look at the role order.
        for &agent in &candidates {
            if !self.agent(agent).available.is_empty() {
                visits += 1;
                self.visit(&mut cycle, agent, false);
            }
        }
        self.last_cycle_visits = visits;
        Ok(cycle.offers)
    }

    /// Whether a role in the order has a guarantee not yet consumed in full:
    /// what stage 1 serves.
    fn guarantee_unmet(&mut self) -> bool {
        let order = self.role_sorter.order();
        order.into_iter().any(|role| {
            self.unsatisfied_guarantee(role)
                .is_some_and(|unsatisfied| !unsatisfied.is_zero())
        })
    }

    /// Agents the last `allocate` looked at, once per stage: those with
    /// something available when their turn came (stage 1 only while a
    /// guarantee is unmet).
    pub fn last_cycle_visits(&self) -> usize {
        self.last_cycle_visits
    }

    /// Agents the last `allocate` took into its shuffle: the active ones
    /// with something available, outside maintenance windows.
    pub fn last_cycle_candidates(&self) -> usize {
        self.last_cycle_candidates
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
        cycle.grants += 1;
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
        self.sync_offerable_agent(agent);
        let unreserved = self.track_allocated(agent, framework, role, &bundle, true);
        self.count_unreserved_available(&unreserved, -1);
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

    pub(super) fn expire_filters(&mut self, now: f64) {
        if now < self.next_filter_expiry {
            return;
        }
        let mut next = f64::INFINITY;
        for slot in self.agents_in_order() {
            let agent = self.agent_mut(slot);
            if agent.filters.is_empty() {
                continue;
            }
            let released = agent.filters.expire(now);
            if let Some(earliest) = agent.filters.earliest_expiry() {
                next = next.min(earliest);
            }
            for framework in released {
                self.framework_mut(framework).filtered_agents.remove(slot);
            }
        }
        self.next_filter_expiry = next;
    }

    pub(super) fn excluded(&self) -> Vec<bool> {
        (0..self.names.len())
            .map(|id| self.fairness_exclude.contains(&**self.names.name(id)))
            .collect()
    }

    pub(super) fn push_totals(&mut self) {
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
}
