//! Unit tests of the JSON form and of `Data`: every check of the reader with
//! its exact message (`tests/unit/test_resources.py` matches the same
//! messages for both implementations), the rendering, and Python's reprs.

use super::data::{float_repr, Data};
use super::Resources;

fn json(text: &str) -> Data {
    Data::parse_json(text).unwrap_or_else(|err| panic!("{text}: {err}"))
}

fn read(text: &str) -> Resources {
    Resources::from_json(&json(text)).unwrap_or_else(|err| panic!("{text}: {err}"))
}

fn error(data: &Data) -> String {
    Resources::from_json(data).unwrap_err().message
}

fn text_error(text: &str) -> String {
    error(&json(text))
}

fn str(text: &str) -> Data {
    Data::Str(text.to_string())
}

fn object(fields: Vec<(Data, Data)>) -> Data {
    Data::Object(fields)
}

#[test]
fn renders_mesos_v1_resources() {
    let bundle =
        Resources::parse("cpus:1.5;disk(eng,alice)[v1]:10;ports(eng):[1-2];zones:{b,a}").unwrap();
    let expected = json(
        r#"[
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}, "role": "*"},
        {"name": "disk", "type": "SCALAR", "scalar": {"value": 10.0}, "role": "eng",
         "reservation": {"principal": "alice"}, "disk": {"persistence": {"id": "v1"}}},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 2}]},
         "role": "eng"},
        {"name": "zones", "type": "SET", "set": {"item": ["a", "b"]}, "role": "*"}
    ]"#,
    );
    // Equality of `Data` includes the order of fields.
    assert_eq!(bundle.to_json(), expected);
    assert_eq!(Resources::from_json(&bundle.to_json()).unwrap(), bundle);
    assert_eq!(Resources::new().to_json(), Data::List(Vec::new()));
}

#[test]
fn reads_what_it_renders_and_what_callers_write() {
    for text in [
        "",
        "cpus:0.001;mem:1000000000000",
        "cpus(a/b,p):2;disk(eng)[v@1]:1;ports:[0-0,2-18446744073709551615]",
        "zones:{rack:1/a,b}",
    ] {
        let bundle = Resources::parse(text).unwrap();
        assert_eq!(Resources::from_json(&bundle.to_json()).unwrap(), bundle);
    }
    assert_eq!(
        read(r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}}]"#),
        Resources::parse("cpus:2").unwrap()
    );
    assert_eq!(read(" [] "), Resources::new());
    // Entries with one key add up; "-0" is an integer zero.
    assert_eq!(
        read(
            r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "*"},
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": -0}}]"#
        ),
        Resources::parse("cpus:1.5").unwrap()
    );
}

const SCALAR: &str = r#""name": "cpus", "type": "SCALAR", "scalar": {"value": 1}"#;

