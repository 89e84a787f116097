//! The outbox of commands: what keyroll says back (reactions, replies) is stored with the
//! command's result and carried out afterwards, each once. A crash after the commit and
//! before (or during) the posting says everything exactly once when the delivery is handled
//! again; a command that starts a rotation is logged in the rotation's own transaction.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::sync::Mutex;

use common::*;
use keyroll::policy::{self, Config};
use keyroll::runtime::answers::{Answerer, carry_out};
use keyroll::runtime::{Clock, ExecError, Runtime, RuntimeError};
use keyroll::store::{Answer, CommandLog, CommandRecord, CommandResult, Reaction, Store};
use time::OffsetDateTime;

const REPO: &str = "acme/credentials";
const DELIVERY: &str = "d-1";

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
    }
}

/// What GitHub shows: the comments and reactions keyroll made, each with the key it was
/// made under. Find-or-create as GitHub allows it: a reply is found by its hidden key, a
/// reaction of a kind is kept once.
#[derive(Default)]
struct GitHub {
    comments: Mutex<Vec<(String, u64, String)>>,
    reactions: Mutex<Vec<(u64, Reaction)>>,
    /// Every request made, to count the posts.
    posts: Mutex<u32>,
}

impl GitHub {
    fn say(&self, key: &str, answer: &Answer) -> String {
        match answer {
            Answer::React { comment, reaction } => {
                *self.posts.lock().unwrap() += 1;
                let mut r = self.reactions.lock().unwrap();
                if !r.contains(&(*comment, *reaction)) {
                    r.push((*comment, *reaction));
                }
                format!("reacted {}", reaction.content())
            }
            Answer::Reply { number, text } => {
                let mut c = self.comments.lock().unwrap();
                if c.iter().any(|(k, _, _)| k == key) {
                    return "found".into();
                }
                *self.posts.lock().unwrap() += 1;
                c.push((key.to_owned(), *number, text.clone()));
                "posted".into()
            }
        }
    }
}

/// Where keyroll stops: at its `at`th answer, before saying it or after saying it (a
/// process killed before the receipt is written).
#[derive(Clone, Copy)]
enum Crash {
    Never,
    Before(usize),
    After(usize),
}

/// Says answers on [`GitHub`], stopping where the test asks.
struct Keyroll<'a> {
    github: &'a GitHub,
    crash: Crash,
    calls: Mutex<usize>,
}

impl<'a> Keyroll<'a> {
    fn new(github: &'a GitHub, crash: Crash) -> Self {
        Self {
            github,
            crash,
            calls: Mutex::new(0),
        }
    }
}

impl Answerer for Keyroll<'_> {
    async fn answer(&self, key: &str, answer: &Answer) -> Result<String, ExecError> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            *calls
        };
        if matches!(self.crash, Crash::Before(at) if at == n) {
            return Err(ExecError("crashed before saying it".into()));
        }
        let receipt = self.github.say(key, answer);
        if matches!(self.crash, Crash::After(at) if at == n) {
            return Err(ExecError("crashed after saying it".into()));
        }
        Ok(receipt)
    }
}

async fn store_in(dir: &tempfile::TempDir) -> Store {
    Store::open(&format!("sqlite://{}", dir.path().join("k.db").display()))
        .await
        .unwrap()
}

fn record<'a>() -> CommandRecord<'a> {
    CommandRecord {
        repository: REPO,
        rotation_id: None,
        comment_id: 7,
        comment_url: None,
        actor_id: 42,
        actor_login: "alice",
        command: "/keyroll status",
        outcome: "status",
    }
}

fn answers() -> Vec<Answer> {
    vec![
        Answer::React {
            comment: 7,
            reaction: Reaction::Eyes,
        },
        Answer::Reply {
            number: 3,
            text: "@alice nothing is rotating.".into(),
        },
        Answer::React {
            comment: 7,
            reaction: Reaction::PlusOne,
        },
    ]
}

async fn recorded(store: &Store) {
    let log = CommandLog {
        record: record(),
        delivery_id: DELIVERY,
        result: CommandResult {
            ok: true,
            outcome: "status".into(),
            reply: Some("@alice nothing is rotating.".into()),
        },
        answers: answers(),
    };
    store
        .record_command_result(&log, FixedClock.now())
        .await
        .unwrap();
}

/// Handles the delivery again as the command handler does: the result is there, so only
/// the answers still owed are said.
async fn replay(store: &Store, keyroll: &Keyroll<'_>) -> Result<usize, RuntimeError> {
    assert!(store.command_result(DELIVERY).await.unwrap().is_some());
    carry_out(store, keyroll, &FixedClock, DELIVERY).await
}

fn said_once(github: &GitHub) {
    let comments = github.comments.lock().unwrap();
    assert_eq!(comments.len(), 1, "one reply: {:?}", *comments);
    assert_eq!(comments[0].1, 3);
    assert_eq!(
        *github.reactions.lock().unwrap(),
        vec![(7, Reaction::Eyes), (7, Reaction::PlusOne)]
    );
}

