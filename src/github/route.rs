//! From a webhook delivery to the engine inputs it means, for the rotations it concerns.
//! Pure: the caller passes the rotations under way.
//!
//! Pull request events find their rotation by branch name (`keyroll/<credential>/<rotation>/
//! <change>`); check runs, commit statuses and deployment statuses by the merge commit they
//! ran on, or by a later commit of the default branch that contains it. Telling the latter
//! needs the API: [`later_candidates`] names the merge commits worth asking about, the shell
//! asks GitHub, and [`inputs_after`] is told the answer.

use super::webhook::{Delivery, Event};
use crate::engine::{Conclusion, Input, Phase, PlannedStep, Rotation};

use crate::changeset::branch;

/// Whether [`inputs`] needs keyroll's own login for this delivery: only a push to a pull
/// request's branch is told apart by who made it.
pub fn needs_own_login(delivery: &Delivery) -> bool {
    matches!(&delivery.event, Event::PullRequest { action, .. } if action == "synchronize")
}

/// The inputs a delivery carries, each with the id of the rotation it is for (a result on a
/// commit other than a merge commit counts for none: see [`inputs_after`]). `own_login` is
/// keyroll's own bot account (`<app slug>[bot]`): its pushes are keyroll's, everyone
/// else's, another App's included, are checked.
pub fn inputs(delivery: &Delivery, active: &[Rotation], own_login: &str) -> Vec<(String, Input)> {
    inputs_after(delivery, active, own_login, &[])
}

/// [`inputs`], where the delivery's check result is on a later commit of the default branch
/// that contains each merge commit of `later` (the shell found that out on GitHub): the
/// result counts for the waves waiting after those merges.
pub fn inputs_after(
    delivery: &Delivery,
    active: &[Rotation],
    own_login: &str,
    later: &[String],
) -> Vec<(String, Input)> {
    if let Some(result) = result_of(delivery) {
        return check(active, &result, later);
    }
    match &delivery.event {
        Event::PullRequest {
            action,
            number,
            merged,
            merge_commit_sha,
            head_ref,
            head_sha,
            ..
        } => {
            let Some(b) = branch::parse(head_ref) else {
                return Vec::new();
            };
            let Some(r) = active
                .iter()
                .find(|r| r.id == b.rotation && r.credential == b.credential)
            else {
                return Vec::new();
            };
            let input = match action.as_str() {
                "closed" if *merged => match merge_commit_sha {
                    Some(sha) => Input::PrMerged {
                        number: *number,
                        merge_sha: sha.clone(),
                    },
                    None => return Vec::new(),
                },
                "closed" => Input::PrClosed { number: *number },
                "reopened" => Input::PrReopened { number: *number },
                // A push to keyroll's branch by anyone but keyroll itself (a person's `sops
                // set` of a manual value, another App's bot): keyroll stops writing to that
                // branch and checks the push. Only keyroll's own account is exempt; being a
                // bot is not enough (design invariant 6).
                "synchronize" => match &delivery.context.sender {
                    Some(sender) if sender.login != own_login => Input::PushedByPerson {
                        number: *number,
                        login: sender.login.clone(),
                        head_sha: head_sha.clone(),
                    },
                    _ => return Vec::new(),
                },
                _ => return Vec::new(),
            };
            vec![(r.id.clone(), input)]
        }
        Event::PullRequestReview {
            action,
            number,
            review_id,
            ..
        } if matches!(action.as_str(), "submitted" | "dismissed" | "edited") => active
            .iter()
            .filter(|r| r.pr_index(*number).is_some())
            .map(|r| {
                (
                    r.id.clone(),
                    Input::Reviewed {
                        number: *number,
                        review_id: *review_id,
                    },
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A check result a delivery brings: the commit it is on, the check's name, its outcome.
struct CheckResult<'a> {
    sha: &'a str,
    name: String,
    outcome: &'a str,
}

fn result_of(delivery: &Delivery) -> Option<CheckResult<'_>> {
    match &delivery.event {
        Event::CheckRun {
            action,
            name,
            head_sha,
            conclusion,
            ..
        } if action == "completed" => Some(CheckResult {
            sha: head_sha,
            name: name.clone(),
            outcome: conclusion.as_deref().unwrap_or("neutral"),
        }),
        Event::Status {
            sha,
            context,
            state,
        } if state != "pending" => Some(CheckResult {
            sha,
            name: context.clone(),
            outcome: state,
        }),
        Event::DeploymentStatus {
            sha,
            environment,
            state,
            ..
        } if matches!(state.as_str(), "success" | "failure" | "error") => Some(CheckResult {
            sha,
            name: format!("deploy/{}", environment.as_deref().unwrap_or("default")),
            outcome: state,
        }),
        _ => None,
    }
}

/// The merge commit after which `r` waits for check `name` (a wave under way that lists it).
fn waiting_for<'a>(r: &'a Rotation, name: &str) -> Option<&'a str> {
    let Phase::Rollout { pr, step } = r.phase else {
        return None;
    };
    let Some(PlannedStep::Wave { checks, .. }) = r.plan.get(pr).and_then(|p| p.steps.get(step))
    else {
        return None;
    };
    if !checks.iter().any(|c| c == name) {
        return None;
    }
    r.facts.prs.get(&pr)?.merge_sha.as_deref()
}

/// For a delivery with a check result that proves something, on a commit that is no
/// rotation's merge commit: that commit, and the merge commits of the waves waiting for that
/// check. The shell asks GitHub which of them the commit is a later default-branch commit
/// of, and passes those to [`inputs_after`]. `None`: nothing to ask.
pub fn later_candidates(delivery: &Delivery, active: &[Rotation]) -> Option<(String, Vec<String>)> {
    let result = result_of(delivery)?;
    conclusion(result.outcome)?;
    let mut merges: Vec<String> = active
        .iter()
        .filter(|r| r.pr_by_merge(result.sha).is_none())
        .filter_map(|r| waiting_for(r, &result.name))
        .filter(|m| *m != result.sha)
        .map(str::to_owned)
        .collect();
    merges.sort();
    merges.dedup();
    if merges.is_empty() {
        return None;
    }
    Some((result.sha.to_owned(), merges))
}

/// What a check run conclusion or commit status state means for a wave; `None` for one
/// that proves nothing either way.
pub fn conclusion(outcome: &str) -> Option<Conclusion> {
    match outcome {
        "success" => Some(Conclusion::Success),
        // A skipped or neutral run proves nothing: it neither passes nor fails a wave.
        "neutral" | "skipped" | "pending" | "queued" | "in_progress" => None,
        other => Some(Conclusion::Failure(other.to_owned())),
    }
}

/// A result for every rotation whose merge commit it is on, and for every rotation whose
/// wave waits for it after a merge commit of `later`.
fn check(active: &[Rotation], result: &CheckResult<'_>, later: &[String]) -> Vec<(String, Input)> {
    let Some(conclusion) = conclusion(result.outcome) else {
        return Vec::new();
    };
    active
        .iter()
        .filter_map(|r| {
            let merge = if r.pr_by_merge(result.sha).is_some() {
                result.sha
            } else {
                waiting_for(r, &result.name).filter(|m| later.iter().any(|l| l == m))?
            };
            Some((
                r.id.clone(),
                Input::Check {
                    merge_sha: merge.to_owned(),
                    name: result.name.clone(),
                    conclusion: conclusion.clone(),
                },
            ))
        })
        .collect()
}
