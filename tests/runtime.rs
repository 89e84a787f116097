//! The runtime with the real SQLite store: every preset's rotation runs to the end; a
//! runtime killed at every boundary and restarted finishes with nothing done twice; the
//! inbox drops repeated deliveries; versions fence concurrent writers; rotations that share
//! a file wait for each other; the audit log cannot be rewritten; no value reaches the
//! database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use keyroll::engine::{Command, Conclusion, Effect, Input, Phase, PlannedStep, Rotation};
use keyroll::policy::{self, Config};
use keyroll::runtime::{Clock, ExecError, Executor, Outcome, Runtime, RuntimeError};
use keyroll::store::{Store, StoreError};
use time::OffsetDateTime;

const REPO: &str = "acme/credentials";

/// A stand-in for GitHub that, like keyroll's real executor, finds before it creates: a
/// pull request is looked up by branch, so asking twice opens one.
#[derive(Debug, Default, Clone)]
struct World(Arc<Mutex<WorldState>>);

#[derive(Debug, Default)]
struct WorldState {
    /// Branch to pull request number.
    prs: BTreeMap<String, u64>,
    /// How often each pull request was created (must stay 1).
    created: BTreeMap<String, u32>,
    closed: BTreeMap<u64, u32>,
    statuses: Vec<String>,
    notices: Vec<String>,
}

impl Executor for World {
    async fn execute(
        &self,
        _rotation: &Rotation,
        _key: &str,
        effect: &Effect,
    ) -> Result<Outcome, ExecError> {
        let mut w = self.0.lock().unwrap();
        match effect {
            Effect::OpenPullRequest { pr, branch, .. } => {
                let next = 100 + w.prs.len() as u64;
                let number = match w.prs.get(branch) {
                    Some(n) => *n,
                    None => {
                        w.prs.insert(branch.clone(), next);
                        *w.created.entry(branch.clone()).or_default() += 1;
                        next
                    }
                };
                Ok(Outcome {
                    receipt: format!("#{number}"),
                    feedback: Some(Input::PrOpened { pr: *pr, number }),
                })
            }
            Effect::ClosePullRequest { number } => {
                *w.closed.entry(*number).or_default() += 1;
                Ok(Outcome {
                    receipt: format!("closed #{number}"),
                    feedback: None,
                })
            }
            Effect::UpdateStatus { text } => {
                w.statuses.push(text.clone());
                Ok(Outcome {
                    receipt: "status".into(),
                    feedback: None,
                })
            }
            Effect::MarkReady { .. }
            | Effect::Merge { .. }
            | Effect::Reply { .. }
            | Effect::SettleGate { .. } => Ok(Outcome {
                receipt: effect.describe(),
                feedback: None,
            }),
            Effect::Notify { text } => {
                w.notices.push(text.clone());
                Ok(Outcome {
                    receipt: "notified".into(),
                    feedback: None,
                })
            }
            Effect::RecordRotated | Effect::ReleaseLock => Err(ExecError(
                "the store's own effect reached the executor".into(),
            )),
        }
    }
}

#[derive(Debug, Clone)]
struct TestClock(Arc<Mutex<OffsetDateTime>>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(
            time::macros::datetime!(2026-03-02 10:00 UTC),
        )))
    }
    fn advance(&self, minutes: i64) {
        *self.0.lock().unwrap() += time::Duration::minutes(minutes);
    }
}

fn demo_config() -> Config {
    policy::parse(
        ".keyroll.yaml",
        &std::fs::read_to_string(fixture("demo-credentials/.keyroll.yaml")).unwrap(),
    )
    .unwrap()
}

/// Plays GitHub: merges what is open, reports the checks of the wave under way, confirms
/// the gate. Every webhook has a fixed delivery id, so one delivered again is dropped.
async fn drive(
    rt: &mut Runtime<World, TestClock>,
    clock: &TestClock,
    id: &str,
) -> Result<Phase, RuntimeError> {
    drive_with(rt, clock, id, |_, pr| format!("sha-{pr}")).await
}

