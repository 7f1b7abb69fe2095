//! Scenarios of the whole allocator through its public surface; the
//! differential tests in `tests/unit/test_allocator_differential.py` check it
//! against the reference on random histories.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use super::{Allocator, Offer};
use crate::resources::Resources;

fn res(text: &str) -> Resources {
    Resources::parse(text).unwrap()
}

fn allocator(policy: &str) -> Allocator {
    Allocator::new(policy, 0, vec![res("cpus:0.01"), res("mem:32")], Vec::new()).unwrap()
}

/// Agent "agent" (cpus:4;mem:4096) and framework "fw" in role "r".
fn one_agent_one_framework(policy: &str) -> Allocator {
    let mut a = allocator(policy);
    a.add_agent(
        "agent",
        res("cpus:4;mem:4096"),
        0.0,
        BTreeMap::new(),
        vec![],
    )
    .unwrap();
    a.add_framework("fw", vec!["r".into()], 0.0, vec![], true)
        .unwrap();
    a
}

fn offered(offers: &[Offer]) -> Vec<(String, String, String)> {
    offers
        .iter()
        .map(|o| {
            (
                o.framework_id.to_string(),
                o.role.to_string(),
                o.resources.to_text(),
            )
        })
        .collect()
}

/// Ghodsi et al., NSDI 2011: 9 CPUs, 18 GB; A's tasks <1 CPU, 4 GB>, B's
/// <3 CPUs, 1 GB>; each takes one task per offer and declines the rest.
#[test]
fn drf_paper_example() {
    let mut a = allocator("drf");
    a.add_agent(
        "agent",
        res("cpus:9;mem:18432"),
        0.0,
        BTreeMap::new(),
        vec![],
    )
    .unwrap();
    a.add_framework("A", vec!["a".into()], 0.0, vec![], true)
        .unwrap();
    a.add_framework("B", vec!["b".into()], 0.0, vec![], true)
        .unwrap();
    let task = |f: &str| {
        res(if f == "A" {
            "cpus:1;mem:4096"
        } else {
            "cpus:3;mem:1024"
        })
    };
    let mut running = BTreeMap::from([("A".to_string(), 0), ("B".to_string(), 0)]);
    for step in 1..50 {
        let now = step as f64;
        let mut launched = false;
        for offer in a.allocate(now).unwrap() {
            let need = task(&offer.framework_id);
            let rest = if offer.resources.contains(&need) {
                *running.get_mut(&*offer.framework_id).unwrap() += 1;
                launched = true;
                offer.resources.checked_sub(&need).unwrap()
            } else {
                offer.resources.clone()
            };
            a.recover(&offer.framework_id, &offer.agent_id, &rest, 0.0, None, None)
                .unwrap();
        }
        if !launched {
            break;
        }
    }
    assert_eq!(running["A"], 3);
    assert_eq!(running["B"], 2);
}

#[test]
fn filters_hold_until_expiry_and_revive_clears_them() {
    for policy in ["drf", "random"] {
        let mut a = one_agent_one_framework(policy);
        let offer = a.allocate(0.0).unwrap().remove(0);
        a.recover("fw", "agent", &offer.resources, 5.0, Some(0.0), None)
            .unwrap();
        assert!(a.allocate(4.5).unwrap().is_empty(), "{policy}");
        let offer = a.allocate(5.0).unwrap().remove(0);
        a.recover("fw", "agent", &offer.resources, 5.0, Some(5.0), None)
            .unwrap();
        a.revive("fw", None).unwrap();
        assert_eq!(a.allocate(6.0).unwrap().len(), 1, "{policy}");
    }
}

#[test]
fn reservations_flow_down_the_role_tree_only() {
    let mut a = Allocator::new("drf", 0, vec![], vec![]).unwrap();
    a.add_agent(
        "agent",
        res("cpus(a):2;cpus(a/b):1"),
        0.0,
        BTreeMap::new(),
        vec![],
    )
    .unwrap();
    for (id, role) in [("fa", "a"), ("fb", "a/b"), ("fc", "c")] {
        a.add_framework(id, vec![role.into()], 0.0, vec![], true)
            .unwrap();
    }
    let offers = offered(&a.allocate(1.0).unwrap());
    assert_eq!(
        offers,
        vec![
            ("fa".into(), "a".into(), "cpus(a):2".into()),
            ("fb".into(), "a/b".into(), "cpus(a/b):1".into()),
        ]
    );
}

