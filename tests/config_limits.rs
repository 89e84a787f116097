//! `.keyroll.yaml` limits (src/policy/limits.rs): every one is enforced by `parse`, with a
//! problem naming the field or line, and what parse accepts the schedule handles without
//! panicking, whatever dates it meets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};

use keyroll::policy::{self, Problems, limits};
use keyroll::runtime::schedule;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// A valid config with one credential whose body is `body` (indented 4 spaces).
fn with_credential(body: &str) -> String {
    format!("version: 1\ncredentials:\n  x:\n{body}")
}

const BASE: &str = "    extends: random-password\n    owner: '@a'\n    max_age: 90d\n";
const LOCATION: &str = "    locations: [{ file: a.yaml, path: [a], role: use }]\n";

fn refused(text: &str) -> Problems {
    match policy::parse(".keyroll.yaml", text) {
        Ok(_) => panic!("accepted:\n{}", text.chars().take(400).collect::<String>()),
        Err(p) => p,
    }
}

fn one_problem(text: &str) -> policy::Problem {
    let problems = refused(text);
    assert_eq!(problems.0.len(), 1, "{problems}");
    problems.0.into_iter().next().unwrap()
}

/// Found from outside: `max_age: 2914000d` passed validate and then panicked at the schedule
/// tick (date + duration overflowed).
#[test]
fn a_max_age_of_thousands_of_years_is_refused_naming_the_field() {
    let text = with_credential(
        "    extends: random-password\n    owner: '@a'\n    max_age: 2914000d\n    locations: [{ file: a.yaml, path: [a], role: use }]\n",
    );
    let p = one_problem(&text);
    assert_eq!(
        (p.line, p.field.as_str()),
        (6, "credentials.x.max_age"),
        "{p}"
    );
    assert!(p.message.contains("3650d (10 years)"), "{p}");

    let text = "version: 1\ndefaults:\n  max_age: 600w\ncredentials: {}\n";
    let p = one_problem(text);
    assert_eq!((p.line, p.field.as_str()), (3, "defaults.max_age"), "{p}");
}

/// Found from outside: a large `timeout` panicked inside parsing (`Duration::days` overflow).
#[test]
fn durations_too_large_for_the_calendar_are_refused_not_a_panic() {
    for timeout in [
        "99999999999999d",
        "106751991167301d",
        "9223372036854775807s",
        "15250284452472w",
    ] {
        let text = with_credential(&format!(
            "{BASE}{LOCATION}    rollout:\n      - {{ wave: w, checks: [c], timeout: {timeout} }}\n"
        ));
        let p = one_problem(&text);
        assert_eq!(p.line, 9, "{p}");
        assert_eq!(p.field, "credentials.x.rollout[0].timeout", "{p}");
    }
}

/// Found from outside: `length: 1000000000000` passed validate, then `plan` aborted
/// allocating it.
#[test]
fn a_random_length_beyond_the_limit_is_refused_naming_the_field() {
    for length in ["1000000000000", "1025", "15"] {
        let text = with_credential(&format!(
            "{BASE}    generator: {{ kind: random, length: {length} }}\n{LOCATION}"
        ));
        let p = one_problem(&text);
        assert_eq!(p.field, "credentials.x.generator.length", "{p}");
        assert_eq!(p.line, 7, "{p}");
        assert!(p.message.contains("16 to 1024"), "{p}");
    }
    let ok = with_credential(&format!(
        "{BASE}    generator: {{ kind: random, length: 1024 }}\n{LOCATION}"
    ));
    policy::parse(".keyroll.yaml", &ok).unwrap();
}

