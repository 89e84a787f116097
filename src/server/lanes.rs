//! Supervised work. Stored deliveries are split into lanes, one per repository (and one,
//! `""`, for deliveries about none: installations, pings, bodies that do not parse). Each
//! lane is a task that handles its deliveries in arrival order, then steps its repository's
//! rotations and runs its ticks; lanes run side by side, so one repository waiting on a rate
//! limit or a slow step does not hold up another.
//!
//! Every unit of work (one delivery, one tick, one pass over a repository's rotations) runs
//! in a task of its own: a panic is caught there, logged with what was being handled,
//! counted, and the delivery kept for a retry; the lane goes on. The supervisor reads new
//! deliveries, gives each its lane, starts the lanes that have work, and starts again a lane
//! it finds dead.
//!
//! A delivery that failed for a passing reason (see [`super::retry`]) stays where it is and
//! is tried again after a back-off; while it waits, the later deliveries of its repository
//! wait too, so a repository's events are always handled in the order they arrived. After
//! its last attempt it is parked: set aside (later deliveries go on), counted in
//! `/metrics`, and tried again at the next start or when an operator asks.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use super::retry::{Failure, Next};
use super::worker::{Tick, Worker, WorkerSettings};
use crate::github::webhook;
use crate::store::{StoredWebhook, WaitingWebhook};

/// How long a repository whose rotations failed waits before the next try, at most.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// Deliveries read from the store at a time.
const BATCH: u32 = 100;
/// How often the supervisor looks for work and dead lanes without being woken.
const SUPERVISE_EVERY: Duration = Duration::from_secs(1);

/// The lane of deliveries about no repository.
const NO_REPOSITORY: &str = "";

/// What the supervisor and `/readyz` know about the lanes.
#[derive(Debug, Default)]
pub struct Health {
    /// Lanes that stopped without being asked to, until the supervisor starts them again.
    dead: Mutex<BTreeSet<String>>,
    /// Set when the supervisor itself is gone.
    supervisor_gone: AtomicBool,
    stopping: AtomicBool,
}

impl Health {
    /// Why the worker cannot be trusted to handle deliveries now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.supervisor_gone.load(Ordering::Relaxed) {
            return Some("the worker supervisor has stopped".into());
        }
        let dead = self.dead.lock().ok()?;
        if dead.is_empty() {
            return None;
        }
        let names: Vec<&str> = dead
            .iter()
            .map(|l| {
                if l.is_empty() {
                    "(no repository)"
                } else {
                    l.as_str()
                }
            })
            .collect();
        Some(format!("worker dead for {}", names.join(", ")))
    }

    fn died(&self, lane: &str) {
        if let Ok(mut d) = self.dead.lock() {
            d.insert(lane.to_owned());
        }
    }

    fn revived(&self, lane: &str) {
        if let Ok(mut d) = self.dead.lock() {
            d.remove(lane);
        }
    }
}

