//! The one spelling of keyroll's branch names: `keyroll/<credential>/<rotation>/<change>`.
//! The engine names the branch of each pull request with it, `keyroll rotate` names the
//! branch it commits to, and webhook routing reads a branch back into its rotation.

use std::fmt::Display;

/// What every keyroll branch starts with.
pub const PREFIX: &str = "keyroll/";

/// A keyroll branch, read back into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchName<'a> {
    pub credential: &'a str,
    pub rotation: &'a str,
    pub change: &'a str,
}

/// The branch of one change of one rotation.
pub fn name(credential: &str, rotation: &str, change: impl Display) -> String {
    format!("{PREFIX}{credential}/{rotation}/{change}")
}

/// The rotation a branch belongs to; `None` for any branch keyroll does not name (exactly
/// three parts after the prefix, the middle one a rotation id `R-…`).
pub fn parse(branch: &str) -> Option<BranchName<'_>> {
    let mut parts = branch.strip_prefix(PREFIX)?.split('/');
    let (credential, rotation, change) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = parts.next().is_none()
        && rotation.starts_with("R-")
        && !credential.is_empty()
        && !change.is_empty();
    well_formed.then_some(BranchName {
        credential,
        rotation,
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_reads_back_into_its_parts() {
        let b = name("data-api-tokens", "R-2026-0042", "add");
        assert_eq!(b, "keyroll/data-api-tokens/R-2026-0042/add");
        assert_eq!(
            parse(&b),
            Some(BranchName {
                credential: "data-api-tokens",
                rotation: "R-2026-0042",
                change: "add"
            })
        );
    }

    #[test]
    fn other_branches_name_no_rotation() {
        for other in [
            "main",
            "keyroll/x/add",
            "keyroll/x/R-1/add/more",
            "feature/keyroll/x/R-1/add",
            "keyroll/x/notarotation/add",
            "keyroll//R-1/add",
            "keyroll/x/R-1/",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
