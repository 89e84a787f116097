//! `keyroll validate`: the working tree's `.keyroll.yaml`, checked against the files next to
//! it, every problem at file:line:column.

use std::path::Path;

use clap::Args;

use super::context::{RepoArgs, read_config};
use super::rotate::print;
use super::{Exit, Failure};
use crate::policy::{self, CONFIG_FILE, validate};
use crate::repo::WorkTree;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
}

pub fn run(args: ValidateArgs) -> Result<(), Failure> {
    let tree = WorkTree::new(&args.repo.repo);
    let text = read_config(&tree, &args.repo.repo)?;
    let config = policy::parse(CONFIG_FILE, &text).map_err(|problems| Failure {
        exit: Exit::Config,
        message: problems.to_string(),
    })?;
    let ids = args.repo.identities()?;
    let problems = validate::check(&config, CONFIG_FILE, &text, &tree, &ids);
    let key = crate::fingerprint::check(&tree, &config, &ids);
    if !problems.is_empty() || !key.problems.is_empty() {
        let mut lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        lines.extend(key.problems);
        return Err(Failure {
            exit: Exit::Config,
            message: lines.join("\n"),
        });
    }
    let n = config.credentials.len();
    let locations: usize = config.credentials.iter().map(|c| c.locations.len()).sum();
    let note = key.note().map(|n| format!("{n}\n")).unwrap_or_default();
    print(&format!(
        "{}: OK, {n} credentials, {locations} locations\n{note}",
        Path::new(&args.repo.repo).join(CONFIG_FILE).display()
    ))
}