/// Marks a lane dead when its task ends other than by a shutdown (a panic included: drop
/// runs while unwinding).
struct LaneGuard {
    lane: String,
    health: Arc<Health>,
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl Drop for LaneGuard {
    fn drop(&mut self) {
        let stopping = self.health.stopping.load(Ordering::Relaxed) || *self.stopped.borrow();
        if !stopping {
            self.health.died(&self.lane);
        }
    }
}

struct SupervisorGuard(Arc<Health>);

impl Drop for SupervisorGuard {
    fn drop(&mut self) {
        if !self.0.stopping.load(Ordering::Relaxed) {
            self.0.supervisor_gone.store(true, Ordering::Relaxed);
        }
    }
}

#[derive(Debug)]
enum Command {
    Tick(oneshot::Sender<()>),
    Settle(oneshot::Sender<()>),
    RetryParked(oneshot::Sender<u64>),
}

/// Asks the worker to do something between passes.
#[derive(Debug, Clone)]
pub struct Commands(mpsc::Sender<Command>);

impl Commands {
    /// Runs every repository's reconcile and schedule ticks now, then settles.
    pub async fn tick(&self) {
        let (reply, done) = oneshot::channel();
        if self.0.send(Command::Tick(reply)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Waits until every lane has done what it can do now.
    pub async fn settle(&self) {
        let (reply, done) = oneshot::channel();
        if self.0.send(Command::Settle(reply)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Puts parked deliveries back in their lanes; how many.
    pub async fn retry_parked(&self) -> u64 {
        let (reply, done) = oneshot::channel();
        if self.0.send(Command::RetryParked(reply)).await.is_ok() {
            return done.await.unwrap_or(0);
        }
        0
    }
}

/// Starts the supervisor, which starts the lanes.
pub(super) fn spawn(
    mut settings: WorkerSettings,
    health: Arc<Health>,
) -> (Commands, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(16);
    let (installed_tx, installed) = mpsc::unbounded_channel();
    settings.installed = Some(installed_tx);
    let supervisor = Supervisor {
        s: settings,
        health,
        lanes: BTreeMap::new(),
        installed,
    };
    (Commands(tx), tokio::spawn(supervisor.run(rx)))
}

/// A request to a lane.
#[derive(Debug)]
enum LaneMsg {
    /// Do what can be done now, ignoring the rotations' back-off; say when done.
    Settle(oneshot::Sender<()>),
    /// Run the reconcile or schedule tick (or both); say when done.
    Tick {
        reconcile: bool,
        schedule: bool,
        done: Option<oneshot::Sender<()>>,
    },
    /// The App was just installed on the repository: write its dashboard (people type their
    /// first `/keyroll rotate` there); say when done.
    Installed(oneshot::Sender<()>),
}

/// The ticks a lane was asked for since it last looked.
#[derive(Debug, Default, Clone, Copy)]
struct Asked {
    reconcile: bool,
    schedule: bool,
    dashboard: bool,
}

#[derive(Debug)]
struct LaneHandle {
    nudge: Arc<Notify>,
    mail: mpsc::Sender<LaneMsg>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Supervisor {
    s: WorkerSettings,
    health: Arc<Health>,
    lanes: BTreeMap<String, LaneHandle>,
    /// Repositories the App was just installed on, from the lane that read the delivery.
    installed: mpsc::UnboundedReceiver<String>,
}

impl Supervisor {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let _guard = SupervisorGuard(self.health.clone());
        let mut stopped = self.s.stopped.clone();
        // A restart is the moment to try parked deliveries again: whatever kept them from
        // being handled may have been fixed with it.
        match self.s.store.unpark_webhooks().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deliveries = n,
                "parked deliveries put back to be tried again"
            ),
            Err(e) => tracing::error!(error = %e, "putting parked deliveries back"),
        }
        let mut next_reconcile = Instant::now() + self.s.reconcile_every;
        // The schedule runs at start (due rotations, dashboards), then at its interval.
        let mut next_schedule = Instant::now();
        let stored = self.s.stored.clone();
        loop {
            let wake = next_reconcile.min(next_schedule);
            let mut settle = None;
            let mut ticked = false;
            let mut installed = Vec::new();
            tokio::select! {
                _ = stored.notified() => {}
                Some(repo) = self.installed.recv() => installed.push(repo),
                _ = tokio::time::sleep(SUPERVISE_EVERY) => {}
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = stopped.changed() => {
                    if *stopped.borrow() {
                        self.stop().await;
                        return;
                    }
                }
                cmd = commands.recv() => match cmd {
                    None => {
                        self.stop().await;
                        return;
                    }
                    Some(Command::Tick(reply)) => {
                        next_reconcile = Instant::now();
                        next_schedule = Instant::now();
                        ticked = true;
                        settle = Some(reply);
                    }
                    Some(Command::Settle(reply)) => settle = Some(reply),
                    Some(Command::RetryParked(reply)) => {
                        let n = match self.s.store.unpark_webhooks().await {
                            Ok(n) => n,
                            Err(e) => {
                                tracing::error!(error = %e, "putting parked deliveries back");
                                0
                            }
                        };
                        tracing::info!(deliveries = n, "parked deliveries put back on request");
                        // Each lane looks again now, whatever retry time it was waiting for.
                        drop(self.settle_lanes());
                        let _ = reply.send(n);
                    }
                }
            }
            while let Ok(repo) = self.installed.try_recv() {
                installed.push(repo);
            }
            self.restart_dead().await;
            self.assign_lanes().await;
            let mut waits = self.installed_lanes(installed);
            let schedule = Instant::now() >= next_schedule;
            let reconcile = Instant::now() >= next_reconcile;
            if schedule || reconcile {
                if schedule {
                    self.forget_old_deliveries().await;
                    next_schedule = Instant::now() + self.s.schedule_every;
                }
                if reconcile {
                    next_reconcile = Instant::now() + self.s.reconcile_every;
                }
                waits.extend(self.tick_lanes(reconcile, schedule, ticked).await);
            }
            self.nudge_lanes_with_work().await;
            if let Some(reply) = settle {
                waits.extend(self.settle_lanes());
                // Waiting here would hold up the supervisor behind the slowest lane.
                tokio::spawn(async move {
                    for w in waits {
                        let _ = w.await;
                    }
                    let _ = reply.send(());
                });
            }
        }
    }

    async fn stop(&mut self) {
        self.health.stopping.store(true, Ordering::Relaxed);
        for (_, lane) in std::mem::take(&mut self.lanes) {
            let _ = lane.task.await;
        }
    }

    /// Starts again every lane whose task ended (a panic outside the units of work).
    async fn restart_dead(&mut self) {
        let dead: Vec<String> = self
            .lanes
            .iter()
            .filter(|(_, l)| l.task.is_finished())
            .map(|(k, _)| k.clone())
            .collect();
        for lane in dead {
            let why = match self.lanes.remove(&lane) {
                Some(handle) => match handle.task.await {
                    Ok(()) => "it ended".to_owned(),
                    Err(e) => {
                        self.s.metrics.panicked("lane");
                        panic_text(e)
                    }
                },
                None => continue,
            };
            tracing::error!(lane = %lane, reason = %why, "a repository worker stopped; starting it again");
            self.s.metrics.restarted();
            self.lane(&lane).nudge.notify_one();
        }
    }

    /// The lane of `key`, started if it is not running.
    fn lane(&mut self, key: &str) -> &LaneHandle {
        if !self.lanes.contains_key(key) {
            let nudge = Arc::new(Notify::new());
            let (mail, rx) = mpsc::channel(8);
            let lane = Lane {
                key: key.to_owned(),
                s: self.s.clone(),
                worker: None,
                backoff: None,
                blocked_until: None,
            };
            let guard = LaneGuard {
                lane: key.to_owned(),
                health: self.health.clone(),
                stopped: self.s.stopped.clone(),
            };
            let span = tracing::info_span!("lane", lane = %key);
            let task = tokio::spawn(lane.run(nudge.clone(), rx, guard).instrument(span));
            self.health.revived(key);
            self.lanes.insert(
                key.to_owned(),
                LaneHandle {
                    nudge: nudge.clone(),
                    mail,
                    task,
                },
            );
        }
        // Just inserted when missing.
        #[allow(clippy::expect_used)]
        self.lanes.get(key).expect("the lane was started")
    }

    /// Gives every new delivery the lane of the repository it is about.
    async fn assign_lanes(&self) {
        loop {
            match self.s.store.assign_lanes(BATCH, lane_of).await {
                Ok(n) if n < BATCH as usize => return,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "reading stored deliveries");
                    return;
                }
            }
        }
    }

