//! `keyroll plan` and `keyroll rotate`: a phase's change set for one credential, shown, and
//! (for rotate) committed on a branch of its own.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use clap::Args;
use time::OffsetDateTime;

use super::context::{RepoArgs, config_at, credential, fingerprint_key, repo_failure};
use super::{Exit, Failure};
use crate::changeset::{self, Base, ChangeError, ChangeSet, Phase, branch};
use crate::generate::{self, NewValues};
use crate::plan::{ManualPlan, Plan};
use crate::policy::{Config, Credential, GeneratorSpec};
use crate::repo::{Repo, trailer};
use crate::sops::{NewValue, ValueType};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The credential, as named in .keyroll.yaml.
    pub credential: String,
    #[arg(long, value_enum, default_value = "add")]
    pub phase: Phase,
    /// Print Markdown (as in a pull request body) instead of text.
    #[arg(long)]
    pub markdown: bool,
    /// For manual credentials: the new values as JSON on standard input, `{"SLOT": "value"}`
    /// (or one string for a credential with one slot).
    #[arg(long)]
    pub value_stdin: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The credential, as named in .keyroll.yaml.
    pub credential: String,
    #[arg(long, value_enum)]
    pub phase: Phase,
    /// Continue this rotation (e.g. R-2026-0003) instead of starting a new one; by default
    /// remove and switch continue the credential's latest rotation on HEAD.
    #[arg(long, value_name = "ID")]
    pub rotation: Option<String>,
    /// For manual credentials: the new values as JSON on standard input, `{"SLOT": "value"}`
    /// (or one string for a credential with one slot).
    #[arg(long)]
    pub value_stdin: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

/// A phase's change set at HEAD, with what was needed to make it.
struct Prepared {
    repo: Repo,
    head: git2::Oid,
    config: Config,
    now: OffsetDateTime,
}

/// Reads HEAD's config and computes the change set of `phase` for `name`.
fn prepare(
    repo_args: &RepoArgs,
    name: &str,
    phase: Phase,
    value_stdin: bool,
) -> Result<(Prepared, ChangeSet), Failure> {
    let repo = repo_args.open_repo()?;
    let files = repo.head_files().map_err(repo_failure)?;
    let (config, _) = config_at(&files)?;
    let ids = repo_args.identities()?;
    let key = fingerprint_key(&files, &ids)?;
    let now = OffsetDateTime::now_utc();
    let base = Base {
        files: &files,
        ids: &ids,
        now,
        fingerprint_key: key.as_ref(),
    };
    let cred = credential(&config, name)?;
    let values = new_values(cred, phase, value_stdin, base)?;
    let change = changeset::build(phase, cred, values.as_ref(), base).map_err(change_failure)?;
    let head = files.commit();
    Ok((
        Prepared {
            repo,
            head,
            config,
            now,
        },
        change,
    ))
}

pub fn plan(args: PlanArgs) -> Result<(), Failure> {
    if let Some(text) = manual_plan(&args)? {
        return print(&text);
    }
    let (p, change) = prepare(&args.repo, &args.credential, args.phase, args.value_stdin)?;
    let cred = credential(&p.config, &args.credential)?;
    let rotation = rotation_id(&p.repo, cred, args.phase, None, p.now)?;
    let plan = Plan {
        credential: cred,
        rotation: &rotation,
        change: &change,
        instructions: instructions(cred, p.now),
    };
    print(&if args.markdown {
        plan.render_markdown()
    } else {
        plan.render_text()
    })
}

/// The plan of a manual credential's phase whose values nobody has supplied yet: where they
/// go and what a person runs. `None` when the plan can be computed as usual.
fn manual_plan(args: &PlanArgs) -> Result<Option<String>, Failure> {
    if args.value_stdin || !args.phase.needs_new_values() {
        return Ok(None);
    }
    let repo = args.repo.open_repo()?;
    let files = repo.head_files().map_err(repo_failure)?;
    let (config, _) = config_at(&files)?;
    let cred = credential(&config, &args.credential)?;
    let GeneratorSpec::Manual { instructions, .. } = &cred.generator else {
        return Ok(None);
    };
    let ids = args.repo.identities()?;
    let key = fingerprint_key(&files, &ids)?;
    let now = OffsetDateTime::now_utc();
    let base = Base {
        files: &files,
        ids: &ids,
        now,
        fingerprint_key: key.as_ref(),
    };
    let before = changeset::shown_current(cred, base).map_err(change_failure)?;
    let rotation = rotation_id(&repo, cred, args.phase, None, now)?;
    let plan = ManualPlan {
        credential: cred,
        rotation: &rotation,
        phase: args.phase,
        instructions,
        names: generate::manual_names(cred, now),
        before,
    };
    Ok(Some(if args.markdown {
        plan.render_markdown()
    } else {
        plan.render_text()
    }))
}

pub fn rotate(args: RotateArgs) -> Result<(), Failure> {
    let (p, change) = prepare(&args.repo, &args.credential, args.phase, args.value_stdin)?;
    let cred = credential(&p.config, &args.credential)?;
    let rotation = rotation_id(&p.repo, cred, args.phase, args.rotation.as_deref(), p.now)?;
    let branch = branch::name(&cred.name, &rotation, args.phase);
    let message = commit_message(cred, &rotation, &change);
    let committed = p
        .repo
        .commit_branch(p.head, &branch, &change.files, &message)
        .map_err(repo_failure)?;
    let plan = Plan {
        credential: cred,
        rotation: &rotation,
        change: &change,
        instructions: instructions(cred, p.now),
    };
    print(&format!(
        "Committed {} on branch {} (from {}).\n\n{}",
        short(committed.commit),
        committed.branch,
        short(p.head),
        plan.render_text()
    ))
}

