//! The pure decision before a mint: given the holder's keys at the provider, the key the
//! repository holds and the receipt of an earlier mint, which key (if any) to delete first and
//! whether minting may go on.
//!
//! The runbook's two-key rule: with the holder at its limit, a key that is neither in the
//! repository nor named by a receipt and was never used is an orphan (perhaps a mint whose
//! receipt was never recorded) that an operator confirms deleting; a used one, or a limit
//! reached by keys keyroll knows, blocks with which key is where and when each was last used.
//! keyroll never deletes a key it cannot prove it made and lost.

use std::fmt;

use super::{Evidence, KeyId, Known};

/// Where a key stands as far as keyroll knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    InRepository,
    /// Named by the receipt of keyroll's own earlier mint.
    Receipt,
    /// Neither in the repository nor in a receipt.
    Unknown,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InRepository => "in the repository",
            Self::Receipt => "minted by keyroll",
            Self::Unknown => "unknown to keyroll",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// A never-used key no one accounts for holds a slot: an operator confirms deleting it.
    Orphan(Evidence),
    /// The holder is at its limit and no key may be deleted without a person: each key, where
    /// it is, and its last use.
    AtLimit(Vec<(Evidence, Place)>),
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Orphan(key) => write!(
                f,
                "key {} is in neither the repository nor a receipt of keyroll's and was never \
                 used: confirm its deletion to go on",
                key.key_id
            ),
            Self::AtLimit(keys) => {
                f.write_str("the user already has as many keys as allowed:")?;
                for (key, place) in keys {
                    write!(f, " key {} ({place}, {}) ", key.key_id, key.status)?;
                    match &key.last_used {
                        Some(used) => write!(f, "last used {used};")?,
                        None => f.write_str("never used;")?,
                    }
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintPlan {
    /// The key of an earlier mint whose value was lost: delete it whatever comes next.
    pub delete_first: Option<KeyId>,
    /// `None`: mint.
    pub blocked: Option<Blocker>,
}

pub fn place_of(key: &KeyId, known: Known<'_>) -> Place {
    // The repository wins: a receipt whose key reached the repository is no longer lost.
    if known.in_repository == Some(key) {
        Place::InRepository
    } else if known.receipt == Some(key) {
        Place::Receipt
    } else {
        Place::Unknown
    }
}

pub fn plan_mint(keys: &[Evidence], known: Known<'_>, limit: usize) -> MintPlan {
    let placed: Vec<(&Evidence, Place)> = keys
        .iter()
        .map(|k| (k, place_of(&k.key_id, known)))
        .collect();
    let delete_first = placed
        .iter()
        .find(|(_, place)| *place == Place::Receipt)
        .map(|(k, _)| k.key_id.clone());
    let remaining: Vec<(&Evidence, Place)> = placed
        .into_iter()
        .filter(|(_, place)| *place != Place::Receipt)
        .collect();
    if remaining.len() < limit {
        return MintPlan {
            delete_first,
            blocked: None,
        };
    }
    // The oldest never-used unknown key first: the likeliest leftover of a lost mint.
    let orphan = remaining
        .iter()
        .filter(|(k, place)| *place == Place::Unknown && k.last_used.is_none())
        .min_by_key(|(k, _)| k.created)
        .map(|(k, _)| (*k).clone());
    let blocked = match orphan {
        Some(key) => Blocker::Orphan(key),
        None => Blocker::AtLimit(
            remaining
                .into_iter()
                .map(|(k, place)| (k.clone(), place))
                .collect(),
        ),
    };
    MintPlan {
        delete_first,
        blocked: Some(blocked),
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::provider::{KeyStatus, LastUse};

    fn key(id: &str, used: bool) -> Evidence {
        Evidence {
            key_id: KeyId::new(id),
            status: KeyStatus::Active,
            created: Some(datetime!(2026-01-01 0:00 UTC)),
            last_used: used.then(|| LastUse {
                date: datetime!(2026-02-01 0:00 UTC),
                service: Some("s3".into()),
                region: Some("eu-west-2".into()),
            }),
        }
    }

    fn known<'a>(repo: Option<&'a KeyId>, receipt: Option<&'a KeyId>) -> Known<'a> {
        Known {
            in_repository: repo,
            receipt,
        }
    }

    #[test]
    fn one_key_in_the_repository_mints() {
        let repo = KeyId::new("AKIAREPO");
        let plan = plan_mint(&[key("AKIAREPO", true)], known(Some(&repo), None), 2);
        assert_eq!(
            plan,
            MintPlan {
                delete_first: None,
                blocked: None
            }
        );
    }

    #[test]
    fn a_lost_mint_is_deleted_then_minted_again() {
        let repo = KeyId::new("AKIAREPO");
        let lost = KeyId::new("AKIALOST");
        let plan = plan_mint(
            &[key("AKIAREPO", true), key("AKIALOST", false)],
            known(Some(&repo), Some(&lost)),
            2,
        );
        assert_eq!(plan.delete_first, Some(lost));
        assert_eq!(plan.blocked, None);
    }

    #[test]
    fn a_receipt_whose_key_is_gone_changes_nothing() {
        let repo = KeyId::new("AKIAREPO");
        let lost = KeyId::new("AKIALOST");
        let plan = plan_mint(&[key("AKIAREPO", true)], known(Some(&repo), Some(&lost)), 2);
        assert_eq!(plan.delete_first, None);
        assert_eq!(plan.blocked, None);
    }

    #[test]
    fn the_repository_key_is_never_deleted_even_when_a_receipt_names_it() {
        let repo = KeyId::new("AKIAREPO");
        let plan = plan_mint(&[key("AKIAREPO", true)], known(Some(&repo), Some(&repo)), 2);
        assert_eq!(plan.delete_first, None);
    }

    #[test]
    fn an_unused_unknown_key_at_the_limit_is_an_orphan() {
        let repo = KeyId::new("AKIAREPO");
        let plan = plan_mint(
            &[key("AKIAREPO", true), key("AKIAOTHER", false)],
            known(Some(&repo), None),
            2,
        );
        assert_eq!(plan.delete_first, None);
        assert_eq!(plan.blocked, Some(Blocker::Orphan(key("AKIAOTHER", false))));
    }

    #[test]
    fn a_used_unknown_key_at_the_limit_blocks_with_both_keys() {
        let repo = KeyId::new("AKIAREPO");
        let plan = plan_mint(
            &[key("AKIAREPO", true), key("AKIAOTHER", true)],
            known(Some(&repo), None),
            2,
        );
        let Some(blocker) = plan.blocked else {
            panic!("expected a blocker");
        };
        assert_eq!(
            blocker,
            Blocker::AtLimit(vec![
                (key("AKIAREPO", true), Place::InRepository),
                (key("AKIAOTHER", true), Place::Unknown),
            ])
        );
        let text = blocker.to_string();
        assert!(text.contains("AKIAOTHER (unknown to keyroll, active) last used"));
        assert!(text.contains("by s3 in eu-west-2"));
    }

    #[test]
    fn the_unused_repository_key_is_not_an_orphan() {
        let repo = KeyId::new("AKIAREPO");
        let plan = plan_mint(
            &[key("AKIAREPO", false), key("AKIAOTHER", true)],
            known(Some(&repo), None),
            2,
        );
        assert!(matches!(plan.blocked, Some(Blocker::AtLimit(_))));
    }

    #[test]
    fn a_lost_mint_frees_the_slot_an_orphan_would_block() {
        let repo = KeyId::new("AKIAREPO");
        let lost = KeyId::new("AKIALOST");
        let plan = plan_mint(
            &[key("AKIALOST", false), key("AKIAREPO", true)],
            known(Some(&repo), Some(&lost)),
            2,
        );
        assert_eq!(plan.delete_first, Some(lost));
        assert_eq!(plan.blocked, None);
    }
}
