//! keyroll's own AWS credentials: the standard chain (environment, profile, web identity,
//! ECS container, instance metadata) from `aws-config`, behind a cache that fetches again
//! a few minutes before temporary credentials expire. Only `aws-config` reads them; they
//! reach nothing but the signer (`Credentials`' Debug hides the secret).

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use tokio::sync::Mutex;

use crate::provider::ProviderError;
use crate::provider::error::describe;

/// Fetch again this long before temporary credentials expire, so none expires in flight.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
pub struct CredentialSource {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<Credentials>>,
}

/// What the standard chain found besides credentials, for defaults.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// `AWS_REGION` or the profile's region.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL` or the profile's `endpoint_url`.
    pub endpoint_url: Option<String>,
}

impl CredentialSource {
    /// Any credentials provider, e.g. fixed keys for an account configured with them.
    pub fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Self {
            provider: SharedCredentialsProvider::new(provider),
            cached: Mutex::new(None),
        }
    }

    /// The standard AWS credential chain, and the region and endpoint it found.
    pub async fn standard_chain() -> Result<(Self, Discovered), ProviderError> {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        // A fixed behaviour version: a new SDK release must not change keyroll's defaults.
        let config = aws_config::defaults(BehaviorVersion::v2026_01_12())
            .http_client(http)
            .load()
            .await;
        let provider = config.credentials_provider().ok_or_else(|| {
            ProviderError::Credentials("the standard chain found no credentials".to_owned())
        })?;
        let discovered = Discovered {
            region: config.region().map(|r| r.to_string()),
            endpoint_url: config.endpoint_url().map(str::to_owned),
        };
        Ok((
            Self {
                provider,
                cached: Mutex::new(None),
            },
            discovered,
        ))
    }

    pub async fn current(&self) -> Result<Credentials, ProviderError> {
        let mut cached = self.cached.lock().await;
        if let Some(credentials) = cached.as_ref() {
            let fresh = credentials
                .expiry()
                .is_none_or(|expiry| SystemTime::now() + REFRESH_BEFORE < expiry);
            if fresh {
                return Ok(credentials.clone());
            }
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| ProviderError::Credentials(describe(&e)))?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }
}
