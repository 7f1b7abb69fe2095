//! Unit tests of bundles: parsing, printing, arithmetic, queries, and the
//! exact error messages the Python reference shares.

use super::*;

fn r(text: &str) -> Resources {
    Resources::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"))
}

fn err(text: &str) -> String {
    Resources::parse(text).unwrap_err().message
}

#[test]
fn parses_and_prints_canonically() {
    let bundle = r("cpus:2;mem:1024;disk:4096;gpus:1;ports:[31000-31999];cpus(eng):1");
    assert_eq!(
        bundle.to_text(),
        "cpus:2;cpus(eng):1;disk:4096;gpus:1;mem:1024;ports:[31000-31999]"
    );
    assert_eq!(bundle.len(), 6);
    assert_eq!(r(" ; cpus : 2 ;; ").to_text(), "cpus:2");
    assert_eq!(r("").to_text(), "");
    assert!(r("").is_empty());
    assert_eq!(r("zones:{b, a}").to_text(), "zones:{a,b}");
    assert_eq!(r("cpus(eng,alice):1").to_text(), "cpus(eng,alice):1");
    assert_eq!(
        r("disk(eng,alice)[vol-1]:1024").to_text(),
        "disk(eng,alice)[vol-1]:1024"
    );
    assert_eq!(r("disk(eng)[v]:1").to_text(), "disk(eng)[v]:1");
    assert_eq!(r("cpus(*):1").to_text(), "cpus:1");
}

#[test]
fn sorts_unreserved_first_and_bytewise() {
    let bundle = r("cpus(b):1;cpus(a,p):1;cpus(a):1;cpus:1;cpus(A):1;Cpus:1");
    assert_eq!(
        bundle.to_text(),
        "Cpus:1;cpus:1;cpus(A):1;cpus(a):1;cpus(a,p):1;cpus(b):1"
    );
}

#[test]
fn drops_empty_values() {
    assert_eq!(r("cpus:0;ports:[];zones:{};mem:0.0004").to_text(), "");
    assert_eq!(r("cpus:0;cpus(eng):[1-2]").to_text(), "cpus(eng):[1-2]");
}

#[test]
fn scalars_are_fixed_point() {
    assert_eq!(
        r("cpus:0.1").checked_add(&r("cpus:0.2")).unwrap(),
        r("cpus:0.3")
    );
    assert_eq!(r("cpus:0.0005").to_text(), "cpus:0.001");
    assert_eq!(r("cpus:1.2345").to_text(), "cpus:1.235");
    assert_eq!(r("cpus:.5").to_text(), "cpus:0.5");
    assert_eq!(r("cpus:1.250").to_text(), "cpus:1.25");
    assert_eq!(r("cpus:0.9995").to_text(), "cpus:1");
    assert_eq!(r("cpus:007").to_text(), "cpus:7");
    assert_eq!(r("mem:1000000000000").scalar_millis("mem"), MAX_MILLIS);
    assert_eq!(format_millis(-1500), "-1.5");
    assert_eq!(format_millis(i64::MIN), "-9223372036854775.808");
    assert_eq!(parse_scalar_text("2.5"), Ok(2500));
}

#[test]
fn rejects_bad_scalars() {
    assert_eq!(err("cpus:abc"), "invalid scalar 'abc' in 'cpus:abc'");
    assert_eq!(err("cpus:-1"), "negative quantity '-1' in 'cpus:-1'");
    assert_eq!(err("cpus:-x"), "invalid scalar '-x' in 'cpus:-x'");
    for bad in ["nan", "inf", "1e5", "1.", ".", "+1", "", "1.2.3", "١"] {
        assert!(
            err(&format!("cpus:{bad}")).starts_with("invalid scalar"),
            "{bad}"
        );
    }
    assert_eq!(
        err("mem:1000000000000.0005"),
        "quantity '1000000000000.0005' above the maximum 1000000000000 in \
         'mem:1000000000000.0005'"
    );
    assert!(err("mem:99999999999999999999999999").contains("above the maximum"));
}

