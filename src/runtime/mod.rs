//! The imperative shell around the engine: takes inputs from the store's inbox in order,
//! steps the engine, commits the transition with its effects, carries the effects out through
//! an [`Executor`], records receipts, and feeds outcomes back as inputs.
//!
//! Restarting resumes exactly where it stopped: committed effects without a receipt are
//! carried out (again), which is safe because every effect is find-or-create; unprocessed
//! inputs are stepped. A crash can only lose work that was never committed.

pub mod answers;
pub mod schedule;

use std::future::Future;

use time::OffsetDateTime;

use crate::engine::{Effect, Input, Rotation, plan_for, step};
use crate::policy::Credential;
use crate::store::{CommandLog, Delivery, StepRecord, Store, StoreError};

/// The time, injected so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

impl std::fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// What an effect left behind: a receipt for the outbox, and an input to feed back (the
/// number of a pull request it opened, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub receipt: String,
    pub feedback: Option<Input>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

/// Carries effects out in the world (GitHub, a local checkout). Every effect must be
/// find-or-create: asked again after a crash, it finds what it did and does not do it twice.
pub trait Executor: Send + Sync {
    fn execute(
        &self,
        rotation: &Rotation,
        key: &str,
        effect: &Effect,
    ) -> impl Future<Output = Result<Outcome, ExecError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("effect {key} failed: {error}")]
    Effect { key: String, error: ExecError },
    /// Raised by a crash point in tests; a real process would simply die here.
    #[error("crashed at boundary {0}")]
    Crashed(usize),
}

/// Where a test may stop the runtime: before or after each effect, before or after each
/// commit.
#[derive(Debug, Default)]
struct CrashPoints {
    at: Option<usize>,
    passed: usize,
}

impl CrashPoints {
    fn boundary(&mut self) -> Result<(), RuntimeError> {
        self.passed += 1;
        if self.at == Some(self.passed) {
            return Err(RuntimeError::Crashed(self.passed));
        }
        Ok(())
    }
}

/// One repository's worker.
#[derive(Debug)]
pub struct Runtime<E, C> {
    store: Store,
    executor: E,
    clock: C,
    repository: String,
    crash: CrashPoints,
}

impl<E: Executor, C: Clock> Runtime<E, C> {
    pub fn new(store: Store, executor: E, clock: C, repository: &str) -> Self {
        Self {
            store,
            executor,
            clock,
            repository: repository.to_owned(),
            crash: CrashPoints::default(),
        }
    }

