//! The settings check, by example and by fuzzing: arbitrary values for every setting never
//! panic, and every refusal names the setting at fault (and only settings at fault).
//!
//! The fuzz runs 32 cases; set KEYROLL_FUZZ_CASES for more.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeSet;

use clap::{CommandFactory as _, Parser};
use proptest::prelude::*;

use super::*;

/// `serve`'s arguments on their own, as the command line parses them.
#[derive(Debug, Parser)]
#[command(name = "serve")]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

fn fixture(rel: &str) -> String {
    format!("{}/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// A valid value for every setting, in the order of [`ALL`].
fn good() -> Vec<String> {
    ALL.iter()
        .map(|s| match *s {
            APP_ID => "1234".to_owned(),
            APP_KEY_FILE => fixture("github-app/test-app-key.pem"),
            WEBHOOK_SECRETS => "a-secret,another".to_owned(),
            GITHUB_API_URL => "https://api.github.com".to_owned(),
            AGE_IDENTITY_FILE => fixture("demo-age-key.txt"),
            DATABASE_URL => "sqlite://keyroll.db".to_owned(),
            LISTEN => "127.0.0.1:8080".to_owned(),
            LOG_FORMAT => "json".to_owned(),
            RECONCILE_INTERVAL => "5m".to_owned(),
            SCHEDULE_INTERVAL => "1h".to_owned(),
            MAX_BODY_BYTES => "5242880".to_owned(),
            OPERATORS => "@acme/sre".to_owned(),
            ADMINS => String::new(),
            CONCURRENT_ROTATIONS => "2".to_owned(),
            HEADER_TIMEOUT => "5s".to_owned(),
            BODY_TIMEOUT => "10s".to_owned(),
            MAX_CONNECTIONS => "512".to_owned(),
            BODY_BUDGET_BYTES => "67108864".to_owned(),
            SCRUB_INTERVAL => "1m".to_owned(),
            RETRY_ATTEMPTS => "8".to_owned(),
            RETRY_MAX_WAIT => "10m".to_owned(),
            READY_MAX_WAITING => "10m".to_owned(),
            other => panic!("no good value for {other}"),
        })
        .collect()
}

/// Parses `values` (one per setting, in the order of [`ALL`]) as flags: the environment
/// cannot interfere, every flag is given.
fn args(values: &[String]) -> ServeArgs {
    let argv = std::iter::once("serve".to_owned()).chain(
        ALL.iter()
            .zip(values)
            .map(|(s, v)| format!("--{}={v}", s.flag)),
    );
    Cli::try_parse_from(argv)
        .expect("every value is taken as given")
        .args
}

/// The settings named by the problems of `values`.
fn blamed(values: &[String]) -> Result<Checked, BTreeSet<&'static str>> {
    check(args(values)).map_err(|problems| problems.iter().map(|p| p.setting.flag).collect())
}

#[test]
fn good_values_are_taken() {
    let checked = check(args(&good())).unwrap();
    assert_eq!(checked.log_format, LogFormat::Json);
    let s = checked.settings;
    assert_eq!(s.front_door, FrontDoor::default());
    assert_eq!(s.scrub_every, Duration::from_secs(60));
    assert_eq!(s.max_body_bytes, 5 * 1024 * 1024);
    assert_eq!(s.people.operators, vec!["@acme/sre".to_owned()]);
}

#[test]
fn the_defaults_of_the_command_line_are_the_servers() {
    // Only the required settings given: everything else is the command line's default.
    let argv = [
        "serve".to_owned(),
        "--app-id=1".to_owned(),
        format!("--app-key-file={}", fixture("github-app/test-app-key.pem")),
        "--webhook-secrets=s".to_owned(),
        format!("--age-identity-file={}", fixture("demo-age-key.txt")),
    ];
    // Variables of the environment this test runs in would win over the defaults.
    let set: Vec<&Setting> = ALL
        .iter()
        .filter(|s| std::env::var_os(s.env).is_some())
        .collect();
    if !set.is_empty() {
        panic!("unset these to run this test: {set:?}");
    }
    let s = check(Cli::try_parse_from(argv).unwrap().args)
        .unwrap()
        .settings;
    assert_eq!(s.front_door, FrontDoor::default());
    assert_eq!(s.scrub_every, Duration::from_secs(60));
    assert_eq!(s.reconcile_every, Duration::from_secs(300));
    assert_eq!(s.concurrent_rotations, 2);
    assert_eq!(s.delivery, DeliveryOptions::default());
}

#[test]
fn every_problem_is_reported_at_once_each_naming_its_setting() {
    let mut values = good();
    let set = |values: &mut Vec<String>, s: Setting, v: &str| {
        let i = ALL.iter().position(|a| *a == s).unwrap();
        values[i] = v.to_owned();
    };
    set(&mut values, APP_ID, " ");
    set(&mut values, APP_KEY_FILE, "/nonexistent/key.pem");
    set(&mut values, SCHEDULE_INTERVAL, "9223372036854775807s");
    set(&mut values, RECONCILE_INTERVAL, "18446744073709551615d");
    set(&mut values, MAX_CONNECTIONS, "0");
    set(&mut values, HEADER_TIMEOUT, "5");
    set(&mut values, LOG_FORMAT, "yaml");
    let problems = check(args(&values)).unwrap_err();
    let f = failure(&problems);
    assert_eq!(f.exit, Exit::InvalidInput);
    let expected = "serve cannot start; fix these 7 settings:
  --app-id (KEYROLL_APP_ID): not set; serve needs it
  --app-key-file (KEYROLL_APP_KEY_FILE): /nonexistent/key.pem: No such file or directory (os error 2)
  --log-format (KEYROLL_LOG_FORMAT): \"yaml\": write text or json
  --reconcile-interval (KEYROLL_RECONCILE_INTERVAL): \"18446744073709551615d\" is out of range; write one between 1s and 7d
  --schedule-interval (KEYROLL_SCHEDULE_INTERVAL): \"9223372036854775807s\" is out of range; write one between 1s and 7d
  --header-timeout (KEYROLL_HEADER_TIMEOUT): \"5\" is not a duration: write a number and a unit (ms, s, m, h, d), between 100ms and 1m
  --max-connections (KEYROLL_MAX_CONNECTIONS): 0 is out of range; write one from 1 to 65536";
    assert_eq!(f.message, expected);
    // One problem keeps its own exit code: a key file that cannot be read is an I/O error.
    let mut values = good();
    set(&mut values, APP_KEY_FILE, "/nonexistent/key.pem");
    assert_eq!(failure(&check(args(&values)).unwrap_err()).exit, Exit::Io);
}

#[test]
fn a_budget_smaller_than_one_body_is_refused() {
    let mut values = good();
    let i = ALL.iter().position(|a| *a == BODY_BUDGET_BYTES).unwrap();
    values[i] = "4096".into();
    let problems = check(args(&values)).unwrap_err();
    assert_eq!(
        problems[0].to_string(),
        "--body-budget-bytes (KEYROLL_BODY_BUDGET_BYTES): 4096 is less than --max-body-bytes (5242880): one whole body must fit"
    );
}

#[test]
fn durations_have_units_and_ranges() {
    let r = Span {
        min: Duration::from_millis(100),
        max: secs(60),
    };
    assert_eq!(duration_in("500ms", r), Ok(Duration::from_millis(500)));
    assert_eq!(duration_in(" 1m ", r), Ok(secs(60)));
    for bad in [
        "",
        "ms",
        "5",
        "1.5s",
        "-1s",
        "61s",
        "99ms",
        "0s",
        "1w",
        "18446744073709551615ms",
        "99999999999999999999s",
    ] {
        assert!(duration_in(bad, r).is_err(), "{bad}");
    }
    assert_eq!(show(Duration::from_millis(1500)), "1500ms");
    assert_eq!(show(secs(7 * 86_400)), "7d");
    assert_eq!(show(secs(90)), "90s");
}

#[test]
fn the_help_states_every_range_the_check_enforces() {
    let command = Cli::command();
    for (setting, range) in RANGED {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(setting.flag))
            .unwrap();
        let help = arg.get_help().unwrap().to_string();
        assert!(
            help.contains(&format!("({range}")),
            "--{} says {help:?}, not ({range})",
            setting.flag
        );
        assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(setting.env));
    }
    // And every setting is one of ALL, with its variable.
    let flags: BTreeSet<&str> = command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help")
        .collect();
    assert_eq!(flags, ALL.iter().map(|s| s.flag).collect());
}

