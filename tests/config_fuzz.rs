//! Fuzzing the config side: arbitrary and structurally mutated `.keyroll.yaml` texts go
//! through parse, resolution and validation against the demo repository; every config that
//! validate accepts is then planned (every phase of every credential, rendered) and
//! scheduled at the ends of the calendar. Nothing may panic, and nothing validate accepts
//! may fail later with a panic. Durations get their own fuzz.
//!
//! Case counts are bounded for the normal run; `KEYROLL_FUZZ_CASES=N` runs N cases of each.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use common::*;
use keyroll::changeset::{self, Base, Phase};
use keyroll::generate::{self, NewValues};
use keyroll::plan::Plan;
use keyroll::policy::{self, GeneratorSpec, Span, limits, validate};
use keyroll::repo::WorkTree;
use keyroll::runtime::schedule;
use keyroll::sops::{Identities, PlainValue, ValueType};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// Cases per property: `default` unless KEYROLL_FUZZ_CASES says otherwise.
fn cases(default: u32) -> u32 {
    std::env::var("KEYROLL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        // Failures are minimized and reported; regressions worth keeping become tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn demo_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(fixture("demo-credentials/.keyroll.yaml")).unwrap())
}

fn demo_ids() -> &'static Identities {
    static IDS: OnceLock<Identities> = OnceLock::new();
    IDS.get_or_init(|| Identities::from_file(&fixture("demo-age-key.txt")).unwrap())
}

/// The demo's resolved credentials, as Debug text to compare with.
fn demo_credentials() -> &'static BTreeSet<String> {
    static CREDS: OnceLock<BTreeSet<String>> = OnceLock::new();
    CREDS.get_or_init(|| {
        policy::parse(".keyroll.yaml", demo_text())
            .unwrap()
            .credentials
            .iter()
            .map(|c| format!("{c:?}"))
            .collect()
    })
}

/// Dates at and near the ends of what `time` represents, and ordinary ones.
fn extreme_dates() -> Vec<OffsetDateTime> {
    let first = PrimitiveDateTime::MIN.assume_utc();
    let last = PrimitiveDateTime::MAX.assume_utc();
    vec![
        first,
        first + Duration::days(1),
        OffsetDateTime::UNIX_EPOCH,
        time::macros::datetime!(2026-12-03 12:00 UTC),
        last - limits::MAX_DURATION,
        last - Duration::seconds(1),
        last,
    ]
}

/// What happens to a config that parses: validation against the demo repository, and for a
/// config validate accepts, everything that follows. Returns whether validate accepted it.
fn exercise(text: &str) -> bool {
    let Ok(config) = policy::parse(".keyroll.yaml", text) else {
        return false;
    };
    let files = WorkTree::new(fixture("demo-credentials"));
    let problems = validate::check(&config, ".keyroll.yaml", text, &files, demo_ids());
    // The schedule only needs what parse accepts.
    schedule_at_the_ends(&config);
    if !problems.is_empty() {
        return false;
    }
    // Credentials the demo has as they are were planned once (the_demo_config_reaches_planning);
    // the changed ones are planned here.
    for cred in config
        .credentials
        .iter()
        .filter(|c| !demo_credentials().contains(&format!("{c:?}")))
    {
        for now in [
            OffsetDateTime::now_utc(),
            PrimitiveDateTime::MIN.assume_utc(),
            PrimitiveDateTime::MAX.assume_utc(),
        ] {
            let base = Base {
                files: &files,
                ids: demo_ids(),
                now,
                fingerprint_key: None,
            };
            let _ = changeset::read_current(cred, base);
            let new = new_values(cred, base);
            for phase in [
                Phase::Add,
                Phase::Switch,
                Phase::Remove,
                Phase::Replace,
                Phase::Rollback,
            ] {
                let values = if phase.needs_new_values() || phase == Phase::Rollback {
                    new.as_ref()
                } else {
                    None
                };
                if let Ok(change) = changeset::build(phase, cred, values, base) {
                    let plan = Plan {
                        credential: cred,
                        rotation: "R-2026-0001",
                        change: &change,
                        instructions: None,
                    };
                    let _ = plan.render_text();
                    let _ = plan.render_markdown();
                }
            }
            let _ = generate::manual_names(cred, now);
        }
    }
    true
}

