//! Webhook deliveries: every real example payload of every event keyroll reads (npm
//! `@octokit/webhooks-examples`, pinned and fetched by the test set-up) parses, and parse
//! errors never show the body.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

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
        .unwrap_or_else(|| common::cache_dir().join("webhooks-examples-7.6.1/index.json"));
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

/// Real payloads, with only the scenario's fields changed, routed to a rotation and stepped
/// through the engine: the merge of keyroll's pull request, then a check on the merge commit.
#[test]
fn deliveries_route_to_their_rotation_and_move_it() {
    use keyroll::engine::{Input, Phase, Rotation, plan_for, step};
    use keyroll::github::route::inputs;
    let all = examples();
    let config_text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/demo-credentials/.keyroll.yaml"),
    )
    .unwrap();
    let config = keyroll::policy::parse(".keyroll.yaml", &config_text).unwrap();
    let cred = config.credential("redis-auth").unwrap();
    let now = time::macros::datetime!(2026-05-01 10:00 UTC);
    let mut r = Rotation::new("R-2026-0001", &cred.name, false, plan_for(cred, false), now);
    for input in [Input::LockAcquired, Input::PrOpened { pr: 0, number: 2 }] {
        r = step(&r, &input, now).next;
    }
    assert_eq!(r.phase, Phase::Open { pr: 0 });
    let deliver =
        |event: &str, payload: &serde_json::Value, r: &Rotation| -> Vec<(String, Input)> {
            let delivery = parse(event, &serde_json::to_vec(payload).unwrap())
                .unwrap()
                .unwrap();
            inputs(&delivery, std::slice::from_ref(r), "keyroll[bot]")
        };

    // The merge of keyroll's branch.
    let mut merged = examples_of(&all, "pull_request")
        .iter()
        .find(|e| e["action"] == "closed")
        .unwrap()
        .clone();
    merged["pull_request"]["head"]["ref"] = "keyroll/redis-auth/R-2026-0001/add".into();
    merged["pull_request"]["merged"] = true.into();
    merged["number"] = 2.into();
    let merge_sha = merged["pull_request"]["merge_commit_sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let routed = deliver("pull_request", &merged, &r);
    assert_eq!(
        routed,
        vec![(
            "R-2026-0001".to_owned(),
            Input::PrMerged {
                number: 2,
                merge_sha: merge_sha.clone()
            }
        )]
    );
    r = step(&r, &routed[0].1, now).next;
    assert_eq!(r.phase, Phase::Rollout { pr: 0, step: 0 });

    // Someone else's branch, a check on another commit: nothing.
    let mut elsewhere = merged.clone();
    elsewhere["pull_request"]["head"]["ref"] = "feature/login".into();
    assert!(deliver("pull_request", &elsewhere, &r).is_empty());
    let mut unrelated = examples_of(&all, "check_run")
        .iter()
        .find(|e| e["action"] == "completed")
        .unwrap()
        .clone();
    unrelated["check_run"]["name"] = "terraform-apply".into();
    unrelated["check_run"]["conclusion"] = "success".into();
    assert!(
        deliver("check_run", &unrelated, &r).is_empty(),
        "a check on an unrelated commit counts for nothing"
    );

    // The same check on another commit: worth asking GitHub about (the wave waits for it),
    // and routed to the wave once the shell found the commit is a later one of the default
    // branch. Another check's result is not worth a question.
    let parsed = |event: &str, payload: &serde_json::Value| {
        parse(event, &serde_json::to_vec(payload).unwrap())
            .unwrap()
            .unwrap()
    };
    let unrelated_sha = unrelated["check_run"]["head_sha"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        keyroll::github::route::later_candidates(
            &parsed("check_run", &unrelated),
            std::slice::from_ref(&r)
        ),
        Some((unrelated_sha, vec![merge_sha.clone()]))
    );
    let later = keyroll::github::route::inputs_after(
        &parsed("check_run", &unrelated),
        std::slice::from_ref(&r),
        "keyroll[bot]",
        std::slice::from_ref(&merge_sha),
    );
    assert!(
        matches!(later.as_slice(), [(_, Input::Check { merge_sha: m, .. })] if *m == merge_sha),
        "{later:?}"
    );
    let mut other = unrelated.clone();
    other["check_run"]["name"] = "lint".into();
    assert_eq!(
        keyroll::github::route::later_candidates(
            &parsed("check_run", &other),
            std::slice::from_ref(&r)
        ),
        None
    );

    // The wave's check, completed on the merge commit.
    let mut check = unrelated.clone();
    check["check_run"]["head_sha"] = merge_sha.clone().into();
    let routed = deliver("check_run", &check, &r);
    assert_eq!(routed.len(), 1);
    r = step(&r, &routed[0].1, now).next;
    assert_eq!(r.phase, Phase::Done);

    // A person's push to a keyroll branch, and a failed commit status on a merge commit.
    let mut r2 = Rotation::new("R-2026-0002", &cred.name, false, plan_for(cred, false), now);
    for input in [
        Input::LockAcquired,
        Input::PrOpened { pr: 0, number: 7 },
        Input::PrMerged {
            number: 7,
            merge_sha: merge_sha.clone(),
        },
    ] {
        r2 = step(&r2, &input, now).next;
    }
    let mut pushed = examples_of(&all, "pull_request")
        .iter()
        .find(|e| e["action"] == "synchronize")
        .unwrap()
        .clone();
    pushed["pull_request"]["head"]["ref"] = "keyroll/redis-auth/R-2026-0002/add".into();
    pushed["number"] = 7.into();
    let routed = deliver("pull_request", &pushed, &r2);
    assert!(
        matches!(routed.as_slice(), [(id, Input::PushedByPerson { number: 7, .. })] if id == "R-2026-0002"),
        "{routed:?}"
    );
    let mut status = examples_of(&all, "status")[0].clone();
    status["sha"] = merge_sha.into();
    status["context"] = "terraform-apply".into();
    status["state"] = "failure".into();
    let routed = deliver("status", &status, &r2);
    r2 = step(&r2, &routed[0].1, now).next;
    assert!(matches!(r2.phase, Phase::Stalled { .. }), "{:?}", r2.phase);
}

