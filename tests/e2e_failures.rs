//! End to end, when things go wrong: a pull request closed unmerged, keyroll restarted in
//! the middle of a rotation, webhooks lost or delivered twice, GitHub answering with errors
//! and rate limits, a config that does not validate. Also the other presets: the Terraform
//! date bump and a manual credential a person supplies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;
use crate::sim;
use crate::world;

use sim::{Fault, FaultKind};
use world::{World, alice, carol, leaves, logs, mona, pete, sam};

/// Starts a rotation from the dashboard as the credential's owner; returns its id.
async fn rotate(w: &World, who: &sim::User, credential: &str) -> String {
    w.tick().await;
    let before = w.rotation_ids().await;
    w.say(
        w.dashboard(),
        who,
        &format!("/keyroll rotate {credential} -- test"),
    )
    .await;
    let ids = w.rotation_ids().await;
    assert_eq!(
        ids.len(),
        before.len() + 1,
        "{}",
        w.last_reply(w.dashboard())
    );
    ids.last().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_date_bump_is_one_pull_request_and_its_apply() {
    let w = World::start().await;
    let id = rotate(&w, &pete(), "redis-auth").await;
    let pr = w.open_pull();
    assert_eq!(pr.title, "chore(credentials): rotate redis-auth (add new)");
    let before = w.sim.file("main", "terraform/redis.tf").unwrap();
    let after = w.sim.file(&pr.head, "terraform/redis.tf").unwrap();
    let changed: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "one line: the date");
    let day = w.clock.0.lock().unwrap().date();
    let today = format!(
        "{:02}-{:02}-{}",
        day.day(),
        u8::from(day.month()),
        day.year()
    );
    assert!(changed[0].1.contains(&today), "{:?}", changed[0]);
    w.sim.review(pr.number, &pete(), "APPROVED", "").await;
    w.settle().await;
    let merge = w.merge(pr.number, &pete()).await;
    // The apply reports as a commit status (as Atlantis or a GitOps controller does).
    w.sim.set_status(&merge, "terraform-apply", "success").await;
    w.settle().await;
    assert_eq!(w.phase(&id).await, "done");
    assert!(w.open_pulls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_credential_waits_for_a_person_and_checks_their_push() {
    let w = World::start().await;
    let id = rotate(&w, &alice(), "notify-api-keys").await;
    let pr = w.open_pull();
    assert!(pr.draft, "a draft until the person pushes");
    let (conclusion, _, summary) = w.gate(&pr.head_sha);
    assert_eq!(conclusion.as_deref(), Some("failure"));
    assert!(
        summary.contains("a person must push the new value"),
        "{summary}"
    );

    // The person mints keys and writes them with the real sops onto keyroll's branch.
    let day = w.clock.0.lock().unwrap().date();
    let stamp = format!("{}{:02}{:02}", day.year(), u8::from(day.month()), day.day());
    let vars = world::sops_set(
        &w.sim.file(&pr.head, "vars/production.yaml").unwrap(),
        "vars/production.yaml",
        r#"["notify_api_key"]"#,
        &format!("\"APPLICATION-PRODUCTION-{stamp}-1a2b3c4d5e6f\""),
    );
    let jenkins = world::sops_set(
        &w.sim.file(&pr.head, "jenkins-vars/jenkins.yaml").unwrap(),
        "jenkins-vars/jenkins.yaml",
        r#"["jenkins_env_variables"]["NOTIFY_API_KEY"]"#,
        &format!("\"JENKINS-LIVE-{stamp}-6f5e4d3c2b1a\""),
    );
    let head = w
        .sim
        .push_to_branch(
            &pr.head,
            &[
                ("vars/production.yaml", &vars),
                ("jenkins-vars/jenkins.yaml", &jenkins),
            ],
            &alice(),
        )
        .await;
    w.settle().await;
    let (conclusion, _, summary) = w.gate(&head);
    assert_eq!(conclusion.as_deref(), Some("failure"));
    assert!(summary.contains("found nothing wrong"), "{summary}");
    // An operator accepts it; the owners approve; a person merges.
    w.say(pr.number, &sam(), "/keyroll retry -- keys minted by alice")
        .await;
    w.sim.review(pr.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    assert_eq!(
        w.gate(&head).0.as_deref(),
        Some("success"),
        "{:?}",
        w.gate(&head)
    );
    let merge = w.merge(pr.number, &alice()).await;
    w.checks(&merge, &["deploy-frontends", "deploy-scripts"], "success")
        .await;
    assert_eq!(w.phase(&id).await, "done");
    let main = leaves(&w.decrypted("main", "vars/production.yaml"));
    assert!(main["notify_api_key"].starts_with("APPLICATION-PRODUCTION-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_changes_more_than_the_credential_is_refused() {
    let w = World::start().await;
    let _id = rotate(&w, &alice(), "data-api-tokens").await;
    let pr = w.open_pull();
    let head = w
        .sim
        .push_to_branch(&pr.head, &[("README.md", "hello\n")], &alice())
        .await;
    w.settle().await;
    let (conclusion, _, summary) = w.gate(&head);
    assert_eq!(conclusion.as_deref(), Some("failure"));
    assert!(summary.contains("`README.md` changed"), "{summary}");
    // keyroll wrote nothing more to the branch.
    assert_eq!(w.sim.branch_sha(&pr.head).unwrap(), head);
}

/// Only keyroll's own account is exempt from the push check: another App's bot pushing to
/// keyroll's branch is checked like a person (design invariant 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_apps_push_to_keyrolls_branch_is_checked() {
    let w = World::start().await;
    let _id = rotate(&w, &alice(), "data-api-tokens").await;
    let pr = w.open_pull();
    let head = w
        .sim
        .push_to_branch(
            &pr.head,
            &[("README.md", "hello\n")],
            &sim::User::deploy_bot(),
        )
        .await;
    w.settle().await;
    let (conclusion, _, summary) = w.gate(&head);
    assert_eq!(conclusion.as_deref(), Some("failure"));
    assert!(summary.contains("`README.md` changed"), "{summary}");
    assert_eq!(w.sim.branch_sha(&pr.head).unwrap(), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_closed_unmerged_aborts_the_rotation() {
    let w = World::start().await;
    let id = rotate(&w, &alice(), "session-secret").await;
    let pr = w.open_pull();
    w.sim.close_pull(pr.number, &alice()).await;
    w.settle().await;
    assert_eq!(w.phase(&id).await, "aborted");
    // The credential is free again: a new rotation can start.
    let again = rotate(&w, &alice(), "session-secret").await;
    assert_ne!(again, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_rotation_and_lost_or_repeated_webhooks_change_nothing() {
    let mut w = World::start().await;
    let id = rotate(&w, &pete(), "database-password").await;
    let pr = w.open_pull();

    // keyroll stops; the merge happens while it is down (its webhook fails to arrive).
    w.stop().await;
    w.sim.drop_next_webhooks(1);
    let merge = w.sim.merge_pull(pr.number, &alice()).await;
    w.boot().await;
    w.settle().await;
    assert_eq!(w.phase(&id).await, "open 0", "the merge webhook was lost");
    // The reconcile tick finds it.
    w.tick().await;
    assert_eq!(w.phase(&id).await, "rollout 0.0");

    // The deploy check's webhook arrives twice; GitHub redelivers it once more.
    w.sim.duplicate_next_webhooks(1);
    w.sim
        .complete_check_run(&merge, "deploy-frontends", "success")
        .await;
    w.settle().await;
    let last = w.sim.deliveries().last().unwrap().guid.clone();
    w.sim.redeliver(&last).await;
    w.settle().await;
    assert_eq!(w.phase(&id).await, "done");
    // One pull request, one status comment.
    assert_eq!(w.sim.pulls().len(), 1);
    let status: Vec<_> = w
        .sim
        .comments(pr.number)
        .into_iter()
        .filter(|c| c.body.contains("<!-- keyroll:status"))
        .collect();
    assert_eq!(status.len(), 1, "{status:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_are_retried_and_a_missing_permission_blocks_with_the_reason() {
    let w = World::start().await;
    w.tick().await;
    // A 502 and a secondary rate limit on the way: retried, nothing lost.
    w.sim.inject(Fault {
        method: Some(http::Method::POST),
        path_contains: "/pulls".into(),
        times: 1,
        kind: FaultKind::Status(502),
    });
    w.sim.inject(Fault {
        method: Some(http::Method::POST),
        path_contains: "/git/commits".into(),
        times: 1,
        kind: FaultKind::SecondaryRateLimit {
            retry_after_secs: 1,
        },
    });
    let id = rotate(&w, &alice(), "session-secret").await;
    assert_eq!(w.open_pulls().len(), 1);
    assert!(w.sim.faults_left().is_empty());
    assert!(
        w.phase(&id).await.starts_with("open"),
        "{}",
        w.phase(&id).await
    );

    // A credential sharing a file with the one rotating waits: keyroll says so.
    let dash = w.dashboard();
    w.say(dash, &pete(), "/keyroll rotate database-password -- test")
        .await;
    assert!(
        w.last_reply(dash).contains("shares `vars/production.yaml`"),
        "{}",
        w.last_reply(dash)
    );

    // Plain 403: not retried; the rotation is blocked with the reason, and retried by an
    // operator once the permission is back.
    w.sim.inject(Fault {
        method: Some(http::Method::POST),
        path_contains: "/git/trees".into(),
        times: 1,
        kind: FaultKind::Forbidden,
    });
    w.say(dash, &pete(), "/keyroll rotate redis-auth -- test")
        .await;
    let blocked = w.rotation_ids().await.last().unwrap().clone();
    let phase = w.phase(&blocked).await;
    assert!(phase.starts_with("blocked"), "{phase}");
    assert_eq!(
        w.open_pulls().len(),
        1,
        "no pull request for the blocked rotation"
    );
    let dashboard = w
        .sim
        .issues()
        .into_iter()
        .find(|i| i.number == dash)
        .unwrap()
        .body;
    assert!(
        dashboard.contains("Resource not accessible by integration"),
        "{dashboard}"
    );
    // The reason is on the dashboard; an operator retries there.
    w.say(
        dash,
        &sam(),
        &format!("/keyroll retry {blocked} -- permission granted"),
    )
    .await;
    assert!(
        w.phase(&blocked).await.starts_with("open"),
        "{}",
        w.phase(&blocked).await
    );
    assert_eq!(w.open_pulls().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_change_gets_a_config_check_and_a_broken_default_branch_stops_new_rotations() {
    let w = World::start().await;
    w.tick().await;
    let broken = std::fs::read_to_string(common::fixture("demo-credentials/.keyroll.yaml"))
        .unwrap()
        .replace("owner: \"@acme/platform\"\n    locations:\n      - { file: vars/production.yaml, path: [database, password]", "owner: \"@acme/platform\"\n    locations:\n      - { file: vars/production.yaml, path: [database, passwort]");
    let head = w
        .sim
        .push_to_branch("config-change", &[(".keyroll.yaml", &broken)], &alice())
        .await;
    let number = w
        .sim
        .open_pull("config-change", "main", "Tune the config", &alice())
        .await;
    w.settle().await;
    let runs = w.sim.check_runs(&head);
    let config = runs
        .iter()
        .find(|c| c.name == "keyroll/config")
        .expect("a keyroll/config check");
    assert_eq!(config.conclusion.as_deref(), Some("failure"));
    assert!(config.summary.contains("passwort"), "{}", config.summary);
    // Merged anyway: keyroll starts nothing and says why on the dashboard.
    w.merge(number, &alice()).await;
    w.say(
        w.dashboard(),
        &pete(),
        "/keyroll rotate database-password -- test",
    )
    .await;
    assert!(w.rotation_ids().await.is_empty());
    assert!(
        w.last_reply(w.dashboard()).contains("has problems"),
        "{}",
        w.last_reply(w.dashboard())
    );
    w.tick().await;
    let dash = w
        .sim
        .issues()
        .into_iter()
        .find(|i| i.number == w.dashboard())
        .unwrap();
    assert!(
        dash.body
            .contains("no rotation starts until they are fixed"),
        "{}",
        dash.body
    );
}

/// keyroll's status comments on a pull request (the hidden marker names the rotation).
fn status_comments(w: &World, number: u64) -> Vec<String> {
    w.sim
        .comments(number)
        .into_iter()
        .filter(|c| c.author == "keyroll[bot]" && c.body.contains("<!-- keyroll:status"))
        .map(|c| c.body)
        .collect()
}

/// GitHub lists 100 comments a page at most. With its status comment on the second page
/// (GitHub refused it while people talked, so it came 121st), a restarted keyroll that
/// no longer knows the comment's id still finds it, reading every page, and posts no second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_comment_past_the_first_page_is_found_and_kept() {
    let mut w = World::start().await;
    w.tick().await;
    let dash = w.dashboard();
    let number = dash + 1;
    w.sim.inject(Fault::new(
        Some(http::Method::POST),
        &format!("/issues/{number}/comments"),
        1,
        FaultKind::Forbidden,
    ));
    rotate(&w, &alice(), "data-api-tokens").await;
    let pr = w.open_pull();
    assert_eq!(pr.number, number);
    assert!(status_comments(&w, number).is_empty(), "GitHub refused it");

    for i in 0..120 {
        w.sim
            .comment(number, &carol(), &format!("note {i} while we wait"))
            .await;
    }
    w.settle().await;
    w.say(number, &alice(), "/keyroll hold -- waiting for the freeze")
        .await;
    assert_eq!(status_comments(&w, number).len(), 1);
    let position = w
        .sim
        .comments(number)
        .iter()
        .position(|c| c.body.contains("<!-- keyroll:status"))
        .unwrap();
    assert!(position >= 100, "on the second page: {position}");

    // A restart forgets which comment is keyroll's; the next status change reads the list.
    w.stop().await;
    w.boot().await;
    w.say(number, &sam(), "/keyroll unhold -- freeze over")
        .await;
    let status = status_comments(&w, number);
    assert_eq!(status.len(), 1, "{status:#?}");
    assert!(
        w.sim.requests().iter().any(|r| r.method == "GET"
            && r.path.ends_with(&format!("/issues/{number}/comments"))
            && r.query.get("page").is_some_and(|p| p == &["2".to_owned()])),
        "keyroll read the second page"
    );
}

/// keyroll checks the default branch's config at start and says so with a `keyroll/config`
/// check run; started again on the same commit, it finds its check saying the same and posts
/// none (a restart is not news on the commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_posts_no_second_config_check_on_the_same_commit() {
    let mut w = World::start().await;
    w.tick().await;
    let head = w.sim.branch_sha("main").unwrap();
    let config_checks = |w: &World| {
        w.sim
            .check_runs(&head)
            .into_iter()
            .filter(|c| c.name == "keyroll/config")
            .count()
    };
    assert_eq!(config_checks(&w), 1);
    for _ in 0..2 {
        w.stop().await;
        w.boot().await;
        w.tick().await;
    }
    assert_eq!(config_checks(&w), 1, "unchanged config, no new check run");
}

/// A 502 that keyroll's client retried successfully is not an error: keyroll logs each
/// attempt at DEBUG and only a request that failed on every attempt as a failure, so no
/// ERROR line names the 502 (the transport's own per-attempt logging used to).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_502_retried_successfully_is_not_logged_as_an_error() {
    let w = World::start().await;
    w.tick().await;
    w.sim.inject(Fault::new(
        Some(http::Method::POST),
        "/pulls",
        1,
        FaultKind::Status(502),
    ));
    rotate(&w, &alice(), "session-secret").await;
    assert_eq!(w.open_pulls().len(), 1);
    assert!(w.sim.faults_left().is_empty(), "the 502 was answered");
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"level\":\"ERROR\"") && l.contains("502"))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

/// GitHub lists a recursive tree only up to its limits, then says `truncated`. keyroll does
/// not take the part for the whole (a credential file past the cut would look absent): it
/// starts nothing and says why, on the commit's config check and in its reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_tree_starts_nothing_and_says_why() {
    let w = World::start().await;
    let dash = w.dashboard();
    w.sim.truncate_trees_past(3);
    let config = w.sim.file("main", ".keyroll.yaml").unwrap();
    let head = w
        .sim
        .push_to_branch(
            "main",
            &[(".keyroll.yaml", &format!("{config}\n# reviewed\n"))],
            &alice(),
        )
        .await;
    w.settle().await;
    let check = w
        .sim
        .check_runs(&head)
        .into_iter()
        .find(|c| c.name == "keyroll/config")
        .expect("a keyroll/config check");
    assert_eq!(check.conclusion.as_deref(), Some("failure"));
    assert!(check.summary.contains("truncated"), "{}", check.summary);
    w.say(dash, &alice(), "/keyroll rotate data-api-tokens -- test")
        .await;
    assert!(w.rotation_ids().await.is_empty());
    assert!(
        w.last_reply(dash).contains("truncated"),
        "{}",
        w.last_reply(dash)
    );
}

/// A command's reply that GitHub fails to take is said when the delivery is handled again,
/// once: the command ran once (one rotation, and the reply says it started, never "already
/// rotating"), its eyes and +1 once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_github_failed_to_take_is_said_once_when_the_command_is_handled_again() {
    let w = World::start().await;
    w.tick().await;
    let dash = w.dashboard();
    // The reply fails (a POST that makes a comment is not sent twice by the client): the
    // delivery fails and is tried again.
    w.sim.inject(Fault::new(
        Some(http::Method::POST),
        &format!("/issues/{dash}/comments"),
        1,
        FaultKind::Status(502),
    ));
    let comment = w
        .say(dash, &alice(), "/keyroll rotate session-secret -- test")
        .await;
    // The delivery waits for its retry time (10 s after the failure).
    w.clock.advance(time::Duration::seconds(11));
    w.settle().await;
    assert!(w.sim.faults_left().is_empty());
    assert_eq!(w.rotation_ids().await.len(), 1);
    let replies: Vec<String> = w
        .sim
        .comments(dash)
        .into_iter()
        .filter(|c| c.author == "keyroll[bot]")
        .map(|c| c.body)
        .collect();
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(replies[0].contains("started rotation"), "{replies:#?}");
    let mut reactions: Vec<String> = w
        .sim
        .reactions()
        .into_iter()
        .filter(|r| r.comment_id == comment)
        .map(|r| r.content)
        .collect();
    reactions.sort();
    assert_eq!(reactions, vec!["+1", "eyes"]);
    let log = w.command_log().await;
    assert_eq!(
        log.iter().filter(|(_, c, _)| c.contains("rotate")).count(),
        1,
        "{log:#?}"
    );
}

/// GitHub carries out a comment but answers after keyroll's client gave up (a slow GitHub,
/// or a 502 after the fact). Posting again at once would say it twice: a POST that creates
/// something is not retried inside the client; the answer is tried again later by the
/// outbox, which finds the comment it made first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_github_made_but_answered_late_is_not_posted_twice() {
    let w = World::start().await;
    w.tick().await;
    let dash = w.dashboard();
    // Longer than the client's timeout in the tests (2 s).
    w.sim.inject(Fault::new(
        Some(http::Method::POST),
        &format!("/issues/{dash}/comments"),
        1,
        FaultKind::Delay(std::time::Duration::from_secs(3)),
    ));
    w.say(dash, &alice(), "/keyroll rotate session-secret -- test")
        .await;
    w.clock.advance(time::Duration::seconds(11));
    w.settle().await;
    assert!(w.sim.faults_left().is_empty());
    let replies: Vec<String> = w
        .sim
        .comments(dash)
        .into_iter()
        .filter(|c| c.author == "keyroll[bot]")
        .map(|c| c.body)
        .collect();
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(replies[0].contains("started rotation"), "{replies:#?}");
}
