//! Checks a config against the repository it lives in: every location's file exists, SOPS
//! locations sit in files keyroll's identity opens and name a path that is there, pattern
//! locations match exactly once.

use crate::policy::{Config, Problem, Target, ValueFormat};
use crate::repo::Files;
use crate::sops::{Format, Identities, SopsError, SopsFile};

/// What [`check_all`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Every problem but the ones below.
    pub problems: Vec<Problem>,
    /// Locations in files keyroll's identity cannot open. They share one cause (no identity,
    /// or the wrong one), so a person wants it said once, not at each location.
    pub no_key: Vec<NoKey>,
}

/// A location whose file keyroll's identity cannot open.
#[derive(Debug)]
pub struct NoKey {
    /// The problem at the location, as [`check`] reports it.
    pub problem: Problem,
    pub file: String,
    /// Why, naming no value: no identity, or none matching the file's recipients.
    pub cause: String,
}

/// Every problem of `config` against `files`; empty when all is well.
pub fn check(
    config: &Config,
    config_file: &str,
    config_text: &str,
    files: &dyn Files,
    ids: &Identities,
) -> Vec<Problem> {
    let checked = check_all(config, config_file, config_text, files, ids);
    let mut problems = checked.problems;
    problems.extend(checked.no_key.into_iter().map(|n| n.problem));
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

/// Every problem of `config` against `files`, with the locations keyroll's identity cannot
/// open set apart.
pub fn check_all(
    config: &Config,
    config_file: &str,
    config_text: &str,
    files: &dyn Files,
    ids: &Identities,
) -> Checked {
    let locator = super::locate::Locator::new(config_file, config_text);
    let mut problems = Vec::new();
    let mut no_key = Vec::new();
    for cred in &config.credentials {
        for l in &cred.locations {
            let Some(bytes) = files.read(&l.file) else {
                problems.push(locator.problem(
                    &l.field.key("file"),
                    format!("{} does not exist in the repository", l.file),
                ));
                continue;
            };
            let Ok(text) = String::from_utf8(bytes) else {
                problems.push(locator.problem(
                    &l.field.key("file"),
                    format!("{} is not UTF-8 text", l.file),
                ));
                continue;
            };
            match &l.target {
                Target::Sops(path) => {
                    let Some(format) = Format::from_path(std::path::Path::new(&l.file)) else {
                        problems.push(locator.problem(
                            &l.field.key("file"),
                            "SOPS files must end in .yaml, .yml, .json or .env",
                        ));
                        continue;
                    };
                    // A list location points at a list (or one value); the others at one value.
                    let wants_list = l.format == ValueFormat::List;
                    let opened = SopsFile::parse(text, format).and_then(|f| {
                        let o = f.open(ids)?;
                        Ok(if wants_list {
                            o.values(path).map(|v| v.is_some())
                        } else {
                            o.get(path).map(|v| v.is_some())
                        })
                    });
                    match opened {
                        Ok(Ok(true)) => {}
                        Ok(Ok(false)) => problems.push(locator.problem(
                            &l.field.key("path"),
                            if wants_list {
                                format!("{path} in {} is a map, not a list", l.file)
                            } else {
                                format!("{path} in {} is a map or list, not a value (use `format: list` for a list)", l.file)
                            },
                        )),
                        Ok(Err(e)) | Err(e) => {
                            let problem = locator
                                .problem(&l.field, format!("keyroll cannot use {}: {e}", l.file));
                            if is_no_key(&e) {
                                no_key.push(NoKey {
                                    problem,
                                    file: l.file.clone(),
                                    cause: e.to_string(),
                                });
                            } else {
                                problems.push(problem);
                            }
                        }
                    }
                }
                Target::Pattern(re) => {
                    if SopsFile::parse(text.clone(), Format::Yaml).is_ok() {
                        problems.push(locator.problem(
                            &l.field.key("pattern"),
                            format!("{} is a SOPS file: use `path`", l.file),
                        ));
                    }
                    let n = re.captures_iter(&text).count();
                    if n != 1 {
                        problems.push(locator.problem(
                            &l.field.key("pattern"),
                            format!(
                                "the pattern matches {n} times in {}; it must match exactly once",
                                l.file
                            ),
                        ));
                    }
                }
            }
        }
    }
    problems.sort_by_key(|p| (p.line, p.column));
    Checked { problems, no_key }
}

/// Whether the error means keyroll's identity cannot open the file (sops's exit 128).
pub fn is_no_key(e: &SopsError) -> bool {
    matches!(e, SopsError::NoUsableKey(_) | SopsError::Identity(_))
}
