//! The dashboard issue: one per credentials repository, created by keyroll and edited only
//! when what it shows changes (a digest of the last text written is kept in the store).

use sha2::{Digest, Sha256};

use super::StartError;
use super::repos::Repos;
use super::rotated::last_rotated;
use crate::effects::render::{self, DashboardRow};
use crate::runtime::Clock;
use crate::runtime::schedule::{SOON, Urgency, due_at, urgency};
use crate::store::Store;

/// The label that marks the dashboard issue (with the hidden marker in its body).
const LABEL: &str = "keyroll";

/// Rewrites the dashboard of `repo` if its text changed.
pub(super) async fn refresh(
    repos: &mut Repos,
    store: &Store,
    clock: &dyn Clock,
    repo: &str,
) -> Result<(), StartError> {
    let state = repos.config(repo).await?;
    let (config, problem) = match state.config {
        Ok(c) => (Some(c), None),
        Err(p) => (None, Some(p)),
    };
    let active = store.active_rotations(repo).await?;
    let last = last_rotated(repos, store, repo).await?;
    let now = clock.now();
    let rows: Vec<DashboardRow> = config
        .iter()
        .flat_map(|c| c.credentials.iter())
        .map(|c| {
            let last = last.get(&c.name).copied();
            let due = due_at(c, last, now);
            DashboardRow {
                credential: c.name.clone(),
                owner: c.owner.clone(),
                last_rotated: last.map(|t| t.date()),
                due: last.map(|_| due.date()),
                overdue: urgency(due, now, SOON) == Some(Urgency::Overdue),
            }
        })
        .collect();
    let body = render::dashboard(&rows, &active, problem.as_deref());
    let digest: String = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stored = store.dashboard(repo).await?;
    if stored.as_ref().is_some_and(|(_, d)| *d == digest) {
        return Ok(());
    }
    let api = repos.api(repo)?;
    let number = match stored {
        Some((n, _)) => Some(n),
        None => api.find_issue(LABEL, render::DASHBOARD_MARKER).await?,
    };
    let number = match number {
        Some(n) => {
            api.update_issue_body(n, &body).await?;
            n
        }
        None => {
            api.create_issue(render::DASHBOARD_TITLE, &body, &[LABEL])
                .await?
        }
    };
    store.set_dashboard(repo, number, &digest, now).await?;
    tracing::info!(repository = repo, issue = number, "dashboard updated");
    Ok(())
}