/// New values as `plan` makes them: generated, or for manual credentials what a person
/// would supply (the dated name plus a suffix).
fn new_values(cred: &policy::Credential, base: Base<'_>) -> Option<NewValues> {
    if !matches!(cred.generator, GeneratorSpec::Manual { .. }) {
        return generate::generate(cred, base.now).ok();
    }
    let names = generate::manual_names(cred, base.now);
    let values: BTreeMap<String, PlainValue> = cred
        .slots
        .iter()
        .map(|s| {
            let name = names
                .get(&s.name)
                .cloned()
                .unwrap_or_else(|| s.prefix.clone());
            (
                s.name.clone(),
                PlainValue::new(ValueType::Str, format!("{name}-fuzz").into_bytes()),
            )
        })
        .collect();
    let supplied = NewValues(values);
    let old = changeset::read_current(cred, base)
        .map(|c| c.in_use(cred))
        .unwrap_or_default();
    let _ = generate::check_supplied(cred, &supplied, &old, base.now);
    Some(supplied)
}

/// The schedule's due computation with every credential last rotated at, and judged at, the
/// ends of the calendar.
fn schedule_at_the_ends(config: &policy::Config) {
    let dates = extreme_dates();
    for (i, now) in dates.iter().enumerate() {
        let last: BTreeMap<String, OffsetDateTime> = config
            .credentials
            .iter()
            .enumerate()
            .map(|(j, c)| (c.name.clone(), dates[(i + j) % dates.len()]))
            .collect();
        let active: BTreeSet<String> = config
            .credentials
            .iter()
            .step_by(3)
            .map(|c| c.name.clone())
            .collect();
        for soon in [Duration::ZERO, Duration::days(14), limits::MAX_DURATION] {
            let s = schedule::plan(&config.credentials, &last, &active, *now, 2, soon);
            assert!(s.start.len() <= 2);
        }
        for c in &config.credentials {
            for d in &dates {
                assert!(c.due_at(*d) >= *d);
            }
        }
    }
}

