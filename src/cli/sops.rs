//! `keyroll sops …`: decrypt, encrypt, set, unset and verify single files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{Exit, Failure};
use crate::sops::{
    self, EncryptOptions, Format, Identities, NewValue, SopsError, SopsFile, TreePath,
};

#[derive(Debug, Subcommand)]
pub enum SopsCommand {
    /// Print the plaintext of FILE in its own format (YAML, JSON or dotenv), without metadata.
    Decrypt {
        /// The encrypted file (.yaml, .yml, .json or .env).
        file: PathBuf,
        /// age identity file to use before SOPS_AGE_KEY / SOPS_AGE_KEY_FILE.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Print FILE encrypted to age recipients (from --age, or the matching .sops.yaml rule).
    Encrypt {
        /// The plaintext file (.yaml, .yml, .json or .env).
        file: PathBuf,
        /// Comma-separated age recipients; without it the first matching creation rule of
        /// the nearest .sops.yaml (searched upwards from the working directory) applies.
        #[arg(long, value_name = "R1,R2", value_delimiter = ',')]
        age: Vec<String>,
        /// The .sops.yaml to use instead of searching for one.
        #[arg(long, value_name = "FILE", env = "SOPS_CONFIG")]
        config: Option<PathBuf>,
        /// Write the result back to FILE instead of printing it.
        #[arg(long, short = 'i')]
        in_place: bool,
    },
    /// Set the value at PATH and rewrite FILE in place, as a minimal diff.
    ///
    /// Only the value's line, `lastmodified` and `mac` change; missing maps are created and
    /// an index past the end of a list appends. Setting the value a file already holds
    /// writes nothing.
    Set {
        /// The encrypted file (.yaml, .yml, .json or .env).
        file: PathBuf,
        /// Where to write, in sops's syntax: '["db"]["password"]', '["hosts"][0]'.
        path: String,
        /// The value as JSON ('"text"', 42, true, {"k": "v"}); prefer --value-stdin, which
        /// keeps a secret out of the process list.
        #[arg(required_unless_present = "value_stdin")]
        value: Option<String>,
        /// Read the JSON value from standard input.
        #[arg(long, conflicts_with = "value")]
        value_stdin: bool,
        /// age identity file to use before SOPS_AGE_KEY / SOPS_AGE_KEY_FILE.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Remove the entry or list item at PATH and rewrite FILE in place.
    Unset {
        /// The encrypted file (.yaml, .yml, .json or .env).
        file: PathBuf,
        /// What to remove, in sops's syntax: '["db"]["password"]', '["hosts"][0]'.
        path: String,
        /// age identity file to use before SOPS_AGE_KEY / SOPS_AGE_KEY_FILE.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Check that FILE opens with an available identity and that its MAC matches.
    Verify {
        /// The encrypted file (.yaml, .yml, .json or .env).
        file: PathBuf,
        /// age identity file to use before SOPS_AGE_KEY / SOPS_AGE_KEY_FILE.
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
}

/// keyroll never shows or changes the fingerprint key: a changed key would make every
/// fingerprint shown so far stop matching, and its text is a secret like any value.
fn refuse_fingerprint_key(file: &Path) -> Result<(), Failure> {
    if file.ends_with(crate::fingerprint::KEY_FILE) {
        return Err(Failure {
            exit: Exit::InvalidInput,
            message: format!(
                "{}: keyroll never shows or changes the fingerprint key",
                file.display()
            ),
        });
    }
    Ok(())
}

pub fn run(command: SopsCommand) -> Result<(), Failure> {
    match command {
        SopsCommand::Decrypt { file, identity } => {
            refuse_fingerprint_key(&file)?;
            let ids = identities(&file, identity.as_deref())?;
            let parsed = read_encrypted(&file)?;
            let opened = parsed.open(&ids).map_err(|e| fail(&file, e))?;
            write_stdout(&file, opened.plaintext().expose())
        }
        SopsCommand::Verify { file, identity } => {
            let ids = identities(&file, identity.as_deref())?;
            let parsed = read_encrypted(&file)?;
            let opened = parsed.open(&ids).map_err(|e| fail(&file, e))?;
            let line = format!(
                "{}: OK, {} values, MAC verified\n",
                file.display(),
                opened.value_count()
            );
            write_stdout(&file, &line)
        }
        SopsCommand::Encrypt {
            file,
            age,
            config,
            in_place,
        } => {
            let format = format_of(&file)?;
            let plaintext = Zeroizing::new(read(&file)?);
            let options = if age.is_empty() {
                let cwd = std::env::current_dir()
                    .map_err(|e| io_fail(Path::new("."), "read the working directory", &e))?;
                let config = config
                    .or_else(|| sops::creation_rules::find_config(&cwd))
                    .ok_or_else(|| Failure {
                        exit: Exit::Config,
                        message: format!(
                            "{}: no --age recipients and no .sops.yaml found above {}",
                            file.display(),
                            cwd.display()
                        ),
                    })?;
                sops::creation_rules::options_for(&config, &file).map_err(|e| fail(&file, e))?
            } else {
                EncryptOptions::for_recipients(age)
            };
            let out = sops::encrypt(&plaintext, format, &options, OffsetDateTime::now_utc())
                .map_err(|e| fail(&file, e))?;
            if in_place {
                write_in_place(&file, &out)
            } else {
                write_stdout(&file, &out)
            }
        }
        SopsCommand::Set {
            file,
            path,
            value,
            value_stdin,
            identity,
        } => {
            refuse_fingerprint_key(&file)?;
            let tree_path = TreePath::parse(&path).map_err(|e| fail(&file, e))?;
            let json = match value {
                Some(v) => Zeroizing::new(v),
                None if value_stdin => {
                    let mut buf = Zeroizing::new(String::new());
                    std::io::stdin()
                        .read_to_string(&mut buf)
                        .map_err(|e| io_fail(Path::new("<stdin>"), "read", &e))?;
                    buf
                }
                None => {
                    return Err(Failure {
                        exit: Exit::InvalidInput,
                        message: "set needs VALUE or --value-stdin".into(),
                    });
                }
            };
            let value = NewValue::from_json(json.trim_end_matches(['\n', '\r']))
                .map_err(|e| fail(&file, e))?;
            let ids = identities(&file, identity.as_deref())?;
            let parsed = read_encrypted(&file)?;
            let opened = parsed.open(&ids).map_err(|e| fail(&file, e))?;
            match opened
                .set(&tree_path, &value, OffsetDateTime::now_utc())
                .map_err(|e| fail(&file, e))?
            {
                Some(text) => write_in_place(&file, &text),
                None => Ok(()),
            }
        }
        SopsCommand::Unset {
            file,
            path,
            identity,
        } => {
            refuse_fingerprint_key(&file)?;
            let tree_path = TreePath::parse(&path).map_err(|e| fail(&file, e))?;
            let ids = identities(&file, identity.as_deref())?;
            let parsed = read_encrypted(&file)?;
            let opened = parsed.open(&ids).map_err(|e| fail(&file, e))?;
            let text = opened
                .unset(&tree_path, OffsetDateTime::now_utc())
                .map_err(|e| fail(&file, e))?;
            write_in_place(&file, &text)
        }
    }
}

fn fail(file: &Path, e: SopsError) -> Failure {
    Failure {
        exit: Exit::for_error(&e),
        message: format!("{}: {e}", file.display()),
    }
}

fn io_fail(file: &Path, doing: &str, e: &std::io::Error) -> Failure {
    Failure {
        exit: Exit::Io,
        message: format!("{}: cannot {doing}: {e}", file.display()),
    }
}

fn identities(file: &Path, explicit: Option<&Path>) -> Result<Identities, Failure> {
    Identities::discover(explicit).map_err(|e| fail(file, e))
}

fn format_of(file: &Path) -> Result<Format, Failure> {
    Format::from_path(file).ok_or_else(|| Failure {
        exit: Exit::Syntax,
        message: format!(
            "{}: unknown file type; keyroll reads .yaml, .yml, .json and .env files",
            file.display()
        ),
    })
}

fn read(file: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(file).map_err(|e| io_fail(file, "read", &e))
}

fn read_encrypted(file: &Path) -> Result<SopsFile, Failure> {
    let format = format_of(file)?;
    SopsFile::parse(read(file)?, format).map_err(|e| fail(file, e))
}

fn write_stdout(file: &Path, text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| io_fail(file, "print", &e))
}

/// Replaces FILE atomically: a temporary file beside it, same permissions, then a rename, so
/// a crash never leaves a half-written credentials file.
fn write_in_place(file: &Path, text: &str) -> Result<(), Failure> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.keyroll-{}", std::process::id()));
    let result = (|| {
        std::fs::write(&tmp, text)?;
        if let Ok(meta) = std::fs::metadata(file) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, file)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_fail(file, "write", &e)
    })
}
