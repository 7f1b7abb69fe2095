//! The order in which the allocator visits roles, and frameworks within a
//! role: Mesos's `Sorter` interface with a DRF and a random policy behind it.
//!
//! A sorter holds clients at paths. A hierarchical sorter (roles) splits paths
//! on '/' into a tree; a flat one (the frameworks of one role) does not. Among
//! the children of a node, a node that is itself a client and also has child
//! clients takes part through a virtual entry named "." holding only its own
//! allocation; the node's entry in its parent holds its whole subtree. The
//! order is a depth-first walk of the active entries.

use rustc_hash::FxHashMap;
use std::cmp::Ordering;

use crate::quantities::{dominant_share, Quantities};
use crate::resources::Name;
use crate::rng::SplitMix64;

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

/// Nodes are addressed by u32 so that entries stay 8 bytes: moving an entry
/// in a 2,000-client order is then a short memmove.
type NodeId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    node: NodeId,
    /// The node's own clients (".") rather than its whole subtree.
    own: bool,
}

#[derive(Debug, Default, Clone)]
struct Tally {
    allocation: Quantities,
    count: u64,
    /// Weighted dominant share, valid while the tree is not dirty.
    share: f64,
}

#[derive(Debug)]
struct Node {
    path: String,
    component: Name,
    /// The first 8 bytes of `component`, big-endian: orders like the name
    /// itself whenever they differ, which settles most DRF ties without a
    /// byte-wise comparison.
    component_prefix: u64,
    parent: Option<NodeId>,
    children: Vec<NodeId>,
    /// Active entries among the children (and ".") in order.
    entries: Vec<Entry>,
    weight: f64,
    subtree: Tally,
    own: Tally,
    client: Option<ClientId>,
    active: bool,
}

/// Structure shared by both policies: nodes, tallies, active entries.
#[derive(Debug)]
struct ClientTree {
    hierarchical: bool,
    /// Entries are kept sorted by key (DRF); otherwise their order is drawn.
    keyed: bool,
    nodes: Vec<Option<Node>>,
    free: Vec<NodeId>,
    by_path: FxHashMap<String, NodeId>,
    by_client: FxHashMap<ClientId, NodeId>,
    weights: FxHashMap<String, f64>,
    totals: Quantities,
    excluded: Vec<bool>,
    dirty: bool,
}

const ROOT: NodeId = 0;
const OWN_PREFIX: u64 = (b'.' as u64) << 56;

/// The first 8 bytes of a name, zero-padded, as a big-endian number: for two
/// names whose prefixes differ, comparing these orders them as their bytes do.
fn name_prefix(name: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let head = &name.as_bytes()[..name.len().min(8)];
    bytes[..head.len()].copy_from_slice(head);
    u64::from_be_bytes(bytes)
}

impl ClientTree {
    fn new(hierarchical: bool, keyed: bool) -> Self {
        let root = Node {
            path: String::new(),
            component: Name::from(""),
            component_prefix: 0,
            parent: None,
            children: Vec::new(),
            entries: Vec::new(),
            weight: 1.0,
            subtree: Tally::default(),
            own: Tally::default(),
            client: None,
            active: false,
        };
        ClientTree {
            hierarchical,
            keyed,
            nodes: vec![Some(root)],
            free: Vec::new(),
            by_path: FxHashMap::default(),
            by_client: FxHashMap::default(),
            weights: FxHashMap::default(),
            totals: Quantities::default(),
            excluded: Vec::new(),
            dirty: false,
        }
    }

    fn node(&self, id: NodeId) -> &Node {
        self.nodes[id as usize].as_ref().expect("live sorter node")
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes[id as usize].as_mut().expect("live sorter node")
    }

    fn client_node(&self, client: ClientId) -> NodeId {
        *self
            .by_client
            .get(&client)
            .expect("sorter client is registered")
    }