#[test]
fn limits_cap_and_guarantees_come_first() {
    let mut a = allocator("drf");
    for i in 0..4 {
        a.add_agent(
            &format!("agent-{i}"),
            res("cpus:4;mem:4096"),
            0.0,
            BTreeMap::new(),
            vec![],
        )
        .unwrap();
    }
    a.add_framework("a-first", vec!["a".into()], 0.0, vec![], true)
        .unwrap();
    a.add_framework("q", vec!["q".into()], 0.0, vec![], true)
        .unwrap();
    a.set_quota(
        "q",
        vec![("cpus".into(), 8000)],
        Some(vec![("cpus".into(), 8000)]),
    )
    .unwrap();
    let mut cpus: BTreeMap<String, i64> = BTreeMap::new();
    for offer in a.allocate(1.0).unwrap() {
        *cpus.entry(offer.framework_id.to_string()).or_default() +=
            offer.resources.scalar_millis("cpus");
    }
    assert_eq!(cpus["q"], 8000);
    assert_eq!(cpus["a-first"], 8000);
}

fn quota_consumed(a: &Allocator, role: &str) -> Json {
    a.snapshot()["roles"][role]["consumed_quota"].clone()
}

#[test]
fn a_reservation_made_in_an_allocation_returns_only_to_its_role() {
    let mut a = one_agent_one_framework("drf");
    a.add_framework("other", vec!["s".into()], 0.0, vec![], true)
        .unwrap();
    a.allocate(1.0).unwrap();
    a.update_allocation(
        "fw",
        "agent",
        "r",
        &res("cpus:1;mem:1024"),
        &res("cpus(r,alice):1;mem(r,alice):1024"),
    )
    .unwrap();
    let held = "cpus:3;cpus(r,alice):1;mem:3072;mem(r,alice):1024";
    let snapshot = a.snapshot();
    assert_eq!(snapshot["agents"]["agent"]["total"], held);
    assert_eq!(snapshot["total"], json!({"cpus": 4.0, "mem": 4096.0}));
    assert_eq!(quota_consumed(&a, "r"), json!({"cpus": 4.0, "mem": 4096.0}));
    a.recover("fw", "agent", &res(held), 0.0, None, None)
        .unwrap();
    assert_eq!(quota_consumed(&a, "r"), json!({"cpus": 1.0, "mem": 1024.0}));
    let offers = offered(&a.allocate(2.0).unwrap());
    assert_eq!(
        offers,
        vec![
            ("other".into(), "s".into(), "cpus:3;mem:3072".into()),
            (
                "fw".into(),
                "r".into(),
                "cpus(r,alice):1;mem(r,alice):1024".into()
            ),
        ]
    );
    a.update_allocation(
        "fw",
        "agent",
        "r",
        &res("cpus(r,alice):1;mem(r,alice):1024"),
        &res("cpus:1;mem:1024"),
    )
    .unwrap();
    assert_eq!(a.snapshot()["agents"]["agent"]["total"], "cpus:4;mem:4096");
    assert_eq!(quota_consumed(&a, "r"), json!({"cpus": 1.0, "mem": 1024.0}));
}

#[test]
fn volumes_are_created_on_reservations_and_destroyed() {
    let mut a = Allocator::new("drf", 0, vec![], vec![]).unwrap();
    a.add_agent(
        "agent",
        res("cpus:1;disk:100"),
        0.0,
        BTreeMap::new(),
        vec![],
    )
    .unwrap();
    a.add_framework("fw", vec!["db/main".into()], 0.0, vec![], true)
        .unwrap();
    a.update_available("agent", &res("disk:100"), &res("disk(db):100"))
        .unwrap();
    assert_eq!(quota_consumed(&a, "db"), json!({"disk": 100.0}));
    a.allocate(1.0).unwrap();
    // The parent's reservation is kept: the volume stays db's.
    a.update_allocation(
        "fw",
        "agent",
        "db/main",
        &res("disk(db):60"),
        &res("disk(db)[v1]:60"),
    )
    .unwrap();
    let before = a.snapshot();
    let again = a.update_allocation(
        "fw",
        "agent",
        "db/main",
        &res("disk(db):40"),
        &res("disk(db)[v1]:40"),
    );
    assert!(again
        .unwrap_err()
        .message
        .contains("volume 'v1' already exists"));
    assert_eq!(a.snapshot(), before);
    assert_eq!(
        before["agents"]["agent"]["allocated"]["fw"]["db/main"],
        "cpus:1;disk(db):40;disk(db)[v1]:60"
    );
    a.update_allocation(
        "fw",
        "agent",
        "db/main",
        &res("disk(db)[v1]:60"),
        &res("disk(db):60"),
    )
    .unwrap();
    assert_eq!(
        a.snapshot()["agents"]["agent"]["total"],
        "cpus:1;disk(db):100"
    );
}

