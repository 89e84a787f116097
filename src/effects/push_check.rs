//! Checking a person's push to a keyroll branch, pure: only the credential's files changed;
//! in its SOPS files only its own paths changed, the file still opens (every value
//! encrypted, the MAC intact) and has the same recipients; for a manual credential, each use
//! location holds a new value. Problems name files and paths, never values.

use std::collections::BTreeSet;
use std::path::Path;

use crate::changeset::Phase as Change;
use crate::policy::{Credential, Role, Target};
use crate::repo::Files;
use crate::sops::path::Segment;
use crate::sops::{Format, Identities, SopsFile};

/// The key path of a location as `values_with_paths` writes it (`data_api.auth_tokens`).
fn dotted(target: &Target) -> Option<String> {
    match target {
        Target::Sops(path) => Some(
            path.0
                .iter()
                .filter_map(|s| match s {
                    Segment::Key(k) => Some(k.clone()),
                    Segment::Index(_) => None,
                })
                .collect::<Vec<_>>()
                .join("."),
        ),
        Target::Pattern(_) => None,
    }
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|r| r.starts_with('.'))
}

/// The problems with a push that changed `changed` (paths) from `base` to `head`.
pub fn check(
    cred: &Credential,
    change: Change,
    changed: &[String],
    base: &dyn Files,
    head: &dyn Files,
    ids: &Identities,
) -> Vec<String> {
    let mut problems = Vec::new();
    let expected: BTreeSet<&str> = cred.locations.iter().map(|l| l.file.as_str()).collect();
    for f in changed {
        if !expected.contains(f.as_str()) {
            problems.push(format!(
                "`{f}` changed, but rotating `{}` changes only {}",
                cred.name,
                expected
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if change.needs_new_values() {
        for l in cred.locations.iter().filter(|l| l.role == Role::Use) {
            if !changed.contains(&l.file) {
                problems.push(format!("`{}` still holds the old value", l.describe()));
            }
        }
    }
    for file in expected.iter().filter(|f| changed.iter().any(|c| c == *f)) {
        let locations: Vec<_> = cred.locations.iter().filter(|l| l.file == *file).collect();
        let paths: Vec<String> = locations.iter().filter_map(|l| dotted(&l.target)).collect();
        if paths.is_empty() {
            continue; // a pattern location in a plain file: nothing encrypted to check
        }
        let Some(format) = Format::from_path(Path::new(file)) else {
            continue;
        };
        let text = |files: &dyn Files| {
            files
                .read(file)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        };
        let Some(head_text) = text(head) else {
            problems.push(format!("`{file}` was deleted"));
            continue;
        };
        let head_file = match SopsFile::parse(head_text, format) {
            Ok(f) => f,
            Err(e) => {
                problems.push(format!(
                    "`{file}` is no longer a SOPS file keyroll can read: {e}"
                ));
                continue;
            }
        };
        let head_open = match head_file.open(ids) {
            Ok(o) => o,
            Err(e) => {
                problems.push(format!("`{file}` does not open: {e}"));
                continue;
            }
        };
        let Some(base_text) = text(base) else {
            continue;
        };
        let Ok(base_file) = SopsFile::parse(base_text, format) else {
            continue;
        };
        let Ok(base_open) = base_file.open(ids) else {
            continue;
        };
        if head_open.recipients() != base_open.recipients() {
            problems.push(format!(
                "`{file}`: its recipients changed; a rotation never changes who can read a file"
            ));
        }
        let outside = |values: Vec<(String, &crate::sops::PlainValue)>| -> Vec<(String, crate::sops::PlainValue)> {
            values
                .into_iter()
                .filter(|(p, _)| !paths.iter().any(|l| under(p, l)))
                .map(|(p, v)| (p, v.clone()))
                .collect()
        };
        let (before, after) = (
            outside(base_open.values_with_paths()),
            outside(head_open.values_with_paths()),
        );
        if before != after {
            let changed_paths: BTreeSet<&str> = before
                .iter()
                .chain(after.iter())
                .filter(|(p, v)| {
                    let in_before = before.iter().any(|(bp, bv)| bp == p && bv == v);
                    let in_after = after.iter().any(|(ap, av)| ap == p && av == v);
                    !(in_before && in_after)
                })
                .map(|(p, _)| p.as_str())
                .collect();
            problems.push(format!(
                "`{file}`: {} changed, which {} not a location of `{}`",
                changed_paths
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if changed_paths.len() == 1 {
                    "is"
                } else {
                    "are"
                },
                cred.name
            ));
        }
        if change.needs_new_values() {
            for l in locations.iter().filter(|l| l.role == Role::Use) {
                let Some(p) = dotted(&l.target) else { continue };
                let pick = |values: Vec<(String, &crate::sops::PlainValue)>| {
                    values
                        .into_iter()
                        .filter(|(vp, _)| *vp == p)
                        .map(|(_, v)| v.clone())
                        .collect::<Vec<_>>()
                };
                if pick(base_open.values_with_paths()) == pick(head_open.values_with_paths()) {
                    problems.push(format!("`{file}`: `{p}` still holds the old value"));
                }
            }
        }
    }
    problems
}
