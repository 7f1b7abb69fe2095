//! Both policies through the `Sorter` interface, and the DRF order's keys.

use std::cmp::Ordering;

use super::tree::{name_prefix, OWN_PREFIX};
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