#[test]
fn ranges_merge_and_reject_overlaps() {
    assert_eq!(r("ports:[4-6, 1-3]").to_text(), "ports:[1-6]");
    assert_eq!(r("ports:[ 1 - 3 , 5-5 ]").to_text(), "ports:[1-3,5-5]");
    assert_eq!(
        err("ports:[31000-31005,31003-31010]"),
        "overlapping ranges 31000-31005 and 31003-31010 in 'ports:[31000-31005,31003-31010]'"
    );
    assert_eq!(
        err("ports:[1-3,4-6,5-8]"),
        "overlapping ranges 4-6 and 5-8 in 'ports:[1-3,4-6,5-8]'"
    );
    assert_eq!(
        err("ports:[5-3]"),
        "invalid range '5-3': begin above end in 'ports:[5-3]'"
    );
    assert_eq!(err("ports:[1-2,]"), "invalid range '' in 'ports:[1-2,]'");
    assert_eq!(err("ports:[1-2"), "invalid ranges '[1-2' in 'ports:[1-2'");
    assert_eq!(err("ports:[5]"), "invalid range '5' in 'ports:[5]'");
    assert_eq!(
        err("ports:[0-18446744073709551616]"),
        "range bound 18446744073709551616 out of bounds in 'ports:[0-18446744073709551616]'"
    );
    let top = r("ports:[18446744073709551615-18446744073709551615]");
    let below = r("ports:[18446744073709551613-18446744073709551614]");
    let sum = top.checked_add(&below).unwrap();
    assert_eq!(
        sum.to_text(),
        "ports:[18446744073709551613-18446744073709551615]"
    );
    assert_eq!(sum.checked_sub(&top).unwrap(), below);
}

#[test]
fn sets_reject_duplicates_and_bad_items() {
    assert_eq!(
        err("zones:{a,a}"),
        "duplicate set item 'a' in 'zones:{a,a}'"
    );
    assert_eq!(err("zones:{a,}"), "invalid set item '' in 'zones:{a,}'");
    assert_eq!(
        err("zones:{a b}"),
        "invalid set item 'a b' in 'zones:{a b}'"
    );
    assert_eq!(err("zones:{a"), "invalid set '{a' in 'zones:{a'");
}

#[test]
fn rejects_bad_keys() {
    assert_eq!(err("cpus"), "missing ':' in 'cpus'");
    assert_eq!(err(":1"), "invalid resource name '' in ':1'");
    assert_eq!(err("cp us:1"), "invalid resource name 'cp us' in 'cp us:1'");
    assert_eq!(err("cpus(..):1"), "invalid role '..' in 'cpus(..):1'");
    assert_eq!(err("cpus():1"), "invalid role '' in 'cpus():1'");
    assert_eq!(err("cpus(a//b):1"), "invalid role 'a//b' in 'cpus(a//b):1'");
    assert_eq!(err("cpus(-a):1"), "invalid role '-a' in 'cpus(-a):1'");
    assert_eq!(
        err("cpus(a,b,c):1"),
        "invalid resource key 'cpus(a,b,c)' in 'cpus(a,b,c):1'"
    );
    assert_eq!(
        err("cpus(a:1"),
        "invalid resource key 'cpus(a' in 'cpus(a:1'"
    );
    assert_eq!(
        err("cpus(a)x:1"),
        "invalid resource key 'cpus(a)x' in 'cpus(a)x:1'"
    );
    assert_eq!(err("cpus(a,):1"), "invalid principal '' in 'cpus(a,):1'");
    assert_eq!(
        err("cpus(*,alice):1"),
        "principal 'alice' requires a reserved role in 'cpus(*,alice):1'"
    );
    assert_eq!(
        err("mem(eng)[v]:1"),
        "volume 'v' is only allowed for disk in 'mem(eng)[v]:1'"
    );
    assert_eq!(
        err("disk[v]:1"),
        "volume 'v' requires a reservation in 'disk[v]:1'"
    );
    assert_eq!(err("disk(eng)[]:1"), "invalid volume '' in 'disk(eng)[]:1'");
    assert!(validate_role("*").is_ok());
    assert!(validate_role("a/b.c/d-e").is_ok());
    assert!(validate_role("a/./b").is_err());
}

