//! The order in which the allocator visits roles, and frameworks within a
//! role: Mesos's `Sorter` interface with a DRF and a random policy behind it.
//!
//! A sorter holds clients at paths. A hierarchical sorter (roles) splits paths
//! on '/' into a tree; a flat one (the frameworks of one role) does not. Among
//! the children of a node, a node that is itself a client and also has child
//! clients takes part through a virtual entry named "." holding only its own
//! allocation; the node's entry in its parent holds its whole subtree. The
//! order is a depth-first walk of the active entries.
//!
//! Here: the `Sorter` interface, with the contract of each method, and
//! `new_sorter`; the policies are in `drf` and `random`, over the client
//! tree of `tree`.

mod drf;
mod random;
#[cfg(test)]
mod tests;
mod tree;

use crate::quantities::Quantities;
use crate::rng::SplitMix64;

pub use drf::DrfSorter;
pub use random::RandomSorter;

/// The allocator's handle for a client (a role or a framework slot).
pub type ClientId = u32;

/// What a sorter must do. Methods that name a client require it to be
/// registered (they panic otherwise: the allocator validates ids first).
pub trait Sorter {
    /// Registers an inactive client with no allocation at `path`.
    /// Contract: neither the client nor a client at `path` is registered.
    fn add(&mut self, client: ClientId, path: &str);
    /// Forgets a client of a flat sorter and its counters.
    /// Contract: registered, no child clients.
    fn remove(&mut self, client: ClientId);
    /// Makes the client part of the order (idempotent).
    fn activate(&mut self, client: ClientId);
    /// Takes the client out of the order, keeping its allocation (idempotent).
    fn deactivate(&mut self, client: ClientId);
    /// Weight of the node at `path` (default 1), which need not exist yet.
    fn set_weight(&mut self, path: &str, weight: f64);
    /// The cluster totals shares are computed against, and the names that do
    /// not count for fairness. Marks the order dirty.
    fn set_totals(&mut self, totals: &Quantities, excluded: &[bool]);
    /// Adds to a client's allocation; `counted` adds one allocation to the
    /// counters of the client and its ancestors (the DRF tie-breaker).
    fn allocated(&mut self, client: ClientId, delta: &Quantities, counted: bool);
    /// Removes from a client's allocation. Contract: `delta` was allocated.
    fn unallocated(&mut self, client: ClientId, delta: &Quantities);
    /// Called once at the start of each allocation cycle, in a fixed order
    /// across sorters: DRF re-sorts if dirty, random draws the cycle's order.
    fn prepare_cycle(&mut self, rng: &mut SplitMix64);
    /// The active clients in order (depth first).
    fn order(&mut self) -> Vec<ClientId>;
    /// The `index`-th active client of a flat sorter in the current order,
    /// without materialising the order. An allocation moves only its client,
    /// and only later in the order.
    fn nth(&mut self, index: usize) -> Option<ClientId>;
}

/// A sorter of the given policy ("drf" or "random").
pub fn new_sorter(policy: &str, hierarchical: bool) -> Option<Box<dyn Sorter + Send + Sync>> {
    match policy {
        "drf" => Some(Box::new(DrfSorter::new(hierarchical))),
        "random" => Some(Box::new(RandomSorter::new(hierarchical))),
        _ => None,
    }
}
