//! `keyroll status`: every credential's last rotation and due date, overdue first.

use clap::Args;
use time::OffsetDateTime;

use super::context::{RepoArgs, config_at, repo_failure};
use super::rotate::print;
use super::{Exit, Failure};
use crate::policy::Credential;
use crate::repo::Repo;
use crate::runtime::schedule::{SOON, Urgency, commit_rotates, due_at, urgency};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, serde::Serialize)]
struct Row {
    credential: String,
    owner: String,
    /// `keyroll` when a rotation commit says so, `history` when read from the last change to
    /// a location, `unknown` when neither exists.
    source: &'static str,
    rotation: Option<String>,
    last_rotated: Option<String>,
    due: Option<String>,
    state: &'static str,
    #[serde(skip)]
    due_at: Option<OffsetDateTime>,
}

pub fn run(args: StatusArgs) -> Result<(), Failure> {
    let repo = args.repo.open_repo()?;
    let files = repo.head_files().map_err(repo_failure)?;
    let (config, _) = config_at(&files)?;
    let now = OffsetDateTime::now_utc();
    let mut rows = Vec::new();
    for cred in &config.credentials {
        rows.push(row(&repo, cred, now)?);
    }
    // Overdue first, then by due date; unknown last.
    rows.sort_by_key(|r| (r.due_at.is_none(), r.due_at, r.credential.clone()));
    if args.json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| Failure {
            exit: Exit::Other,
            message: e.to_string(),
        })?;
        return print(&format!("{text}\n"));
    }
    let mut out = format!(
        "{:<24} {:<9} {:<12} {:<12} {:<14} {}\n",
        "CREDENTIAL", "STATE", "LAST", "DUE", "ROTATION", "OWNER"
    );
    for r in &rows {
        out.push_str(&format!(
            "{:<24} {:<9} {:<12} {:<12} {:<14} {}\n",
            r.credential,
            r.state,
            r.last_rotated.as_deref().unwrap_or("-"),
            r.due.as_deref().unwrap_or("-"),
            r.rotation.as_deref().unwrap_or(if r.source == "history" {
                "(history)"
            } else {
                "-"
            }),
            r.owner
        ));
    }
    print(&out)
}

fn row(repo: &Repo, cred: &Credential, now: OffsetDateTime) -> Result<Row, Failure> {
    // The evidence `runtime::schedule` defines "last rotated" from: keyroll's own rotation
    // commits and commits to the credential's files that rotated it (by hand or by keyroll).
    let rotation = repo
        .rotations_of(&cred.name)
        .map_err(repo_failure)?
        .into_iter()
        .next();
    let paths: Vec<&str> = cred.locations.iter().map(|l| l.file.as_str()).collect();
    let change = repo
        .last_change_to(&paths, |message, parents| {
            commit_rotates(message, parents, &cred.name)
        })
        .map_err(repo_failure)?;
    let (source, rotation, last) = match (rotation, change) {
        (Some(r), Some((_, t))) if t > r.time => ("history", None, Some(t)),
        (Some(r), _) => ("keyroll", Some(r.rotation), Some(r.time)),
        (None, Some((_, t))) => ("history", None, Some(t)),
        (None, None) => ("unknown", None, None),
    };
    let due_at = last.map(|t| due_at(cred, Some(t), now));
    let state = match due_at.map(|d| urgency(d, now, SOON)) {
        None => "unknown",
        Some(Some(Urgency::Overdue)) => "overdue",
        Some(Some(Urgency::DueSoon)) => "due soon",
        Some(None) => "ok",
    };
    Ok(Row {
        credential: cred.name.clone(),
        owner: cred.owner.clone(),
        source,
        rotation,
        last_rotated: last.map(date),
        due: due_at.map(date),
        state,
        due_at,
    })
}

fn date(t: OffsetDateTime) -> String {
    crate::generate::format_date(t, "%Y-%m-%d")
}