/// Values that probe each kind of setting, and arbitrary text.
fn value_for(setting: Setting) -> BoxedStrategy<String> {
    let probes: Vec<&'static str> = match setting {
        APP_KEY_FILE | AGE_IDENTITY_FILE => vec![
            "",
            "/",
            "/dev/zero",
            "/dev/null",
            "/nonexistent",
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo-age-key.txt"),
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/github-app/test-app-key.pem"
            ),
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ],
        RECONCILE_INTERVAL | SCHEDULE_INTERVAL | HEADER_TIMEOUT | BODY_TIMEOUT | SCRUB_INTERVAL
        | RETRY_MAX_WAIT | READY_MAX_WAITING => {
            vec![
                "9223372036854775807s",
                "18446744073709551615ms",
                "18446744073709551616s",
                "213503982334601d",
                "0s",
                "1ms",
                "100ms",
                "1s",
                "60s",
                "1m",
                "7d",
                "8d",
                "-1s",
                "1.5s",
                "5",
                "s",
                "",
                "1 s",
                "１s",
            ]
        }
        MAX_BODY_BYTES | BODY_BUDGET_BYTES | MAX_CONNECTIONS | CONCURRENT_ROTATIONS
        | RETRY_ATTEMPTS => vec![
            "0",
            "1",
            "1023",
            "1024",
            "64",
            "65",
            "65536",
            "65537",
            "5242880",
            "33554432",
            "1073741824",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "1e3",
            "",
            " 2 ",
        ],
        LISTEN => vec![
            "127.0.0.1:0",
            "[::1]:8080",
            "localhost:80",
            "0.0.0.0:99999",
            ":8080",
        ],
        GITHUB_API_URL => vec![
            "http://",
            "https://x",
            "ftp://x",
            "https:// x",
            "https://h/api/v3/",
        ],
        DATABASE_URL => vec![
            "sqlite:",
            "sqlite::memory:",
            "sqlite://k.db?mode=bogus",
            "postgres://x",
        ],
        LOG_FORMAT => vec!["text", "json", "JSON", ""],
        _ => vec!["", " ", ",", "a,b", "@org/team"],
    };
    prop_oneof![
        proptest::sample::select(probes).prop_map(str::to_owned),
        "\\PC{0,24}",
        any::<u64>().prop_map(|n| n.to_string()),
        (
            any::<u64>(),
            proptest::sample::select(vec!["ms", "s", "m", "h", "d", "w", ""])
        )
            .prop_map(|(n, u)| format!("{n}{u}")),
    ]
    .boxed()
}