/// Found from outside: 100,000 nested `[` took 39 s to parse. The pre-scan refuses nesting
/// past the limit at the line where it happens, before any YAML deserializer sees it.
#[test]
fn deep_nesting_is_refused_at_its_line() {
    let flow = format!(
        "version: 1\ncredentials: {{}}\nx: {}\n",
        "[".repeat(100_000)
    );
    let p = one_problem(&flow);
    assert_eq!(p.line, 3, "{p}");
    assert!(p.message.contains("deeper than 32 levels"), "{p}");

    // Block nesting, by indentation.
    let mut block = String::from("version: 1\ncredentials: {}\n");
    for depth in 0..40 {
        block.push_str(&format!("{}k{depth}:\n", "  ".repeat(depth)));
    }
    let p = one_problem(&block);
    assert!(p.message.contains("deeper than 32 levels"), "{p}");

    // Just within the limit, nesting is not what is refused.
    let within = format!(
        "version: 1\ncredentials: {{}}\nx: {}{}\n",
        "[".repeat(limits::MAX_NESTING - 1),
        "]".repeat(limits::MAX_NESTING - 1)
    );
    let p = one_problem(&within);
    assert!(!p.message.contains("deeper"), "{p}");
}

#[test]
fn a_file_over_one_mebibyte_is_refused() {
    let mut text = with_credential(&format!("{BASE}{LOCATION}"));
    policy::parse(".keyroll.yaml", &text).unwrap();
    let comment = format!("# {}\n", "x".repeat(1_000));
    while text.len() <= limits::MAX_CONFIG_BYTES {
        text.push_str(&comment);
    }
    let p = one_problem(&text);
    assert!(p.message.contains("at most 1048576 bytes (1 MiB)"), "{p}");
    assert!(p.line > 1_000, "the line where the limit is crossed: {p}");
}