    /// Makes the runtime stop at its `n`th boundary (tests of crash safety).
    pub fn crash_at(mut self, n: usize) -> Self {
        self.crash.at = Some(n);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn executor(&self) -> &E {
        &self.executor
    }

    /// Starts a rotation of `cred`: records it and tries to take the locks of the credential
    /// and of every file it touches (rotations that share a file wait for each other), in
    /// one transaction.
    pub async fn start(&self, cred: &Credential, emergency: bool) -> Result<String, RuntimeError> {
        self.start_for(cred, emergency, None, |_| None).await
    }

    /// [`Self::start`], recording who asked (their approvals may not count, by config) and
    /// the command that asked, in the same transaction (`command` builds its log for the
    /// new rotation's id).
    pub async fn start_for<'c>(
        &self,
        cred: &Credential,
        emergency: bool,
        requested_by: Option<&str>,
        command: impl FnOnce(&str) -> Option<CommandLog<'c>>,
    ) -> Result<String, RuntimeError> {
        let now = self.clock.now();
        let mut scopes = vec![format!("credential:{}:{}", self.repository, cred.name)];
        for l in &cred.locations {
            let scope = format!("file:{}:{}", self.repository, l.file);
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let make = |id: String| {
            let mut rotation =
                Rotation::new(&id, &cred.name, emergency, plan_for(cred, emergency), now);
            rotation.requested_by = requested_by.map(str::to_owned);
            rotation
        };
        let id = self
            .store
            .start_rotation(&self.repository, now.year(), make, &scopes, command, now)
            .await?;
        Ok(id)
    }

    /// Puts an input in the inbox (a webhook, a command, a tick). A delivery id seen before
    /// is dropped; returns whether it was new.
    pub async fn deliver(
        &self,
        delivery_id: &str,
        rotation_id: &str,
        input: &Input,
    ) -> Result<bool, RuntimeError> {
        Ok(self
            .store
            .enqueue(
                delivery_id,
                &self.repository,
                rotation_id,
                input,
                self.clock.now(),
            )
            .await?)
    }

    /// A tick for every unfinished rotation (timeouts and reminders).
    pub async fn tick(&self) -> Result<(), RuntimeError> {
        let now = self.clock.now();
        for r in self.store.active_rotations(&self.repository).await? {
            self.store
                .enqueue(
                    &format!("tick/{}/{}", r.id, now.unix_timestamp()),
                    &self.repository,
                    &r.id,
                    &Input::Tick,
                    now,
                )
                .await?;
        }
        Ok(())
    }

    /// Carries out pending effects and steps pending inputs until there are none.
    pub async fn run_until_idle(&mut self) -> Result<(), RuntimeError> {
        loop {
            let worked = self.run_effects().await?;
            match self.store.next_delivery(&self.repository).await? {
                Some(d) => self.step_delivery(&d).await?,
                None if !worked => return Ok(()),
                None => {}
            }
        }
    }

    async fn step_delivery(&mut self, d: &Delivery) -> Result<(), RuntimeError> {
        let now = self.clock.now();
        let (rotation, version) = match self.store.rotation(&d.rotation_id).await {
            Ok(found) => found,
            Err(StoreError::NoRotation(_)) => return Ok(self.store.skip_delivery(d, now).await?),
            Err(e) => return Err(e.into()),
        };
        let t = step(&rotation, &d.input, now);
        let actor = match &d.input {
            Input::Command { actor, .. } => actor.clone(),
            _ => "github".to_owned(),
        };
        self.crash.boundary()?;
        let record = StepRecord {
            delivery: d,
            before: &rotation,
            next: &t.next,
            expected_version: version,
            effects: &t.effects,
            actor: &actor,
        };
        self.store.commit_step(&record, now).await?;
        self.crash.boundary()?;
        Ok(())
    }

    /// Carries out every effect without a receipt. Returns whether there was any.
    async fn run_effects(&mut self) -> Result<bool, RuntimeError> {
        // One query for the repository, finished rotations included: they may still owe
        // their last effects (unlock, record).
        let pending_effects = self.store.pending_effects(&self.repository).await?;
        let mut rotation: Option<Rotation> = None;
        for pending in &pending_effects {
            if rotation
                .as_ref()
                .is_none_or(|r| r.id != pending.rotation_id)
            {
                rotation = Some(self.store.rotation(&pending.rotation_id).await?.0);
            }
            let Some(rotation) = &rotation else { continue };
            self.crash.boundary()?;
            let outcome = match &pending.effect {
                // The store's own effects.
                Effect::ReleaseLock => {
                    self.store.release_locks(&rotation.id).await?;
                    Outcome {
                        receipt: "released".into(),
                        feedback: None,
                    }
                }
                Effect::RecordRotated => Outcome {
                    receipt: "recorded".into(),
                    feedback: None,
                },
                other => self
                    .executor
                    .execute(rotation, &pending.key, other)
                    .await
                    .map_err(|error| RuntimeError::Effect {
                        key: pending.key.clone(),
                        error,
                    })?,
            };
            self.crash.boundary()?;
            let now = self.clock.now();
            if let Some(input) = &outcome.feedback {
                self.store
                    .enqueue(
                        &format!("{}/outcome", pending.key),
                        &self.repository,
                        &rotation.id,
                        input,
                        now,
                    )
                    .await?;
            }
            self.store
                .record_receipt(&pending.key, &outcome.receipt, now)
                .await?;
        }
        Ok(!pending_effects.is_empty())
    }
}
