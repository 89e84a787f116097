//! The `aws-iam-access-key` provider: an IAM user's access keys, through IAM's query API
//! (`CreateAccessKey`, `ListAccessKeys`, `GetAccessKeyLastUsed`, `UpdateAccessKey`,
//! `DeleteAccessKey`), signed with SigV4, with keyroll's own credentials from the standard
//! AWS chain.
//!
//! Why not the `aws-sdk-iam` crate: it is 200k generated lines (about 85 s of a debug build
//! and 4 MB of binary) for five calls whose answers are a few XML elements; `aws-config`
//! keeps the part worth not writing, the credential chain. Figures in the notes.
//!
//! - [`query`]: forms and signing (pure); [`xml`]: answers and errors (pure);
//! - [`transport`]: sending, timeouts; [`credentials`]: the chain and its cache.

pub mod credentials;
pub mod query;
pub mod transport;
pub mod xml;

use std::time::{Duration, SystemTime};

use http::Uri;
use zeroize::Zeroizing;

use self::credentials::{CredentialSource, Discovered};
use self::query::{IAM_VERSION, form, signed};
use self::transport::Transport;
use super::{Evidence, Holder, KeyId, Minted, Provider, ProviderError, Refusal};

/// IAM is global: one endpoint, signed for us-east-1 (in the `aws` partition).
const IAM_ENDPOINT: &str = "https://iam.amazonaws.com/";
const IAM_SIGNING_REGION: &str = "us-east-1";
/// More pages than a user with two keys can have: a bound on a provider that loops.
const MAX_PAGES: usize = 10;

/// Where and how keyroll reaches IAM for one account.
#[derive(Debug, Clone)]
pub struct IamSettings {
    pub endpoint: Uri,
    pub signing_region: String,
    /// One request, from sending to the end of the answer.
    pub timeout: Duration,
}

impl Default for IamSettings {
    fn default() -> Self {
        Self {
            endpoint: Uri::from_static(IAM_ENDPOINT),
            signing_region: IAM_SIGNING_REGION.to_owned(),
            timeout: Duration::from_secs(30),
        }
    }
}

impl IamSettings {
    /// The defaults, with the endpoint the standard chain found (`AWS_ENDPOINT_URL`, or a
    /// profile's `endpoint_url`), as for an emulator.
    pub fn from_discovered(discovered: &Discovered) -> Result<Self, ProviderError> {
        let mut settings = Self::default();
        if let Some(url) = &discovered.endpoint_url {
            settings.endpoint = url.parse().map_err(|_| ProviderError::BadInput {
                what: "endpoint URL",
                reason: format!("{url:?} is not a URL"),
            })?;
        }
        Ok(settings)
    }
}

/// An IAM user's access keys in one AWS account.
#[derive(Debug)]
pub struct IamAccessKeys {
    settings: IamSettings,
    credentials: CredentialSource,
    transport: Transport,
}

impl IamAccessKeys {
    pub fn new(
        settings: IamSettings,
        credentials: CredentialSource,
    ) -> Result<Self, ProviderError> {
        let transport = Transport::new(settings.timeout)?;
        Ok(Self {
            settings,
            credentials,
            transport,
        })
    }

    /// With the standard credential chain and the endpoint it names, if any.
    pub async fn from_standard_chain() -> Result<Self, ProviderError> {
        let (credentials, discovered) = CredentialSource::standard_chain().await?;
        Self::new(IamSettings::from_discovered(&discovered)?, credentials)
    }

    async fn call(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
    ) -> Result<Zeroizing<String>, ProviderError> {
        let credentials = self.credentials.current().await?;
        let request = signed(
            &self.settings.endpoint,
            "iam",
            &self.settings.signing_region,
            &credentials,
            form(action, IAM_VERSION, params),
            SystemTime::now(),
        )
        .map_err(|e| ProviderError::Invalid {
            call: action,
            detail: e.to_string(),
        })?;
        self.transport.send(action, request).await
    }

    async fn set_status(
        &self,
        holder: &Holder,
        key: &KeyId,
        status: &str,
    ) -> Result<(), ProviderError> {
        self.call(
            "UpdateAccessKey",
            &[
                ("UserName", user_name(holder)?),
                ("AccessKeyId", key_id(key)?),
                ("Status", status),
            ],
        )
        .await
        .map(drop)
    }
}