    /// Wakes every lane with deliveries waiting or rotations with work.
    async fn nudge_lanes_with_work(&mut self) {
        let mut keys: BTreeSet<String> = match self.s.store.lanes_with_work().await {
            Ok(l) => l.into_iter().collect(),
            Err(e) => {
                tracing::error!(error = %e, "listing deliveries waiting");
                BTreeSet::new()
            }
        };
        match self.s.store.repositories_with_work().await {
            Ok(r) => keys.extend(r),
            Err(e) => tracing::error!(error = %e, "listing repositories with work"),
        }
        for key in keys {
            self.lane(&key).nudge.notify_one();
        }
    }

    /// Asks every lane that exists to do what it can now; the answers to wait for.
    fn settle_lanes(&mut self) -> Vec<oneshot::Receiver<()>> {
        let mut waits = Vec::new();
        for lane in self.lanes.values() {
            let (tx, rx) = oneshot::channel();
            let mail = lane.mail.clone();
            // Sent from a task of its own: a busy lane's full mailbox must not hold up the
            // supervisor.
            tokio::spawn(async move {
                let _ = mail.send(LaneMsg::Settle(tx)).await;
            });
            waits.push(rx);
        }
        waits
    }

    /// Asks the lane of every installed repository to run its ticks. With `wait`, returns
    /// the answers to wait for.
    async fn tick_lanes(
        &mut self,
        reconcile: bool,
        schedule: bool,
        wait: bool,
    ) -> Vec<oneshot::Receiver<()>> {
        let repos = match self.s.store.installations().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "ticks: listing installations");
                return Vec::new();
            }
        };
        let mut waits = Vec::new();
        for installed in repos {
            let (done, rx) = if wait {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            } else {
                (None, None)
            };
            let msg = LaneMsg::Tick {
                reconcile,
                schedule,
                done,
            };
            let mail = self.lane(&installed.repository).mail.clone();
            if wait {
                tokio::spawn(async move {
                    let _ = mail.send(msg).await;
                });
            } else if mail.try_send(msg).is_err() {
                // The lane is busy with earlier requests; the next tick comes.
                tracing::debug!(repository = %installed.repository, "tick skipped: lane busy");
            }
            waits.extend(rx);
        }
        waits
    }

    /// Asks the lane of each newly installed repository to write its dashboard; the answers
    /// to wait for (a settle that comes with them waits for the dashboards too).
    fn installed_lanes(&mut self, repos: Vec<String>) -> Vec<oneshot::Receiver<()>> {
        let mut waits = Vec::new();
        for repo in repos.into_iter().collect::<BTreeSet<_>>() {
            let (tx, rx) = oneshot::channel();
            let mail = self.lane(&repo).mail.clone();
            // Put in the mailbox now when it has room, so it comes before any later request;
            // a full one is waited on in a task of its own.
            if let Err(mpsc::error::TrySendError::Full(msg)) = mail.try_send(LaneMsg::Installed(tx))
            {
                tokio::spawn(async move {
                    let _ = mail.send(msg).await;
                });
            }
            waits.push(rx);
        }
        waits
    }

    /// Deliveries read more than a week ago are dropped: GitHub redelivers within days,
    /// so their ids are no longer needed to drop duplicates. Parked ones are kept.
    async fn forget_old_deliveries(&self) {
        let Some(before) = self.s.clock.now().checked_sub(time::Duration::days(7)) else {
            return;
        };
        match self.s.store.prune_webhooks(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "forgot deliveries read over a week ago"),
            Err(e) => tracing::warn!(error = %e, "could not forget old deliveries"),
        }
    }
}

