//! The records the allocator keeps per agent, framework, role and cycle.
//! They are plain data; the invariants between them are kept by the `impl
//! Allocator` blocks of the sibling modules.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::filters::{AgentFilters, BitSet, FrameworkSlot, RoleId};
use crate::quantities::{NameId, Quantities};
use crate::resources::{Name, Resources};
use crate::sorter::Sorter;

use super::{AgentSlot, Offer, GPU_CAPABILITY};

/// The fields a recovery and a cycle's visit read come first, laid out in
/// the first cache line of an aligned record: with tens of thousands of
/// agents, each one touched is a cache miss, and one beats three.
#[derive(Debug)]
#[repr(C, align(64))]
pub(super) struct Agent {
    /// Offered or allocated resources per (framework, role); few per agent.
    pub(super) allocated: Vec<(FrameworkSlot, RoleId, Resources)>,
    pub(super) filters: AgentFilters,
    pub(super) available: Resources,
    /// Registration order among the agents (renumbered when most are gone).
    pub(super) sequence: u32,
    pub(super) active: bool,
    pub(super) has_gpus: bool,
    pub(super) id: Name,
    pub(super) total: Resources,
    pub(super) attributes: BTreeMap<String, String>,
    pub(super) registered_at: f64,
    pub(super) unavailability: Option<(f64, Option<f64>)>,
}

impl Agent {
    pub(super) fn unavailable_at(&self, now: f64) -> bool {
        match self.unavailability {
            None => false,
            Some((start, duration)) => start <= now && duration.is_none_or(|d| now < start + d),
        }
    }

    /// Starts loading what a recovery reads beyond the record: the
    /// allocations and the first filter groups (`prefetch`).
    pub(super) fn prefetch_parts(&self) {
        crate::prefetch::prefetch(self.allocated.as_ptr());
        self.filters.prefetch();
    }

    pub(super) fn allocation(&self, framework: FrameworkSlot, role: RoleId) -> Option<&Resources> {
        self.allocated
            .iter()
            .find(|(f, r, _)| *f == framework && *r == role)
            .map(|(_, _, resources)| resources)
    }
}

#[derive(Debug)]
pub(super) struct Membership {
    pub(super) role: RoleId,
    pub(super) suppressed: bool,
    /// Whether the framework is in the role's sorter order right now.
    pub(super) offerable: bool,
    pub(super) allocation: Quantities,
}

#[derive(Debug)]
pub(super) struct Framework {
    pub(super) id: Name,
    /// Its registration's serial (see `Token`).
    pub(super) serial: u32,
    pub(super) roles: Vec<Membership>,
    pub(super) capabilities: BTreeSet<String>,
    pub(super) registered_at: f64,
    pub(super) active: bool,
    /// Slots of the agents where this framework has filters: a bit per
    /// slot, so a round's declines set bits rather than probe a table.
    pub(super) filtered_agents: BitSet,
}

impl Framework {
    pub(super) fn membership(&self, role: RoleId) -> Option<usize> {
        self.roles.iter().position(|m| m.role == role)
    }

    pub(super) fn has_gpu_capability(&self) -> bool {
        self.capabilities.contains(GPU_CAPABILITY)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Quota {
    pub(super) guarantee: Vec<(NameId, i64)>,
    pub(super) limit: Option<Vec<(NameId, i64)>>,
}

pub(super) struct Role {
    pub(super) path: Name,
    pub(super) parent: Option<RoleId>,
    pub(super) weight: Option<f64>,
    pub(super) quota: Option<Quota>,
    /// Frameworks subscribed to this exact role, and those offerable in it.
    pub(super) frameworks: usize,
    pub(super) offerable: BitSet,
    /// Agents whose total holds reservations for this exact role.
    pub(super) reserving_agents: usize,
    /// Scalars allocated to the subtree (reserved or not).
    pub(super) allocation: Quantities,
    /// Quota consumption of the subtree: reservations plus unreserved
    /// allocations.
    pub(super) consumed: Quantities,
    pub(super) framework_sorter: Option<Box<dyn Sorter + Send + Sync>>,
}

/// Bookkeeping of one `allocate` call.
pub(super) struct Cycle {
    /// Grants so far (several may merge into one offer).
    pub(super) grants: usize,
    pub(super) offers: Vec<Offer>,
    pub(super) offer_index: FxHashMap<(FrameworkSlot, AgentSlot), (RoleId, usize)>,
    /// Tracked only when some role has a guarantee to hold headroom for.
    pub(super) headroom: Option<Headroom>,
}

/// Unreserved scalars still free on the candidate agents, and those the
/// outermost guaranteed roles still need; both change only with a grant.
pub(super) struct Headroom {
    pub(super) available: Quantities,
    pub(super) required: Quantities,
}

/// What a role would be offered on an agent, shaped once and reused until
/// something is allocated there.
pub(super) struct Shaped {
    /// The bundle; None when it is everything the agent has available, which
    /// the grant then takes without copying (the common case: no quota, no
    /// reservations for other roles).
    pub(super) bundle: Option<Resources>,
    pub(super) applicable_filters: Vec<usize>,
}
