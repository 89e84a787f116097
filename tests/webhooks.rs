//! Webhook deliveries: every real example payload of every event keyroll reads (npm
//! `@octokit/webhooks-examples`, pinned and fetched by the test set-up) parses, and parse
//! errors never show the body.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use keyroll::github::signature::Secrets;
use keyroll::github::webhook::{Event, parse};

const EVENTS: &[&str] = &[
    "ping",
    "pull_request",
    "pull_request_review",
    "issue_comment",
    "check_run",
    "check_suite",
    "status",
    "deployment_status",
    "push",
    "installation",
    "installation_repositories",
];

fn examples() -> Vec<serde_json::Value> {
    let path = std::env::var_os("KEYROLL_TEST_WEBHOOK_EXAMPLES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".cache"));
            cache.join("keyroll/webhooks-examples-7.6.1/index.json")
        });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run the tests with `bash tests/run.sh`, which fetches it",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn examples_of<'a>(all: &'a [serde_json::Value], event: &str) -> &'a [serde_json::Value] {
    all.iter()
        .find(|e| e["name"] == event)
        .and_then(|e| e["examples"].as_array())
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("no examples of {event}"))
}

#[test]
fn every_example_of_every_event_keyroll_reads_parses() {
    let all = examples();
    let mut first_of_each = String::new();
    for event in EVENTS {
        let list = examples_of(&all, event);
        assert!(!list.is_empty(), "{event}");
        for (i, example) in list.iter().enumerate() {
            let body = serde_json::to_vec(example).unwrap();
            let delivery = parse(event, &body)
                .unwrap_or_else(|e| panic!("{event} example {i}: {e}"))
                .unwrap_or_else(|| panic!("{event} example {i} was ignored"));
            // Installation events, and pings of organization hooks, name no repository.
            if !event.starts_with("installation") && *event != "ping" {
                assert!(
                    delivery.context.repository.is_some(),
                    "{event} example {i} has no repository"
                );
            }
            if i == 0 {
                first_of_each.push_str(&format!(
                    "{event}: {}\n",
                    serde_json::to_string(&delivery).unwrap()
                ));
            }
        }
    }
    insta::assert_snapshot!("first_example_of_each_event", first_of_each);
}

#[test]
fn merges_comments_and_bots_are_read_right() {
    let all = examples();
    let parsed = |event: &str| -> Vec<Event> {
        examples_of(&all, event)
            .iter()
            .map(|e| {
                parse(event, &serde_json::to_vec(e).unwrap())
                    .unwrap()
                    .unwrap()
                    .event
            })
            .collect()
    };
    // The package's closed pull requests were closed unmerged; a merge is the same payload
    // with `merged` set, as GitHub sends it.
    let closed: Vec<&serde_json::Value> = examples_of(&all, "pull_request")
        .iter()
        .filter(|e| e["action"] == "closed")
        .collect();
    assert!(!closed.is_empty());
    for example in closed {
        let unmerged = parse("pull_request", &serde_json::to_vec(example).unwrap())
            .unwrap()
            .unwrap()
            .event;
        assert!(
            matches!(unmerged, Event::PullRequest { merged: false, .. }),
            "{unmerged:?}"
        );
        let mut merged = example.clone();
        merged["pull_request"]["merged"] = serde_json::Value::Bool(true);
        let event = parse("pull_request", &serde_json::to_vec(&merged).unwrap())
            .unwrap()
            .unwrap()
            .event;
        let Event::PullRequest {
            merged: true,
            merge_commit_sha: Some(sha),
            ..
        } = event
        else {
            panic!("{event:?}")
        };
        assert_eq!(sha.len(), 40);
    }
    assert!(parsed("issue_comment").iter().any(|e| matches!(e, Event::IssueComment { action, body, .. } if action == "created" && !body.is_empty())));
    // Comments by apps come from `[bot]` users of type Bot: keyroll ignores those.
    let mut by_bot = examples_of(&all, "issue_comment")[0].clone();
    by_bot["comment"]["user"]["type"] = serde_json::Value::String("Bot".into());
    let event = parse("issue_comment", &serde_json::to_vec(&by_bot).unwrap())
        .unwrap()
        .unwrap()
        .event;
    assert!(
        matches!(event, Event::IssueComment { ref author, .. } if author.is_bot),
        "{event:?}"
    );
}

#[test]
fn other_events_are_ignored_and_errors_hide_the_body() {
    assert_eq!(parse("star", br#"{"action": "created"}"#).unwrap(), None);
    for (event, body) in [
        ("ping", &br#"{"zen": "hunter2-secret""#[..]),
        (
            "pull_request",
            br#"{"action": 5, "note": "hunter2-secret"}"#,
        ),
        (
            "check_run",
            br#"{"action": "completed", "check_run": {"name": "hunter2-secret"}}"#,
        ),
        (
            "status",
            br#"{"sha": "abc", "context": "hunter2-secret", "state": 7}"#,
        ),
    ] {
        let err = parse(event, body).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(event), "{shown}");
    }
}

/// Deliveries signed as GitHub signs them verify; the same delivery with any byte changed
/// does not.
#[test]
fn example_deliveries_verify_with_their_signature() {
    let all = examples();
    let secrets = Secrets::from_list("rotating-old,rotating-new").unwrap();
    for event in EVENTS {
        for example in examples_of(&all, event) {
            let body = serde_json::to_vec(example).unwrap();
            let header = Secrets::sign(b"rotating-new", &body);
            assert!(secrets.verify(Some(&header), &body).is_ok());
            let mut tampered = body.clone();
            let last = tampered.len() - 2;
            tampered[last] ^= 0x20;
            assert!(secrets.verify(Some(&header), &tampered).is_err(), "{event}");
        }
    }
}