#[test]
fn reports_the_first_problem_of_the_first_bad_entry() {
    let cases = [
        ("{}", "expected a list of resources, got dict"),
        ("5", "expected a list of resources, got int"),
        ("\"[]\"", "expected a list of resources, got str"),
        ("[5]", "expected an object, got int in resource #0"),
        ("[null]", "expected an object, got NoneType in resource #0"),
        (
            &format!("[{{{SCALAR}}}, {{{SCALAR}, \"revocable\": {{}}}}]"),
            "unknown field 'revocable' in resource #1",
        ),
        (
            r#"[{"zz": 1, "aa": 2}]"#,
            "unknown field 'zz' in resource #0",
        ),
        (
            r#"[{"type": "SCALAR"}]"#,
            "missing field 'name' in resource #0",
        ),
        (
            r#"[{"name": 1}]"#,
            "field 'name' must be a string in resource #0",
        ),
        (
            r#"[{"name": "cpus"}]"#,
            "missing field 'type' in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "TEXT", "scalar": {"value": 1}}]"#,
            "unknown type 'TEXT': expected SCALAR, RANGES or SET in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "RANGES", "scalar": {"value": 1}}]"#,
            "field 'scalar' does not match type RANGES in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "SET"}]"#,
            "missing field 'set' in resource #0",
        ),
        (
            &format!("[{{{SCALAR}, \"role\": 1}}]"),
            "field 'role' must be a string in resource #0",
        ),
        (
            &format!("[{{{SCALAR}, \"role\": \"a b\"}}]"),
            "invalid role 'a b' in resource #0",
        ),
        (
            &format!("[{{{SCALAR}, \"role\": \"eng\", \"reservation\": {{}}}}]"),
            "field 'reservation' must be {\"principal\": string} in resource #0",
        ),
        (
            &format!("[{{{SCALAR}, \"role\": \"eng\", \"reservation\": {{\"principal\": 1}}}}]"),
            "field 'reservation' must be {\"principal\": string} in resource #0",
        ),
        (
            &format!("[{{{SCALAR}, \"reservation\": {{\"principal\": \"p\"}}}}]"),
            "principal 'p' requires a reserved role in resource #0",
        ),
        (
            &format!("[{{{SCALAR}, \"role\": \"eng\", \"disk\": {{\"persistence\": {{\"id\": 1}}}}}}]"),
            "field 'disk' must be {\"persistence\": {\"id\": string}} in resource #0",
        ),
        (
            &format!("[{{{SCALAR}, \"role\": \"eng\", \"disk\": {{\"persistence\": {{}}}}}}]"),
            "field 'disk' must be {\"persistence\": {\"id\": string}} in resource #0",
        ),
        (
            &format!("[{{{SCALAR}, \"role\": \"eng\", \"disk\": {{\"persistence\": {{\"id\": \"v\"}}}}}}]"),
            "volume 'v' is only allowed for disk in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": "1"}}]"#,
            "field 'scalar' must be {\"value\": number} in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": true}}]"#,
            "field 'scalar' must be {\"value\": number} in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1, "x": 2}}]"#,
            "field 'scalar' must be {\"value\": number} in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": -1.5}}]"#,
            "negative quantity -1.5 in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": -2}}]"#,
            "negative quantity -2 in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1e400}}]"#,
            "invalid scalar inf in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1e13}}]"#,
            "quantity 10000000000000.0 above the maximum 1000000000000 in resource #0",
        ),
        (
            r#"[{"name": "cpus", "type": "SCALAR", "scalar": {"value": 100000000000000000000}}]"#,
            "quantity 100000000000000000000 above the maximum 1000000000000 in resource #0",
        ),
        (
            r#"[{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1}]}}]"#,
            "field 'ranges' must be {\"range\": [{\"begin\": integer, \"end\": integer}]} in \
             resource #0",
        ),
        (
            r#"[{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1.0, "end": 2}]}}]"#,
            "field 'ranges' must be {\"range\": [{\"begin\": integer, \"end\": integer}]} in \
             resource #0",
        ),
        (
            r#"[{"name": "ports", "type": "RANGES", "ranges": {"range": {"begin": 1, "end": 2}}}]"#,
            "field 'ranges' must be {\"range\": [{\"begin\": integer, \"end\": integer}]} in \
             resource #0",
        ),
        (
            r#"[{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 3, "end": 1}]}}]"#,
            "invalid range '3-1': begin above end in resource #0",
        ),
        (
            // Shapes are checked before bounds, and bounds before order.
            r#"[{"name": "ports", "type": "RANGES", "ranges": {"range": [
                {"begin": 5, "end": 1}, {"begin": -1, "end": 18446744073709551616}]}}]"#,
            "range bound -1 out of bounds in resource #0",
        ),
        (
            r#"[{"name": "ports", "type": "RANGES", "ranges": {"range": [
                {"begin": 0, "end": 18446744073709551616}]}}]"#,
            "range bound 18446744073709551616 out of bounds in resource #0",
        ),
        (
            r#"[{"name": "ports", "type": "RANGES", "ranges": {"range": [
                {"begin": 1, "end": 5}, {"begin": 5, "end": 6}]}}]"#,
            "overlapping ranges 1-5 and 5-6 in resource #0",
        ),
        (
            r#"[{"name": "zones", "type": "SET", "set": {"item": [1]}}]"#,
            "field 'set' must be {\"item\": [string]} in resource #0",
        ),
        (
            r#"[{"name": "zones", "type": "SET", "set": {"item": ["a", "a"]}}]"#,
            "duplicate set item 'a' in resource #0",
        ),
        (
            r#"[{"name": "zones", "type": "SET", "set": {"item": ["a b", 1]}}]"#,
            "field 'set' must be {\"item\": [string]} in resource #0",
        ),
        (
            &format!("[{{{SCALAR}}}, {{\"name\": \"cpus\", \"type\": \"SCALAR\", \"scalar\": {{\"value\": 1e12}}}}]"),
            "cannot add cpus:1000000000000 to cpus:1: total above the maximum 1000000000000",
        ),
        (
            &format!("[{{{SCALAR}}}, {{\"name\": \"cpus\", \"type\": \"SET\", \"set\": {{\"item\": [\"a\"]}}}}]"),
            "conflicting types for 'cpus': cpus:1 is a scalar, cpus:{a} is a set",
        ),
    ];
    for (text, message) in cases {
        assert_eq!(text_error(text), message, "{text}");
    }
}