#[test]
fn bad_operations_change_nothing() {
    let mut a = one_agent_one_framework("drf");
    a.allocate(1.0).unwrap();
    let before = a.snapshot();
    let convert = |a: &mut Allocator, role: &str, consumed: &str, converted: &str| {
        a.update_allocation("fw", "agent", role, &res(consumed), &res(converted))
    };
    let errors = [
        convert(&mut a, "r", "cpus:5", "cpus(r):5"),
        convert(&mut a, "r", "cpus:1", "cpus(r):2"),
        convert(&mut a, "r", "cpus:1", "mem(r):1"),
        convert(&mut a, "r", "cpus:1", "cpus(elsewhere):1"),
        convert(&mut a, "s", "cpus:1", "cpus(s):1"),
        a.update_allocation("ghost", "agent", "r", &res(""), &res("")),
        a.update_allocation("fw", "ghost", "r", &res(""), &res("")),
        a.update_available("agent", &res("cpus:1"), &res("cpus(r):1")),
        a.update_available("agent", &res(""), &res("cpus(r):1")),
    ];
    for error in &errors {
        assert!(error.is_err(), "{error:?}");
    }
    assert_eq!(a.snapshot(), before);
}

#[test]
fn bad_input_changes_nothing() {
    let mut a = one_agent_one_framework("drf");
    a.allocate(1.0).unwrap();
    let before = a.snapshot();
    let errors = [
        a.recover("fw", "agent", &res("cpus:100"), 0.0, None, None),
        a.recover("fw", "agent", &res("cpus:1"), -1.0, Some(1.0), None),
        a.update_agent("agent", Some(res("cpus:1")), None),
        a.add_framework("fw", vec!["r".into()], 0.0, vec![], true),
        a.set_weight("r", f64::NAN),
        a.allocate(f64::INFINITY).map(|_| ()),
    ];
    assert!(errors.iter().all(|e| e.is_err()));
    assert_eq!(a.snapshot(), before);
}

/// A cycle's work follows the agents with something available: once all are
/// allocated, a cycle takes none into its shuffle, and after one agent's
/// offer comes back it takes and looks at that agent alone, however many
/// idle agents there are.
#[test]
fn idle_agents_are_not_visited() {
    for agents in [10, 1000, 50_000] {
        let mut a = allocator("drf");
        a.add_framework("fw", vec!["r".into()], 0.0, vec![], true)
            .unwrap();
        for index in 0..agents {
            let id = format!("agent-{index}");
            a.add_agent(&id, res("cpus:4;mem:4096"), 0.0, BTreeMap::new(), vec![])
                .unwrap();
        }
        let offers = a.allocate(1.0).unwrap();
        assert_eq!((offers.len(), a.last_cycle_visits()), (agents, agents));
        assert_eq!(a.last_cycle_candidates(), agents);
        assert!(a.allocate(2.0).unwrap().is_empty());
        assert_eq!((a.last_cycle_candidates(), a.last_cycle_visits()), (0, 0));
        let back = &offers[agents / 2];
        a.recover(
            &back.framework_id,
            &back.agent_id,
            &back.resources,
            0.0,
            None,
            None,
        )
        .unwrap();
        assert_eq!(a.allocate(3.0).unwrap().len(), 1);
        assert_eq!((a.last_cycle_candidates(), a.last_cycle_visits()), (1, 1));
    }
}