/// `drive`, merging each pull request with `merge`, which returns the merge commit.
async fn drive_with<E: Executor>(
    rt: &mut Runtime<E, TestClock>,
    clock: &TestClock,
    id: &str,
    merge: impl Fn(&Rotation, usize) -> String,
) -> Result<Phase, RuntimeError> {
    for _ in 0..200 {
        rt.run_until_idle().await?;
        clock.advance(3);
        let (r, _) = rt.store().rotation(id).await?;
        match r.phase.clone() {
            Phase::Done | Phase::RolledBack | Phase::Aborted { .. } => return Ok(r.phase),
            Phase::Open { pr } => {
                let number = r.facts.prs[&pr].number.unwrap();
                let merge_sha = merge(&r, pr);
                rt.deliver(
                    &format!("{id}-merge-{number}"),
                    id,
                    &Input::PrMerged { number, merge_sha },
                )
                .await?;
            }
            Phase::Rollout { pr, step } => {
                let merge_sha = r.facts.prs[&pr].merge_sha.clone().unwrap();
                match &r.plan[pr].steps[step] {
                    PlannedStep::Wave { checks, .. } => {
                        for c in checks {
                            let input = Input::Check {
                                merge_sha: merge_sha.clone(),
                                name: c.clone(),
                                conclusion: Conclusion::Success,
                            };
                            rt.deliver(&format!("{id}-check-{pr}-{c}"), id, &input)
                                .await?;
                        }
                    }
                    PlannedStep::Gate { name, .. } => {
                        let input = Input::Command {
                            command: Command::Confirm(name.clone()),
                            actor: "release-manager".into(),
                            pr_number: None,
                        };
                        rt.deliver(&format!("{id}-confirm-{pr}-{name}"), id, &input)
                            .await?;
                    }
                }
            }
            other => panic!("rotation {id} is stuck in {other:?}"),
        }
    }
    panic!("rotation {id} did not finish");
}

async fn store_in(dir: &tempfile::TempDir) -> Store {
    Store::open(&format!(
        "sqlite://{}",
        dir.path().join("keyroll.db").display()
    ))
    .await
    .unwrap()
}

#[tokio::test]
async fn every_preset_rotates_to_the_end_on_sqlite() {
    let config = demo_config();
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let world = World::default();
    let mut rt = Runtime::new(store_in(&dir).await, world.clone(), clock.clone(), REPO);
    for cred in &config.credentials {
        let id = rt.start(cred, false).await.unwrap();
        let phase = drive(&mut rt, &clock, &id).await.unwrap();
        assert_eq!(phase, Phase::Done, "{}", cred.name);
        let audit = rt.store().audit(&id).await.unwrap();
        assert_eq!(audit.last().unwrap().3, "done");
    }
    let created = world.0.lock().unwrap().created.clone();
    assert!(created.values().all(|n| *n == 1), "{created:?}");
    let expected_prs: usize = config
        .credentials
        .iter()
        .map(|c| keyroll::changeset::Phase::sequence(c).len())
        .sum();
    assert_eq!(created.len(), expected_prs);
    // Every lock was released.
    assert!(rt.store().active_rotations(REPO).await.unwrap().is_empty());
}

/// Killed before and after every effect and every commit, in turn, and restarted: the
/// rotation always ends done, each pull request was created once, and the audit log shows
/// no phase skipped.
#[tokio::test]
async fn a_runtime_killed_at_any_boundary_finishes_the_rotation_once() {
    let config = demo_config();
    let cred = config.credential("data-api-tokens").unwrap();
    let reference = {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let mut rt = Runtime::new(store_in(&dir).await, World::default(), clock.clone(), REPO);
        let id = rt.start(cred, false).await.unwrap();
        drive(&mut rt, &clock, &id).await.unwrap();
        phases(&rt.store().audit(&id).await.unwrap())
    };
    for boundary in 1..400 {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let world = World::default();
        let mut rt = Runtime::new(store_in(&dir).await, world.clone(), clock.clone(), REPO)
            .crash_at(boundary);
        let id = rt.start(cred, false).await.unwrap();
        let mut crashes = 0;
        let phase = loop {
            match drive(&mut rt, &clock, &id).await {
                Ok(p) => break p,
                Err(RuntimeError::Crashed(_)) => {
                    crashes += 1;
                    // A new process: same database, same world, no more crashes.
                    rt = Runtime::new(store_in(&dir).await, world.clone(), clock.clone(), REPO);
                }
                Err(e) => panic!("boundary {boundary}: {e}"),
            }
        };
        assert_eq!(phase, Phase::Done, "boundary {boundary}");
        let created = world.0.lock().unwrap().created.clone();
        assert!(
            created.values().all(|n| *n == 1),
            "boundary {boundary}: {created:?}"
        );
        assert_eq!(created.len(), 2, "boundary {boundary}");
        assert_eq!(
            phases(&rt.store().audit(&id).await.unwrap()),
            reference,
            "boundary {boundary}: phases differ"
        );
        if crashes == 0 {
            // Past the last boundary: every one has been tried.
            assert!(
                boundary > 20,
                "only {} boundaries were exercised",
                boundary - 1
            );
            return;
        }
    }
    panic!("the rotation has more boundaries than the test tries");
}

