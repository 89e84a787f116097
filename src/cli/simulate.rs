//! `keyroll simulate`: the lifecycle the engine would walk for a credential, from a rotation
//! where everything goes well: phases, waves, gates and the pull requests it would open.
//! Nothing is written and nothing is decrypted.

use clap::Args;
use time::OffsetDateTime;

use super::context::{RepoArgs, config_at, credential, read_config};
use super::rotate::print;
use super::{Exit, Failure};
use crate::engine::{Rotation, plan_for, transcript};
use crate::policy::{self, CONFIG_FILE};
use crate::repo::{Repo, WorkTree};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The credential, as named in .keyroll.yaml.
    pub credential: String,
    /// Simulate an emergency rotation (one pull request replacing the old values).
    #[arg(long)]
    pub emergency: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

pub fn run(args: SimulateArgs) -> Result<(), Failure> {
    // A git checkout is read at HEAD, a plain folder as it is.
    let config = match Repo::open(&args.repo.repo) {
        Ok(repo) => config_at(&repo.head_files().map_err(super::context::repo_failure)?)?.0,
        Err(_) => {
            let text = read_config(&WorkTree::new(&args.repo.repo), &args.repo.repo)?;
            policy::parse(CONFIG_FILE, &text).map_err(|p| Failure {
                exit: Exit::Config,
                message: p.to_string(),
            })?
        }
    };
    let cred = credential(&config, &args.credential)?;
    let start = OffsetDateTime::now_utc();
    let rotation = Rotation::new(
        "R-simulated",
        &cred.name,
        args.emergency,
        plan_for(cred, args.emergency),
        start,
    );
    let inputs = transcript::happy_path(&rotation);
    let (_, text) = transcript::run(rotation, &inputs, start);
    print(&text)
}
