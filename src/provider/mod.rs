//! Providers: where a credential's values are minted, observed and retired, outside the
//! repository (AWS generates access keys; keyroll cannot).
//!
//! A [`Provider`] is the imperative edge: each call is one or a few API requests. What to do
//! with what a provider reports is decided by pure functions ([`slots::plan_mint`]) so the
//! rules can be tested without a provider.
//!
//! Minting is not idempotent at any provider keyroll knows (AWS `CreateAccessKey` makes a new
//! key each time and shows its secret once), so keyroll makes it idempotent around the call:
//! the caller records the [`Receipt`] (the new key's id, never its value) before the value is
//! written anywhere. A replay after a crash hands that receipt to [`mint_once`], which finds
//! the key it names among the holder's keys and deletes it (its secret is lost for good)
//! before minting again; a key that no receipt names is left for an operator
//! ([`slots::Blocker`]). Retiring calls count "already in that state" as done, so every call
//! here may be replayed.
//!
//! Values only ever travel inside [`secrecy::SecretString`]: no type here prints one, and
//! [`ProviderError`] carries provider error codes and fixed texts, never a body.

pub mod aws;
mod error;
pub mod slots;

use std::fmt;
use std::future::Future;

use secrecy::SecretString;
use time::OffsetDateTime;

pub use error::{ProviderError, Refusal};
pub use slots::{Blocker, MintPlan, Place};

/// Who holds the values at the provider: for AWS access keys, the IAM user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Holder(String);

impl Holder {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public name of one value at the provider (an access key id). Not a secret: it is what
/// receipts, evidence, comments and logs use to say which value they mean.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the caller records about a minted value before writing the value anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub key_id: KeyId,
    pub created: Option<OffsetDateTime>,
}

/// A new value and its receipt. The provider shows the value once: lose it and the only way
/// on is to delete the key the receipt names and mint again.
#[derive(Debug)]
pub struct Minted {
    pub receipt: Receipt,
    /// `SecretString` prints as a redaction marker in Debug and has no Display.
    pub secret: SecretString,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        })
    }
}

/// The last recorded use of a value. AWS records the time, the service and the region of the
/// last signed request made with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUse {
    pub date: OffsetDateTime,
    pub service: Option<String>,
    pub region: Option<String>,
}

impl fmt::Display for LastUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = self
            .date
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|_| fmt::Error)?;
        write!(f, "{date}")?;
        if let Some(service) = &self.service {
            write!(f, " by {service}")?;
        }
        if let Some(region) = &self.region {
            write!(f, " in {region}")?;
        }
        Ok(())
    }
}

/// Evidence of one value at the provider, by key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub key_id: KeyId,
    pub status: KeyStatus,
    pub created: Option<OffsetDateTime>,
    /// `None`: never used.
    pub last_used: Option<LastUse>,
}

/// Where a credential's values are minted, observed and retired.
///
/// Retiring calls are idempotent: `deactivate` of an inactive or deleted value, `reactivate`
/// of an active one and `delete` of a deleted one succeed. `reactivate` of a deleted value is
/// refused with [`Refusal::NoSuchEntity`]: the value cannot come back.
pub trait Provider: Send + Sync {
    /// How many values a holder may have at once (AWS: two access keys per user).
    const MAX_VALUES: usize;

    /// Makes a new value for the holder. Not idempotent: see [`mint_once`].
    fn mint(&self, holder: &Holder) -> impl Future<Output = Result<Minted, ProviderError>> + Send;

    /// Evidence of each of the holder's values.
    fn observe(
        &self,
        holder: &Holder,
    ) -> impl Future<Output = Result<Vec<Evidence>, ProviderError>> + Send;

    fn deactivate(
        &self,
        holder: &Holder,
        key: &KeyId,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    fn reactivate(
        &self,
        holder: &Holder,
        key: &KeyId,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;

    fn delete(
        &self,
        holder: &Holder,
        key: &KeyId,
    ) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

/// What the caller knows of the holder's values: the key the repository holds and the
/// receipt of an earlier mint whose value may have been lost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    pub in_repository: Option<&'a KeyId>,
    pub receipt: Option<&'a KeyId>,
}

#[derive(Debug)]
pub enum MintOutcome {
    /// Record `minted.receipt` before writing `minted.secret` anywhere.
    Minted(Minted),
    /// Nothing was minted; a person must act (the blocker says on what).
    Blocked(Blocker),
}

/// Mints a value for the holder, first deleting the key of an earlier mint whose value was
/// lost (the receipt's), so that a replay after a crash leaves no orphan. Blocks instead of
/// minting when the holder is at its limit with keys keyroll did not make.
pub async fn mint_once<P: Provider>(
    provider: &P,
    holder: &Holder,
    known: Known<'_>,
) -> Result<MintOutcome, ProviderError> {
    let keys = provider.observe(holder).await?;
    let plan = slots::plan_mint(&keys, known, P::MAX_VALUES);
    if let Some(lost) = &plan.delete_first {
        provider.delete(holder, lost).await?;
    }
    match plan.blocked {
        Some(blocker) => Ok(MintOutcome::Blocked(blocker)),
        None => provider.mint(holder).await.map(MintOutcome::Minted),
    }
}