    fn ensure_path(&mut self, path: &str) -> NodeId {
        if let Some(&id) = self.by_path.get(path) {
            return id;
        }
        let (parent, component) = match path.rfind('/') {
            Some(cut) if self.hierarchical => (self.ensure_path(&path[..cut]), &path[cut + 1..]),
            _ => (ROOT, path),
        };
        let node = Node {
            path: path.to_string(),
            component: Name::from(component),
            component_prefix: name_prefix(component),
            parent: Some(parent),
            children: Vec::new(),
            entries: Vec::new(),
            weight: self.weights.get(path).copied().unwrap_or(1.0),
            subtree: Tally::default(),
            own: Tally::default(),
            client: None,
            active: false,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = Some(node);
                id
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as NodeId
            }
        };
        self.node_mut(parent).children.push(id);
        self.by_path.insert(path.to_string(), id);
        id
    }

    fn key(&self, entry: Entry) -> (f64, u64, u64, &str) {
        let node = self.node(entry.node);
        if entry.own {
            (node.own.share, node.own.count, OWN_PREFIX, ".")
        } else {
            (
                node.subtree.share,
                node.subtree.count,
                node.component_prefix,
                node.component.as_ref(),
            )
        }
    }

    fn compare(&self, a: Entry, b: Entry) -> Ordering {
        let (sa, ca, pa, na) = self.key(a);
        let (sb, cb, pb, nb) = self.key(b);
        sa.total_cmp(&sb)
            .then(ca.cmp(&cb))
            .then(pa.cmp(&pb))
            .then_with(|| na.cmp(nb))
    }

    fn compare_names(&self, a: Entry, b: Entry) -> Ordering {
        let (_, _, pa, na) = self.key(a);
        let (_, _, pb, nb) = self.key(b);
        pa.cmp(&pb).then_with(|| na.cmp(nb))
    }

    fn share_of(&self, allocation: &Quantities, weight: f64) -> f64 {
        dominant_share(allocation, &self.totals, &self.excluded) / weight
    }

    /// Position of `entry` in its holder's entries, found by its current key.
    fn position(&self, holder: NodeId, entry: Entry) -> usize {
        let entries = &self.node(holder).entries;
        if self.dirty || !self.keyed {
            return entries
                .iter()
                .position(|&e| e == entry)
                .expect("entry is listed");
        }
        let index = entries.partition_point(|&e| self.compare(e, entry) == Ordering::Less);
        debug_assert_eq!(entries[index], entry);
        index
    }

    fn insert_entry(&mut self, holder: NodeId, entry: Entry) {
        let index = if self.keyed && !self.dirty {
            let entries = &self.node(holder).entries;
            entries.partition_point(|&e| self.compare(e, entry) == Ordering::Less)
        } else {
            self.node(holder).entries.len()
        };
        self.node_mut(holder).entries.insert(index, entry);
    }

    fn remove_entry(&mut self, holder: NodeId, entry: Entry) {
        let index = self.position(holder, entry);
        self.node_mut(holder).entries.remove(index);
    }

    /// Adds or removes `node`'s entry in its parent after its own entries
    /// became non-empty or empty, up the tree as far as that changes things.
    fn propagate_presence(&mut self, mut node: NodeId) {
        while let Some(parent) = self.node(node).parent {
            let present = !self.node(node).entries.is_empty();
            let entry = Entry { node, own: false };
            let listed = self.node(parent).entries.contains(&entry);
            let parent_was_empty = self.node(parent).entries.is_empty();
            match (present, listed) {
                (true, false) => self.insert_entry(parent, entry),
                (false, true) => self.remove_entry(parent, entry),
                _ => return,
            }
            if parent_was_empty == self.node(parent).entries.is_empty() {
                return;
            }
            node = parent;
        }
    }

    fn set_active(&mut self, client: ClientId, active: bool) {
        let id = self.client_node(client);
        if self.node(id).active == active {
            return;
        }
        self.node_mut(id).active = active;
        let entry = Entry {
            node: id,
            own: true,
        };
        if active {
            self.insert_entry(id, entry);
        } else {
            self.remove_entry(id, entry);
        }
        self.propagate_presence(id);
    }

    /// Applies `change` to the tallies of the client and its ancestors. A
    /// sorted (DRF) tree that is not dirty recomputes the touched shares and
    /// moves each entry to its new place; otherwise shares wait for `resort`
    /// (random never reads them).
    fn update(&mut self, client: ClientId, change: impl Fn(&mut Tally)) {
        let id = self.client_node(client);
        let reposition = self.keyed && !self.dirty;
        // The node's "." entry.
        let own_entry = Entry {
            node: id,
            own: true,
        };
        let own_listed = self.node(id).active;
        let own_index = (reposition && own_listed).then(|| self.position(id, own_entry));
        change(&mut self.node_mut(id).own);
        if reposition {
            let weight = self.node(id).weight;
            let share = self.share_of(&self.node(id).own.allocation, weight);
            self.node_mut(id).own.share = share;
        }
        if let Some(index) = own_index {
            self.move_entry(id, index);
        }
        // The subtree entries up to the root.
        let mut current = id;
        while let Some(parent) = self.node(current).parent {
            let entry = Entry {
                node: current,
                own: false,
            };
            let index = if reposition && !self.node(current).entries.is_empty() {
                Some(self.position(parent, entry))
            } else {
                None
            };
            change(&mut self.node_mut(current).subtree);
            if reposition {
                let weight = self.node(current).weight;
                let share = self.share_of(&self.node(current).subtree.allocation, weight);
                self.node_mut(current).subtree.share = share;
            }
            if let Some(index) = index {
                self.move_entry(parent, index);
            }
            current = parent;
        }
    }

    /// Moves the entry at `index` of `holder` to where its (new) key belongs.
    /// Rotates only the span between the old and the new place, instead of
    /// shifting the whole tail out and back.
    fn move_entry(&mut self, holder: NodeId, index: usize) {
        let entries = &self.node(holder).entries;
        let entry = entries[index];
        let before =
            entries[..index].partition_point(|&e| self.compare(e, entry) == Ordering::Less);
        let after = index
            + 1
            + entries[index + 1..].partition_point(|&e| self.compare(e, entry) == Ordering::Less);
        let entries = &mut self.node_mut(holder).entries;
        if before < index {
            entries[before..=index].rotate_right(1);
        } else if after > index + 1 {
            entries[index..after].rotate_left(1);
        }
    }

    fn resort(&mut self) {
        if !self.dirty {
            return;
        }
        for id in 0..self.nodes.len() as NodeId {
            if self.nodes[id as usize].is_none() {
                continue;
            }
            let weight = self.node(id).weight;
            let own = self.share_of(&self.node(id).own.allocation, weight);
            let subtree = self.share_of(&self.node(id).subtree.allocation, weight);
            let node = self.node_mut(id);
            node.own.share = own;
            node.subtree.share = subtree;
        }
        self.dirty = false;
        for id in 0..self.nodes.len() as NodeId {
            if self.nodes[id as usize].is_none() {
                continue;
            }
            let mut entries = std::mem::take(&mut self.node_mut(id).entries);
            entries.sort_by(|&a, &b| self.compare(a, b));
            self.node_mut(id).entries = entries;
        }
    }

    fn walk(&self, node: NodeId, out: &mut Vec<ClientId>) {
        let entries = &self.node(node).entries;
        if node != ROOT && entries.len() == 1 && entries[0].own {
            out.push(self.node(node).client.expect("active node is a client"));
            return;
        }
        for &entry in entries {
            if entry.own {
                out.push(self.node(node).client.expect("active node is a client"));
            } else {
                self.walk(entry.node, out);
            }
        }
    }

    fn add(&mut self, client: ClientId, path: &str) {
        let id = self.ensure_path(path);
        let node = self.node_mut(id);
        debug_assert!(node.client.is_none(), "path already has a client");
        node.client = Some(client);
        self.by_client.insert(client, id);
    }

    fn remove(&mut self, client: ClientId) {
        self.set_active(client, false);
        let id = self.client_node(client);
        debug_assert!(self.node(id).children.is_empty());
        self.by_client.remove(&client);
        let parent = self.node(id).parent.expect("clients are not the root");
        self.node_mut(parent).children.retain(|&c| c != id);
        let path = std::mem::take(&mut self.node_mut(id).path);
        self.by_path.remove(&path);
        self.nodes[id as usize] = None;
        self.free.push(id);
    }

    fn set_weight(&mut self, path: &str, weight: f64) {
        self.weights.insert(path.to_string(), weight);
        if let Some(&id) = self.by_path.get(path) {
            self.node_mut(id).weight = weight;
            self.dirty = true;
        }
    }

    fn nth(&self, index: usize) -> Option<ClientId> {
        let entry = *self.node(ROOT).entries.get(index)?;
        self.node(entry.node).client
    }
}

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