/// Aliases count as the nodes they repeat, so a "billion laughs" is refused before serde
/// expands it.
#[test]
fn aliases_that_multiply_nodes_are_refused() {
    let mut text =
        String::from("version: 1\ncredentials: {}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let prev = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let p = one_problem(&text);
    assert!(p.message.contains("more than 200000 YAML nodes"), "{p}");
    assert!(p.line >= 7, "{p}");

    // A few aliases are fine: the field that follows is what is wrong.
    let small = "version: 1\ndefaults: { reviewers: &r ['@a'] }\ncredentials:\n  x:\n    extends: random-password\n    owner: '@a'\n    reviewers: *r\n    locations: [{ file: a.yaml, path: [a], role: use }]\n";
    policy::parse(".keyroll.yaml", small).unwrap();
}

/// One case per count and length limit: the config just over it is refused naming the
/// field; at the limit it is not (for that reason).
#[test]
fn every_count_and_length_is_bounded_naming_the_field() {
    let list = |n: usize, item: &dyn Fn(usize) -> String| -> String {
        (0..n).map(item).collect::<Vec<_>>().join(", ")
    };
    let s = |n: usize| "a".repeat(n);
    type Case = (&'static str, Box<dyn Fn(bool) -> String>);
    let over = |at: usize, over: bool| if over { at + 1 } else { at };
    let cases: Vec<Case> = vec![
        (
            "credentials",
            Box::new(move |o| {
                let mut t = String::from("version: 1\ndefaults: { max_age: 90d }\ncredentials:\n");
                for i in 0..over(limits::MAX_CREDENTIALS, o) {
                    t.push_str(&format!("  c{i}: {{ extends: random-password, owner: '@a', locations: [{{ file: a.yaml, path: [a], role: use }}] }}\n"));
                }
                t
            }),
        ),
        (
            "credentials.x.slots",
            Box::new(move |o| {
                let n = over(limits::MAX_SLOTS, o);
                let slots = list(n, &|i| format!("{{ name: s{i}, prefix: 'p{i}_' }}"));
                let locs = list(n, &|i| {
                    format!("{{ file: a.yaml, path: [a{i}], role: use, slot: s{i} }}")
                });
                with_credential(&format!(
                    "{BASE}    slots: [{slots}]\n    locations: [{locs}]\n"
                ))
            }),
        ),
        (
            "credentials.x.slots[0].prefix",
            Box::new(move |o| {
                let prefix = s(over(limits::MAX_PREFIX_BYTES, o));
                with_credential(&format!(
                    "{BASE}    slots: [{{ name: s, prefix: {prefix} }}]\n{LOCATION}"
                ))
            }),
        ),
        (
            "credentials.x.slots[0].name",
            Box::new(move |o| {
                let name = s(over(limits::MAX_NAME_BYTES, o));
                with_credential(&format!(
                    "{BASE}    slots: [{{ name: {name} }}]\n{LOCATION}"
                ))
            }),
        ),
        (
            "credentials.x.locations",
            Box::new(move |o| {
                let locs = list(over(limits::MAX_LOCATIONS, o), &|i| {
                    format!("{{ file: a.yaml, path: [a{i}], role: use }}")
                });
                with_credential(&format!("{BASE}    locations: [{locs}]\n"))
            }),
        ),
        (
            "credentials.x.locations[0].file",
            Box::new(move |o| {
                let file = s(over(limits::MAX_SHORT_TEXT_BYTES, o));
                with_credential(&format!(
                    "{BASE}    locations: [{{ file: {file}, path: [a], role: use }}]\n"
                ))
            }),
        ),
        (
            "credentials.x.locations[0].path",
            Box::new(move |o| {
                let path = list(over(limits::MAX_PATH_STEPS, o), &|i| format!("k{i}"));
                with_credential(&format!(
                    "{BASE}    locations: [{{ file: a.yaml, path: [{path}], role: use }}]\n"
                ))
            }),
        ),
        (
            "credentials.x.locations[0].path[1]",
            Box::new(move |o| {
                let i = over(limits::MAX_PATH_INDEX, o);
                with_credential(&format!(
                    "{BASE}    locations: [{{ file: a.yaml, path: [a, {i}], role: use }}]\n"
                ))
            }),
        ),
        (
            "credentials.x.locations[0].path[0]",
            Box::new(move |o| {
                let key = s(over(limits::MAX_PATH_KEY_BYTES, o));
                with_credential(&format!(
                    "{BASE}    locations: [{{ file: a.yaml, path: [{key}], role: use }}]\n"
                ))
            }),
        ),
        (
            "credentials.x.locations[0].pattern",
            Box::new(move |o| {
                let pattern = format!("(?P<value>{})", s(over(limits::MAX_PATTERN_BYTES, o) - 11));
                with_credential(&format!(
                    "{BASE}    locations: [{{ file: a.tf, pattern: '{pattern}', role: use }}]\n"
                ))
            }),
        ),
        (
            "credentials.x.locations[0].format",
            Box::new(move |o| {
                let sep = s(over(limits::MAX_SEPARATOR_BYTES, o));
                with_credential(&format!(
                    "{BASE}    locations: [{{ file: a.yaml, path: [a], role: accept, format: {{ delimited: '{sep}' }} }}]\n"
                ))
            }),
        ),
        (
            "credentials.x.rollout",
            Box::new(move |o| {
                let steps = list(over(limits::MAX_ROLLOUT_STEPS, o), &|i| {
                    format!("{{ wave: w{i}, checks: [c] }}")
                });
                with_credential(&format!("{BASE}{LOCATION}    rollout: [{steps}]\n"))
            }),
        ),
        (
            "credentials.x.rollout[0].checks",
            Box::new(move |o| {
                let checks = list(over(limits::MAX_CHECKS_PER_WAVE, o), &|i| format!("c{i}"));
                with_credential(&format!(
                    "{BASE}{LOCATION}    rollout: [{{ wave: w, checks: [{checks}] }}]\n"
                ))
            }),
        ),
        (
            "credentials.x.rollout[0].confirm",
            Box::new(move |o| {
                let people = list(over(limits::MAX_PEOPLE, o), &|i| format!("'@p{i}'"));
                with_credential(&format!(
                    "{BASE}{LOCATION}    rollout: [{{ gate: g, confirm: [{people}] }}]\n"
                ))
            }),
        ),
        (
            "credentials.x.rollout[0].instructions",
            Box::new(move |o| {
                let text = s(over(limits::MAX_LONG_TEXT_BYTES, o));
                with_credential(&format!(
                    "{BASE}{LOCATION}    rollout: [{{ gate: g, confirm: ['@a'], instructions: {text} }}]\n"
                ))
            }),
        ),
        (
            "credentials.x.description",
            Box::new(move |o| {
                let text = s(over(limits::MAX_LONG_TEXT_BYTES, o));
                with_credential(&format!("{BASE}{LOCATION}    description: {text}\n"))
            }),
        ),
        (
            "credentials.x.owner",
            Box::new(move |o| {
                let owner = s(over(limits::MAX_SHORT_TEXT_BYTES, o));
                with_credential(&format!(
                    "    extends: random-password\n    max_age: 90d\n    owner: '{owner}'\n{LOCATION}"
                ))
            }),
        ),
        (
            "credentials.x.reviewers",
            Box::new(move |o| {
                let people = list(over(limits::MAX_PEOPLE, o), &|i| format!("'@p{i}'"));
                with_credential(&format!("{BASE}{LOCATION}    reviewers: [{people}]\n"))
            }),
        ),
        (
            "credentials.x.approvals.required",
            Box::new(move |o| {
                let n = if o {
                    limits::MAX_APPROVALS_REQUIRED + 1
                } else {
                    limits::MAX_APPROVALS_REQUIRED
                };
                with_credential(&format!(
                    "{BASE}{LOCATION}    approvals: {{ required: {n} }}\n"
                ))
            }),
        ),
        (
            "defaults.labels",
            Box::new(move |o| {
                let labels = list(over(limits::MAX_LABELS, o), &|i| format!("l{i}"));
                format!(
                    "version: 1\ndefaults: {{ labels: [{labels}] }}\ncredentials:\n  x:\n{BASE}{LOCATION}"
                )
            }),
        ),
        (
            "credentials.x.generator.template",
            Box::new(move |o| {
                let t = format!("{}{{date}}", s(over(limits::MAX_SHORT_TEXT_BYTES, o) - 6));
                with_credential(&format!(
                    "{BASE}    generator: {{ kind: dated, template: '{t}' }}\n{LOCATION}"
                ))
            }),
        ),
        (
            "credentials.x.generator.format",
            Box::new(move |o| {
                let f = format!("{}%Y", s(over(limits::MAX_DATE_FORMAT_BYTES, o) - 2));
                with_credential(&format!(
                    "{BASE}    generator: {{ kind: date, format: '{f}' }}\n{LOCATION}"
                ))
            }),
        ),
        (
            "credentials.x.generator.instructions",
            Box::new(move |o| {
                let text = s(over(limits::MAX_LONG_TEXT_BYTES, o));
                with_credential(&format!(
                    "{BASE}    generator: {{ kind: manual, instructions: {text} }}\n{LOCATION}"
                ))
            }),
        ),
    ];
    let name = "n".repeat(limits::MAX_NAME_BYTES + 1);
    let p = one_problem(&format!(
        "version: 1\ncredentials:\n  {name}:\n{BASE}{LOCATION}"
    ));
    assert_eq!(p.field, format!("credentials.{name}"), "{p}");
    assert_eq!(p.line, 3, "{p}");
    for (field, make) in &cases {
        let over_text = make(true);
        let problems = refused(&over_text);
        assert!(
            problems.0.iter().any(|p| p.field == *field),
            "{field}: the problems do not name it:\n{problems}"
        );
        let at_limit = make(false);
        if let Err(problems) = policy::parse(".keyroll.yaml", &at_limit) {
            assert!(
                problems.0.iter().all(|p| p.field != *field),
                "{field}: refused at the limit:\n{problems}"
            );
        }
    }
}

/// A short pattern that compiles to megabytes is refused naming the field.
#[test]
fn a_pattern_too_big_once_compiled_is_refused() {
    let text = with_credential(&format!(
        "{BASE}    locations: [{{ file: a.tf, pattern: '(?P<value>\\w{{100}})', role: use }}]\n"
    ));
    let p = one_problem(&text);
    assert_eq!(p.field, "credentials.x.locations[0].pattern", "{p}");
    assert!(p.message.contains("size limit"), "{p}");
}

/// Every limit is in the published schema where JSON Schema can say it.
#[test]
fn the_schema_carries_the_limits() {
    let schema: serde_json::Value = serde_json::from_str(&policy::json_schema()).unwrap();
    let defs = &schema["$defs"];
    let credentials = &schema["properties"]["credentials"];
    assert_eq!(credentials["maxProperties"], limits::MAX_CREDENTIALS);
    assert_eq!(
        credentials["propertyNames"]["maxLength"],
        limits::MAX_NAME_BYTES
    );
    let spec = &defs["CredentialSpec"]["properties"];
    assert_eq!(spec["slots"]["maxItems"], limits::MAX_SLOTS);
    assert_eq!(spec["locations"]["maxItems"], limits::MAX_LOCATIONS);
    assert_eq!(spec["rollout"]["maxItems"], limits::MAX_ROLLOUT_STEPS);
    assert_eq!(
        spec["description"]["maxLength"],
        limits::MAX_LONG_TEXT_BYTES
    );
    let text = schema.to_string();
    for needle in [
        format!("\"maximum\":{}", limits::MAX_RANDOM_LENGTH),
        format!("\"minimum\":{}", limits::MIN_RANDOM_LENGTH),
        format!("\"maxItems\":{}", limits::MAX_CHECKS_PER_WAVE),
        format!("\"maximum\":{}", limits::MAX_PATH_INDEX),
        format!("\"maxLength\":{}", limits::MAX_PATTERN_BYTES),
    ] {
        assert!(text.contains(&needle), "{needle} is not in the schema");
    }
}

fn credential(max_age: &str) -> policy::Credential {
    let text = with_credential(&format!(
        "    extends: random-password\n    owner: '@a'\n    max_age: {max_age}\n{LOCATION}"
    ));
    policy::parse(".keyroll.yaml", &text)
        .unwrap()
        .credentials
        .remove(0)
}

/// The longest max age at the calendar's ends: due dates saturate, nothing panics.
#[test]
fn the_schedule_handles_the_longest_max_age_at_the_ends_of_the_calendar() {
    let cred = credential("3650d");
    let first = PrimitiveDateTime::MIN.assume_utc();
    let last_instant = PrimitiveDateTime::MAX.assume_utc();
    for (last, now) in [
        (last_instant, last_instant),
        (last_instant, first),
        (first, last_instant),
        (first, first),
        (last_instant - Duration::days(1), OffsetDateTime::UNIX_EPOCH),
    ] {
        let history = BTreeMap::from([("x".to_owned(), last)]);
        let s = schedule::plan(
            std::slice::from_ref(&cred),
            &history,
            &BTreeSet::new(),
            now,
            2,
            Duration::days(14),
        );
        let due = cred.due_at(last);
        assert!(due >= last);
        assert_eq!(s.start.is_empty(), due > now, "{last} {now}");
    }
    assert_eq!(cred.due_at(last_instant), last_instant);
}

/// A credential written twice was silently dropped (the map kept the last one).
#[test]
fn a_key_written_twice_is_refused_at_its_second_line() {
    let text = format!("version: 1\ncredentials:\n  x:\n{BASE}{LOCATION}  x:\n{BASE}{LOCATION}");
    let p = one_problem(&text);
    assert_eq!((p.line, p.column), (8, 3), "{p}");
    assert!(
        p.message
            .contains("`x` is written twice in this mapping (first on line 3)"),
        "{p}"
    );
    // In flow mappings too, and at any depth.
    let text = with_credential(&format!(
        "{BASE}    locations: [{{ file: a.yaml, path: [a], role: use, role: accept }}]\n"
    ));
    let p = one_problem(&text);
    assert!(p.message.contains("`role` is written twice"), "{p}");
    // The same key in different mappings is fine.
    policy::parse(
        ".keyroll.yaml",
        &with_credential(&format!("{BASE}{LOCATION}")),
    )
    .unwrap();
}
