"""The reference allocator: the executable specification of the Rust core.

Plain, readable Python with no attention to speed. `pyactors.core.allocator.Allocator`
(Rust) must return exactly the offers `ReferenceAllocator` returns for the
same calls; the differential tests drive both and compare after every step.

The model is Mesos's hierarchical allocator. One `allocate(now)` call is a
cycle over every agent that may be offered:

1. The candidate agents (registered, active, with something available, not
   inside an unavailability window at `now`) are taken in registration order
   and shuffled with the seeded SplitMix64 generator (Fisher-Yates); an agent
   with nothing available would be offered nothing, so it takes no part (and
   no draw of the generator). With the random sorter, the
   role order and each role's framework order are then drawn once for the
   cycle (see `_RandomOrder`).
2. Stage 1 serves quota guarantees; stage 2 offers everything else. Both walk
   the agents in the shuffled order; for each agent they take the role order
   at that moment, and for each role its framework order at that moment, and
   walk them as taken even if an allocation on this agent changes shares.
3. A framework visited for (agent, role) is offered
   `available.allocatable_to(role)` (unreserved resources and those reserved
   to the role or an ancestor), shaped by quota limits and the headroom kept
   for unsatisfied guarantees, unless: it is not offerable in that role
   (inactive, suppressed); the agent has GPUs and the framework lacks
   GPU_RESOURCES; it was already offered this agent in another role this
   cycle; the bundle is below the minimum allocatable resources; or one of its
   unexpired filters for (agent, role) holds a superset of the bundle.
4. Offered resources are allocated until recovered. Offers for the same
   (framework, agent, role) in both stages are merged into one bundle, listed
   where the first was made.

DRF order: among siblings of the role tree, and among a role's frameworks,
clients are ordered by weighted dominant share (largest fraction of a scalar
resource's cluster total, over names not excluded from fairness, divided by
the role's weight; frameworks have weight 1), then by how many allocations
they have received so far, then by name. A role that has frameworks of its
own and child roles takes part among its children as a virtual client named
"." holding only its own frameworks' allocation.

Quota: a role's consumption is what is reserved for it or its descendants on
any agent, plus the unreserved scalars allocated to them. Limits bound the
consumption of the role and of every ancestor; guarantees are served in stage
1, and the unreserved scalars still needed by the outermost roles with a
guarantee are held back from other roles in both stages (headroom).

Operations: RESERVE, UNRESERVE, CREATE and DESTROY (Mesos's offer operations,
and the operator's reserve/unreserve on unallocated resources) convert
resources in place: `consumed` becomes `converted`, which must hold the same
resources once reservations (role, principal) and volume ids are set aside
(the same scalar quantities, the same ranges, the same set items).
`update_allocation` converts part of what a framework holds on an agent in
one role; there a reservation may be made only for that role (reservations
already held, e.g. a parent role's, may be kept, say to create a volume on
them). `update_available` converts part of what an agent has available (not
offered nor allocated), for any role. A volume id may not be created twice on
an agent. The agent's total changes with the resources, so `available + Σ
allocated == total` still holds, the reservations count for quota at once,
and what is reserved is offered only to its role and that role's
descendants. Cluster totals and shares do not change: the quantities do not.

The package, by concern: `reference` holds the public calls, `state` the
records and the running sums they keep true, `cycle` one `allocate()` (the
orders and the shaping of offers), `snapshot` the state as data, `checks`
the argument checks, `records` and `quantities` the plain data.
"""

from pyactors._reference.allocator.reference import ReferenceAllocator

__all__ = ["ReferenceAllocator"]