/// The lane of a stored delivery: the repository it names, read without parsing the rest.
fn lane_of(hook: &StoredWebhook) -> String {
    webhook::repository_of(&hook.body).unwrap_or_else(|| NO_REPOSITORY.to_owned())
}

/// The text of a panic's payload, when it has one.
fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "cancelled".into();
    }
    let payload = e.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

/// One repository's lane (or the lane of deliveries about none).
#[derive(Debug)]
struct Lane {
    key: String,
    s: WorkerSettings,
    /// The handler and its caches; `None` after a panic lost them (a fresh one is made).
    worker: Option<Worker>,
    /// When the repository's rotations may be tried again after they failed, and the wait.
    backoff: Option<(Instant, Duration)>,
    /// The retry time of the delivery at the head of the lane: until then a nudge need not
    /// read the lane again (later deliveries wait behind it).
    blocked_until: Option<time::OffsetDateTime>,
}

/// What a lane should do next without being asked.
enum Wake {
    /// Nothing until a nudge.
    Idle,
    /// Try again after this long (a delivery's retry time, the rotations' back-off).
    After(Duration),
}

impl Lane {
    async fn run(
        mut self,
        nudge: Arc<Notify>,
        mut mail: mpsc::Receiver<LaneMsg>,
        _guard: LaneGuard,
    ) {
        let mut stopped = self.s.stopped.clone();
        let mut wake = Wake::Idle;
        loop {
            let mut waiting = Vec::new();
            let mut ticks = Asked::default();
            let sleep = match wake {
                Wake::Idle => Duration::from_secs(3600),
                Wake::After(d) => d,
            };
            tokio::select! {
                _ = nudge.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = stopped.changed() => {
                    if *stopped.borrow() {
                        return;
                    }
                }
                msg = mail.recv() => match msg {
                    None => return,
                    Some(m) => self.take(m, &mut waiting, &mut ticks),
                }
            }
            while let Ok(m) = mail.try_recv() {
                self.take(m, &mut waiting, &mut ticks);
            }
            let eager = !waiting.is_empty();
            if ticks.schedule {
                // Writes the dashboard too.
                self.tick(Tick::Schedule).await;
            } else if ticks.dashboard {
                self.tick(Tick::Dashboard).await;
            }
            if ticks.reconcile {
                self.tick(Tick::Reconcile).await;
            }
            wake = self.pass(eager).await;
            for w in waiting {
                let _ = w.send(());
            }
        }
    }

