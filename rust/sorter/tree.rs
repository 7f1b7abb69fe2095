//! The client tree both policies keep: nodes per path, each holding the
//! ordered entries of its children, their allocations, weights and counters.
//! With `keyed` (DRF) the entries stay sorted by weighted dominant share,
//! allocation count and name as allocations change; without, they are kept
//! by name and the policy orders them itself.

use std::cmp::Ordering;

use rustc_hash::FxHashMap;

use crate::quantities::{dominant_share, Quantities};
use crate::resources::Name;

use super::ClientId;

/// Nodes are addressed by u32 so that entries stay 8 bytes: moving an entry
/// in a 2,000-client order is then a short memmove.
pub(super) type NodeId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) node: NodeId,
    /// The node's own clients (".") rather than its whole subtree.
    pub(super) own: bool,
}

#[derive(Debug, Default, Clone)]
pub(super) struct Tally {
    pub(super) allocation: Quantities,
    pub(super) count: u64,
    /// Weighted dominant share, valid while the tree is not dirty.
    share: f64,
}

#[derive(Debug)]
pub(super) struct Node {
    path: String,
    component: Name,
    /// The first 8 bytes of `component`, big-endian: orders like the name
    /// itself whenever they differ, which settles most DRF ties without a
    /// byte-wise comparison.
    component_prefix: u64,
    parent: Option<NodeId>,
    children: Vec<NodeId>,
    /// Active entries among the children (and ".") in order.
    pub(super) entries: Vec<Entry>,
    pub(super) weight: f64,
    subtree: Tally,
    pub(super) own: Tally,
    client: Option<ClientId>,
    active: bool,
}

/// Structure shared by both policies: nodes, tallies, active entries.
#[derive(Debug)]
pub(super) struct ClientTree {
    pub(super) hierarchical: bool,
    /// Entries are kept sorted by key (DRF); otherwise their order is drawn.
    keyed: bool,
    nodes: Vec<Option<Node>>,
    free: Vec<NodeId>,
    by_path: FxHashMap<String, NodeId>,
    by_client: FxHashMap<ClientId, NodeId>,
    weights: FxHashMap<String, f64>,
    pub(super) totals: Quantities,
    pub(super) excluded: Vec<bool>,
    pub(super) dirty: bool,
}

pub(super) const ROOT: NodeId = 0;
pub(super) const OWN_PREFIX: u64 = (b'.' as u64) << 56;

/// The first 8 bytes of a name, zero-padded, as a big-endian number: for two
/// names whose prefixes differ, comparing these orders them as their bytes do.
pub(super) fn name_prefix(name: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let head = &name.as_bytes()[..name.len().min(8)];
    bytes[..head.len()].copy_from_slice(head);
    u64::from_be_bytes(bytes)
}

impl ClientTree {
    pub(super) fn new(hierarchical: bool, keyed: bool) -> Self {
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

    pub(super) fn node(&self, id: NodeId) -> &Node {
        self.nodes[id as usize].as_ref().expect("live sorter node")
    }

    pub(super) fn node_mut(&mut self, id: NodeId) -> &mut Node {
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

    pub(super) fn compare_names(&self, a: Entry, b: Entry) -> Ordering {
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

    pub(super) fn set_active(&mut self, client: ClientId, active: bool) {
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
    pub(super) fn update(&mut self, client: ClientId, change: impl Fn(&mut Tally)) {
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

    pub(super) fn resort(&mut self) {
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

    pub(super) fn walk(&self, node: NodeId, out: &mut Vec<ClientId>) {
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

    pub(super) fn add(&mut self, client: ClientId, path: &str) {
        let id = self.ensure_path(path);
        let node = self.node_mut(id);
        debug_assert!(node.client.is_none(), "path already has a client");
        node.client = Some(client);
        self.by_client.insert(client, id);
    }

    pub(super) fn remove(&mut self, client: ClientId) {
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

    pub(super) fn set_weight(&mut self, path: &str, weight: f64) {
        self.weights.insert(path.to_string(), weight);
        if let Some(&id) = self.by_path.get(path) {
            self.node_mut(id).weight = weight;
            self.dirty = true;
        }
    }

    pub(super) fn nth(&self, index: usize) -> Option<ClientId> {
        let entry = *self.node(ROOT).entries.get(index)?;
        self.node(entry.node).client
    }
}
