//! The DRF policy: the client tree kept sorted by weighted dominant share.

use crate::quantities::Quantities;
use crate::rng::SplitMix64;

use super::tree::{ClientTree, ROOT};
use super::{ClientId, Sorter};

/// Dominant Resource Fairness: entries ordered by weighted dominant share,
/// then allocation count, then name; kept sorted incrementally, fully
/// re-sorted only after the totals or weights changed.
#[derive(Debug)]
pub struct DrfSorter {
    tree: ClientTree,
}

impl DrfSorter {
    pub fn new(hierarchical: bool) -> Self {
        DrfSorter {
            tree: ClientTree::new(hierarchical, true),
        }
    }
}

impl Sorter for DrfSorter {
    fn add(&mut self, client: ClientId, path: &str) {
        self.tree.add(client, path);
    }

    fn remove(&mut self, client: ClientId) {
        self.tree.remove(client);
    }

    fn activate(&mut self, client: ClientId) {
        self.tree.set_active(client, true);
    }

    fn deactivate(&mut self, client: ClientId) {
        self.tree.set_active(client, false);
    }

    fn set_weight(&mut self, path: &str, weight: f64) {
        self.tree.set_weight(path, weight);
    }

    fn set_totals(&mut self, totals: &Quantities, excluded: &[bool]) {
        self.tree.totals = totals.clone();
        self.tree.excluded = excluded.to_vec();
        self.tree.dirty = true;
    }

    fn allocated(&mut self, client: ClientId, delta: &Quantities, counted: bool) {
        self.tree.update(client, |tally| {
            tally.allocation.add(delta);
            if counted {
                tally.count += 1;
            }
        });
    }

    fn unallocated(&mut self, client: ClientId, delta: &Quantities) {
        self.tree
            .update(client, |tally| tally.allocation.sub(delta));
    }

    fn prepare_cycle(&mut self, _rng: &mut SplitMix64) {
        self.tree.resort();
    }

    fn order(&mut self) -> Vec<ClientId> {
        self.tree.resort();
        let mut out = Vec::new();
        self.tree.walk(ROOT, &mut out);
        out
    }

    fn nth(&mut self, index: usize) -> Option<ClientId> {
        self.tree.resort();
        self.tree.nth(index)
    }
}
