//! `recover_many`: a batch gives the results of `recover` on each item in
//! order, and a batch with a bad item changes nothing.

use std::collections::BTreeMap;

use super::{Allocator, Offer, Recovery, TokenRecovery};
use crate::error::ErrorKind;
use crate::resources::Resources;

fn res(text: &str) -> Resources {
    Resources::parse(text).unwrap()
}

/// Six agents, three frameworks in two roles (one framework in both), the
/// first cycle's offers.
fn offered_cluster() -> (Allocator, Vec<Offer>) {
    let mut a = Allocator::new("drf", 7, vec![res("cpus:0.01")], Vec::new()).unwrap();
    for (id, roles) in [("f1", vec!["a"]), ("f2", vec!["a", "b"]), ("f3", vec!["b"])] {
        let roles = roles.into_iter().map(String::from).collect();
        a.add_framework(id, roles, 0.0, vec![], true).unwrap();
    }
    for index in 0..6 {
        let total = res("cpus:4;mem:4096;ports:[31000-31009]");
        a.add_agent(
            &format!("agent-{index}"),
            total,
            0.0,
            BTreeMap::new(),
            vec![],
        )
        .unwrap();
    }
    let offers = a.allocate(1.0).unwrap();
    assert_eq!(offers.len(), 6);
    (a, offers)
}

fn items(offers: &[Offer]) -> Vec<Recovery<'_>> {
    offers
        .iter()
        .map(|o| Recovery {
            framework_id: &o.framework_id,
            agent_id: &o.agent_id,
            role: Some(&o.role),
            resources: &o.resources,
        })
        .collect()
}

#[test]
fn a_batch_is_the_recoveries_in_order() {
    let (mut batch, offers) = offered_cluster();
    let (mut one_by_one, same) = offered_cluster();
    assert_eq!(offers, same);
    // Part of an offer, then the rest of it, without a role: two items on one
    // allocation, the second checked against what the first leaves.
    let first = &offers[0];
    let cpus = res("cpus:1");
    let rest = first.resources.checked_sub(&cpus).unwrap();
    let mut recoveries = items(&offers[1..]);
    recoveries.push(Recovery {
        role: None,
        resources: &cpus,
        ..items(&offers[..1])[0]
    });
    recoveries.push(Recovery {
        role: None,
        resources: &rest,
        ..items(&offers[..1])[0]
    });
    batch.recover_many(&recoveries, 5.0, Some(2.0)).unwrap();
    for item in &recoveries {
        one_by_one
            .recover(
                item.framework_id,
                item.agent_id,
                item.resources,
                5.0,
                Some(2.0),
                item.role,
            )
            .unwrap();
    }
    assert_eq!(batch.snapshot(), one_by_one.snapshot());
    let filters = batch.snapshot()["frameworks"][&*first.framework_id]["filters"].clone();
    // Its other offers' filters, and the two parts of its first.
    let others = offers[1..]
        .iter()
        .filter(|o| o.framework_id == first.framework_id)
        .count();
    assert_eq!(filters.as_array().map(Vec::len), Some(others + 2));
    // The same filters: the same offers while they hold and after.
    for now in [3.0, 8.0] {
        assert_eq!(
            batch.allocate(now).unwrap(),
            one_by_one.allocate(now).unwrap()
        );
    }
}

#[test]
fn a_bad_item_anywhere_changes_nothing_and_is_named() {
    let (mut a, offers) = offered_cluster();
    let before = a.snapshot();
    let twice = [items(&offers), items(&offers[2..3])].concat();
    let ghost_agent = Recovery {
        agent_id: "ghost",
        ..items(&offers[..1])[0]
    };
    let ghost_framework = Recovery {
        framework_id: "ghost",
        ..items(&offers[..1])[0]
    };
    let other_role = Recovery {
        role: Some("c"),
        ..items(&offers[..1])[0]
    };
    let cases: Vec<(Vec<Recovery<'_>>, ErrorKind, &str)> = vec![
        (
            twice,
            ErrorKind::InvalidArgument,
            "recovery 6: cannot recover",
        ),
        (
            [items(&offers), vec![ghost_agent]].concat(),
            ErrorKind::UnknownAgent,
            "recovery 6: unknown agent 'ghost'",
        ),
        (
            [items(&offers[..3]), vec![ghost_framework]].concat(),
            ErrorKind::UnknownFramework,
            "recovery 3: unknown framework",
        ),
        (
            vec![other_role],
            ErrorKind::InvalidArgument,
            "recovery 0: framework",
        ),
    ];
    for (batch, kind, message) in cases {
        let err = a.recover_many(&batch, 1.0, Some(1.0)).unwrap_err();
        assert_eq!(err.kind, kind);
        assert!(err.message.starts_with(message), "{}", err.message);
        assert_eq!(a.snapshot(), before);
    }
    for (refuse, now) in [(-1.0, Some(1.0)), (f64::NAN, Some(1.0)), (1.0, None)] {
        let err = a.recover_many(&items(&offers), refuse, now).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert_eq!(a.snapshot(), before);
    }
    a.recover_many(&items(&offers), 0.0, None).unwrap();
    assert_eq!(a.allocate(2.0).unwrap().len(), 6);
}

#[test]
fn empty_items_and_batches_return_nothing() {
    let (mut a, offers) = offered_cluster();
    let before = a.snapshot();
    let nothing = Resources::new();
    let empty = Recovery {
        resources: &nothing,
        ..items(&offers[..1])[0]
    };
    a.recover_many(&[], 1.0, Some(1.0)).unwrap();
    a.recover_many(&[empty], 1.0, Some(1.0)).unwrap();
    assert_eq!(a.snapshot(), before);
}

#[test]
fn tokens_name_what_ids_name_while_the_registration_lasts() {
    let (mut by_token, offers) = offered_cluster();
    let (mut by_id, _) = offered_cluster();
    let tokens: Vec<TokenRecovery<'_>> = offers
        .iter()
        .map(|o| TokenRecovery {
            framework: by_token.framework_token(&o.framework_id).unwrap(),
            agent: by_token.agent_token(&o.agent_id).unwrap(),
            role: Some(&o.role),
            resources: &o.resources,
        })
        .collect();
    by_token
        .recover_many_by_token(&tokens, 5.0, Some(2.0))
        .unwrap();
    by_id.recover_many(&items(&offers), 5.0, Some(2.0)).unwrap();
    assert_eq!(by_token.snapshot(), by_id.snapshot());
    // A registration that ended leaves its token naming nothing, even once
    // its slot holds another agent.
    let stale = tokens[0].agent;
    by_token.remove_agent(&offers[0].agent_id).unwrap();
    by_token
        .add_agent("newcomer", res("cpus:1"), 3.0, BTreeMap::new(), vec![])
        .unwrap();
    assert_ne!(by_token.agent_token("newcomer").unwrap(), stale);
    let before = by_token.snapshot();
    let item = TokenRecovery {
        agent: stale,
        ..tokens[1]
    };
    let err = by_token
        .recover_many_by_token(&[item], 0.0, None)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownAgent);
    assert!(
        err.message.starts_with("recovery 0: agent token"),
        "{}",
        err.message
    );
    assert_eq!(by_token.snapshot(), before);
}
