//! The reconcile tick: GitHub does not redeliver a webhook keyroll missed, so every few
//! minutes keyroll re-reads what its rotations wait for (their open pull requests, and the
//! checks of a rollout on the merge commit or the default branch's head when that contains
//! it) and feeds what it finds to the engine as ordinary inputs. Each input's id names what
//! it records, so finding the same thing twice is dropped like a redelivered webhook.

use crate::engine::{Input, Phase, PlannedStep, Rotation};
use crate::github::rest::{RepoApi, RestError};
use crate::github::route;

use super::StartError;
use super::repos::Repos;
use crate::runtime::Clock;
use crate::store::Store;

/// The reconcile tick for one repository (each runs in its repository's lane).
pub(super) async fn tick(repos: &mut Repos, store: &Store, clock: &dyn Clock, repo: &str) {
    let active = match store.active_rotations(repo).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(repository = %repo, error = %e, "reconcile: reading rotations");
            return;
        }
    };
    if active.is_empty() {
        return;
    }
    if let Err(e) = repository(repos, store, clock, repo, &active).await {
        tracing::warn!(repository = %repo, error = %e, "reconcile: GitHub could not be read; trying at the next tick");
    }
    // Timeouts and reminders.
    match repos.runtime(repo).await {
        Ok(runtime) => {
            if let Err(e) = runtime.tick().await {
                tracing::error!(repository = %repo, error = %e, "reconcile: tick");
            }
        }
        Err(e) => tracing::warn!(repository = %repo, error = %e, "reconcile: tick"),
    }
}

async fn repository(
    repos: &mut Repos,
    store: &Store,
    clock: &dyn Clock,
    repo: &str,
    active: &[Rotation],
) -> Result<(), StartError> {
    let api = repos.know(repo).await?;
    let default = repos.default_branch(repo).await?;
    let mut head: Option<String> = None;
    let mut found: Vec<(String, String, Input)> = Vec::new();
    for r in active {
        // Pull requests keyroll opened that it has not seen merged or closed.
        for (pr, facts) in &r.facts.prs {
            let Some(number) = facts.number else { continue };
            if facts.merge_sha.is_some() || facts.closed_unmerged {
                continue;
            }
            if !matches!(r.phase, Phase::Open { pr: p } if p == *pr) {
                continue;
            }
            let pull = api.pull(number).await?;
            if pull.is_merged() {
                if let Some(sha) = pull.merge_commit_sha {
                    found.push((
                        format!("reconcile/{}/merged/{number}", r.id),
                        r.id.clone(),
                        Input::PrMerged {
                            number,
                            merge_sha: sha,
                        },
                    ));
                }
            } else if pull.state == "closed" {
                found.push((
                    format!("reconcile/{}/closed/{number}", r.id),
                    r.id.clone(),
                    Input::PrClosed { number },
                ));
            }
        }
        // The checks of the wave under way.
        let Phase::Rollout { pr, step } = r.phase else {
            continue;
        };
        let Some(PlannedStep::Wave { checks, .. }) = r.plan.get(pr).and_then(|p| p.steps.get(step))
        else {
            continue;
        };
        let Some(merge) = r.facts.prs.get(&pr).and_then(|f| f.merge_sha.clone()) else {
            continue;
        };
        let mut commits = vec![merge.clone()];
        if head.is_none() {
            head = api.branch_sha(&default).await?;
        }
        if let Some(h) = &head
            && *h != merge
            && super::later::counts_after(&api, h, &merge, h).await?
        {
            commits.push(h.clone());
        }
        for sha in &commits {
            for (name, outcome) in results(&api, sha).await? {
                if !checks.contains(&name) {
                    continue;
                }
                let Some(conclusion) = route::conclusion(&outcome) else {
                    continue;
                };
                found.push((
                    format!("reconcile/{}/check/{sha}/{name}/{outcome}", r.id),
                    r.id.clone(),
                    Input::Check {
                        merge_sha: merge.clone(),
                        name,
                        conclusion,
                    },
                ));
            }
        }
    }
    let now = clock.now();
    for (id, rotation, input) in found {
        if store.enqueue(&id, repo, &rotation, &input, now).await? {
            tracing::info!(repository = repo, rotation = %rotation, input = %id, "reconcile found what a webhook did not bring");
        }
    }
    Ok(())
}

/// Completed check runs and final commit statuses on a commit: (name, outcome).
async fn results(api: &RepoApi, sha: &str) -> Result<Vec<(String, String)>, RestError> {
    let mut out: Vec<(String, String)> = api
        .check_runs(sha, None)
        .await?
        .into_iter()
        .filter(|c| c.status == "completed")
        .filter_map(|c| Some((c.name, c.conclusion?)))
        .collect();
    out.extend(
        api.statuses(sha)
            .await?
            .into_iter()
            .filter(|s| s.state != "pending")
            .map(|s| (s.context, s.state)),
    );
    Ok(out)
}