#[tokio::test]
async fn a_crash_after_the_commit_and_before_any_post_says_everything_once_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir).await;
    let github = GitHub::default();
    recorded(&store).await;
    // The process dies right after the commit: nothing said yet.
    let first = Keyroll::new(&github, Crash::Before(1));
    assert!(
        carry_out(&store, &first, &FixedClock, DELIVERY)
            .await
            .is_err()
    );
    assert!(github.comments.lock().unwrap().is_empty());
    assert_eq!(store.pending_answers(DELIVERY).await.unwrap().len(), 3);

    let again = Keyroll::new(&github, Crash::Never);
    assert_eq!(replay(&store, &again).await.unwrap(), 3);
    said_once(&github);
    assert_eq!(*github.posts.lock().unwrap(), 3);
    // Handled a third time: nothing is owed, nothing is said.
    assert_eq!(replay(&store, &again).await.unwrap(), 0);
    assert_eq!(*github.posts.lock().unwrap(), 3);
    assert_eq!(
        store.answer_receipts(DELIVERY).await.unwrap(),
        vec!["reacted eyes", "posted", "reacted +1"]
    );
}

#[tokio::test]
async fn a_crash_between_the_post_and_its_receipt_finds_the_reply_instead_of_posting_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir).await;
    let github = GitHub::default();
    recorded(&store).await;
    // The reply is posted, then the process dies before writing its receipt.
    let first = Keyroll::new(&github, Crash::After(2));
    assert!(
        carry_out(&store, &first, &FixedClock, DELIVERY)
            .await
            .is_err()
    );
    assert_eq!(github.comments.lock().unwrap().len(), 1);
    assert_eq!(store.pending_answers(DELIVERY).await.unwrap().len(), 2);

    let again = Keyroll::new(&github, Crash::Never);
    assert_eq!(replay(&store, &again).await.unwrap(), 2);
    said_once(&github);
    assert_eq!(
        store.answer_receipts(DELIVERY).await.unwrap(),
        vec!["reacted eyes", "found", "reacted +1"]
    );
}

#[tokio::test]
async fn a_crash_at_every_answer_still_says_each_once() {
    for at in 1..=3 {
        for crash in [Crash::Before(at), Crash::After(at)] {
            let dir = tempfile::tempdir().unwrap();
            let store = store_in(&dir).await;
            let github = GitHub::default();
            recorded(&store).await;
            let first = Keyroll::new(&github, crash);
            assert!(
                carry_out(&store, &first, &FixedClock, DELIVERY)
                    .await
                    .is_err()
            );
            replay(&store, &Keyroll::new(&github, Crash::Never))
                .await
                .unwrap();
            said_once(&github);
            assert!(store.pending_answers(DELIVERY).await.unwrap().is_empty());
        }
    }
}

fn demo_config() -> Config {
    policy::parse(
        ".keyroll.yaml",
        &std::fs::read_to_string(fixture("demo-credentials/.keyroll.yaml")).unwrap(),
    )
    .unwrap()
}

/// Starts nothing in the world: the test only looks at the store.
struct Nowhere;

impl keyroll::runtime::Executor for Nowhere {
    async fn execute(
        &self,
        _: &keyroll::engine::Rotation,
        _: &str,
        _: &keyroll::engine::Effect,
    ) -> Result<keyroll::runtime::Outcome, ExecError> {
        Err(ExecError("not in this test".into()))
    }
}

#[tokio::test]
async fn a_command_that_starts_a_rotation_is_logged_in_the_rotations_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(&dir).await;
    let config = demo_config();
    let cred = config.credentials.first().unwrap();
    let rt = Runtime::new(store.clone(), Nowhere, FixedClock, REPO);
    let id = rt
        .start_for(cred, false, Some("alice"), |id| {
            Some(CommandLog {
                record: CommandRecord {
                    command: "/keyroll rotate",
                    outcome: "started",
                    ..record()
                },
                delivery_id: DELIVERY,
                result: CommandResult {
                    ok: true,
                    outcome: "started".into(),
                    reply: Some(format!("@alice started rotation `{id}`.")),
                },
                answers: vec![Answer::Reply {
                    number: 3,
                    text: format!("@alice started rotation `{id}`."),
                }],
            })
        })
        .await
        .unwrap();
    // The delivery handled again finds the command's result (not "already rotating"), and
    // the reply naming the rotation waits to be said.
    let result = store.command_result(DELIVERY).await.unwrap().unwrap();
    assert_eq!(result.outcome, "started");
    let pending = store.pending_answers(DELIVERY).await.unwrap();
    assert_eq!(
        pending.iter().map(|p| &p.answer).collect::<Vec<_>>(),
        vec![&Answer::Reply {
            number: 3,
            text: format!("@alice started rotation `{id}`."),
        }]
    );
    assert_eq!(store.active_rotations(REPO).await.unwrap().len(), 1);
}