// ---- fuzz: arbitrary and mutated deliveries through parse and routing ----

mod fuzz {
    use std::sync::OnceLock;

    use keyroll::engine::{Input, Rotation, step};
    use keyroll::github::route::inputs;
    use keyroll::github::webhook::{parse, repository_of};
    use proptest::prelude::*;
    use proptest::sample::Index;
    use serde_json::Value;

    use super::{EVENTS, examples};

    /// Cases per property: bounded by default, more with `KEYROLL_FUZZ_CASES`.
    fn cases() -> u32 {
        std::env::var("KEYROLL_FUZZ_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(256)
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: cases(),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Every example of every event keyroll reads, with its event name.
    fn all_examples() -> &'static Vec<(&'static str, Value)> {
        static ALL: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
        ALL.get_or_init(|| {
            let all = examples();
            let mut out = Vec::new();
            for event in EVENTS {
                let list = all
                    .iter()
                    .find(|e| e["name"] == *event)
                    .and_then(|e| e["examples"].as_array())
                    .cloned()
                    .unwrap_or_default();
                out.extend(list.into_iter().map(|e| (*event, e)));
            }
            out
        })
    }

    /// Rotations a routed delivery could concern: one waiting for its pull request to
    /// merge, one in its rollout, named as the mutations below name them.
    fn active() -> Vec<Rotation> {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let mut open = Rotation::new("R-2026-0001", "db-password", false, Vec::new(), now);
        open = step(&open, &Input::LockAcquired, now).next;
        open = step(&open, &Input::PrOpened { pr: 0, number: 7 }, now).next;
        let mut merged = open.clone();
        merged.id = "R-2026-0002".into();
        merged.facts.prs.entry(0).or_default().merge_sha = Some("a".repeat(40));
        vec![open, merged]
    }

    /// Strings the parser and the router give meaning to, and some they should not.
    fn text() -> impl Strategy<Value = Value> {
        prop_oneof![
            ".{0,40}".prop_map(Value::from),
            prop::sample::select(vec![
                "keyroll/db-password/R-2026-0001/add",
                "keyroll/db-password/R-2026-0002/remove",
                "keyroll//R-/",
                "R-2026-0001",
                "closed",
                "synchronize",
                "submitted",
                "completed",
                "requested_action",
                "success",
                "failure",
                "keyroll/gate",
                "refs/heads/main",
                ".keyroll.yaml",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "",
            ])
            .prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            Just(Value::from(7)),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)),
            text(),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,10}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        /// The node at a path becomes another value.
        Replace(Index, Value),
        /// The node at a path is removed from its object or array.
        Remove(Index),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            3 => (any::<Index>(), value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
            1 => any::<Index>().prop_map(Mutation::Remove),
        ]
    }

    /// JSON pointers to every node below the root.
    fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{here}/{}", k.replace('~', "~0").replace('/', "~1"));
                    out.push(p.clone());
                    pointers(x, p, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    let p = format!("{here}/{i}");
                    out.push(p.clone());
                    pointers(x, p, out);
                }
            }
            _ => {}
        }
    }

    fn apply(v: &mut Value, m: &Mutation) {
        let mut all = Vec::new();
        pointers(v, String::new(), &mut all);
        if all.is_empty() {
            return;
        }
        match m {
            Mutation::Replace(at, new) => {
                let path = at.get(&all).clone();
                if let Some(node) = v.pointer_mut(&path) {
                    *node = new.clone();
                }
            }
            Mutation::Remove(at) => {
                let path = at.get(&all).clone();
                let (parent, last) = path.rsplit_once('/').unwrap();
                match v.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.remove(&last.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = last.parse::<usize>()
                            && i < a.len()
                        {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// What the worker does with a stored delivery before the API: find its repository,
    /// parse it, route it to the rotations under way.
    fn read(event: &str, body: &[u8]) {
        let _ = repository_of(body);
        if let Ok(Some(d)) = parse(event, body) {
            let _ = inputs(&d, &active(), "keyroll[bot]");
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn arbitrary_bodies_never_panic(
            event in prop::sample::select(EVENTS.to_vec()),
            body in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            read(event, &body);
        }

        #[test]
        fn arbitrary_json_never_panics(
            event in prop::sample::select(EVENTS.to_vec()),
            v in value(),
        ) {
            read(event, &serde_json::to_vec(&v).unwrap());
        }

        #[test]
        fn mutated_examples_never_panic(
            pick in any::<Index>(),
            mutations in prop::collection::vec(mutation(), 1..6),
            cut in any::<Index>(),
            truncate in any::<bool>(),
        ) {
            let (event, example) = pick.get(all_examples());
            let mut v = example.clone();
            for m in &mutations {
                apply(&mut v, m);
            }
            let mut body = serde_json::to_vec(&v).unwrap();
            read(event, &body);
            // Cut short (a delivery stored in part), at any byte.
            if truncate && !body.is_empty() {
                body.truncate(cut.index(body.len()));
                read(event, &body);
            }
            // Read as every other event too (a wrong `X-GitHub-Event`).
            for other in EVENTS {
                read(other, &serde_json::to_vec(&v).unwrap());
            }
        }
    }

    #[test]
    fn the_lane_of_a_delivery_is_its_repository() {
        for (_, example) in all_examples() {
            let body = serde_json::to_vec(example).unwrap();
            let expected = example["repository"]["full_name"]
                .as_str()
                .map(str::to_owned);
            assert_eq!(repository_of(&body), expected);
        }
        assert_eq!(repository_of(b"{not json"), None);
        assert_eq!(repository_of(br#"{"repository":{"full_name":""}}"#), None);
        let long = format!(r#"{{"repository":{{"full_name":"{}"}}}}"#, "a".repeat(141));
        assert_eq!(repository_of(long.as_bytes()), None);
    }
}
