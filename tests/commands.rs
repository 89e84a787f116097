//! The `/keyroll` grammar: what counts as a command (and what never does), errors with
//! suggestions, the permission check, and the help text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use keyroll::commands::{Invocation, Parsed, Place, Role, TABLE, Verb, allow, help, parse};

fn one(body: &str) -> Invocation {
    match parse(body) {
        Parsed::One(inv) => inv,
        other => panic!("{body:?}: expected one command, got {other:?}"),
    }
}

fn invalid(body: &str) -> String {
    match parse(body) {
        Parsed::Invalid(msg) => msg,
        other => panic!("{body:?}: expected an error, got {other:?}"),
    }
}

#[test]
fn a_command_line_anywhere_in_a_comment() {
    let inv = one(
        "Deployed to Jenkins.\n\n/keyroll confirm jenkins-config -- ran make jenkins TAGS=config\n\nThanks!",
    );
    assert_eq!(inv.verb, Verb::Confirm);
    assert_eq!(inv.arg.as_deref(), Some("jenkins-config"));
    assert_eq!(inv.reason.as_deref(), Some("ran make jenkins TAGS=config"));
    // Verbs are case-insensitive, leading spaces allowed.
    assert_eq!(one("  /KEYROLL Hold").verb, Verb::Hold);
    assert_eq!(one("/keyroll retry").verb, Verb::Retry);
    let rotate = one("/keyroll rotate data-api-tokens --emergency -- token posted in #general");
    assert!(rotate.emergency);
    assert_eq!(rotate.arg.as_deref(), Some("data-api-tokens"));
    assert_eq!(one("/keyroll plan").arg, None);
    assert_eq!(
        one("/keyroll abort R-2026-0042 -- superseded")
            .arg
            .as_deref(),
        Some("R-2026-0042")
    );
}

#[test]
fn quotes_code_and_html_comments_are_never_commands() {
    for body in [
        "> /keyroll abort R-2026-0001 -- quoted",
        "```\n/keyroll hold\n```",
        "~~~text\n/keyroll hold\n~~~",
        "    /keyroll hold",
        "\t/keyroll hold",
        "Run `/keyroll hold` to stop it.",
        "<!-- /keyroll hold -->",
        "<!--\n/keyroll hold\n-->",
        "please /keyroll hold",
        "/keyrollhold",
        "@keyroll hold",
        "/keyroll-bot hold",
    ] {
        assert_eq!(parse(body), Parsed::Nothing, "{body:?}");
    }
    // After a closed fence, lines count again.
    assert_eq!(one("```\ncode\n```\n/keyroll status").verb, Verb::Status);
}

#[test]
fn two_commands_run_nothing() {
    let msg = invalid("/keyroll hold\n/keyroll retry");
    assert!(msg.contains("2 command lines"), "{msg}");
}

#[test]
fn mistakes_get_a_usage_line_or_a_suggestion() {
    insta::assert_snapshot!(
        [
            invalid("/keyroll"),
            invalid("/keyroll cofnirm jenkins-config"),
            invalid("/keyroll frobnicate"),
            invalid("/keyroll confirm"),
            invalid("/keyroll rotate data-api-tokens --emergncy -- leak"),
            invalid("/keyroll rotate data-api-tokens --emergency"),
            invalid("/keyroll abort R-2026-0042"),
            invalid("/keyroll abort 42 -- oops"),
            invalid("/keyroll hold now please"),
            invalid("/keyroll status -- why"),
            invalid("/keyroll plan ../../etc"),
        ]
        .join("\n")
    );
}

#[test]
fn each_verb_needs_its_role_and_place() {
    let inv = |body: &str| one(body);
    // Readers: help, status, plan; nothing that changes state.
    for body in ["/keyroll help", "/keyroll status", "/keyroll plan"] {
        assert!(
            allow(&inv(body), Role::Reader, Place::PullRequest).is_ok(),
            "{body}"
        );
    }
    for row in TABLE.iter().filter(|r| r.role > Role::Reader) {
        let body = match row.name {
            "rotate" => "/keyroll rotate x".to_owned(),
            "confirm" => "/keyroll confirm g".to_owned(),
            "rollback" | "abort" => format!("/keyroll {} R-2026-0001 -- r", row.name),
            n => format!("/keyroll {n}"),
        };
        let place = if row.on_pull_request {
            Place::PullRequest
        } else {
            Place::Dashboard
        };
        let denied = allow(&inv(&body), Role::Reader, place).unwrap_err();
        assert!(
            denied
                .to_string()
                .contains(&format!("needs the {} role", row.role)),
            "{denied}"
        );
        assert!(allow(&inv(&body), row.role, place).is_ok(), "{body}");
        assert!(allow(&inv(&body), Role::Admin, place).is_ok(), "{body}");
    }
    // An emergency needs more than a routine rotation.
    let emergency = inv("/keyroll rotate x --emergency -- leaked");
    assert!(allow(&emergency, Role::Owner, Place::Dashboard).is_err());
    assert!(allow(&emergency, Role::Operator, Place::Dashboard).is_ok());
    // Elsewhere only help answers.
    assert!(allow(&inv("/keyroll help"), Role::Admin, Place::Elsewhere).is_ok());
    let elsewhere = allow(&inv("/keyroll status"), Role::Admin, Place::Elsewhere).unwrap_err();
    insta::assert_snapshot!(elsewhere.to_string(), @"`status` does not work here; it works on keyroll's pull requests and the dashboard issue.");
    let denied = allow(&inv("/keyroll retry"), Role::Owner, Place::PullRequest).unwrap_err();
    insta::assert_snapshot!(denied.to_string(), @"`retry` needs the operator role; you have owner.");
}