/// For each setting: its value or None (keep the good one).
fn changes() -> impl Strategy<Value = Vec<Option<String>>> {
    ALL.iter()
        .map(|s| proptest::option::weighted(0.3, value_for(*s)))
        .collect::<Vec<_>>()
}

fn cases() -> u32 {
    std::env::var("KEYROLL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_settings_never_panic_and_every_refusal_names_its_setting(changes in changes()) {
        let base = good();
        let values: Vec<String> = base
            .iter()
            .zip(&changes)
            .map(|(g, c)| c.clone().unwrap_or_else(|| g.clone()))
            .collect();
        let together = blamed(&values);
        if let Err(problems) = check(args(&values)) {
            // Every line of the report names a setting's flag and variable.
            let report = failure(&problems).message;
            for line in report.lines().skip(1) {
                prop_assert!(
                    ALL.iter().any(|s| line.starts_with(&format!("  {s}: "))),
                    "a line names no setting: {line:?}"
                );
            }
            prop_assert_eq!(report.lines().count(), problems.len() + 1);
        }
        let named = together.as_ref().err().cloned().unwrap_or_default();
        let max_body = ALL.iter().position(|s| *s == MAX_BODY_BYTES).unwrap();
        for (i, change) in changes.iter().enumerate() {
            let Some(value) = change else { continue };
            // The same value alone, among good ones.
            let mut alone = base.clone();
            alone[i] = value.clone();
            let flag = ALL[i].flag;
            match blamed(&alone) {
                Ok(_) => {}
                Err(names) if names.contains(flag) => {
                    // At fault alone: at fault together (except the budget, whose fault
                    // may be the good --max-body-bytes it was compared with).
                    if ALL[i] != BODY_BUDGET_BYTES || changes[max_body].is_none() {
                        prop_assert!(
                            named.contains(flag),
                            "--{flag}={value:?} is refused alone but not among {values:?}"
                        );
                    }
                }
                Err(names) => {
                    // A larger --max-body-bytes can make the good budget too small.
                    prop_assert!(
                        ALL[i] == MAX_BODY_BYTES && names == BTreeSet::from([BODY_BUDGET_BYTES.flag]),
                        "--{flag}={value:?} alone blames {names:?}"
                    );
                }
            }
        }
        // And nothing is blamed that was not changed (the budget: see above).
        for flag in &named {
            let i = ALL.iter().position(|s| s.flag == *flag).unwrap();
            prop_assert!(
                changes[i].is_some() || (ALL[i] == BODY_BUDGET_BYTES && changes[max_body].is_some()),
                "--{flag} blamed though it was not changed: {values:?}"
            );
        }
    }
}
