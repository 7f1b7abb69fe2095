//! The random policy: an order drawn once per cycle from the seeded
//! generator, weighted among roles, uniform among frameworks.

use crate::quantities::Quantities;
use crate::rng::SplitMix64;

use super::tree::{ClientTree, NodeId, ROOT};
use super::{ClientId, Sorter};

/// Random order, drawn once per cycle: at each level a weighted random order
/// of the entries sorted by name in a hierarchical sorter, a uniform shuffle
/// of the clients sorted by path in a flat one (frameworks have no weights).
#[derive(Debug)]
pub struct RandomSorter {
    tree: ClientTree,
}

impl RandomSorter {
    pub fn new(hierarchical: bool) -> Self {
        RandomSorter {
            tree: ClientTree::new(hierarchical, false),
        }
    }

    fn draw(&mut self, node: NodeId, rng: &mut SplitMix64) {
        let mut entries = std::mem::take(&mut self.tree.node_mut(node).entries);
        entries.sort_by(|&a, &b| self.tree.compare_names(a, b));
        if self.tree.hierarchical {
            let weights: Vec<f64> = entries
                .iter()
                .map(|e| self.tree.node(e.node).weight)
                .collect();
            entries = rng.weighted_order(&entries, &weights);
        } else {
            rng.shuffle(&mut entries);
        }
        let children: Vec<NodeId> = entries.iter().filter(|e| !e.own).map(|e| e.node).collect();
        self.tree.node_mut(node).entries = entries;
        for child in children {
            // A child listing only its own entry is a leaf: nothing to draw.
            let child_entries = &self.tree.node(child).entries;
            if !(child_entries.len() == 1 && child_entries[0].own) {
                self.draw(child, rng);
            }
        }
    }
}

impl Sorter for RandomSorter {
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

    fn set_totals(&mut self, _totals: &Quantities, _excluded: &[bool]) {}

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

    fn prepare_cycle(&mut self, rng: &mut SplitMix64) {
        self.draw(ROOT, rng);
    }

    fn order(&mut self) -> Vec<ClientId> {
        let mut out = Vec::new();
        self.tree.walk(ROOT, &mut out);
        out
    }

    fn nth(&mut self, index: usize) -> Option<ClientId> {
        self.tree.nth(index)
    }
}