/// The new values of a phase that writes them: generated, or read from standard input for
/// manual credentials.
fn new_values(
    cred: &Credential,
    phase: Phase,
    value_stdin: bool,
    base: Base<'_>,
) -> Result<Option<NewValues>, Failure> {
    if !phase.needs_new_values() {
        return Ok(None);
    }
    if !matches!(cred.generator, GeneratorSpec::Manual { .. }) {
        return generate::generate(cred, base.now)
            .map(Some)
            .map_err(|e| Failure {
                exit: Exit::Other,
                message: e.to_string(),
            });
    }
    if !value_stdin {
        let mut message = format!("{} is manual: a person supplies its new values.", cred.name);
        if let Some(i) = instructions(cred, base.now) {
            message.push_str(&format!("\n{i}"));
        }
        message.push_str(
            "\nPass them as JSON on standard input with --value-stdin: {\"SLOT\": \"value\"}.",
        );
        return Err(Failure {
            exit: Exit::InvalidInput,
            message,
        });
    }
    let mut json = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut json)
        .map_err(|e| Failure {
            exit: Exit::Io,
            message: format!("<stdin>: cannot read: {e}"),
        })?;
    let supplied = parse_supplied(cred, &json)?;
    let current = changeset::read_current(cred, base).map_err(change_failure)?;
    generate::check_supplied(cred, &supplied, &current.in_use(cred), base.now).map_err(|e| {
        Failure {
            exit: Exit::InvalidInput,
            message: e.to_string(),
        }
    })?;
    Ok(Some(supplied))
}

fn parse_supplied(cred: &Credential, json: &str) -> Result<NewValues, Failure> {
    let bad = |m: &str| Failure {
        exit: Exit::InvalidInput,
        message: format!("--value-stdin: {m}"),
    };
    let value = NewValue::from_json(json.trim()).map_err(|e| bad(&e.to_string()))?;
    let mut out = BTreeMap::new();
    match value {
        NewValue::Scalar(v) if cred.slots.len() == 1 && v.ty() == ValueType::Str => {
            if let Some(slot) = cred.slots.first() {
                out.insert(slot.name.clone(), v);
            }
        }
        NewValue::Map(entries) => {
            for (slot, v) in entries {
                match v {
                    // Only strings: a number or a boolean would be stored as its sops text.
                    NewValue::Scalar(p) if p.ty() == ValueType::Str => {
                        out.insert(slot, p);
                    }
                    _ => return Err(bad(&format!("the value of slot {slot} must be a string"))),
                }
            }
        }
        _ => {
            return Err(bad(
                "give an object {\"SLOT\": \"value\", ...} (or one string for a single slot)",
            ));
        }
    }
    Ok(NewValues(out))
}

fn instructions(cred: &Credential, now: OffsetDateTime) -> Option<String> {
    let GeneratorSpec::Manual { instructions, .. } = &cred.generator else {
        return None;
    };
    let names = generate::manual_names(cred, now);
    let mut text = instructions.trim().to_owned();
    for (slot, name) in names {
        text.push_str(&format!("\n- slot {slot}: {name}"));
    }
    Some(text)
}

/// `R-<year>-<n>`: a new number one above the highest of the year, or the rotation being
/// continued (given, or the latest on HEAD for phases that follow add).
fn rotation_id(
    repo: &Repo,
    cred: &Credential,
    phase: Phase,
    given: Option<&str>,
    now: OffsetDateTime,
) -> Result<String, Failure> {
    if let Some(id) = given {
        return Ok(id.to_owned());
    }
    if matches!(phase, Phase::Switch | Phase::Remove | Phase::Rollback)
        && let Some(last) = repo.rotations_of(&cred.name).map_err(repo_failure)?.first()
    {
        return Ok(last.rotation.clone());
    }
    let year = now.year();
    let prefix = format!("R-{year}-");
    let highest = repo
        .branches(branch::PREFIX)
        .map_err(repo_failure)?
        .iter()
        .filter_map(|b| branch::parse(b).map(|b| b.rotation.to_owned()))
        .filter_map(|id| id.strip_prefix(&prefix).and_then(|n| n.parse::<u32>().ok()))
        .max()
        .unwrap_or(0);
    // Branch names are anyone's to push: the highest number may be u32::MAX.
    let next = highest.checked_add(1).ok_or_else(|| Failure {
        exit: Exit::Other,
        message: format!("rotation numbers for {year} are used up (a branch has {prefix}{highest}); pass --rotation"),
    })?;
    Ok(format!("{prefix}{next:04}"))
}

fn commit_message(cred: &Credential, rotation: &str, change: &ChangeSet) -> String {
    let mut m = format!("keyroll: {} {} ({rotation})\n\n", cred.name, change.phase);
    for l in change.locations.iter().filter(|l| l.changed()) {
        m.push_str(&format!("- {}\n", l.location));
    }
    m.push('\n');
    m.push_str(&trailer::write(&cred.name, rotation, change.phase));
    m
}

pub fn change_failure(e: ChangeError) -> Failure {
    let exit = match &e {
        ChangeError::Sops { source, .. } => Exit::for_error(source),
        ChangeError::NotApplicable { .. } | ChangeError::NothingToChange(_) => Exit::InvalidInput,
        ChangeError::MissingFile(_)
        | ChangeError::Location { .. }
        | ChangeError::FingerprintKeyFile(_) => Exit::Config,
    };
    Failure {
        exit,
        message: e.to_string(),
    }
}

fn short(oid: git2::Oid) -> String {
    oid.to_string().chars().take(10).collect()
}

pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure {
            exit: Exit::Io,
            message: format!("cannot print: {e}"),
        })
}