#[test]
fn a_key_given_twice_keeps_its_place_and_its_last_value() {
    assert_eq!(
        text_error(r#"[{"name": "cpus", "zz": 1, "name": 2, "aa": 3}]"#),
        "unknown field 'zz' in resource #0"
    );
    assert_eq!(
        text_error(r#"[{"name": "cpus", "type": "SCALAR", "name": 2}]"#),
        "field 'name' must be a string in resource #0"
    );
}

#[test]
fn values_from_a_binding_name_their_own_type() {
    let tuple = Data::Other {
        type_name: "tuple".to_string(),
        repr: "(1, 2)".to_string(),
    };
    assert_eq!(error(&tuple), "expected a list of resources, got tuple");
    assert_eq!(
        error(&Data::List(vec![tuple.clone()])),
        "expected an object, got tuple in resource #0"
    );
    for (key, shown) in [
        (tuple, "(1, 2)"),
        (Data::Int("1".to_string()), "1"),
        (Data::Null, "None"),
        (Data::Bool(true), "True"),
        (Data::Float(0.5), "0.5"),
    ] {
        let item = object(vec![(str("name"), str("cpus")), (key, Data::Null)]);
        assert_eq!(
            error(&Data::List(vec![item])),
            format!("unknown field {shown} in resource #0")
        );
    }
    let nan = object(vec![
        (str("name"), str("cpus")),
        (str("type"), str("SCALAR")),
        (
            str("scalar"),
            object(vec![(str("value"), Data::Float(f64::NAN))]),
        ),
    ]);
    assert_eq!(
        error(&Data::List(vec![nan])),
        "invalid scalar nan in resource #0"
    );
}

#[test]
fn only_strict_json_text_parses() {
    for text in ["[", "", "[1,]", "{'a': 1}", "[NaN]", "[1] x", "\u{feff}[]"] {
        assert!(Data::parse_json(text).is_err(), "{text}");
    }
    assert_eq!(
        json(r#"{"a": [true, false, null, "x\n\u00e9"], "b": -0.0}"#),
        object(vec![
            (
                str("a"),
                Data::List(vec![
                    Data::Bool(true),
                    Data::Bool(false),
                    Data::Null,
                    str("x\né")
                ])
            ),
            (str("b"), Data::Float(-0.0)),
        ])
    );
}

#[test]
fn reprs_are_pythons() {
    for (value, shown) in [
        (0.1, "0.1"),
        (2.0, "2.0"),
        (-0.0, "-0.0"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (1.5e-5, "1.5e-05"),
        (0.0001, "0.0001"),
        (5e-324, "5e-324"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
        // Exactly halfway between two shortest forms (…2.25 and …29.625):
        // Python takes the even digit.
        (-4452712482368009.0 / 4.0, "-1113178120592002.2"),
        (1871134174267437.0 / 8.0, "233891771783429.62"),
    ] {
        assert_eq!(float_repr(value), shown, "{value:?}");
    }
    for (text, shown) in [
        ("abc", "'abc'"),
        ("it's", "\"it's\""),
        ("both ' and \"", "'both \\' and \"'"),
        ("back\\slash\t\n\r", "'back\\\\slash\\t\\n\\r'"),
        ("\u{0}\u{1f}\u{7f}\u{a0}", "'\\x00\\x1f\\x7f\\xa0'"),
        ("é 中 😀", "'é 中 😀'"),
        ("\u{200b}\u{feff}\u{10fffe}", "'\\u200b\\ufeff\\U0010fffe'"),
    ] {
        assert_eq!(str(text).repr(), shown, "{text:?}");
    }
    let nested = object(vec![(
        str("a"),
        Data::List(vec![Data::Int("1".to_string()), Data::Null]),
    )]);
    assert_eq!(nested.repr(), "{'a': [1, None]}");
    assert_eq!(nested.type_name(), "dict");
}
