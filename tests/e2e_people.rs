//! End to end, the people around keyroll: who may run which command (and how the config
//! tightens it), what never counts as a command, approvals on the current head only,
//! automerge where the config allows it, the gate check's buttons, an emergency started from
//! the dashboard, and the dashboard edited once per real change, and every pull request of a
//! finished rotation saying how it ended.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;
use crate::sim;
use crate::world;

use sim::SimOptions;
use world::{World, alice, carol, mona, pete, rita, sam};

async fn started(w: &World, credential: &str) -> (String, sim::PullSnapshot) {
    w.tick().await;
    w.say(
        w.dashboard(),
        &alice(),
        &format!("/keyroll rotate {credential} -- test"),
    )
    .await;
    let id = w.rotation_ids().await.last().cloned().expect("a rotation");
    (id, w.open_pull())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_changes_nothing_with_any_command() {
    let w = World::start().await;
    let (id, pr) = started(&w, "data-api-tokens").await;
    let dash = w.dashboard();
    let before = w.phase(&id).await;
    for (place, body) in [
        (pr.number, "/keyroll hold -- stop".to_owned()),
        (pr.number, "/keyroll unhold".to_owned()),
        (pr.number, "/keyroll retry".to_owned()),
        (pr.number, "/keyroll confirm jenkins-config".to_owned()),
        (pr.number, format!("/keyroll rollback {id} -- no")),
        (pr.number, format!("/keyroll abort {id} -- no")),
        (dash, "/keyroll rotate session-secret -- no".to_owned()),
        (
            dash,
            "/keyroll rotate session-secret --emergency -- no".to_owned(),
        ),
    ] {
        w.say(place, &carol(), &body).await;
        let reply = w.last_reply(place);
        assert!(
            reply.contains("you have reader") || reply.contains("you are not one of them"),
            "{body}: {reply}"
        );
    }
    assert_eq!(w.phase(&id).await, before);
    assert_eq!(w.rotation_ids().await.len(), 1);
    assert_eq!(w.open_pulls().len(), 1);
    // Reading works.
    w.say(pr.number, &carol(), "/keyroll status").await;
    assert!(w.last_reply(pr.number).contains(&id));
    w.say(pr.number, &carol(), "/keyroll help").await;
    insta::assert_snapshot!(
        "help_for_a_reader_on_a_pull_request",
        w.last_reply(pr.number)
    );
    // Someone with no access at all gets no more than a refusal.
    w.say(
        pr.number,
        &sim::User::person("mallory", 6666),
        "/keyroll hold",
    )
    .await;
    assert!(
        w.last_reply(pr.number)
            .contains("only from people with access"),
        "{}",
        w.last_reply(pr.number)
    );
    // Every command read is in the log, with its comment.
    let commands = w.command_log().await;
    assert!(
        commands
            .iter()
            .filter(|(_, _, outcome)| outcome == "denied")
            .count()
            >= 9,
        "{commands:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_code_edits_bots_and_two_commands_run_nothing() {
    let w = World::start().await;
    let (id, pr) = started(&w, "data-api-tokens").await;
    let n = pr.number;
    for body in [
        "> /keyroll hold\nquoting the docs",
        "```\n/keyroll hold\n```",
        "Try `/keyroll hold` if needed",
        "<!-- /keyroll hold -->",
    ] {
        w.say(n, &sam(), body).await;
    }
    assert_eq!(w.phase(&id).await, "open 0");
    assert!(
        !w.sim
            .comments(n)
            .iter()
            .any(|c| c.body.contains("is on hold"))
    );
    // A bot's command, even an allowed one, is ignored.
    w.say(n, &sim::User::bot("deploy-bot[bot]", 7777), "/keyroll hold")
        .await;
    // Two commands: neither runs; keyroll says why.
    w.say(n, &sam(), "/keyroll hold\n/keyroll retry").await;
    assert!(
        w.last_reply(n).contains("2 command lines"),
        "{}",
        w.last_reply(n)
    );
    // An edit that adds a command does not run it; keyroll says so once.
    let comment = w.say(n, &sam(), "looks fine").await;
    w.sim
        .edit_comment(comment, &sam(), "looks fine\n/keyroll hold")
        .await;
    w.settle().await;
    w.sim
        .edit_comment(comment, &sam(), "looks fine\n/keyroll hold -- really")
        .await;
    w.settle().await;
    let said: Vec<_> = w
        .sim
        .comments(n)
        .into_iter()
        .filter(|c| c.body.contains("does not run edited comments"))
        .collect();
    assert_eq!(said.len(), 1);
    let rotation_held = w.gate(&pr.head_sha).2.contains("on hold");
    assert!(!rotation_held);
    // A typo gets a suggestion.
    w.say(n, &sam(), "/keyroll hodl").await;
    assert!(w.last_reply(n).contains("Did you mean `hold`?"));
    // The real thing, acknowledged with reactions, shows on the gate.
    let cmd = w
        .say(n, &sam(), "/keyroll hold -- waiting for the release window")
        .await;
    let reactions: Vec<String> = w
        .sim
        .reactions()
        .into_iter()
        .filter(|r| r.comment_id == cmd)
        .map(|r| r.content)
        .collect();
    assert_eq!(reactions, vec!["eyes".to_owned(), "+1".to_owned()]);
    assert!(w.gate(&pr.head_sha).2.contains("on hold"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_count_on_the_current_head_and_a_push_voids_them() {
    let w = World::start().await;
    let (_, pr) = started(&w, "data-api-tokens").await;
    w.sim.review(pr.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    assert_eq!(w.gate(&pr.head_sha).0.as_deref(), Some("success"));
    // The owner requests changes: blocked, whatever else.
    w.sim
        .review(pr.number, &alice(), "CHANGES_REQUESTED", "wait")
        .await;
    w.settle().await;
    let (c, _, summary) = w.gate(&pr.head_sha);
    assert_eq!(c.as_deref(), Some("failure"));
    assert!(summary.contains("@alice requested changes"), "{summary}");
    w.sim
        .review(pr.number, &alice(), "APPROVED", "ok now")
        .await;
    w.settle().await;
    assert_eq!(w.gate(&pr.head_sha).0.as_deref(), Some("success"));
    // A push: earlier approvals no longer count (and the push itself waits for retry).
    let vars = w.sim.file(&pr.head, "vars/production.yaml").unwrap();
    let head = w
        .sim
        .push_to_branch(&pr.head, &[("vars/production.yaml", &vars)], &pete())
        .await;
    w.sim.review(pr.number, &rita(), "COMMENTED", "hm").await;
    w.settle().await;
    let (c, _, summary) = w.gate(&head);
    assert_eq!(c.as_deref(), Some("failure"));
    assert!(summary.contains("were on an earlier commit"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyroll_merges_only_where_the_config_allows() {
    let config = std::fs::read_to_string(common::fixture("demo-credentials/.keyroll.yaml"))
        .unwrap()
        .replace("  redis-auth:\n    extends: terraform-rotated-date\n", "  redis-auth:\n    extends: terraform-rotated-date\n    automerge: true\n    approvals: { required: 1, from: [\"@acme/marketplace\"] }\n");
    let mut options = SimOptions::default();
    options.extra_files.push((".keyroll.yaml".into(), config));
    let w = World::start_with(options).await;
    // Not allowed for data-api-tokens: approved, green, still open.
    let (_, tokens) = started(&w, "data-api-tokens").await;
    w.sim.review(tokens.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    assert_eq!(w.sim.pull(tokens.number).state, "open");
    // Allowed for redis-auth: keyroll merges once approved.
    w.say(w.dashboard(), &pete(), "/keyroll rotate redis-auth -- test")
        .await;
    let session = w
        .open_pulls()
        .into_iter()
        .find(|p| p.head.starts_with("keyroll/redis-auth/"))
        .unwrap();
    assert_eq!(
        w.sim.pull(session.number).state,
        "open",
        "not before an approval"
    );
    w.sim.review(session.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    assert!(w.sim.pull(session.number).merged, "keyroll merged it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_github_refused_is_tried_again_at_the_next_gate_evaluation() {
    let config = std::fs::read_to_string(common::fixture("demo-credentials/.keyroll.yaml"))
        .unwrap()
        .replace("  redis-auth:\n    extends: terraform-rotated-date\n", "  redis-auth:\n    extends: terraform-rotated-date\n    automerge: true\n    approvals: { required: 1, from: [\"@acme/marketplace\"] }\n");
    let mut options = SimOptions::default();
    options.extra_files.push((".keyroll.yaml".into(), config));
    let w = World::start_with(options).await;
    w.tick().await;
    w.say(w.dashboard(), &pete(), "/keyroll rotate redis-auth -- test")
        .await;
    let pr = w.open_pull();
    // GitHub refuses the first merge (its own rules: a required check still pending).
    w.sim.inject(sim::Fault::new(
        Some(http::Method::PUT),
        "/merge",
        1,
        sim::FaultKind::Status(405),
    ));
    w.sim.review(pr.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    assert!(w.sim.faults_left().is_empty(), "the merge was tried");
    assert!(!w.sim.pull(pr.number).merged);
    // The next evaluation of the same head tries again.
    w.sim.review(pr.number, &alice(), "APPROVED", "").await;
    w.settle().await;
    assert!(w.sim.pull(pr.number).merged, "keyroll merged it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_buttons_go_through_the_same_checks() {
    let w = World::start().await;
    let (id, pr) = started(&w, "data-api-tokens").await;
    // A reader's Hold does nothing; an owner's holds.
    w.sim
        .press_button(&pr.head_sha, "keyroll/gate", "hold", &carol())
        .await;
    w.settle().await;
    assert!(!w.gate(&pr.head_sha).2.contains("on hold"));
    w.sim
        .press_button(&pr.head_sha, "keyroll/gate", "hold", &alice())
        .await;
    w.settle().await;
    assert!(
        w.gate(&pr.head_sha).2.contains("on hold"),
        "{:?}",
        w.gate(&pr.head_sha)
    );
    w.say(pr.number, &sam(), "/keyroll unhold").await;
    w.sim.review(pr.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    let merge = w.merge(pr.number, &alice()).await;
    w.checks(
        &merge,
        &[
            "deploy-search-api",
            "deploy-data-api",
            "deploy-frontends",
            "deploy-scripts",
        ],
        "success",
    )
    .await;
    assert_eq!(w.phase(&id).await, "rollout 0.3");
    // The Confirm button confirms the gate that waits, for the people the gate names.
    w.sim
        .press_button(&pr.head_sha, "keyroll/gate", "confirm", &alice())
        .await;
    w.settle().await;
    assert_eq!(w.phase(&id).await, "rollout 0.3");
    w.sim
        .press_button(&pr.head_sha, "keyroll/gate", "confirm", &rita())
        .await;
    w.settle().await;
    assert_eq!(
        w.phase(&id).await,
        "open 1",
        "the remove pull request is open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_before_its_gate_opens_is_refused_and_not_kept() {
    let w = World::start().await;
    let (id, pr) = started(&w, "data-api-tokens").await;
    let n = pr.number;
    let reacted = |w: &World, comment: u64| -> Vec<String> {
        w.sim
            .reactions()
            .into_iter()
            .filter(|r| r.comment_id == comment)
            .map(|r| r.content)
            .collect()
    };
    // Before the merge: refused, saying what comes first.
    let early = w.say(n, &rita(), "/keyroll confirm jenkins-config").await;
    let reply = w.last_reply(n);
    assert!(
        reply.contains("gate `jenkins-config` is not open yet")
            && reply.contains(&format!("pull request #{n} merges, then wave `search-api`")),
        "{reply}"
    );
    assert!(reacted(&w, early).contains(&"-1".to_owned()));
    assert!(!reacted(&w, early).contains(&"+1".to_owned()));
    // The same in a review's body: one reply, the same words (no "not run." besides).
    let before = w.sim.comments(n).len();
    w.sim
        .review(n, &rita(), "COMMENTED", "/keyroll confirm jenkins-config")
        .await;
    w.settle().await;
    let said: Vec<String> = w
        .sim
        .comments(n)
        .into_iter()
        .skip(before)
        .map(|c| c.body)
        .filter(|b| !b.contains("<!-- keyroll:status"))
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(said[0].contains("is not open yet"), "{said:#?}");
    w.sim.review(n, &mona(), "APPROVED", "").await;
    w.settle().await;
    let merge = w.merge(n, &alice()).await;
    w.checks(&merge, &["deploy-search-api"], "success").await;
    // While wave 2 deploys: refused again, with the waves still ahead.
    w.say(n, &rita(), "/keyroll confirm jenkins-config").await;
    let reply = w.last_reply(n);
    assert!(
        reply.contains(
            "wave `data-api` succeeds (deploy-data-api on the merge commit or a later one), then wave `all-apps` succeeds (deploy-frontends, deploy-scripts"
        ),
        "{reply}"
    );
    // Nothing was kept: when the waves are done, the gate waits for a confirmation.
    w.checks(
        &merge,
        &["deploy-data-api", "deploy-frontends", "deploy-scripts"],
        "success",
    )
    .await;
    assert_eq!(w.phase(&id).await, "rollout 0.3");
    assert_eq!(w.gate(&pr.head_sha).0, None, "the gate waits");
    let replies = w
        .sim
        .comments(n)
        .iter()
        .filter(|c| c.body.contains("is not open yet"))
        .count();
    assert_eq!(replies, 3, "one reply per early confirm");
    let now = w
        .say(n, &rita(), "/keyroll confirm jenkins-config -- done")
        .await;
    assert_eq!(w.phase(&id).await, "open 1");
    assert!(reacted(&w, now).contains(&"+1".to_owned()));
    let (conclusion, title, summary) = w.gate(&pr.head_sha);
    assert_eq!(conclusion.as_deref(), Some("success"), "{title}: {summary}");
    assert!(summary.contains("confirmed by @rita"), "{summary}");
    let refused = w
        .command_log()
        .await
        .into_iter()
        .filter(|(_, _, outcome)| outcome == "refused: gate not open")
        .count();
    assert_eq!(refused, 3, "two comments and a review");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_from_the_dashboard_and_the_dashboard_edited_once_per_change() {
    let w = World::start().await;
    w.tick().await;
    let dash = w.dashboard();
    let edits = |w: &World| {
        w.sim
            .requests()
            .iter()
            .filter(|r| r.method == "PATCH" && r.path.ends_with(&format!("/issues/{dash}")))
            .count()
    };
    // Ticks with nothing new write nothing.
    w.tick().await;
    w.tick().await;
    assert_eq!(edits(&w), 0);
    // An owner may not start an emergency; an operator may, with a reason.
    w.say(
        dash,
        &alice(),
        "/keyroll rotate session-secret --emergency -- leaked",
    )
    .await;
    assert!(w.last_reply(dash).contains("needs the operator role"));
    w.say(dash, &sam(), "/keyroll rotate session-secret --emergency")
        .await;
    assert!(w.last_reply(dash).contains("needs a reason"));
    w.say(
        dash,
        &sam(),
        "/keyroll rotate session-secret --emergency -- posted in #general",
    )
    .await;
    let id = w.rotation_ids().await.last().cloned().unwrap();
    let pr = w.open_pull();
    assert_eq!(
        pr.title,
        "chore(credentials): rotate session-secret (replace now (emergency))"
    );
    let after_start = edits(&w);
    assert!(after_start >= 1, "the dashboard shows the rotation");
    let body = w
        .sim
        .issues()
        .into_iter()
        .find(|i| i.number == dash)
        .unwrap()
        .body;
    assert!(body.contains(&id) && body.contains("(emergency)"), "{body}");
    w.tick().await;
    assert_eq!(edits(&w), after_start, "no change, no edit");
    w.sim.review(pr.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    let merge = w.merge(pr.number, &sam()).await;
    w.checks(&merge, &["deploy-frontends"], "success").await;
    assert_eq!(w.phase(&id).await, "done");
    let body = w
        .sim
        .issues()
        .into_iter()
        .find(|i| i.number == dash)
        .unwrap()
        .body;
    assert!(!body.contains("Rotations under way"), "{body}");
}

/// The dashboard issue is written when GitHub says the App was installed on the
/// repository, not at the next schedule tick (an hour later by default): a new installation
/// has a place to type its first `/keyroll rotate` at once. A later tick finds the same issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_there_as_soon_as_the_app_is_installed() {
    // `World::start` delivers `installation_repositories` (added) and runs no tick.
    let w = World::start().await;
    let dashboards = |w: &World| {
        w.sim
            .issues()
            .into_iter()
            .filter(|i| i.body.contains("<!-- keyroll:dashboard -->"))
            .count()
    };
    assert_eq!(dashboards(&w), 1, "written on installation");
    let dash = w.dashboard();
    w.say(
        dash,
        &alice(),
        "/keyroll rotate data-api-tokens -- first one",
    )
    .await;
    assert_eq!(w.rotation_ids().await.len(), 1, "{}", w.last_reply(dash));
    w.tick().await;
    assert_eq!(dashboards(&w), 1, "the tick found it");
}

/// The sticky status comment keyroll keeps on a pull request.
fn status_comment(w: &World, number: u64) -> String {
    let found: Vec<String> = w
        .sim
        .comments(number)
        .into_iter()
        .filter(|c| c.author == "keyroll[bot]" && c.body.contains("<!-- keyroll:status"))
        .map(|c| c.body)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one status comment on #{number}: {found:#?}"
    );
    found.into_iter().next().unwrap()
}

/// Approves (as the owner), merges (as alice) and lets every deploy check of the search API
/// tokens succeed on the merge commit.
async fn merged_and_rolled_out(w: &World, number: u64) -> String {
    w.sim.review(number, &mona(), "APPROVED", "").await;
    w.settle().await;
    let merge = w.merge(number, &alice()).await;
    w.checks(
        &merge,
        &["deploy-search-api", "deploy-frontends", "deploy-scripts"],
        "success",
    )
    .await;
    merge
}

/// Every pull request of a finished rotation says how it ended, not what it last waited for.
fn all_say(w: &World, pulls: &[&sim::PullSnapshot], phase: &str, conclusion: &str, title: &str) {
    for p in pulls {
        let comment = status_comment(w, p.number);
        assert!(
            comment.contains(&format!("· {phase}")),
            "#{}: {comment}",
            p.number
        );
        assert!(!comment.contains("waiting"), "#{}: {comment}", p.number);
        let (c, t, summary) = w.gate(&p.head_sha);
        assert_eq!(
            c.as_deref(),
            Some(conclusion),
            "#{}: {t}: {summary}",
            p.number
        );
        assert_eq!(t, title, "#{}: {summary}", p.number);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_done_rotation_says_so_on_every_pull_request() {
    let w = World::start().await;
    let (id, add) = started(&w, "search-api-tokens").await;
    merged_and_rolled_out(&w, add.number).await;
    let remove = w.open_pull();
    assert_ne!(remove.number, add.number);
    merged_and_rolled_out(&w, remove.number).await;
    assert_eq!(w.phase(&id).await, "done");
    all_say(&w, &[&add, &remove], "done", "success", "Rotation done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_rotation_says_why_on_every_pull_request() {
    let w = World::start().await;
    let (id, add) = started(&w, "search-api-tokens").await;
    merged_and_rolled_out(&w, add.number).await;
    let remove = w.open_pull();
    w.sim.close_pull(remove.number, &alice()).await;
    w.settle().await;
    assert_eq!(w.phase(&id).await, "aborted");
    all_say(
        &w,
        &[&add, &remove],
        "aborted: pull request #",
        "neutral",
        "Rotation aborted",
    );
    let (_, _, summary) = w.gate(&add.head_sha);
    assert!(
        summary.contains(&format!(
            "pull request #{} was closed without merging",
            remove.number
        )),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_rotation_says_so_on_every_pull_request() {
    let w = World::start().await;
    let (id, add) = started(&w, "search-api-tokens").await;
    w.sim.review(add.number, &mona(), "APPROVED", "").await;
    w.settle().await;
    let merge = w.merge(add.number, &alice()).await;
    w.checks(&merge, &["deploy-search-api"], "failure").await;
    assert!(
        w.phase(&id).await.starts_with("stalled"),
        "{}",
        w.phase(&id).await
    );
    w.say(
        add.number,
        &sam(),
        &format!("/keyroll rollback {id} -- search-api broke"),
    )
    .await;
    let back = w.open_pull();
    assert!(back.title.contains("roll back"), "{}", back.title);
    merged_and_rolled_out(&w, back.number).await;
    assert_eq!(w.phase(&id).await, "rolled-back");
    all_say(
        &w,
        &[&add, &back],
        "rolled back",
        "neutral",
        "Rotation rolled back",
    );
}

/// A `/keyroll` command in a review's body runs as it would in a comment: the same parser
/// (a quoted command runs nothing), the same roles, the answer on the pull request (in words,
/// as GitHub has no reactions for reviews); and the review still counts as a review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_in_review_bodies_run_like_comments() {
    let w = World::start().await;
    let (id, pr) = started(&w, "data-api-tokens").await;
    let n = pr.number;
    let reactions = w.sim.reactions().len();

    // A reader is refused, as in a comment.
    w.sim
        .review(n, &carol(), "COMMENTED", "/keyroll hold -- stop")
        .await;
    w.settle().await;
    assert!(
        w.last_reply(n).contains("you have reader"),
        "{}",
        w.last_reply(n)
    );
    assert!(!w.gate(&pr.head_sha).2.contains("on hold"));

    // A quoted command is no command.
    let replies = w.sim.comments(n).len();
    w.sim
        .review(
            n,
            &sam(),
            "COMMENTED",
            "> /keyroll hold\nas the runbook says",
        )
        .await;
    w.settle().await;
    assert_eq!(w.sim.comments(n).len(), replies, "{}", w.last_reply(n));
    assert!(!w.gate(&pr.head_sha).2.contains("on hold"));

    // An operator's hold holds, and is answered in words on the pull request.
    w.sim
        .review(
            n,
            &sam(),
            "COMMENTED",
            "Not yet.\n/keyroll hold -- waiting for the release window",
        )
        .await;
    w.settle().await;
    assert!(w.gate(&pr.head_sha).2.contains("on hold"));
    assert_eq!(
        w.last_reply(n),
        "@sam `/keyroll hold -- waiting for the release window`: done."
    );

    // An operator's unhold in a review lets it go on.
    w.sim
        .review(n, &sam(), "COMMENTED", "/keyroll unhold -- window open")
        .await;
    w.settle().await;
    assert!(
        !w.gate(&pr.head_sha).2.contains("on hold"),
        "{}",
        w.last_reply(n)
    );

    // The owner approves and asks for the status in one review: both count.
    w.sim
        .review(n, &mona(), "APPROVED", "LGTM\n\n/keyroll status")
        .await;
    w.settle().await;
    assert!(w.last_reply(n).contains(&id), "{}", w.last_reply(n));
    let (conclusion, _, summary) = w.gate(&pr.head_sha);
    assert_eq!(conclusion.as_deref(), Some("success"), "{summary}");

    // Nothing was reacted to: reviews take no reactions.
    assert_eq!(w.sim.reactions().len(), reactions);
    // Every command read is in the log.
    let log = w.command_log().await;
    assert!(
        log.iter().filter(|(_, c, _)| c.contains("hold")).count() >= 3,
        "{log:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_tightens_who_may_run_a_verb() {
    // The repository asks an operator to start any rotation, and for redis-auth also to hold.
    let config = std::fs::read_to_string(common::fixture("demo-credentials/.keyroll.yaml"))
        .unwrap()
        .replacen(
            "version: 1\n",
            "version: 1\nroles: { rotate: operator }\n",
            1,
        )
        .replace(
            "  redis-auth:\n    extends: terraform-rotated-date\n",
            "  redis-auth:\n    extends: terraform-rotated-date\n    roles: { hold: operator }\n",
        );
    let mut options = SimOptions::default();
    options.extra_files.push((".keyroll.yaml".into(), config));
    let w = World::start_with(options).await;
    w.tick().await;
    let dash = w.dashboard();
    // pete owns redis-auth: enough for the server, not for this repository.
    w.say(dash, &pete(), "/keyroll rotate redis-auth -- test")
        .await;
    assert!(
        w.last_reply(dash)
            .contains("`rotate` needs the operator role; you have owner"),
        "{}",
        w.last_reply(dash)
    );
    assert!(w.rotation_ids().await.is_empty());
    w.say(dash, &pete(), "/keyroll help").await;
    assert!(
        w.last_reply(dash).contains("| operator |  |"),
        "{}",
        w.last_reply(dash)
    );
    // sam is an operator (the server's settings name @acme/sre).
    w.say(dash, &sam(), "/keyroll rotate redis-auth -- test")
        .await;
    assert_eq!(w.rotation_ids().await.len(), 1);
    let pr = w.open_pull();
    w.say(pr.number, &pete(), "/keyroll hold -- wait").await;
    assert!(
        w.last_reply(pr.number)
            .contains("`hold` needs the operator role; you have owner"),
        "{}",
        w.last_reply(pr.number)
    );
    assert!(!w.gate(&pr.head_sha).2.contains("on hold"));
}
