//! End to end: the real `keyroll serve` against the simulated GitHub (real git objects, real
//! webhook payloads, signed deliveries over a socket), driven by people the way the runbooks
//! were: a rotation asked for on the dashboard, approvals from the credential's owners, a
//! failed wave retried by an operator, the Jenkins gate confirmed by the release team, the
//! remove pull request, and the real `sops -d` reading every file keyroll wrote.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;
use crate::world;

use world::{World, alice, carol, leaves, logs, mona, pete, rita, sam};

/// The demo repository's fingerprint key, as its file holds it (64 hex digits).
fn fingerprint_key_text() -> String {
    let path = common::fixture("demo-credentials/.keyroll/fingerprint-key.yaml");
    let file = keyroll::sops::SopsFile::parse(
        std::fs::read_to_string(path).unwrap(),
        keyroll::sops::Format::Yaml,
    )
    .unwrap();
    let ids = keyroll::sops::Identities::from_file(&common::fixture("demo-age-key.txt")).unwrap();
    let opened = file.open(&ids).unwrap();
    let path = keyroll::sops::TreePath::keys(&["fingerprint_key"]);
    let text = opened.get(&path).unwrap().unwrap().expose_str().unwrap();
    assert_eq!(text.len(), 64);
    text.to_owned()
}

fn fingerprint_key() -> keyroll::fingerprint::FingerprintKey {
    let text = keyroll::sops::PlainValue::str(&fingerprint_key_text());
    keyroll::fingerprint::FingerprintKey::from_value(&text).unwrap()
}