#[test]
fn duplicate_keys_add_up() {
    assert_eq!(r("cpus:1;cpus:2").to_text(), "cpus:3");
    assert_eq!(r("ports:[1-2];ports:[3-4]").to_text(), "ports:[1-4]");
    assert_eq!(
        err("ports:[1-6];ports:[5-10]"),
        "cannot add ports:[5-10] to ports:[1-6]: overlapping ranges 1-6 and 5-10"
    );
    assert_eq!(
        err("cpus:1;cpus(eng):[1-2]"),
        "conflicting types for 'cpus': cpus:1 is a scalar, cpus(eng):[1-2] is ranges"
    );
    assert_eq!(
        err("mem:1000000000000;mem:1"),
        "cannot add mem:1 to mem:1000000000000: total above the maximum 1000000000000"
    );
}

#[test]
fn adds_and_subtracts() {
    let a = r("cpus:4;mem:1024;ports:[1-10];zones:{a}");
    let b = r("cpus:1.5;cpus(eng):1;ports:[11-20];zones:{b}");
    let sum = a.checked_add(&b).unwrap();
    assert_eq!(
        sum.to_text(),
        "cpus:5.5;cpus(eng):1;mem:1024;ports:[1-20];zones:{a,b}"
    );
    assert_eq!(sum.checked_sub(&b).unwrap(), a);
    assert_eq!(sum.checked_sub(&a).unwrap(), b);
    assert_eq!(sum.checked_sub(&sum).unwrap(), Resources::new());
    assert_eq!(
        r("ports:[1-10]")
            .checked_sub(&r("ports:[3-4,6-6]"))
            .unwrap()
            .to_text(),
        "ports:[1-2,5-5,7-10]"
    );
    assert_eq!(
        r("ports:[1-10,20-30]")
            .checked_sub(&r("ports:[1-10,25-30]"))
            .unwrap()
            .to_text(),
        "ports:[20-24]"
    );
    assert_eq!(
        r("cpus:4")
            .checked_sub(&r("cpus(eng):2"))
            .unwrap_err()
            .message,
        "cannot subtract cpus(eng):2: not contained in cpus:4"
    );
    assert_eq!(
        Resources::new()
            .checked_sub(&r("cpus:1"))
            .unwrap_err()
            .message,
        "cannot subtract cpus:1: not contained in empty resources"
    );
    assert_eq!(
        r("zones:{a,b}")
            .checked_add(&r("zones:{b,c}"))
            .unwrap_err()
            .message,
        "cannot add zones:{b,c} to zones:{a,b}: item 'b' in both"
    );
    assert_eq!(
        r("cpus:1")
            .checked_add(&r("cpus(eng):{a}"))
            .unwrap_err()
            .message,
        "conflicting types for 'cpus': cpus:1 is a scalar, cpus(eng):{a} is a set"
    );
}

#[test]
fn errors_leave_values_unchanged() {
    let original = r("cpus:1;ports:[1-5]");
    let mut a = original.clone();
    assert!(a.add_assign(&r("cpus:2;ports:[5-6]")).is_err());
    assert_eq!(a, original);
    assert!(a.add_assign(&r("cpus(eng):2;ports:[5-6]")).is_err());
    assert_eq!(a, original);
    assert!(a.sub_assign(&r("cpus:0.5;ports:[6-6]")).is_err());
    assert_eq!(a, original);
    a.add_assign(&r("cpus:2;ports:[6-6]")).unwrap();
    assert_eq!(a, r("cpus:3;ports:[1-6]"));
    a.add_assign(&r("mem:2")).unwrap();
    assert_eq!(a, r("cpus:3;mem:2;ports:[1-6]"));
    a.sub_assign(&r("cpus:3;ports:[2-6]")).unwrap();
    assert_eq!(a, r("mem:2;ports:[1-1]"));
}

#[test]
fn containment() {
    let a = r("cpus:4;mem:1024;ports:[1-10];cpus(eng):1");
    assert!(a.contains(&r("cpus:4;ports:[2-3,5-9]")));
    assert!(a.contains(&Resources::new()));
    assert!(!a.contains(&r("cpus:4.001")));
    assert!(!a.contains(&r("ports:[10-11]")));
    assert!(!a.contains(&r("cpus(ops):1")));
    assert!(!a.contains(&r("cpus(eng,p):1")));
    assert!(!r("ports:[1-3,5-6]").contains(&r("ports:[3-5]")));
    assert!(!r("cpus:1").contains(&r("cpus:[1-1]")));
    assert!(Resources::new().contains(&Resources::new()));
}