/// IAM user names: 1 to 64 of letters, digits and `+=,.@_-`. Checked before any call so a
/// bad name is reported as such rather than as whatever IAM makes of it.
fn user_name(holder: &Holder) -> Result<&str, ProviderError> {
    let name = holder.as_str();
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(name)
    } else {
        Err(ProviderError::BadInput {
            what: "IAM user name",
            reason: format!("{name:?} is not one"),
        })
    }
}

/// Access key ids: 16 to 128 letters and digits.
fn key_id(key: &KeyId) -> Result<&str, ProviderError> {
    let id = key.as_str();
    if (16..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(ProviderError::BadInput {
            what: "access key id",
            reason: format!("{id:?} is not one"),
        })
    }
}

/// "Already in that state" counts as done: a key that is gone is as retired as can be.
fn gone_is_done(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Err(e) if e.refusal() == Some(&Refusal::NoSuchEntity) => Ok(()),
        other => other,
    }
}

impl Provider for IamAccessKeys {
    const MAX_VALUES: usize = 2;

    async fn mint(&self, holder: &Holder) -> Result<Minted, ProviderError> {
        let body = self
            .call("CreateAccessKey", &[("UserName", user_name(holder)?)])
            .await?;
        let (receipt, secret) = xml::parse_create_access_key(&body)?;
        Ok(Minted { receipt, secret })
    }

    async fn observe(&self, holder: &Holder) -> Result<Vec<Evidence>, ProviderError> {
        let user = user_name(holder)?;
        let mut listed = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut params = vec![("UserName", user)];
            if let Some(m) = &marker {
                params.push(("Marker", m.as_str()));
            }
            let page = xml::parse_list_access_keys(&self.call("ListAccessKeys", &params).await?)?;
            listed.extend(page.keys);
            marker = page.marker;
            if marker.is_none() {
                break;
            }
        }
        if marker.is_some() {
            return Err(ProviderError::Invalid {
                call: "ListAccessKeys",
                detail: format!("more than {MAX_PAGES} pages of keys"),
            });
        }
        let mut evidence = Vec::with_capacity(listed.len());
        for key in listed {
            let body = self
                .call(
                    "GetAccessKeyLastUsed",
                    &[("AccessKeyId", key_id(&key.key_id)?)],
                )
                .await?;
            evidence.push(Evidence {
                last_used: xml::parse_last_used(&body)?,
                key_id: key.key_id,
                status: key.status,
                created: key.created,
            });
        }
        Ok(evidence)
    }

    async fn deactivate(&self, holder: &Holder, key: &KeyId) -> Result<(), ProviderError> {
        gone_is_done(self.set_status(holder, key, "Inactive").await)
    }

    async fn reactivate(&self, holder: &Holder, key: &KeyId) -> Result<(), ProviderError> {
        self.set_status(holder, key, "Active").await
    }

    async fn delete(&self, holder: &Holder, key: &KeyId) -> Result<(), ProviderError> {
        let result = self
            .call(
                "DeleteAccessKey",
                &[
                    ("UserName", user_name(holder)?),
                    ("AccessKeyId", key_id(key)?),
                ],
            )
            .await
            .map(drop);
        gone_is_done(result)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_call() {
        assert!(user_name(&Holder::new("ci-deploy.2026@x_y+z=,")).is_ok());
        assert!(user_name(&Holder::new("")).is_err());
        assert!(user_name(&Holder::new("a b")).is_err());
        assert!(user_name(&Holder::new("x".repeat(65))).is_err());
        assert!(key_id(&KeyId::new("AKIAIOSFODNN7EXAMPLE")).is_ok());
        assert!(key_id(&KeyId::new("AKIA&Action=x")).is_err());
    }

    #[test]
    fn gone_counts_as_done_but_other_refusals_do_not() {
        let refused = |refusal| {
            Err(ProviderError::Refused {
                call: "DeleteAccessKey",
                refusal,
                message: String::new(),
            })
        };
        assert_eq!(gone_is_done(refused(Refusal::NoSuchEntity)), Ok(()));
        assert!(gone_is_done(refused(Refusal::AccessDenied)).is_err());
    }
}
