//! `keyroll fingerprint-key`: creates the repository's fingerprint key (a random 256-bit key,
//! SOPS-encrypted to the recipients `.sops.yaml` gives its path), and computes a value's
//! fingerprint with it, to compare a value someone holds with what a plan shows.

use std::io::Read;
use std::path::Path;

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use super::context::{RepoArgs, fingerprint_key, read_config, repo_failure};
use super::rotate::print;
use super::{Exit, Failure};
use crate::fingerprint::{self, Fingerprint, FingerprintKey, INIT_COMMAND, KEY_FILE};
use crate::policy::{self, CONFIG_FILE};
use crate::repo::{Files, Repo, WorkTree};
use crate::sops::{EncryptOptions, Format, PlainValue, creation_rules, encrypt};

#[derive(Debug, Subcommand)]
pub enum FingerprintKeyCommand {
    /// Create .keyroll/fingerprint-key.yaml in the working tree; commit it.
    ///
    /// A random 256-bit key, encrypted to the recipients of the first .sops.yaml creation
    /// rule that matches its path (or to --age). Refused when one of them cannot decrypt a
    /// file the config names: it could fingerprint values it cannot read. Never replaces a
    /// key: fingerprints shown so far would stop matching.
    Init(InitArgs),
    /// Print the fingerprint of a value read from standard input, with the key at HEAD.
    Of(OfArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Encrypt to these age recipients (comma-separated) instead of .sops.yaml's rule.
    #[arg(long, value_name = "R1,R2", value_delimiter = ',')]
    pub age: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct OfArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
}

pub fn run(command: FingerprintKeyCommand) -> Result<(), Failure> {
    match command {
        FingerprintKeyCommand::Init(args) => init(args),
        FingerprintKeyCommand::Of(args) => of(args),
    }
}

fn init(args: InitArgs) -> Result<(), Failure> {
    let root = &args.repo.repo;
    let path = root.join(KEY_FILE);
    if path.exists() {
        return Err(Failure {
            exit: Exit::InvalidInput,
            message: format!(
                "{KEY_FILE} exists already; keyroll never replaces it (every fingerprint shown \
                 so far would stop matching)"
            ),
        });
    }
    let opts = if args.age.is_empty() {
        rule_options(root, &path)?
    } else {
        EncryptOptions::for_recipients(args.age.clone())
    };
    let key = FingerprintKey::generate().map_err(|e| Failure {
        exit: Exit::Other,
        message: e.to_string(),
    })?;
    let encrypted = encrypt(
        key.to_plaintext().expose(),
        Format::Yaml,
        &opts,
        OffsetDateTime::now_utc(),
    )
    .map_err(|e| Failure {
        exit: Exit::for_error(&e),
        message: format!("{KEY_FILE}: {e}"),
    })?;
    let tree = WorkTree::new(root);
    let wider = wider_readers(&tree, &encrypted)?;
    if !wider.is_empty() {
        return Err(Failure {
            exit: Exit::Config,
            message: format!(
                "not written: {}\nGive {KEY_FILE} a creation rule (or --age) listing only \
                 recipients every credential file has.",
                wider.join("\n")
            ),
        });
    }
    write_new(&path, &encrypted)?;
    let recipients: Vec<String> = opts.groups.concat();
    print(&format!(
        "Wrote {KEY_FILE}, encrypted to {}.\nCommit it (through a pull request): keyroll and \
         everyone who can decrypt it then compute the same fingerprints.\n",
        recipients.join(", ")
    ))
}

/// The options of the creation rule for the key file.
fn rule_options(root: &Path, path: &Path) -> Result<EncryptOptions, Failure> {
    let hint = "add a creation rule with `path_regex: ^\\.keyroll/fingerprint-key\\.yaml$` to \
                .sops.yaml listing the recipients who may compare fingerprints (those every \
                credential file has), or pass --age";
    let config = creation_rules::find_config(root).ok_or_else(|| Failure {
        exit: Exit::Config,
        message: format!("{KEY_FILE}: no .sops.yaml found; {hint}"),
    })?;
    creation_rules::options_for(&config, path).map_err(|e| Failure {
        exit: Exit::for_error(&e),
        message: format!("{KEY_FILE}: {e}; {hint}"),
    })
}

/// The problems of a new key file's readers against the config's files in the working tree
/// (none when there is no config yet).
fn wider_readers(tree: &WorkTree, encrypted: &str) -> Result<Vec<String>, Failure> {
    let Ok(text) = read_config(tree, Path::new(".")) else {
        return Ok(Vec::new());
    };
    let Ok(config) = policy::parse(CONFIG_FILE, &text) else {
        return Ok(Vec::new());
    };
    let paths = fingerprint::location_files(&config);
    let beyond =
        fingerprint::readers_beyond(encrypted.to_owned(), tree, &paths).map_err(|e| Failure {
            exit: Exit::Other,
            message: e.to_string(),
        })?;
    Ok(beyond
        .into_iter()
        .map(|(r, f)| {
            format!(
                "recipient {r} cannot decrypt {f}, yet could compute the fingerprints of its values"
            )
        })
        .collect())
}

/// Writes a new file, refusing to replace one that appeared meanwhile.
fn write_new(path: &Path, text: &str) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure {
        exit: Exit::Io,
        message: format!("{}: cannot write: {e}", path.display()),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

fn of(args: OfArgs) -> Result<(), Failure> {
    let ids = args.repo.identities()?;
    let files: Box<dyn Files> = match Repo::open(&args.repo.repo) {
        Ok(repo) => Box::new(repo.head_files().map_err(repo_failure)?),
        Err(_) => Box::new(WorkTree::new(&args.repo.repo)),
    };
    let key = fingerprint_key(files.as_ref(), &ids)?.ok_or_else(|| Failure {
        exit: Exit::Config,
        message: format!(
            "this repository has no fingerprint key ({KEY_FILE}); create it with `{INIT_COMMAND}`"
        ),
    })?;
    let mut text = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure {
            exit: Exit::Io,
            message: format!("<stdin>: cannot read: {e}"),
        })?;
    let value = PlainValue::str(text.trim_end_matches(['\n', '\r']));
    print(&format!("{}\n", Fingerprint::of(&value, &key)))
}
