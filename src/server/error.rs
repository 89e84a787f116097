//! Why handling a delivery or a tick failed: the one error type of the shell's handlers.

use crate::github::rest::RestError;
use crate::policy::CONFIG_FILE;
use crate::runtime::RuntimeError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("keyroll is not installed on {0}")]
    NotInstalled(String),
    #[error("{CONFIG_FILE} on the default branch of {repository} has problems:\n{problems}")]
    Config {
        repository: String,
        problems: String,
    },
    #[error("{CONFIG_FILE} has no credential {0}")]
    NoCredential(String),
    #[error("GitHub: {0}")]
    Api(#[from] RestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