    fn take(&self, m: LaneMsg, waiting: &mut Vec<oneshot::Sender<()>>, ticks: &mut Asked) {
        match m {
            LaneMsg::Settle(done) => waiting.push(done),
            LaneMsg::Tick {
                reconcile,
                schedule,
                done,
            } => {
                ticks.reconcile |= reconcile;
                ticks.schedule |= schedule;
                waiting.extend(done);
            }
            LaneMsg::Installed(done) => {
                ticks.dashboard = true;
                waiting.push(done);
            }
        }
    }

    /// The handler, made anew when a panic took the last one.
    fn worker(&mut self) -> Worker {
        self.worker
            .take()
            .unwrap_or_else(|| Worker::new(self.s.clone()))
    }

    /// Runs a unit of work in a task of its own, so a panic in it is caught here. The
    /// handler comes back with the result; after a panic it is dropped (its caches may be
    /// half-written) and the panic's text returned.
    async fn supervised<T, F, Fut>(
        &mut self,
        unit: &str,
        span: tracing::Span,
        f: F,
    ) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(Worker) -> Fut,
        Fut: Future<Output = (Worker, T)> + Send + 'static,
    {
        let worker = self.worker();
        let task = tokio::spawn(f(worker).instrument(span.clone()));
        match task.await {
            Ok((worker, out)) => {
                self.worker = Some(worker);
                Ok(out)
            }
            Err(e) => {
                let text = panic_text(e);
                self.s.metrics.panicked(unit);
                span.in_scope(
                    || tracing::error!(unit, panic = %text, "panic caught; the worker goes on"),
                );
                Err(text)
            }
        }
    }

    async fn tick(&mut self, which: Tick) {
        if self.key.is_empty() {
            return;
        }
        let repo = self.key.clone();
        let span = tracing::info_span!("tick", tick = ?which, repository = %repo);
        let _ = self
            .supervised("tick", span, move |mut w| async move {
                w.tick(which, &repo).await;
                (w, ())
            })
            .await;
    }

    /// Handles the lane's waiting deliveries in order, then steps the repository's
    /// rotations. What to do next without being asked.
    async fn pass(&mut self, eager: bool) -> Wake {
        let now = self.s.clock.now();
        let blocked = match self.blocked_until {
            Some(until) if !eager && now < until => {
                Some(Duration::try_from(until - now).unwrap_or(SUPERVISE_EVERY))
            }
            _ => self.deliveries().await,
        };
        let rotations = self.rotations(eager).await;
        match (blocked, rotations) {
            (None, None) => Wake::Idle,
            (a, b) => Wake::After(a.into_iter().chain(b).min().unwrap_or(SUPERVISE_EVERY)),
        }
    }