/// Values that have broken parsers and planners: huge numbers and durations, empties, YAML
/// syntax, long text.
fn extreme_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2914000d".to_owned()),
        Just("3650d".to_owned()),
        Just("3651d".to_owned()),
        Just("521w".to_owned()),
        Just("99999999999999999999w".to_owned()),
        Just("1s".to_owned()),
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("1000000000000".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("4294967296".to_owned()),
        Just("''".to_owned()),
        Just("~".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[[[[[[[[".to_owned()),
        Just("&anchor x".to_owned()),
        Just("*anchor".to_owned()),
        Just("'{date}{date}'".to_owned()),
        Just("'%Y%m%d%H%M%S%%%'".to_owned()),
        Just("{ kind: random, length: 1024, alphabet: digits }".to_owned()),
        Just("{ kind: random, length: 1000000000000 }".to_owned()),
        Just("{ kind: dated, template: 'A-{date}', date_format: '%Y' }".to_owned()),
        Just("{ kind: date, format: '%' }".to_owned()),
        Just("{ kind: manual, instructions: do it }".to_owned()),
        Just("{ delimited: '' }".to_owned()),
        Just("separate".to_owned()),
        "[a-zA-Z0-9_@/.:-]{0,12}",
        (1usize..3000).prop_map(|n| "a".repeat(n)),
    ]
}

/// Lines a person might add to a credential, some over a limit.
fn extra_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("max_age"),
            Just("generator"),
            Just("switch"),
            Just("slots"),
            Just("rollout"),
            Just("approvals"),
            Just("automerge"),
            Just("reviewers"),
        ],
        prop_oneof![
            extreme_token(),
            Just("[{ name: A, prefix: A }, { name: J, prefix: J }]".to_owned()),
            Just("[{ wave: w, checks: [c], timeout: 3650d }]".to_owned()),
            Just("[{ gate: g, confirm: ['@a'], timeout: 1s }]".to_owned()),
            Just("{ required: 10, from: ['@a'], requester_counts: true }".to_owned()),
            Just("{ required: 4294967295 }".to_owned()),
            Just("true".to_owned()),
        ],
    )
        .prop_map(|(key, value)| format!("    {key}: {value}"))
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the `n`th word-like token with another.
    Token(usize, String),
    /// Add a line after line `n`.
    Insert(usize, String),
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Insert raw text at a byte position.
    Splice(usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), extreme_token()).prop_map(|(n, t)| Mutation::Token(n, t)),
        3 => (any::<usize>(), extra_line()).prop_map(|(n, l)| Mutation::Insert(n, l)),
        1 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Duplicate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        1 => (any::<usize>(), "[\\[\\]{}:,&*!|>\"' \n-]{1,8}").prop_map(|(n, s)| Mutation::Splice(n, s)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let n = lines.len().max(1);
    match m {
        Mutation::Token(i, new) => {
            // Values, not keys: a renamed key is just an unknown field.
            let re = regex::Regex::new(r"[A-Za-z0-9_@./-]+").unwrap();
            let tokens: Vec<_> = re
                .find_iter(text)
                .filter(|t| !text[t.end()..].starts_with(':'))
                .collect();
            if tokens.is_empty() {
                return text.to_owned();
            }
            let t = tokens[i % tokens.len()];
            return format!("{}{new}{}", &text[..t.start()], &text[t.end()..]);
        }
        Mutation::Insert(i, line) => {
            // Under a credential, where the field belongs.
            let headers: Vec<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
                .map(|(at, _)| at + 1)
                .collect();
            let at = headers
                .get(i % headers.len().max(1))
                .copied()
                .unwrap_or(i % n);
            lines.insert(at.min(lines.len()), line.clone());
        }
        Mutation::Delete(i) => {
            if !lines.is_empty() {
                lines.remove(i % n);
            }
        }
        Mutation::Duplicate(i) => {
            if let Some(l) = lines.get(i % n).cloned() {
                lines.insert(i % n, l);
            }
        }
        Mutation::Swap(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
        Mutation::Splice(at, s) => {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            return format!("{}{s}{}", &text[..at], &text[at..]);
        }
        Mutation::Truncate(at) => {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            return text[..at].to_owned();
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

proptest! {
    #![proptest_config(config(3000))]

    /// Any text: never a panic; what parses is a positive duration within the limit and
    /// prints back to itself.
    #[test]
    fn durations_parse_any_text_without_panicking(
        text in prop_oneof![any::<String>(), "[0-9]{0,30}[smhdwy ]{0,2}", "[ +-]?[0-9]{1,20}[smhdw]"]
    ) {
        if let Ok(span) = Span::parse(&text) {
            prop_assert!(span.0 > Duration::ZERO && span.0 <= limits::MAX_DURATION);
            prop_assert_eq!(Span::parse(&span.to_string()), Ok(span));
        }
    }
}

proptest! {
    #![proptest_config(config(400))]

    /// Arbitrary YAML-ish text: parse and whatever follows never panic.
    #[test]
    fn arbitrary_config_text_never_panics(
        text in "[a-z0-9_ :\\-#'\"{}\\[\\],\n|>&*!%@.]{0,600}"
    ) {
        exercise(&text);
    }
}

/// The demo config, mutated: parse, validate, plan every phase and schedule whatever
/// validate accepts, with no panic anywhere. Some mutated configs must reach planning, or the
/// fuzz would not test it.
#[test]
#[allow(clippy::print_stderr)]
fn mutated_demo_configs_never_panic() {
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let cfg = config(500);
    let total = cfg.cases;
    let mut runner = proptest::test_runner::TestRunner::new(cfg);
    let result = runner.run(&prop::collection::vec(mutation(), 1..4), |mutations| {
        let mut text = demo_text().to_owned();
        for m in &mutations {
            text = apply(&text, m);
        }
        if exercise(&text) {
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let accepted = accepted.into_inner();
    eprintln!(
        "{total} mutated configs, {accepted} accepted by validate and planned, in {:.1?}",
        started.elapsed()
    );
    assert!(accepted > 0, "no mutated config reached planning");
}

/// Values at and within every limit a generator or duration has.
fn boundary_lines() -> impl Strategy<Value = (String, String, String)> {
    let duration = prop_oneof![
        (1u64..=3650).prop_map(|d| format!("{d}d")),
        (1u64..=521).prop_map(|w| format!("{w}w")),
        (1u64..=315_360_000).prop_map(|s| format!("{s}s")),
        Just("3650d".to_owned()),
        Just("1s".to_owned()),
    ];
    let alphabet = prop_oneof![
        Just("alphanumeric"),
        Just("hex"),
        Just("url-safe"),
        Just("digits")
    ];
    let random = (
        prop_oneof![
            Just(limits::MIN_RANDOM_LENGTH),
            Just(limits::MAX_RANDOM_LENGTH),
            limits::MIN_RANDOM_LENGTH..=limits::MAX_RANDOM_LENGTH
        ],
        alphabet,
    )
        .prop_map(|(n, a)| format!("{{ kind: random, length: {n}, alphabet: {a} }}"));
    // Date formats and templates up to their length limits, every specifier included.
    let format = "(%[YmdHMS%xq]|[a-zA-Z0-9_ -]){1,21}".prop_filter("within the limit", |f| {
        f.len() <= limits::MAX_DATE_FORMAT_BYTES
    });
    let dated = ("([A-Z_-]{0,20}\\{date\\}){1,9}", format.clone())
        .prop_map(|(t, f)| format!("{{ kind: dated, template: '{t}', date_format: '{f}' }}"));
    let generator = prop_oneof![random, dated];
    (duration.clone(), generator, duration, format).prop_map(|(max_age, generator, timeout, f)| {
        (
            format!("    max_age: {max_age}\n    generator: {generator}\n"),
            format!("    generator: {{ kind: date, format: '{f}' }}\n"),
            timeout,
        )
    })
}

/// Configs with every generator and duration at or within its limits: validate accepts
/// them all, and planning and the schedule handle them.
#[test]
fn configs_at_the_limits_validate_and_plan() {
    let mut runner = proptest::test_runner::TestRunner::new(config(48));
    let result = runner.run(&boundary_lines(), |(database, redis, timeout)| {
        let text = demo_text()
            .replace(
                "  database-password:\n",
                &format!("  database-password:\n{database}"),
            )
            .replace("timeout: 30m }", &format!("timeout: {timeout} }}"))
            .replace("  redis-auth:\n", &format!("  redis-auth:\n{redis}"));
        prop_assert!(
            exercise(&text),
            "validate refused a config within the limits:\n{text}"
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The unmutated demo goes the whole way, so the mutated runs start from a config that
/// reaches planning.
#[test]
fn the_demo_config_reaches_planning() {
    let config = policy::parse(".keyroll.yaml", demo_text()).unwrap();
    assert_eq!(config.credentials.len(), 6);
    for cred in &config.credentials {
        let changed = demo_text().replace(
            &format!("  {}:\n", cred.name),
            &format!("  {}:\n    description: changed\n", cred.name),
        );
        assert!(exercise(&changed), "{}", cred.name);
    }
}