#[test]
fn role_filters_follow_the_tree() {
    assert!(is_ancestor_or_self("a", "a"));
    assert!(is_ancestor_or_self("a", "a/b"));
    assert!(is_ancestor_or_self("a/b", "a/b/c"));
    assert!(!is_ancestor_or_self("a", "ab"));
    assert!(!is_ancestor_or_self("a/b", "a"));
    assert!(!is_ancestor_or_self("a/b", "a/c"));
    let bundle = r("cpus:1;cpus(a):2;cpus(a/b):4;cpus(a/c):8;cpus(ab):16;cpus(a,p):32");
    assert_eq!(
        bundle.allocatable_to("a/b").to_text(),
        "cpus:1;cpus(a):2;cpus(a,p):32;cpus(a/b):4"
    );
    assert_eq!(
        bundle.allocatable_to("a").to_text(),
        "cpus:1;cpus(a):2;cpus(a,p):32"
    );
    assert_eq!(bundle.allocatable_to("*").to_text(), "cpus:1");
    assert_eq!(bundle.unreserved().to_text(), "cpus:1");
    assert_eq!(
        bundle.reserved(Some("a")).to_text(),
        "cpus(a):2;cpus(a,p):32"
    );
    assert_eq!(bundle.reserved(None).len(), 5);
    assert_eq!(bundle.scalar_millis("cpus"), 63_000);
}

#[test]
fn totals_and_names() {
    let bundle = r("cpus:1;cpus(eng):0.5;mem:10;ports:[1-2];zones:{a}");
    assert_eq!(bundle.scalar_millis("cpus"), 1500);
    assert_eq!(bundle.scalar_millis("ports"), 0);
    assert_eq!(bundle.scalar_millis("gpus"), 0);
    let totals: Vec<(String, i64)> = bundle
        .totals_millis()
        .into_iter()
        .map(|(name, millis)| (name.to_string(), millis))
        .collect();
    assert_eq!(
        totals,
        vec![("cpus".to_string(), 1500), ("mem".to_string(), 10_000)]
    );
    let names: Vec<String> = bundle.names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names, ["cpus", "mem", "ports", "zones"]);
    assert_eq!(bundle.scalars().to_text(), "cpus:1;cpus(eng):0.5;mem:10");
}

#[test]
fn from_entries_validates_and_canonicalises() {
    let entry = |role: Option<&str>, value: Value| Resource {
        name: "ports".into(),
        role: role.map(Name::from),
        principal: None,
        volume: None,
        value,
    };
    let bundle = Resources::from_entries(vec![
        entry(Some("*"), Value::Ranges(vec![(5, 6), (1, 4)])),
        entry(None, Value::Ranges(vec![(8, 9)])),
    ])
    .unwrap();
    assert_eq!(bundle.to_text(), "ports:[1-6,8-9]");
    assert_eq!(
        Resources::from_entries(vec![entry(Some("a b"), Value::Ranges(vec![]))])
            .unwrap_err()
            .message,
        "invalid role 'a b' in 'ports(a b)'"
    );
    let negative = Resource {
        name: "cpus".into(),
        role: None,
        principal: None,
        volume: None,
        value: Value::Scalar(-5),
    };
    assert_eq!(
        Resources::from_entries(vec![negative]).unwrap_err().message,
        "negative quantity -0.005 in 'cpus'"
    );
    assert_eq!(
        Resources::from_entries(bundle.iter().cloned().collect()).unwrap(),
        bundle
    );
}

#[test]
fn numbers_from_callers() {
    assert_eq!(
        scalar_from_f64(0.1, || "0.1".to_string()),
        Ok(Value::Scalar(100))
    );
    assert_eq!(
        scalar_from_f64(0.0005, || "0.0005".to_string()),
        Ok(Value::Scalar(1))
    );
    assert_eq!(
        scalar_from_f64(-0.5, || "-0.5".to_string())
            .unwrap_err()
            .message,
        "negative quantity -0.5"
    );
    assert_eq!(
        scalar_from_f64(f64::NAN, || "nan".to_string())
            .unwrap_err()
            .message,
        "invalid scalar nan"
    );
    assert!(scalar_from_f64(1e13, || "1e13".to_string()).is_err());
    assert_eq!(scalar_from_units(3, "3"), Ok(Value::Scalar(3000)));
    assert!(scalar_from_units(MAX_UNITS + 1, "x").is_err());
    assert!(scalar_from_units(-1, "-1").is_err());
}
