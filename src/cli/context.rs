//! What the repository commands share: which repository, which identity, and the config
//! read from it.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{Exit, Failure};
use crate::fingerprint::{FingerprintKey, KeyError};
use crate::policy::{self, CONFIG_FILE, Config};
use crate::repo::{CommitFiles, Files, Repo, RepoError};
use crate::sops::Identities;

#[derive(Debug, Args)]
pub struct RepoArgs {
    /// The credentials repository (a git checkout).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// keyroll's age identity file, used before SOPS_AGE_KEY / SOPS_AGE_KEY_FILE.
    #[arg(long, value_name = "FILE", env = "KEYROLL_AGE_IDENTITY_FILE")]
    pub identity: Option<PathBuf>,
}

impl RepoArgs {
    pub fn identities(&self) -> Result<Identities, Failure> {
        Identities::discover(self.identity.as_deref()).map_err(|e| Failure {
            exit: Exit::for_error(&e),
            message: e.to_string(),
        })
    }

    pub fn open_repo(&self) -> Result<Repo, Failure> {
        Repo::open(&self.repo).map_err(repo_failure)
    }
}

pub fn repo_failure(e: RepoError) -> Failure {
    Failure {
        exit: Exit::Other,
        message: e.to_string(),
    }
}

/// The config as committed at HEAD, which is what rotations branch from.
pub fn config_at(files: &CommitFiles) -> Result<(Config, String), Failure> {
    let text = read_config(files, Path::new("HEAD"))?;
    let config = policy::parse(CONFIG_FILE, &text).map_err(|problems| Failure {
        exit: Exit::Config,
        message: format!("{CONFIG_FILE} at HEAD is invalid (run `keyroll validate`):\n{problems}"),
    })?;
    Ok((config, text))
}

pub fn read_config(files: &dyn Files, place: &Path) -> Result<String, Failure> {
    let bytes = files.read(CONFIG_FILE).ok_or_else(|| Failure {
        exit: Exit::Config,
        message: format!("{}: no {CONFIG_FILE} found", place.display()),
    })?;
    String::from_utf8(bytes).map_err(|_| Failure {
        exit: Exit::Config,
        message: format!("{CONFIG_FILE} is not UTF-8 text"),
    })
}

/// The repository's fingerprint key in `files`; `None` when it has none.
pub fn fingerprint_key(
    files: &dyn Files,
    ids: &Identities,
) -> Result<Option<FingerprintKey>, Failure> {
    FingerprintKey::load(files, ids).map_err(|e| Failure {
        exit: match &e {
            KeyError::Sops(source) => Exit::for_error(source),
            _ => Exit::Config,
        },
        message: e.to_string(),
    })
}

pub fn credential<'c>(config: &'c Config, name: &str) -> Result<&'c policy::Credential, Failure> {
    config.credential(name).ok_or_else(|| {
        let names: Vec<&str> = config.credentials.iter().map(|c| c.name.as_str()).collect();
        Failure {
            exit: Exit::InvalidInput,
            message: format!(
                "no credential named {name:?} in {CONFIG_FILE} (there are: {})",
                names.join(", ")
            ),
        }
    })
}