/// The distinct phases a rotation went through, in order.
fn phases(audit: &[(String, String, String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, _, _, after) in audit {
        if out.last() != Some(after) {
            out.push(after.clone());
        }
    }
    out
}

#[tokio::test]
async fn repeated_deliveries_are_dropped_and_stale_versions_refused() {
    let config = demo_config();
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let rt = Runtime::new(store_in(&dir).await, World::default(), clock.clone(), REPO);
    let id = rt
        .start(config.credential("redis-auth").unwrap(), false)
        .await
        .unwrap();
    assert!(rt.deliver("d-1", &id, &Input::Tick).await.unwrap());
    assert!(
        !rt.deliver("d-1", &id, &Input::Tick).await.unwrap(),
        "a repeated delivery id is dropped"
    );

    let (rotation, version) = rt.store().rotation(&id).await.unwrap();
    let delivery = rt.store().next_delivery(REPO).await.unwrap().unwrap();
    let stale = keyroll::store::StepRecord {
        delivery: &delivery,
        before: &rotation,
        next: &rotation,
        expected_version: version + 1,
        effects: &[],
        actor: "test",
    };
    let err = rt
        .store()
        .commit_step(&stale, clock.now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
}

#[tokio::test]
async fn rotations_that_share_a_file_wait_for_each_other() {
    let config = demo_config();
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let world = World::default();
    let mut rt = Runtime::new(store_in(&dir).await, world.clone(), clock.clone(), REPO);
    // Both write vars/production.yaml.
    let first = rt
        .start(config.credential("data-api-tokens").unwrap(), false)
        .await
        .unwrap();
    let second = rt
        .start(config.credential("database-password").unwrap(), false)
        .await
        .unwrap();
    rt.run_until_idle().await.unwrap();
    let (r, _) = rt.store().rotation(&second).await.unwrap();
    match r.phase {
        Phase::Aborted { reason } => assert!(reason.contains(&first), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(drive(&mut rt, &clock, &first).await.unwrap(), Phase::Done);
    // Once the first is done, the credential can rotate.
    let third = rt
        .start(config.credential("database-password").unwrap(), false)
        .await
        .unwrap();
    assert_eq!(drive(&mut rt, &clock, &third).await.unwrap(), Phase::Done);
}

#[tokio::test]
async fn a_timed_out_wave_stalls_and_a_retry_resumes() {
    let config = demo_config();
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let world = World::default();
    let mut rt = Runtime::new(store_in(&dir).await, world.clone(), clock.clone(), REPO);
    let id = rt
        .start(config.credential("redis-auth").unwrap(), false)
        .await
        .unwrap();
    rt.run_until_idle().await.unwrap();
    let (r, _) = rt.store().rotation(&id).await.unwrap();
    let number = r.facts.prs[&0].number.unwrap();
    rt.deliver(
        "merge",
        &id,
        &Input::PrMerged {
            number,
            merge_sha: "sha-0".into(),
        },
    )
    .await
    .unwrap();
    rt.run_until_idle().await.unwrap();
    clock.advance(31);
    rt.tick().await.unwrap();
    rt.run_until_idle().await.unwrap();
    assert!(matches!(
        rt.store().rotation(&id).await.unwrap().0.phase,
        Phase::Stalled { .. }
    ));
    assert!(
        world
            .0
            .lock()
            .unwrap()
            .statuses
            .iter()
            .any(|s| s.contains("timed out"))
    );
    let retry = Input::Command {
        command: Command::Retry,
        actor: "ops".into(),
        pr_number: None,
    };
    rt.deliver("retry", &id, &retry).await.unwrap();
    assert_eq!(drive(&mut rt, &clock, &id).await.unwrap(), Phase::Done);
}

/// Starting a rotation is one transaction: when its last write fails (here a trigger refuses
/// the first input), nothing of it is left, so no rotation sits in Requested holding its
/// credential with nobody to step it; and the next start succeeds.
#[tokio::test]
async fn a_start_that_fails_halfway_leaves_nothing_behind() {
    let config = demo_config();
    let cred = &config.credentials[0];
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let rt = Runtime::new(store_in(&dir).await, World::default(), clock.clone(), REPO);
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("keyroll.db").display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_inputs BEFORE INSERT ON deliveries \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(rt.start(cred, false).await.is_err());
    assert!(rt.store().active_rotations(REPO).await.unwrap().is_empty());
    let locks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM locks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(locks, 0, "no lock outlives a start that failed");

    sqlx::query("DROP TRIGGER refuse_inputs")
        .execute(&pool)
        .await
        .unwrap();
    let id = rt.start(cred, false).await.unwrap();
    let active = rt.store().active_rotations(REPO).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, id);
}

#[tokio::test]
async fn the_audit_log_is_append_only_and_the_database_holds_no_value() {
    let config = demo_config();
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let mut rt = Runtime::new(store_in(&dir).await, World::default(), clock.clone(), REPO);
    for cred in &config.credentials {
        let id = rt.start(cred, false).await.unwrap();
        drive(&mut rt, &clock, &id).await.unwrap();
    }
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("keyroll.db").display()
    ))
    .await
    .unwrap();
    assert!(
        sqlx::query("UPDATE audit SET actor = 'someone else'")
            .execute(&pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit")
            .execute(&pool)
            .await
            .is_err()
    );
    pool.close().await;

    let mut bytes = Vec::new();
    for name in ["keyroll.db", "keyroll.db-wal"] {
        if let Ok(b) = std::fs::read(dir.path().join(name)) {
            bytes.extend(b);
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    for secret in [
        "old-app-token-6f1c",
        "old-database-password-c3f8",
        "latest-session-key-4b1d",
        "PRODUCTION-2026-05-01-5d2f0c",
    ] {
        assert!(!text.contains(secret), "the database holds {secret}");
    }
    assert!(
        text.contains("data-api-tokens"),
        "the scan read the database"
    );
}

#[test]
fn the_scheduler_starts_what_is_due_without_sharing_files() {
    use keyroll::runtime::schedule::{Urgency, plan};
    let config = demo_config();
    let now = time::macros::datetime!(2026-06-01 00:00 UTC);
    let mut last = BTreeMap::new();
    for c in &config.credentials {
        last.insert(c.name.clone(), now - time::Duration::days(10));
    }
    // data-api-tokens: 90d max age, last 100 days ago: overdue. database-password shares
    // vars/production.yaml with it. redis-auth (180d) is due in 5 days: due soon.
    last.insert("data-api-tokens".into(), now - time::Duration::days(100));
    last.insert("database-password".into(), now - time::Duration::days(95));
    last.insert("redis-auth".into(), now - time::Duration::days(175));
    let s = plan(
        &config.credentials,
        &last,
        &Default::default(),
        now,
        5,
        time::Duration::days(14),
    );
    assert_eq!(
        s.start,
        vec!["data-api-tokens".to_owned()],
        "the second one shares a file and waits"
    );
    let urgencies: Vec<(&str, &Urgency)> = s
        .report
        .iter()
        .map(|d| (d.credential.as_str(), &d.urgency))
        .collect();
    assert_eq!(
        urgencies,
        vec![
            ("data-api-tokens", &Urgency::Overdue),
            ("database-password", &Urgency::Overdue),
            ("redis-auth", &Urgency::DueSoon)
        ]
    );

    let none_running_cap = plan(
        &config.credentials,
        &BTreeMap::new(),
        &Default::default(),
        now,
        2,
        time::Duration::days(14),
    );
    assert_eq!(
        none_running_cap.start.len(),
        2,
        "never rotated means due, up to the cap: {:?}",
        none_running_cap.start
    );
    let active = ["data-api-tokens".to_owned()].into_iter().collect();
    let with_active = plan(
        &config.credentials,
        &last,
        &active,
        now,
        5,
        time::Duration::days(14),
    );
    assert!(with_active.start.is_empty(), "{:?}", with_active.start);
}

/// Every webhook of a rotation delivered three times (different delivery ids, as GitHub's
/// redeliveries and the reconcile tick produce) in a shuffled order, through the store: the
/// rotation ends done, and each pull request was created once.
#[tokio::test]
async fn shuffled_and_repeated_webhooks_end_the_same() {
    let config = demo_config();
    let cred = config.credential("data-api-tokens").unwrap();
    for seed in 1..6u64 {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new();
        let world = World::default();
        let mut rt = Runtime::new(store_in(&dir).await, world.clone(), clock.clone(), REPO);
        let id = rt.start(cred, false).await.unwrap();
        let (rotation, _) = rt.store().rotation(&id).await.unwrap();
        // The world numbers pull requests #100, #101 as the happy path does.
        let mut webhooks: Vec<Input> = keyroll::engine::transcript::happy_path(&rotation)
            .into_iter()
            .map(|(_, i)| i)
            .filter(|i| !matches!(i, Input::LockAcquired | Input::PrOpened { .. }))
            .flat_map(|i| [i.clone(), i.clone(), i])
            .collect();
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for i in (1..webhooks.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            webhooks.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for (n, input) in webhooks.iter().enumerate() {
            rt.deliver(&format!("hook-{n}"), &id, input).await.unwrap();
            rt.run_until_idle().await.unwrap();
        }
        let (end, _) = rt.store().rotation(&id).await.unwrap();
        assert_eq!(end.phase, Phase::Done, "seed {seed}");
        let created = world.0.lock().unwrap().created.clone();
        assert_eq!(created.len(), 2, "seed {seed}: {created:?}");
        assert!(
            created.values().all(|n| *n == 1),
            "seed {seed}: {created:?}"
        );
    }
}

/// The whole shell on a local checkout: the runtime and the SQLite store drive the engine,
/// the local executor commits each pull request as a branch, the test merges them (as a
/// person would on GitHub) and reports the checks. The end state, read by the real sops,
/// holds the new values and not the old.
#[tokio::test]
async fn a_local_checkout_rotates_through_the_runtime() {
    use keyroll::effects::local::LocalExecutor;
    let (repo_dir, repo) = demo_git_repo();
    let config = demo_config();
    let ids = keyroll::sops::Identities::from_file(&fixture("demo-age-key.txt")).unwrap();
    let executor = LocalExecutor::new(repo_dir.path(), config.clone(), ids);
    let db = tempfile::tempdir().unwrap();
    let clock = TestClock::new();
    let mut rt = Runtime::new(store_in(&db).await, executor, clock.clone(), REPO);
    let cred = config.credential("data-api-tokens").unwrap();
    let id = rt.start(cred, false).await.unwrap();
    // Merge: the default branch moves to the pull request's branch, as a fast-forward.
    let merge = |r: &Rotation, pr: usize| {
        let branch = format!("keyroll/data-api-tokens/{}/{}", r.id, r.plan[pr].change);
        let commit = repo
            .find_branch(&branch, git2::BranchType::Local)
            .unwrap()
            .get()
            .peel_to_commit()
            .unwrap()
            .id();
        let head = repo.head().unwrap().name().unwrap().to_owned();
        repo.reference(&head, commit, true, "merge").unwrap();
        commit.to_string()
    };
    let phase = drive_with(&mut rt, &clock, &id, merge).await.unwrap();
    assert_eq!(phase, Phase::Done, "{:?}", rt.executor().log());
    assert_eq!(rt.store().rotation(&id).await.unwrap().0.phase, Phase::Done);

    // What the default branch holds now, read by the real sops.
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let blob = head
        .tree()
        .unwrap()
        .get_path(std::path::Path::new("vars/production.yaml"))
        .unwrap()
        .to_object(&repo)
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("production.yaml"),
        blob.as_blob().unwrap().content(),
    )
    .unwrap();
    let out = sops(
        tmp.path(),
        &fixture("demo-age-key.txt"),
        &["-d", "production.yaml"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = String::from_utf8_lossy(&out.stdout);
    assert!(
        !plain.contains("old-app-token-6f1c") && !plain.contains("old-dev-token-0b7e"),
        "old values remain"
    );
    let tokens = plain.lines().find(|l| l.contains("auth_tokens")).unwrap();
    assert_eq!(
        tokens.matches(':').count(),
        3,
        "three new tokens: {}",
        tokens.len()
    );
    let log = rt.executor().log().join("\n");
    for secret in ["old-app-token-6f1c", "old-jenkins-token-93ad"] {
        assert!(!log.contains(secret));
    }
}
