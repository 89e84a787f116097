//! The handler of one lane (see [`super::lanes`]): parses stored deliveries, turns them into
//! engine inputs, runs its repository's runtime and its ticks. A lane runs one unit at a
//! time, so the steps of a repository never race each other.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};

use super::StartError;
use super::commands::{self, Commander, RoleCache};
use super::metrics::Metrics;
use super::repos::Repos;
use super::retry::{Failure, RetryPolicy};
use super::{dashboard, reconcile, schedule};
use crate::effects::render;
use crate::fingerprint::KEY_FILE;
use crate::github::client::GitHub;
use crate::github::route;
use crate::github::webhook::{self, Delivery, Event};
use crate::policy::CONFIG_FILE;
use crate::runtime::Clock;
use crate::sops::Identities;
use crate::store::{Store, StoredWebhook};

#[derive(Debug, Clone)]
pub(super) struct WorkerSettings {
    pub store: Store,
    pub github: GitHub,
    pub identities: Arc<Identities>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub stored: Arc<Notify>,
    pub stopped: watch::Receiver<bool>,
    pub reconcile_every: Duration,
    pub schedule_every: Duration,
    pub concurrent_rotations: usize,
    pub people: commands::People,
    pub retry: RetryPolicy,
    /// Where the repositories the App was just installed on are announced, so their lanes
    /// write a dashboard at once instead of at the next schedule tick. Set by
    /// [`super::lanes::spawn`], which holds the other end.
    pub installed: Option<mpsc::UnboundedSender<String>>,
}

/// Which tick a lane runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tick {
    /// Start what is due, then write the dashboard.
    Schedule,
    /// Write the dashboard only (the App was just installed).
    Dashboard,
    /// Re-read what the rotations wait for, then time out and remind.
    Reconcile,
}

/// A lane's handler: the loop body that turns a stored delivery or a tick into calls of the
/// handlers ([`super::commands`], [`super::dashboard`], [`super::reconcile`],
/// [`super::schedule`]), giving each what it needs. It decides nothing itself.
#[derive(Debug)]
pub(super) struct Worker {
    pub s: WorkerSettings,
    repos: Repos,
    roles: RoleCache,
}

impl Worker {
    pub(super) fn new(s: WorkerSettings) -> Self {
        let repos = Repos::new(
            s.github.clone(),
            s.identities.clone(),
            s.store.clone(),
            s.clock.clone(),
        );
        Self {
            s,
            repos,
            roles: RoleCache::default(),
        }
    }

