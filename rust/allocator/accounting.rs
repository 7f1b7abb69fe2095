//! The books of an allocation: what (framework, role) holds on an agent, and
//! the tallies that follow it (the framework's membership, the role
//! subtree's allocation and quota consumption, the cluster's allocated
//! total, both sorters). Every change to what is allocated goes through the
//! two functions here, so the tallies always agree with the agents.

use crate::filters::{FrameworkSlot, RoleId};
use crate::quantities::Quantities;
use crate::resources::Resources;

use super::{AgentSlot, Allocator};

impl Allocator {
    /// Records `resources` as allocated on `agent` to (framework, role): the
    /// agent's books, the framework's and roles' tallies, and the sorters.
    /// Returns the unreserved scalars it added to quota consumption.
    pub(super) fn track_allocated(
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
    pub(super) fn track_unallocated(
        &mut self,
        agent: AgentSlot,
        framework: FrameworkSlot,
        role: RoleId,
        resources: &Resources,
    ) {
        let whole = self.agent(agent).allocation(framework, role) == Some(resources);
        self.take_from_agent(agent, framework, role, resources, whole);
        let (quantities, unreserved) = self.names.split_quantities(resources);
        self.untally(framework, role, &quantities, &unreserved);
    }

    /// The agent's side of `track_unallocated`: its books only. `whole`:
    /// `resources` is all the allocation holds, whose own bundle is then
    /// returned.
    pub(super) fn take_from_agent(
        &mut self,
        agent: AgentSlot,
        framework: FrameworkSlot,
        role: RoleId,
        resources: &Resources,
        whole: bool,
    ) -> Option<Resources> {
        let agent = self.agent_mut(agent);
        let index = agent
            .allocated
            .iter()
            .position(|(f, r, _)| *f == framework && *r == role)
            .expect("allocation exists");
        if whole {
            return Some(agent.allocated.remove(index).2);
        }
        let held = &mut agent.allocated[index].2;
        held.sub_assign(resources)
            .expect("callers recover only what is allocated");
        if held.is_empty() {
            agent.allocated.remove(index);
        }
        None
    }

    /// The tallies' side of `track_unallocated`: (framework, role) no longer
    /// holds these scalars (all of them, and the unreserved ones). Sums, so a
    /// batch may take out several allocations' worth at once.
    pub(super) fn untally(
        &mut self,
        framework: FrameworkSlot,
        role: RoleId,
        quantities: &Quantities,
        unreserved: &Quantities,
    ) {
        let index = self.framework(framework).membership(role).expect("member");
        self.framework_mut(framework).roles[index]
            .allocation
            .sub(quantities);
        self.update_lineage(role, |node| {
            node.allocation.sub(quantities);
            node.consumed.sub(unreserved);
        });
        self.allocated_total.sub(quantities);
        self.role_sorter.unallocated(role, quantities);
        self.role_mut(role)
            .framework_sorter
            .as_mut()
            .expect("role with frameworks has a sorter")
            .unallocated(framework, quantities);
    }
}