/// A sorter of the given policy ("drf" or "random").
pub fn new_sorter(policy: &str, hierarchical: bool) -> Option<Box<dyn Sorter + Send + Sync>> {
    match policy {
        "drf" => Some(Box::new(DrfSorter::new(hierarchical))),
        "random" => Some(Box::new(RandomSorter::new(hierarchical))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quantities(values: &[i64]) -> Quantities {
        let mut q = Quantities::default();
        for (id, &m) in values.iter().enumerate() {
            q.set(id, m);
        }
        q
    }

    fn both(hierarchical: bool) -> Vec<(&'static str, Box<dyn Sorter + Send + Sync>)> {
        ["drf", "random"]
            .into_iter()
            .map(|p| (p, new_sorter(p, hierarchical).unwrap()))
            .collect()
    }

    #[test]
    fn order_lists_exactly_the_active_clients() {
        for (policy, mut sorter) in both(true) {
            sorter.set_totals(&quantities(&[10_000, 10_000]), &[]);
            for (id, path) in [(1, "a"), (2, "a/b"), (3, "c"), (4, "d/e")] {
                sorter.add(id, path);
                sorter.activate(id);
            }
            sorter.deactivate(3);
            sorter.prepare_cycle(&mut SplitMix64::new(3));
            let mut order = sorter.order();
            order.sort();
            assert_eq!(order, vec![1, 2, 4], "{policy}");
            sorter.activate(3);
            sorter.prepare_cycle(&mut SplitMix64::new(3));
            assert_eq!(sorter.order().len(), 4, "{policy}");
        }
    }

    #[test]
    fn drf_orders_by_weighted_dominant_share_then_count_then_name() {
        let mut sorter = DrfSorter::new(false);
        sorter.set_totals(&quantities(&[10_000, 20_000]), &[]);
        for (id, name) in [(1, "x"), (2, "y"), (3, "z")] {
            sorter.add(id, name);
            sorter.activate(id);
        }
        assert_eq!(sorter.order(), vec![1, 2, 3]);
        // x: 50% of cpus; y: 25% of mem, dominant 25%.
        sorter.allocated(1, &quantities(&[5_000, 0]), true);
        sorter.allocated(2, &quantities(&[0, 5_000]), true);
        assert_eq!(sorter.order(), vec![3, 2, 1]);
        // Equal shares: fewer allocations first, then name.
        sorter.unallocated(1, &quantities(&[5_000, 0]));
        sorter.unallocated(2, &quantities(&[0, 5_000]));
        assert_eq!(sorter.order(), vec![3, 1, 2]);
        sorter.allocated(3, &quantities(&[0, 0]), true);
        sorter.allocated(3, &quantities(&[0, 0]), true);
        assert_eq!(sorter.order(), vec![1, 2, 3]);
    }

    #[test]
    fn weights_divide_shares_and_nodes_compete_by_subtree() {
        let mut sorter = DrfSorter::new(true);
        sorter.set_totals(&quantities(&[10_000]), &[]);
        sorter.set_weight("a", 4.0);
        for (id, path) in [(1, "a/x"), (2, "a/y"), (3, "b")] {
            sorter.add(id, path);
            sorter.activate(id);
        }
        sorter.allocated(1, &quantities(&[2_000]), true);
        sorter.allocated(2, &quantities(&[2_000]), true);
        sorter.allocated(3, &quantities(&[2_000]), true);
        // a: 40% / 4 = 10% < b: 20%.
        assert_eq!(sorter.order(), vec![1, 2, 3]);
        sorter.set_weight("a", 1.0);
        assert_eq!(sorter.order(), vec![3, 1, 2]);
    }

    #[test]
    fn a_role_with_own_clients_and_children_competes_as_dot() {
        let mut sorter = DrfSorter::new(true);
        sorter.set_totals(&quantities(&[10_000]), &[]);
        for (id, path) in [(1, "a"), (2, "a/b")] {
            sorter.add(id, path);
            sorter.activate(id);
        }
        sorter.allocated(2, &quantities(&[3_000]), true);
        assert_eq!(sorter.order(), vec![1, 2]);
        sorter.allocated(1, &quantities(&[5_000]), true);
        assert_eq!(sorter.order(), vec![2, 1]);
    }

    #[test]
    fn nth_walks_the_live_order_and_allocation_moves_only_later() {
        let mut sorter = DrfSorter::new(false);
        sorter.set_totals(&quantities(&[10_000]), &[]);
        for id in 0..5 {
            sorter.add(id, &format!("f{id}"));
            sorter.activate(id);
        }
        assert_eq!(sorter.nth(0), Some(0));
        sorter.allocated(0, &quantities(&[1_000]), true);
        assert_eq!(sorter.nth(0), Some(1));
        assert_eq!(sorter.nth(4), Some(0));
        assert_eq!(sorter.nth(5), None);
    }

    #[test]
    fn random_order_is_reproducible_from_the_seed() {
        let draw = |seed| {
            let mut sorter = RandomSorter::new(false);
            for id in 0..20 {
                sorter.add(id, &format!("f{id:02}"));
                sorter.activate(id);
            }
            sorter.prepare_cycle(&mut SplitMix64::new(seed));
            sorter.order()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn name_prefixes_order_like_the_names() {
        let names = [
            "",
            ".",
            "a",
            "a/b",
            "ab",
            "abcdefgh",
            "abcdefghi",
            "abcdefgz",
            "b",
            "fw-0001",
        ];
        for a in names {
            for b in names {
                let by_prefix = name_prefix(a).cmp(&name_prefix(b));
                if by_prefix != Ordering::Equal {
                    assert_eq!(by_prefix, a.cmp(b), "{a} {b}");
                }
            }
        }
        assert_eq!(name_prefix("."), OWN_PREFIX);
    }

    #[test]
    fn removed_clients_leave_the_order() {
        for (policy, mut sorter) in both(false) {
            sorter.add(1, "x");
            sorter.add(2, "y");
            sorter.activate(1);
            sorter.activate(2);
            sorter.remove(1);
            sorter.prepare_cycle(&mut SplitMix64::new(0));
            assert_eq!(sorter.order(), vec![2], "{policy}");
            sorter.add(1, "x");
            sorter.activate(1);
            sorter.prepare_cycle(&mut SplitMix64::new(0));
            assert_eq!(sorter.order().len(), 2, "{policy}");
        }
    }
}