    /// What the command handler needs, borrowed from the worker.
    fn commander(&mut self) -> Commander<'_> {
        Commander {
            repos: &mut self.repos,
            roles: &mut self.roles,
            people: &self.s.people,
            store: &self.s.store,
            clock: self.s.clock.as_ref(),
        }
    }

    /// Runs one tick of a repository.
    pub(super) async fn tick(&mut self, tick: Tick, repo: &str) {
        let (store, clock) = (&self.s.store, self.s.clock.as_ref());
        match tick {
            Tick::Schedule => {
                let settings = schedule::Settings {
                    metrics: &self.s.metrics,
                    concurrent_rotations: self.s.concurrent_rotations,
                };
                let show = schedule::tick(&mut self.repos, store, clock, settings, repo).await;
                // What started, or why nothing can (a config with problems).
                if show
                    && let Err(e) = dashboard::refresh(&mut self.repos, store, clock, repo).await
                {
                    tracing::warn!(repository = %repo, error = %e, "schedule: dashboard not written");
                }
            }
            Tick::Dashboard => {
                if let Err(e) = dashboard::refresh(&mut self.repos, store, clock, repo).await {
                    // The schedule tick writes it later.
                    tracing::warn!(repository = %repo, error = %e, "dashboard: not written");
                }
            }
            Tick::Reconcile => reconcile::tick(&mut self.repos, store, clock, repo).await,
        }
    }

    /// Parses and handles one stored delivery: what came of it, for the store, or how it
    /// failed (to be tried again when the failure passes).
    pub(super) async fn read_webhook(&mut self, hook: &StoredWebhook) -> Result<String, Failure> {
        match webhook::parse(&hook.event, &hook.body) {
            Err(e) => {
                tracing::warn!(error = %e, "unreadable delivery");
                Ok(format!("unreadable: {e}"))
            }
            Ok(None) => Ok("ignored".to_owned()),
            Ok(Some(d)) => self
                .handle(&hook.delivery_id, &d)
                .await
                .map_err(|e| Failure::of(&e)),
        }
    }

    async fn handle(&mut self, id: &str, d: &Delivery) -> Result<String, StartError> {
        let now = self.s.clock.now();
        let store = self.s.store.clone();
        let installation = d.context.installation_id;
        match &d.event {
            Event::Ping { .. } => return Ok("pong".into()),
            Event::Installation {
                action,
                repositories,
            } => {
                let Some(inst) = installation else {
                    return Ok("no installation".into());
                };
                if action == "deleted" || action == "suspend" {
                    store.remove_installation_id(inst).await?;
                    self.repos.forget_installation(inst);
                } else {
                    for r in repositories {
                        store.set_installation(r, inst, now).await?;
                    }
                    self.announce(repositories);
                }
                return Ok(format!("installation {action}"));
            }
            Event::InstallationRepositories { added, removed, .. } => {
                let Some(inst) = installation else {
                    return Ok("no installation".into());
                };
                for r in added {
                    store.set_installation(r, inst, now).await?;
                }
                for r in removed {
                    store.remove_installation(r).await?;
                    self.repos.forget(r);
                }
                self.announce(added);
                return Ok(format!("{} added, {} removed", added.len(), removed.len()));
            }
            _ => {}
        }
        let (Some(repository), Some(inst)) = (&d.context.repository, installation) else {
            return Ok("no repository or installation".into());
        };
        let repo = repository.full_name.clone();
        tracing::debug!(repository = %repo, installation = inst, "routing");
        store.set_installation(&repo, inst, now).await?;
        self.repos
            .seen(&repo, inst, repository.default_branch.as_deref());
        // What came of a command in a review's body, when the delivery is one.
        let mut commanded = None;
        match &d.event {
            Event::Push {
                git_ref,
                after,
                touched,
                ..
            } => {
                let default = self.repos.default_branch(&repo).await?;
                let config_untouched = touched
                    .as_ref()
                    .is_some_and(|t| !t.iter().any(|f| f == CONFIG_FILE || f == KEY_FILE));
                let known = self.repos.has_good_config(&repo);
                // A push that leaves a good config alone needs nothing read (a merge of
                // keyroll's own pull request, say); a config with problems is read again.
                if *git_ref == format!("refs/heads/{default}") && !(config_untouched && known) {
                    self.repos.default_branch_moved(&repo, after).await?;
                }
            }
            Event::PullRequest {
                action,
                head_ref,
                head_sha,
                base_ref,
                ..
            } if matches!(action.as_str(), "opened" | "synchronize" | "reopened")
                && crate::changeset::branch::parse(head_ref).is_none() =>
            {
                let default = self.repos.default_branch(&repo).await?;
                if *base_ref == default {
                    self.repos.check_proposed_config(&repo, head_sha).await?;
                }
            }
            Event::IssueComment {
                action,
                issue_number,
                comment_id,
                body,
                author,
                url,
                ..
            } => {
                let comment = commands::Comment {
                    delivery: id,
                    action,
                    issue: *issue_number,
                    id: *comment_id,
                    body,
                    author,
                    url: url.as_deref(),
                    source: commands::Source::Comment,
                };
                return commands::comment(&mut self.commander(), &repo, comment).await;
            }
            // A review's body is read like a comment; the review itself still goes to the
            // rotation below (an approval counts whatever the body says).
            Event::PullRequestReview {
                action,
                number,
                review_id,
                reviewer,
                body,
                url,
                ..
            } if matches!(action.as_str(), "submitted" | "edited") => {
                let review = commands::Comment {
                    delivery: id,
                    // Submitting a review is what creating is to a comment.
                    action: if action == "submitted" {
                        "created"
                    } else {
                        action
                    },
                    issue: *number,
                    id: *review_id,
                    body,
                    author: reviewer,
                    url: url.as_deref(),
                    source: commands::Source::Review,
                };
                commanded = Some(commands::comment(&mut self.commander(), &repo, review).await?);
            }
            Event::CheckRun {
                action,
                name,
                head_sha,
                requested_action: Some(button),
                pull_requests,
                ..
            } if action == "requested_action" && name == render::GATE_CHECK => {
                let Some(sender) = &d.context.sender else {
                    return Ok("button without a sender".into());
                };
                let press = commands::Press {
                    delivery: id,
                    button,
                    head_sha,
                    pull_requests,
                    sender,
                };
                return commands::button(&mut self.commander(), &repo, press).await;
            }
            _ => {}
        }
        let active = store.active_rotations(&repo).await?;
        // Asked of GitHub only when a push must be told apart by who made it.
        let own_login = if route::needs_own_login(d) {
            self.repos.own_login().await?
        } else {
            String::new()
        };
        // A result on a later commit of the default branch counts at once, not at the next
        // reconcile tick (GitHub is asked only when a wave waits for that check).
        let later = if route::later_candidates(d, &active).is_some() {
            let default = self.repos.default_branch(&repo).await?;
            let api = self.repos.api(&repo)?;
            super::later::merges_before(&api, &default, d, &active).await?
        } else {
            Vec::new()
        };
        let inputs = route::inputs_after(d, &active, &own_login, &later);
        for (rotation, input) in &inputs {
            store
                .enqueue(&format!("{id}/{rotation}"), &repo, rotation, input, now)
                .await?;
        }
        let routed = format!("{} input(s)", inputs.len());
        Ok(match commanded {
            Some(command) => format!("{command}; {routed}"),
            None => routed,
        })
    }

    /// Tells the lanes of `repositories` (just installed, and stored as such) to write their
    /// dashboards. A crash before they do is made good by the schedule tick at the next
    /// start, which writes every installed repository's dashboard.
    fn announce(&self, repositories: &[String]) {
        if let Some(tx) = &self.s.installed {
            for r in repositories {
                // The supervisor is gone only while keyroll stops.
                let _ = tx.send(r.clone());
            }
        }
    }

    /// Steps a repository's rotations and carries out their effects until nothing is left
    /// that can be done now, then refreshes its dashboard. On failure the effects stay in
    /// the outbox; the lane backs the repository off.
    pub(super) async fn run_repository(&mut self, repo: &str) -> Result<(), StartError> {
        let mut runtime = self.repos.runtime(repo).await?;
        runtime.run_until_idle().await?;
        dashboard::refresh(&mut self.repos, &self.s.store, self.s.clock.as_ref(), repo).await
    }
}
