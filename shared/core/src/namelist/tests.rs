use proptest::prelude::*;

use super::*;

fn values(namelist: &Namelist, group: &str, name: &str) -> Vec<Option<Value>> {
    namelist.get(group, name).map(|v| v.values.clone()).unwrap_or_default()
}

fn int(v: i64) -> Option<Value> {
    Some(Value::Int(v))
}

#[test]
fn every_saved_namelist_parses() {
    let dir = format!("{}/../../tests/fixtures/namelists", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("fixture folder") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        let parsed = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(parsed.groups.contains_key("domains"), "{}", path.display());
        count += 1;
    }
    assert_eq!(count, 20);
}

#[test]
fn names_ignore_case() {
    let parsed = parse("&DOMAINS\n E_WE = 10, 20,\n/\n").expect("parses");
    assert_eq!(values(&parsed, "domains", "e_we"), vec![int(10), int(20)]);
    assert!(parsed.get("Domains", "E_We").is_some());
}

#[test]
fn comments_tabs_and_crlf() {
    let text = "! header comment\r\n&time_control\r\n\trun_hours\t=\t12, ! twelve\r\n! whole line\r\n history_interval=60\r\n/\r\n";
    let parsed = parse(text).expect("parses");
    assert_eq!(values(&parsed, "time_control", "run_hours"), vec![int(12)]);
    assert_eq!(values(&parsed, "time_control", "history_interval"), vec![int(60)]);
}

#[test]
fn repeat_counts_and_nulls() {
    let parsed = parse("&g a = 3*1, b = 1, , 3, c = 2*, 7, d = 2*'x' /").expect("parses");
    assert_eq!(values(&parsed, "g", "a"), vec![int(1), int(1), int(1)]);
    assert_eq!(values(&parsed, "g", "b"), vec![int(1), None, int(3)]);
    assert_eq!(values(&parsed, "g", "c"), vec![None, None, int(7)]);
    assert_eq!(values(&parsed, "g", "d"), vec![Some(Value::Str("x".into())), Some(Value::Str("x".into()))]);
}

#[test]
fn every_logical_spelling() {
    let parsed = parse("&g a = .true., .false., .t., .F., T, F, .True., true /").expect("parses");
    let expected: Vec<Option<Value>> =
        [true, false, true, false, true, false, true, true].iter().map(|b| Some(Value::Logical(*b))).collect();
    assert_eq!(values(&parsed, "g", "a"), expected);
}

#[test]
fn values_span_lines() {
    let parsed = parse("&domains\n eta_levels = 1.0, 0.99,\n   0.98, 0.97\n   0.96,\n e_vert = 5\n/").expect("parses");
    assert_eq!(values(&parsed, "domains", "eta_levels").len(), 5);
    assert_eq!(values(&parsed, "domains", "e_vert"), vec![int(5)]);
}

#[test]
fn end_terminators_and_group_order() {
    let parsed = parse("&physics mp = 8 &end\n$domains e_we = 9 $end\n&time_control run_hours = 1 /").expect("parses");
    assert_eq!(values(&parsed, "physics", "mp"), vec![int(8)]);
    assert_eq!(values(&parsed, "domains", "e_we"), vec![int(9)]);
    assert_eq!(values(&parsed, "time_control", "run_hours"), vec![int(1)]);
}

#[test]
fn reals_strings_and_indexes() {
    let parsed = parse("&g x = 5000., 1.5d-3, -2e2, .5, s = 'it''s', \"q\", e(3) = 7 /").expect("parses");
    assert_eq!(
        values(&parsed, "g", "x"),
        vec![Some(Value::Real(5000.0)), Some(Value::Real(1.5e-3)), Some(Value::Real(-200.0)), Some(Value::Real(0.5))]
    );
    assert_eq!(values(&parsed, "g", "s"), vec![Some(Value::Str("it's".into())), Some(Value::Str("q".into()))]);
    assert_eq!(values(&parsed, "g", "e"), vec![None, None, int(7)]);
}

#[test]
fn later_assignment_overrides_columns() {
    let parsed = parse("&g a = 1, 2, 3, a(2) = 9 /").expect("parses");
    assert_eq!(values(&parsed, "g", "a"), vec![int(1), int(9), int(3)]);
}

#[test]
fn missing_equals_reports_position() {
    let error = parse("&domains\n e_we 42\n/").expect_err("no `=`");
    assert_eq!((error.line, error.column), (2, 7));
    assert!(error.message.contains("`=` after `e_we`"), "{}", error.message);
}

#[test]
fn unclosed_group_reports_end() {
    let error = parse("&domains\n e_we = 42\n").expect_err("no `/`");
    assert_eq!(error.line, 3);
    assert!(error.message.contains("`/` to close the group"), "{}", error.message);
}

#[test]
fn unquoted_text_rejected() {
    let error = parse("&g name = hello /").expect_err("text needs quotes");
    assert_eq!((error.line, error.column), (1, 11));
    assert!(error.message.contains("quotes"), "{}", error.message);
}

#[test]
fn unterminated_string_rejected() {
    let error = parse("&g a = 'open\n/\n").expect_err("no closing quote");
    assert_eq!((error.line, error.column), (1, 8));
    assert!(error.message.contains("unterminated"), "{}", error.message);
}

#[test]
fn bad_number_rejected() {
    let error = parse("&g a = 12x4 /").expect_err("not a number");
    assert!(error.message.contains("a value for `a`"), "{}", error.message);
    let error = parse("&g a = 0*1 /").expect_err("zero repeat");
    assert!(error.message.contains("repeat count"), "{}", error.message);
}

#[test]
fn stray_character_rejected() {
    let error = parse("&g a = 1 # 2 /").expect_err("`#` is not Fortran");
    assert_eq!((error.line, error.column), (1, 10));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn namelist_like_text_never_panics(text in "[&$/=,*!'\"().:a-zT0-9 \t\r\n-]{0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn written_integers_read_back(values in proptest::collection::vec(-100_000i64..100_000, 1..20)) {
        let list: Vec<String> = values.iter().map(i64::to_string).collect();
        let parsed = parse(&format!("&g\n x = {}\n/", list.join(", "))).expect("parses");
        let read: Vec<Option<Value>> = values.iter().map(|v| Some(Value::Int(*v))).collect();
        prop_assert_eq!(parsed.get("g", "x").expect("present").values.clone(), read);
    }
}