#[test]
fn help_says_what_the_caller_may_run_here() {
    insta::assert_snapshot!(
        "help_reader_on_pull_request",
        help(Role::Reader, Place::PullRequest, None, None)
    );
    insta::assert_snapshot!(
        "help_operator_on_dashboard",
        help(Role::Operator, Place::Dashboard, None, None)
    );
    insta::assert_snapshot!(
        "help_elsewhere",
        help(Role::Owner, Place::Elsewhere, None, None)
    );
}

/// `.keyroll.yaml`'s `roles:` names verbs and roles the way the table and the replies do.
#[test]
fn config_names_of_verbs_and_roles_are_the_tables() {
    for s in TABLE {
        let written: Verb = serde_norway::from_str(s.name).unwrap();
        assert_eq!(written, s.verb, "{}", s.name);
    }
    for role in [Role::Reader, Role::Owner, Role::Operator, Role::Admin] {
        let written: Role = serde_norway::from_str(&role.to_string()).unwrap();
        assert_eq!(written, role);
    }
}

// ---- fuzz: arbitrary comment bodies through the parser ----

mod fuzz {
    use keyroll::commands::{Parsed, TABLE, parse};
    use proptest::prelude::*;

    /// Cases per property: bounded by default, more with `KEYROLL_FUZZ_CASES`.
    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: std::env::var("KEYROLL_FUZZ_CASES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(256),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Pieces comments are made of, the ones the parser gives meaning to first.
    fn piece() -> impl Strategy<Value = String> {
        let verbs: Vec<String> = TABLE.iter().map(|s| s.name.to_owned()).collect();
        prop_oneof![
            Just("/keyroll".to_owned()),
            Just("/KeyRoll".to_owned()),
            Just("/keyrol".to_owned()),
            prop::sample::select(verbs),
            Just(" ".to_owned()),
            Just("\t".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\u{a0}".to_owned()),
            Just("\u{2028}".to_owned()),
            Just(" -- ".to_owned()),
            Just("--".to_owned()),
            Just("--emergency".to_owned()),
            Just("```".to_owned()),
            Just("~~~".to_owned()),
            Just("    ".to_owned()),
            Just("> ".to_owned()),
            Just("<!--".to_owned()),
            Just("-->".to_owned()),
            Just("R-2026-0042".to_owned()),
            Just("R-".to_owned()),
            Just("db-password".to_owned()),
            "[a-z0-9_.-]{0,12}",
            "\\PC{0,8}",
            ".{0,8}",
        ]
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn arbitrary_text_never_panics(body in "(?s).{0,400}") {
            let _ = parse(&body);
        }

        #[test]
        fn comments_made_of_command_pieces_never_panic(
            pieces in prop::collection::vec(piece(), 0..40),
        ) {
            let body: String = pieces.concat();
            let parsed = parse(&body);
            // Only a comment that says `/keyroll` (in any case) can hold a command. (An HTML
            // comment inside it, `/key<!-- -->roll`, renders as `/keyroll` and counts.)
            if !body.to_ascii_lowercase().contains("/keyroll") && !body.contains("<!--") {
                prop_assert_eq!(parsed, Parsed::Nothing);
            }
        }

        #[test]
        fn long_words_are_not_echoed_at_length(
            word in "[a-z]{200,2000}",
            verb in prop::sample::select(vec!["rotate", "plan", "retry", "nonsense"]),
        ) {
            let body = format!("/keyroll {verb} {word} --{word}");
            if let Parsed::Invalid(msg) = parse(&body) {
                prop_assert!(msg.len() < 1000, "{} bytes", msg.len());
            }
        }
    }
}

/// The differential test against GitHub-Flavored Markdown (in this binary, to link no other).
#[path = "commands/gfm.rs"]
mod gfm;
