//! `keyroll where-used`: every file and path holding a credential's values (or a value given
//! by fingerprint or on standard input).

use std::io::Read;

use clap::Args;
use time::OffsetDateTime;

use super::context::{RepoArgs, config_at, credential, fingerprint_key, repo_failure};
use super::rotate::{change_failure, print};
use super::{Exit, Failure};
use crate::changeset::{self, Base};
use crate::fingerprint::{INIT_COMMAND, KEY_FILE};
use crate::repo::{Files, Repo, WorkTree};
use crate::sops::PlainValue;
use crate::where_used::{Needle, search};

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["credential", "fingerprint", "value_stdin"]))]
pub struct WhereUsedArgs {
    /// Look for the values a credential's locations hold now (read at HEAD).
    pub credential: Option<String>,
    /// Look for a value by fingerprint (the 12 hex digits plans show; 6 or more), computed
    /// with the repository's fingerprint key.
    #[arg(long, value_name = "FP")]
    pub fingerprint: Option<String>,
    /// Read the value to look for from standard input.
    #[arg(long)]
    pub value_stdin: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

pub fn run(args: WhereUsedArgs) -> Result<(), Failure> {
    let ids = args.repo.identities()?;
    // A git checkout is searched at HEAD, like every other repository command; a plain
    // folder as it is on disk. The fingerprint key comes from the same files.
    let files: Box<dyn Files> = match Repo::open(&args.repo.repo) {
        Ok(repo) => Box::new(repo.head_files().map_err(repo_failure)?),
        Err(_) => Box::new(WorkTree::new(&args.repo.repo)),
    };
    let needle = if let Some(fp) = &args.fingerprint {
        let key = fingerprint_key(files.as_ref(), &ids)?.ok_or_else(|| Failure {
            exit: Exit::Config,
            message: format!(
                "this repository has no fingerprint key ({KEY_FILE}), so no value has a \
                 fingerprint to look up; create it with `{INIT_COMMAND}`"
            ),
        })?;
        Needle::Fingerprint {
            prefix: fp.clone(),
            key,
        }
    } else if args.value_stdin {
        let mut text = zeroize::Zeroizing::new(String::new());
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure {
                exit: Exit::Io,
                message: format!("<stdin>: cannot read: {e}"),
            })?;
        Needle::Values(vec![PlainValue::str(text.trim_end_matches(['\n', '\r']))])
    } else {
        let name = args.credential.as_deref().unwrap_or_default();
        let repo = args.repo.open_repo()?;
        let files = repo.head_files().map_err(repo_failure)?;
        let (config, _) = config_at(&files)?;
        let cred = credential(&config, name)?;
        let base = Base {
            files: &files,
            ids: &ids,
            now: OffsetDateTime::now_utc(),
            fingerprint_key: None,
        };
        let current = changeset::read_current(cred, base).map_err(change_failure)?;
        Needle::Values(current.per_location.into_iter().flatten().collect())
    };
    let found = search(files.as_ref(), &ids, &needle);
    if args.json {
        let text = serde_json::to_string_pretty(&found).map_err(|e| Failure {
            exit: Exit::Other,
            message: e.to_string(),
        })?;
        return print(&format!("{text}\n"));
    }
    let mut out = String::new();
    for h in &found.hits {
        out.push_str(&format!("{}: {}\n", h.file, h.path));
    }
    for s in &found.skipped {
        out.push_str(&format!("skipped {}: {}\n", s.file, s.reason));
    }
    out.push_str(&format!(
        "{} places in {} SOPS files searched\n",
        found.hits.len(),
        found.searched
    ));
    print(&out)
}
