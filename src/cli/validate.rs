//! `keyroll validate`: the working tree's `.keyroll.yaml`, checked against the files next to
//! it, every problem at file:line:column.

use std::path::Path;

use clap::Args;

use super::context::{RepoArgs, read_config};
use super::rotate::print;
use super::{Exit, Failure};
use crate::fingerprint::KEY_FILE;
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
    let checked = validate::check_all(&config, CONFIG_FILE, &text, &tree, &ids);
    let key = crate::fingerprint::check(&tree, &config, &ids);
    let unreadable: Vec<(&str, &str)> = checked
        .no_key
        .iter()
        .map(|n| (n.file.as_str(), n.cause.as_str()))
        .chain(key.no_key.as_deref().map(|cause| (KEY_FILE, cause)))
        .collect();
    let mut lines = no_key_lines(&unreadable);
    lines.extend(checked.problems.iter().map(ToString::to_string));
    lines.extend(key.problems.iter().cloned());
    if !lines.is_empty() {
        // Without a usable key nothing else can be trusted to be checked: that is the exit
        // code scripts must see, whatever else is wrong.
        let exit = if unreadable.is_empty() {
            Exit::Config
        } else {
            Exit::NoKey
        };
        return Err(Failure {
            exit,
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

/// One line per cause of files keyroll cannot open, naming each file once, in the order
/// they were met: without an identity every location says the same, and ten identical lines
/// hide the one thing to fix.
fn no_key_lines(unreadable: &[(&str, &str)]) -> Vec<String> {
    let mut causes: Vec<(&str, Vec<&str>)> = Vec::new();
    for &(file, cause) in unreadable {
        match causes.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, files)) if files.contains(&file) => {}
            Some((_, files)) => files.push(file),
            None => causes.push((cause, vec![file])),
        }
    }
    causes
        .into_iter()
        .map(|(cause, files)| format!("cannot open {}: {cause}", files.join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::no_key_lines;

    #[test]
    fn one_line_per_cause_naming_each_file_once() {
        let lines = no_key_lines(&[
            ("a.yaml", "no usable key: none"),
            ("a.yaml", "no usable key: none"),
            ("b.yaml", "no usable key: none"),
            ("c.yaml", "no usable key: other recipients"),
            ("b.yaml", "no usable key: none"),
        ]);
        assert_eq!(
            lines,
            [
                "cannot open a.yaml, b.yaml: no usable key: none",
                "cannot open c.yaml: no usable key: other recipients",
            ]
        );
        assert!(no_key_lines(&[]).is_empty());
    }
}