    /// Handles waiting deliveries in arrival order until one must wait for its retry; how
    /// long until then.
    async fn deliveries(&mut self) -> Option<Duration> {
        self.blocked_until = None;
        loop {
            let batch = match self.s.store.lane_webhooks(&self.key, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(lane = %self.key, error = %e, "reading stored deliveries");
                    return Some(SUPERVISE_EVERY);
                }
            };
            let full = batch.len() >= BATCH as usize;
            let mut finished: Vec<(i64, String)> = Vec::new();
            let mut blocked = None;
            for waiting in batch {
                let now = self.s.clock.now();
                if let Some(at) = waiting.retry_at
                    && at > now
                {
                    // Later deliveries of the repository wait behind it: order is kept.
                    self.blocked_until = Some(at);
                    blocked = Some(Duration::try_from(at - now).unwrap_or(SUPERVISE_EVERY));
                    break;
                }
                let result = self.delivery(&waiting).await;
                let failure = match result {
                    Ok(outcome) => {
                        finished.push((waiting.hook.seq, outcome));
                        continue;
                    }
                    Err(f) => f,
                };
                let next = self
                    .s
                    .retry
                    .after(&failure, waiting.attempts, self.s.clock.now());
                if let Next::Give { outcome } = next {
                    tracing::warn!(delivery = %waiting.hook.delivery_id, error = %failure.message(), "delivery not fully handled");
                    finished.push((waiting.hook.seq, outcome));
                    continue;
                }
                // Record what came before it first, so a crash cannot reorder them.
                self.finish(&mut finished).await;
                self.defer(&waiting, &failure, &next).await;
                if let Next::RetryAt { at, .. } = next {
                    self.blocked_until = Some(at);
                    let now = self.s.clock.now();
                    blocked = Some(Duration::try_from(at - now).unwrap_or(SUPERVISE_EVERY));
                    break;
                }
            }
            self.finish(&mut finished).await;
            if blocked.is_some() || !full {
                return blocked;
            }
        }
    }

    /// One delivery, supervised: its outcome, or how it failed.
    async fn delivery(&mut self, waiting: &WaitingWebhook) -> Result<String, Failure> {
        let hook = waiting.hook.clone();
        let span = tracing::info_span!(
            "delivery",
            delivery = %hook.delivery_id,
            event = %hook.event,
            attempt = waiting.attempts.saturating_add(1)
        );
        let result = self
            .supervised("delivery", span, move |mut w| async move {
                let out = w.read_webhook(&hook).await;
                (w, out)
            })
            .await;
        match result {
            Ok(r) => r,
            Err(panic) => Err(Failure::Panic(panic)),
        }
    }

    async fn finish(&self, finished: &mut Vec<(i64, String)>) {
        if finished.is_empty() {
            return;
        }
        // One transaction (one sync to disk) for the batch. A crash before it reads the
        // batch again: every input it made is deduplicated by its id.
        if let Err(e) = self
            .s
            .store
            .finish_webhooks(finished, self.s.clock.now())
            .await
        {
            tracing::error!(error = %e, "recording deliveries as read");
        }
        finished.clear();
    }

    /// Keeps a delivery whose attempt failed, to be tried again or parked.
    async fn defer(&self, waiting: &WaitingWebhook, failure: &Failure, next: &Next) {
        let id = &waiting.hook.delivery_id;
        let unit = "delivery";
        let result = match next {
            &Next::RetryAt { attempts, at } => {
                self.s.metrics.failed_attempt(unit);
                tracing::warn!(delivery = %id, lane = %self.key, attempts, retry_at = %at, error = %failure.message(), "delivery kept to be tried again");
                self.s
                    .store
                    .defer_webhook(
                        waiting.hook.seq,
                        attempts,
                        Some(at),
                        None,
                        failure.message(),
                    )
                    .await
            }
            &Next::Park { attempts } => {
                self.s.metrics.failed_attempt(unit);
                tracing::error!(delivery = %id, lane = %self.key, attempts, error = %failure.message(), "delivery parked after its last attempt; it is kept and tried again at the next start or on request");
                self.s
                    .store
                    .defer_webhook(
                        waiting.hook.seq,
                        attempts,
                        None,
                        Some(self.s.clock.now()),
                        failure.message(),
                    )
                    .await
            }
            Next::Give { .. } => Ok(()),
        };
        if let Err(e) = result {
            tracing::error!(delivery = %id, error = %e, "recording a failed attempt");
        }
    }

    /// Steps the repository's rotations when they have work and are not backing off (or
    /// `eager`: someone waits for the result); how long until the back-off ends.
    async fn rotations(&mut self, eager: bool) -> Option<Duration> {
        if self.key.is_empty() {
            return None;
        }
        if !eager
            && let Some((until, _)) = self.backoff
            && Instant::now() < until
        {
            return Some(until - Instant::now());
        }
        match self.s.store.repository_has_work(&self.key).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::error!(repository = %self.key, error = %e, "listing rotations with work");
                return Some(SUPERVISE_EVERY);
            }
        }
        let repo = self.key.clone();
        let span = tracing::info_span!("repository", repository = %repo);
        let result = self
            .supervised("rotations", span, move |mut w| async move {
                let out = w.run_repository(&repo).await.map_err(|e| e.to_string());
                (w, out)
            })
            .await;
        match result.and_then(|r| r) {
            Ok(()) => {
                self.backoff = None;
                None
            }
            Err(e) => {
                let wait = self
                    .backoff
                    .map_or(FIRST_BACKOFF, |(_, w)| (w * 2).min(MAX_BACKOFF));
                tracing::warn!(repository = %self.key, error = %e, retry_in_secs = wait.as_secs(), "repository paused after an error");
                self.backoff = Some((Instant::now() + wait, wait));
                Some(wait)
            }
        }
    }
}
