//! From a webhook delivery to the engine inputs it means, for the rotations it concerns.
//! Pure: the caller passes the rotations under way.
//!
//! Pull request events find their rotation by branch name (`keyroll/<credential>/<rotation>/
//! <change>`); check runs, commit statuses and deployment statuses by the merge commit they
//! ran on. A result on any other commit concerns no rotation. (A later commit that contains
//! the merge counts too; resolving that needs the API and is the reconcile tick's job.)

use super::webhook::{Delivery, Event};
use crate::engine::{Conclusion, Input, Rotation};

use crate::changeset::branch;

/// Whether [`inputs`] needs keyroll's own login for this delivery: only a push to a pull
/// request's branch is told apart by who made it.
pub fn needs_own_login(delivery: &Delivery) -> bool {
    matches!(&delivery.event, Event::PullRequest { action, .. } if action == "synchronize")
}

/// The inputs a delivery carries, each with the id of the rotation it is for. `own_login` is
/// keyroll's own bot account (`<app slug>[bot]`): its pushes are keyroll's, everyone
/// else's, another App's included, are checked.
pub fn inputs(delivery: &Delivery, active: &[Rotation], own_login: &str) -> Vec<(String, Input)> {
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
        Event::CheckRun {
            action,
            name,
            head_sha,
            conclusion,
            ..
        } if action == "completed" => check(
            active,
            head_sha,
            name,
            conclusion.as_deref().unwrap_or("neutral"),
        ),
        Event::Status {
            sha,
            context,
            state,
        } => match state.as_str() {
            "pending" => Vec::new(),
            other => check(active, sha, context, other),
        },
        Event::DeploymentStatus {
            sha,
            environment,
            state,
            ..
        } => match state.as_str() {
            "success" | "failure" | "error" => {
                let name = format!("deploy/{}", environment.as_deref().unwrap_or("default"));
                check(active, sha, &name, state)
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A result on `sha` for every rotation whose merge commit it is.
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

fn check(active: &[Rotation], sha: &str, name: &str, outcome: &str) -> Vec<(String, Input)> {
    let Some(conclusion) = conclusion(outcome) else {
        return Vec::new();
    };
    active
        .iter()
        .filter(|r| r.pr_by_merge(sha).is_some())
        .map(|r| {
            (
                r.id.clone(),
                Input::Check {
                    merge_sha: sha.to_owned(),
                    name: name.to_owned(),
                    conclusion: conclusion.clone(),
                },
            )
        })
        .collect()
}