/// The API tokens of the demo's data API, by where they sit.
fn tokens(w: &World, git_ref: &str) -> (Vec<String>, String, String) {
    let vars = leaves(&w.decrypted(git_ref, "vars/production.yaml"));
    let jenkins = leaves(&w.decrypted(git_ref, "jenkins-vars/jenkins.yaml"));
    let accepted: Vec<String> = vars["data_api.auth_tokens"]
        .split(':')
        .map(str::to_owned)
        .collect();
    (
        accepted,
        vars["apps.data_api_token"].clone(),
        jenkins["jenkins_env_variables.DM_DATA_API_TOKEN"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_api_tokens_from_the_dashboard_to_done() {
    let w = World::start().await;
    let (old_accepted, old_app, old_jenkins) = tokens(&w, "main");

    // The schedule tick writes the dashboard; nothing is due in a fresh repository.
    w.tick().await;
    let dash = w.dashboard();
    assert!(w.rotation_ids().await.is_empty(), "nothing was due");

    // A reader cannot start anything; the owner can.
    w.say(
        dash,
        &carol(),
        "/keyroll rotate data-api-tokens -- quarterly",
    )
    .await;
    assert!(
        w.last_reply(dash)
            .contains("needs the owner role; you have reader"),
        "{}",
        w.last_reply(dash)
    );
    assert!(w.rotation_ids().await.is_empty());
    let requests_before = w.sim.requests().len();
    w.say(
        dash,
        &alice(),
        "/keyroll rotate data-api-tokens -- quarterly",
    )
    .await;
    let ids = w.rotation_ids().await;
    assert_eq!(ids.len(), 1, "one rotation");
    let id = ids[0].clone();
    assert!(
        w.last_reply(dash)
            .contains(&format!("started rotation `{id}`"))
    );

    // The add pull request: on keyroll's branch, labelled, reviewers asked, a gate that
    // waits for an approval from the owners.
    let add = w.open_pull();
    assert_eq!(
        add.title,
        "chore(credentials): rotate data-api-tokens (add new)"
    );
    assert_eq!(add.head, format!("keyroll/data-api-tokens/{id}/add"));
    assert!(
        add.labels.contains(&"credentials".to_owned()),
        "{:?}",
        add.labels
    );
    assert!(
        add.requested_teams.contains(&"platform".to_owned()),
        "{:?}",
        add.requested_teams
    );
    assert!(
        add.body
            .contains(&format!("<!-- keyroll:pull-request rotation={id} pr=0 -->"))
    );
    let (conclusion, title, summary) = w.gate(&add.head_sha);
    assert_eq!(conclusion.as_deref(), Some("failure"), "{title}: {summary}");
    assert!(summary.contains("0 of 1 approving review(s)"), "{summary}");

    // What the branch holds, read by the real sops: new A/J/D tokens accepted next to the
    // old ones, and the apps and Jenkins switched to the new A and J.
    let (accepted, app, jenkins) = tokens(&w, &add.head);
    assert_eq!(accepted.len(), 6, "{accepted:?}");
    for old in &old_accepted {
        assert!(accepted.contains(old));
    }
    let new: Vec<String> = accepted
        .iter()
        .filter(|t| !old_accepted.contains(t))
        .cloned()
        .collect();
    assert_eq!(new.len(), 3);
    for prefix in ["A", "J", "D"] {
        assert_eq!(
            new.iter().filter(|t| t.starts_with(prefix)).count(),
            1,
            "{new:?}"
        );
    }
    assert!(app.starts_with('A') && app != old_app && new.contains(&app));
    assert!(jenkins.starts_with('J') && jenkins != old_jenkins && new.contains(&jenkins));
    // The body shows fingerprints under the repository's key, never a value.
    let key = fingerprint_key();
    let fp = keyroll::fingerprint::Fingerprint::of_bytes(old_app.as_bytes(), &key).to_string();
    assert!(add.body.contains(&format!("`{fp}`")), "{}", add.body);
    for v in new.iter().chain(&old_accepted) {
        assert!(
            !add.body.contains(v.as_str()),
            "a token in the pull request body"
        );
    }

    // An approval from someone the config does not name does not count; the owner's does.
    w.sim.review(add.number, &rita(), "APPROVED", "lgtm").await;
    w.settle().await;
    assert_eq!(w.gate(&add.head_sha).0.as_deref(), Some("failure"));
    w.sim.review(add.number, &mona(), "APPROVED", "lgtm").await;
    w.settle().await;
    assert_eq!(
        w.gate(&add.head_sha).0.as_deref(),
        Some("success"),
        "{:?}",
        w.gate(&add.head_sha)
    );
    // The config does not let keyroll merge: people do.
    assert_eq!(w.sim.pull(add.number).state, "open");
    let merge = w.merge(add.number, &alice()).await;
    assert_eq!(w.phase(&id).await, "rollout 0.0");
    assert_eq!(tokens(&w, "main").1, app, "main holds the merged change");

    // Wave 1, then wave 2 fails: the rotation stalls, the old tokens still work.
    w.checks(&merge, &["deploy-search-api"], "success").await;
    w.checks(&merge, &["deploy-data-api"], "failure").await;
    assert!(
        w.phase(&id).await.starts_with("stalled"),
        "{}",
        w.phase(&id).await
    );
    // An owner may not retry; an operator (the SRE team, by the server's settings) may.
    w.say(add.number, &alice(), "/keyroll retry -- redeployed")
        .await;
    assert!(
        w.last_reply(add.number).contains("needs the operator role"),
        "{}",
        w.last_reply(add.number)
    );
    w.say(add.number, &sam(), "/keyroll retry -- redeployed data-api")
        .await;
    assert_eq!(w.phase(&id).await, "rollout 0.1");
    w.checks(
        &merge,
        &["deploy-data-api", "deploy-frontends", "deploy-scripts"],
        "success",
    )
    .await;
    assert_eq!(
        w.phase(&id).await,
        "rollout 0.3",
        "waiting at the Jenkins gate"
    );

    // The gate: a reader cannot confirm, an owner outside the release team neither.
    w.say(add.number, &carol(), "/keyroll confirm jenkins-config")
        .await;
    assert_eq!(w.phase(&id).await, "rollout 0.3");
    w.say(add.number, &alice(), "/keyroll confirm jenkins-config")
        .await;
    assert!(
        w.last_reply(add.number)
            .contains("confirmed by @acme/release"),
        "{}",
        w.last_reply(add.number)
    );
    assert_eq!(w.phase(&id).await, "rollout 0.3");
    w.say(
        add.number,
        &rita(),
        "Ran `make jenkins TAGS=config`.\n\n/keyroll confirm jenkins-config -- done",
    )
    .await;

    // The remove pull request: only the accept list changes.
    let remove = w.open_pull();
    assert_eq!(
        remove.title,
        "chore(credentials): rotate data-api-tokens (remove old)"
    );
    let (accepted, _, _) = tokens(&w, &remove.head);
    assert_eq!(accepted.len(), 3);
    for t in &new {
        assert!(accepted.contains(t));
    }
    w.sim.review(remove.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    let merge2 = w.merge(remove.number, &pete()).await;
    w.checks(
        &merge2,
        &[
            "deploy-search-api",
            "deploy-data-api",
            "deploy-frontends",
            "deploy-scripts",
        ],
        "success",
    )
    .await;
    assert_eq!(w.phase(&id).await, "done");
    let spent: Vec<String> = w.sim.requests()[requests_before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    report_requests(&spent);

    // The end state, by the real sops: only the new tokens, in use where they should be.
    let (accepted, app, jenkins) = tokens(&w, "main");
    let mut sorted = accepted.clone();
    sorted.sort();
    let mut expected = new.clone();
    expected.sort();
    assert_eq!(sorted, expected);
    assert!(new.contains(&app) && new.contains(&jenkins));
    for old in &old_accepted {
        assert!(!accepted.contains(old));
    }

    // Nothing keyroll sent GitHub was outside the API it knows.
    assert!(w.sim.unhandled().is_empty(), "{:?}", w.sim.unhandled());

    // No value, and not the fingerprint key, reached a request (outside SOPS ciphertext), a
    // log line or the database.
    let secrets: Vec<String> = new
        .iter()
        .chain(&old_accepted)
        .cloned()
        .chain([fingerprint_key_text()])
        .collect();
    for r in w.sim.requests() {
        let body = r.body.to_string();
        for s in &secrets {
            assert!(
                !body.contains(s.as_str()),
                "a token in {} {}",
                r.method,
                r.path
            );
        }
    }
    let logged = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(logged.contains(&id), "the logs name the rotation");
    let db = w.database_bytes();
    for s in &secrets {
        assert!(!logged.contains(s.as_str()), "a token in the logs");
        assert!(
            !db.windows(s.len()).any(|win| win == s.as_bytes()),
            "a token in the database"
        );
    }
}

/// Writes what the rotation cost in GitHub API requests to `target/rotation-requests.txt`
/// (the README quotes it): the total, and how many went to commands and replies.
fn report_requests(spent: &[String]) {
    let people = spent
        .iter()
        .filter(|r| {
            r.contains("/reactions") || r.contains("/permission") || r.contains("/memberships/")
        })
        .count();
    let mut by_kind: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for r in spent {
        let kind: String = r
            .split('/')
            .map(|seg| {
                if seg.chars().any(|c| c.is_ascii_digit()) && seg.len() > 3
                    || seg.parse::<u64>().is_ok()
                {
                    "*"
                } else {
                    seg
                }
            })
            .take(7)
            .collect::<Vec<_>>()
            .join("/");
        *by_kind.entry(kind).or_default() += 1;
    }
    let mut text = format!(
        "requests from `/keyroll rotate` to done: {}\n of which commands (reactions, permission and team checks): {people}\n\n",
        spent.len()
    );
    for (k, n) in by_kind {
        text.push_str(&format!("{n:4}  {k}\n"));
    }
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/rotation-requests.txt");
    let _ = std::fs::create_dir_all(path.parent().unwrap());
    std::fs::write(path, text).unwrap();
}

/// A deploy check that succeeds on a later commit of the default branch (one that contains
/// the merge) moves the wave when its webhook arrives, with no reconcile tick; the same
/// check on a commit of another branch that contains the merge does not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_on_a_later_default_branch_commit_counts_when_its_webhook_arrives() {
    let w = World::start().await;
    w.tick().await;
    w.say(
        w.dashboard(),
        &alice(),
        "/keyroll rotate search-api-tokens -- test",
    )
    .await;
    let id = w.rotation_ids().await.last().cloned().unwrap();
    let add = w.open_pull();
    w.sim.review(add.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    w.merge(add.number, &alice()).await;
    assert_eq!(w.phase(&id).await, "rollout 0.0");

    // A branch made after the merge contains it, but is not the default branch.
    let elsewhere = w
        .sim
        .push_to_branch("experiment", &[("notes.txt", "try")], &pete())
        .await;
    w.settle().await;
    w.checks(&elsewhere, &["deploy-search-api"], "success")
        .await;
    assert_eq!(w.phase(&id).await, "rollout 0.0", "not the default branch");

    // Someone merges something else; the deploy runs on the new head.
    let default = w.sim.default_branch();
    let later = w
        .sim
        .push_to_branch(&default, &[("notes.txt", "later")], &pete())
        .await;
    w.settle().await;
    w.checks(&later, &["deploy-search-api"], "success").await;
    assert_eq!(w.phase(&id).await, "rollout 0.1", "counted without a tick");
    w.checks(&later, &["deploy-frontends", "deploy-scripts"], "success")
        .await;
    assert_eq!(
        w.phase(&id).await,
        "open 1",
        "the remove pull request is open"
    );
}
