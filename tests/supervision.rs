//! Supervised work and no lost events, on the real server against the simulated GitHub: a
//! panic while handling one delivery is caught and the delivery tried again; a command
//! typed while GitHub is down is carried out once it is back; a delivery that keeps failing
//! is parked and tried again when an operator asks; one repository stuck on a slow GitHub
//! call does not hold up another. `/readyz` and `/metrics` say what is going on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::sim;
use crate::world;

use std::time::Duration;

use sim::{Fault, FaultKind, SimOptions};
use world::{World, pete, sam};

/// The number of keyroll's replies on an issue that contain `text`.
fn replies_containing(w: &World, issue: u64, text: &str) -> usize {
    w.sim
        .comments(issue)
        .iter()
        .filter(|c| c.author == "keyroll[bot]" && c.body.contains(text))
        .count()
}

/// Retries a second apart: the test moves its clock by seconds, not hours (the simulated
/// GitHub checks the App's tokens against the real time).
fn quick_retries(s: &mut keyroll::server::Settings) {
    s.delivery.retry = keyroll::server::RetryPolicy {
        first_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(1),
        attempts: 8,
    };
}

/// The value of a metric line without labels (or with the labels given in `name`).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_handling_one_delivery_is_caught_and_the_delivery_tried_again() {
    let w = World::start().await;
    w.tick().await;
    let dashboard = w.dashboard();

    // The clock fails (panics) the next time keyroll reads it while handling a delivery:
    // the `/keyroll rotate` below.
    w.clock.panic_once_in("delivery");
    let comment = w
        .say(
            dashboard,
            &pete(),
            "/keyroll rotate redis-auth -- after a panic",
        )
        .await;
    let d = w.delivery_of_comment(comment).await;
    assert_eq!(
        (d.outcome.as_deref(), d.attempts, d.parked),
        (None, 1, false)
    );
    assert!(w.rotation_ids().await.is_empty());
    let metrics = w.metrics().await;
    assert_eq!(
        metric(&metrics, r#"keyroll_worker_panics_total{unit="delivery"}"#),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(w.readyz().await, (200, "ready\n".into()));

    // The worker goes on: another repository's delivery is handled while this one waits
    // for its retry.
    let other = w.deliver_for_other_repository("website").await;
    w.settle().await;
    let stored = w.stored_deliveries().await;
    let handled = stored.iter().find(|s| s.id == other).unwrap();
    assert_eq!(handled.outcome.as_deref(), Some("0 input(s)"));
    assert!(
        w.rotation_ids().await.is_empty(),
        "waits for its retry time"
    );

    // Its retry time comes: the command runs, once.
    w.clock.advance(time::Duration::seconds(11));
    w.settle().await;
    assert_eq!(w.rotation_ids().await.len(), 1);
    let d = w.delivery_of_comment(comment).await;
    assert_eq!(d.outcome.as_deref(), Some("command: ran"));
    assert_eq!(replies_containing(&w, dashboard, "started rotation"), 1);
    assert_eq!(w.readyz().await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotate_typed_during_an_outage_is_carried_out_once_github_is_back() {
    let w = World::start().await;
    w.tick().await;
    let dashboard = w.dashboard();

    // GitHub answers 503 to everything for a while.
    w.sim
        .inject(Fault::new(None, "/", 100_000, FaultKind::Status(503)));
    let rotate = w
        .say(
            dashboard,
            &pete(),
            "/keyroll rotate redis-auth -- during the outage",
        )
        .await;
    let d = w.delivery_of_comment(rotate).await;
    assert_eq!(
        (d.outcome.as_deref(), d.attempts, d.parked),
        (None, 1, false)
    );
    // A later comment on the same repository waits behind it: order is kept.
    let help = w.say(dashboard, &sam(), "/keyroll help").await;
    let h = w.delivery_of_comment(help).await;
    assert_eq!((h.outcome.as_deref(), h.attempts), (None, 0));
    assert_eq!(w.readyz().await.0, 200, "not waiting long yet");

    // Still down eleven minutes later (a few more attempts failed): not ready, and why.
    for _ in 0..3 {
        w.clock.advance(time::Duration::minutes(4));
        w.settle().await;
    }
    let (status, why) = w.readyz().await;
    assert_eq!(status, 503);
    assert!(why.contains("a delivery has waited"), "{why}");
    let metrics = w.metrics().await;
    let age = metric(&metrics, "keyroll_webhook_oldest_waiting_seconds").unwrap();
    assert!(age >= 600.0, "{metrics}");
    assert!(
        metric(
            &metrics,
            r#"keyroll_worker_failed_attempts_total{unit="delivery"}"#
        )
        .unwrap()
            >= 2.0,
        "{metrics}"
    );
    assert!(w.rotation_ids().await.is_empty());

    // GitHub is back: at its next retry time the rotation starts, once; then the help.
    w.sim.clear_faults();
    w.clock.advance(time::Duration::minutes(10));
    w.settle().await;
    assert_eq!(w.rotation_ids().await.len(), 1);
    assert_eq!(
        w.delivery_of_comment(rotate).await.outcome.as_deref(),
        Some("command: ran")
    );
    assert_eq!(
        w.delivery_of_comment(help).await.outcome.as_deref(),
        Some("command: ran")
    );
    assert_eq!(replies_containing(&w, dashboard, "started rotation"), 1);
    let log = w.command_log().await;
    assert_eq!(
        log.iter()
            .filter(|(_, c, _)| c.starts_with("/keyroll rotate"))
            .count(),
        1,
        "{log:?}"
    );
    assert_eq!(w.readyz().await, (200, "ready\n".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_keeps_failing_is_parked_then_retried_on_request() {
    let w = World::start_tweaked(SimOptions::default(), Some(quick_retries)).await;
    w.tick().await;
    let dashboard = w.dashboard();

    w.sim
        .inject(Fault::new(None, "/", 1_000_000, FaultKind::Status(502)));
    let rotate = w
        .say(dashboard, &pete(), "/keyroll rotate redis-auth -- parked")
        .await;
    // Eight attempts.
    for _ in 0..7 {
        w.clock.advance(time::Duration::seconds(2));
        w.settle().await;
    }
    let d = w.delivery_of_comment(rotate).await;
    assert_eq!(
        (d.outcome.as_deref(), d.attempts, d.parked),
        (None, 8, true)
    );
    let metrics = w.metrics().await;
    assert_eq!(
        metric(&metrics, "keyroll_webhooks_parked"),
        Some(1.0),
        "{metrics}"
    );
    // Parked deliveries are set aside: readiness is about the ones still in line.
    assert_eq!(w.readyz().await.0, 200);

    // GitHub is back; later deliveries of the repository are handled.
    w.sim.clear_faults();
    let help = w.say(dashboard, &sam(), "/keyroll help").await;
    assert_eq!(
        w.delivery_of_comment(help).await.outcome.as_deref(),
        Some("command: ran")
    );
    assert!(
        w.rotation_ids().await.is_empty(),
        "parked: not tried by itself"
    );

    // An operator asks: the parked delivery is tried again and handled.
    assert_eq!(w.server().retry_parked().await, 1);
    w.settle().await;
    assert_eq!(w.rotation_ids().await.len(), 1);
    let d = w.delivery_of_comment(rotate).await;
    assert_eq!(
        (d.outcome.as_deref(), d.parked),
        (Some("command: ran"), false)
    );
    assert_eq!(
        metric(&w.metrics().await, "keyroll_webhooks_parked"),
        Some(0.0)
    );
    assert_eq!(replies_containing(&w, dashboard, "started rotation"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_delivery_is_tried_again_after_a_restart() {
    let mut w = World::start_tweaked(SimOptions::default(), Some(quick_retries)).await;
    w.tick().await;
    let dashboard = w.dashboard();
    w.sim
        .inject(Fault::new(None, "/", 1_000_000, FaultKind::Status(500)));
    let rotate = w
        .say(dashboard, &pete(), "/keyroll rotate redis-auth -- restart")
        .await;
    for _ in 0..7 {
        w.clock.advance(time::Duration::seconds(2));
        w.settle().await;
    }
    assert!(w.delivery_of_comment(rotate).await.parked);
    w.sim.clear_faults();
    w.stop().await;
    w.boot().await;
    w.settle().await;
    assert_eq!(w.rotation_ids().await.len(), 1);
    assert_eq!(
        w.delivery_of_comment(rotate).await.outcome.as_deref(),
        Some("command: ran")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_repository_stuck_on_github_does_not_hold_up_another() {
    // A client that waits long for an answer, so the stuck call stays stuck for the test.
    let w = World::start_tweaked(
        SimOptions::default(),
        Some(|s| s.client.timeout = Duration::from_secs(60)),
    )
    .await;
    w.tick().await;
    let dashboard = w.dashboard();
    // GitHub holds its answer to keyroll's next reaction for an hour.
    w.sim.inject(Fault::new(
        Some(http::Method::POST),
        "/reactions",
        1,
        FaultKind::Delay(Duration::from_secs(3600)),
    ));
    let comment = w.sim.comment(dashboard, &pete(), "/keyroll help").await;
    // Stored before the other repository's delivery, so a single line would reach it first.
    let waiting = w.delivery_of_comment(comment).await;
    let other = w.deliver_for_other_repository("website").await;
    let mut handled = None;
    for _ in 0..400 {
        handled = w
            .stored_deliveries()
            .await
            .into_iter()
            .find(|d| d.id == other)
            .and_then(|d| d.outcome);
        if handled.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(handled.as_deref(), Some("0 input(s)"));
    let still = w
        .stored_deliveries()
        .await
        .into_iter()
        .find(|d| d.id == waiting.id)
        .unwrap();
    assert_eq!(still.outcome, None, "the stuck repository is still stuck");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_worker_that_dies_is_started_again() {
    let w = World::start().await;
    w.tick().await;
    let dashboard = w.dashboard();
    // The clock fails in the lane's own code, outside the units of work it supervises:
    // the repository's worker dies.
    w.clock.panic_once_in("lane");
    let comment = w
        .say(
            dashboard,
            &pete(),
            "/keyroll rotate redis-auth -- lane restart",
        )
        .await;
    // The supervisor starts it again; the delivery, never marked, is handled.
    w.settle().await;
    assert_eq!(
        w.delivery_of_comment(comment).await.outcome.as_deref(),
        Some("command: ran")
    );
    assert_eq!(w.rotation_ids().await.len(), 1);
    let metrics = w.metrics().await;
    assert_eq!(
        metric(&metrics, "keyroll_worker_restarts_total"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, r#"keyroll_worker_panics_total{unit="lane"}"#),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(w.readyz().await, (200, "ready\n".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_tried_again_after_its_answer_failed_runs_and_answers_once() {
    let w = World::start().await;
    w.tick().await;
    let dashboard = w.dashboard();
    // The command runs, then GitHub fails keyroll's reply (a POST that makes a comment is
    // not sent twice by the client).
    w.sim.inject(Fault::new(
        Some(http::Method::POST),
        &format!("/issues/{dashboard}/comments"),
        1,
        FaultKind::Status(502),
    ));
    let rotate = w
        .say(
            dashboard,
            &pete(),
            "/keyroll rotate redis-auth -- reply lost",
        )
        .await;
    let d = w.delivery_of_comment(rotate).await;
    assert_eq!((d.outcome.as_deref(), d.attempts), (None, 1));
    assert_eq!(w.rotation_ids().await.len(), 1, "the command ran");
    assert_eq!(replies_containing(&w, dashboard, "started rotation"), 0);

    // The retry answers; it does not run the command again.
    w.clock.advance(time::Duration::seconds(11));
    w.settle().await;
    assert_eq!(
        w.delivery_of_comment(rotate).await.outcome.as_deref(),
        Some("command: ran")
    );
    assert_eq!(w.rotation_ids().await.len(), 1);
    assert_eq!(replies_containing(&w, dashboard, "started rotation"), 1);
    assert_eq!(replies_containing(&w, dashboard, "already rotating"), 0);
    let log = w.command_log().await;
    assert_eq!(
        log.iter()
            .filter(|(_, c, _)| c.starts_with("/keyroll rotate"))
            .count(),
        1,
        "{log:?}"
    );
    let reactions: Vec<String> = w
        .sim
        .reactions()
        .into_iter()
        .filter(|r| r.comment_id == rotate)
        .map(|r| r.content)
        .collect();
    assert_eq!(reactions, vec!["eyes".to_owned(), "+1".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_posted_before_a_crash_is_not_posted_again() {
    let w = World::start_tweaked(SimOptions::default(), Some(quick_retries)).await;
    w.tick().await;
    let dashboard = w.dashboard();
    // keyroll stops right after posting the answer (the client reads the clock for its
    // token), before noting that it did; the delivery is handled again.
    w.clock.panic_once_in_after("answer", 1);
    let comment = w.say(dashboard, &pete(), "/keyroll status").await;
    w.clock.advance(time::Duration::seconds(2));
    w.settle().await;
    assert_eq!(
        w.delivery_of_comment(comment).await.outcome.as_deref(),
        Some("command: ran")
    );
    assert_eq!(
        replies_containing(&w, dashboard, "No rotation is under way"),
        1,
        "answered once"
    );
}
