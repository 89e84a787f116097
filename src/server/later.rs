//! When a check result counts for a wave: on the merge commit the wave waits after, or on a
//! later commit of the default branch, one that contains the merge (deploys often run on
//! whatever the branch's head is when they start). One rule, for the webhook that brings a
//! result and for the reconcile tick that goes looking for one.

use crate::engine::Rotation;
use crate::github::rest::{RepoApi, RestError};
use crate::github::route;
use crate::github::webhook::Delivery;

/// Whether a result on `sha` counts for a wave after the merge commit `merge`, the default
/// branch's head being `head`: `sha` is the merge, or a commit of the default branch (its
/// head contains it) that contains the merge.
pub(super) async fn counts_after(
    api: &RepoApi,
    head: &str,
    merge: &str,
    sha: &str,
) -> Result<bool, RestError> {
    if sha == merge {
        return Ok(true);
    }
    Ok(api.contains(head, sha).await? && api.contains(sha, merge).await?)
}

/// The merge commits a delivery's check result counts for through a later commit of the
/// default branch `default` (asked of GitHub only when a wave waits for that check).
pub(super) async fn merges_before(
    api: &RepoApi,
    default: &str,
    delivery: &Delivery,
    active: &[Rotation],
) -> Result<Vec<String>, RestError> {
    let Some((sha, merges)) = route::later_candidates(delivery, active) else {
        return Ok(Vec::new());
    };
    let Some(head) = api.branch_sha(default).await? else {
        return Ok(Vec::new());
    };
    let mut later = Vec::new();
    for merge in merges {
        if counts_after(api, &head, &merge, &sha).await? {
            later.push(merge);
        }
    }
    Ok(later)
}
