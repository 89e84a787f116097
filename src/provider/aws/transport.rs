//! Sends signed requests and reads answers: one attempt each, under a whole-request timeout,
//! with failures sorted for the caller (the outbox retries transient ones; a retry of a
//! `CreateAccessKey` that timed out may find the key it made, which `mint_once` handles).
//!
//! Answers are kept in [`Zeroizing`] strings, since `CreateAccessKey`'s holds a secret; what
//! hyper buffered on the way is not in keyroll's hands.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use zeroize::Zeroizing;

use super::xml;
use crate::provider::ProviderError;
use crate::provider::error::describe;

/// IAM answers are a few kilobytes; anything far larger is not an IAM answer.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl Transport {
    pub fn new(timeout: Duration) -> Result<Self, ProviderError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| ProviderError::Setup(format!("no TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self { client, timeout })
    }

    /// Sends the request; a 2xx answer's body, or the error it means.
    pub async fn send(
        &self,
        call: &'static str,
        request: Request<String>,
    ) -> Result<Zeroizing<String>, ProviderError> {
        let request = request.map(|body| Full::new(Bytes::from(body)));
        let attempt = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| transient(call, format!("network: {}", describe(&e))))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|_| transient(call, "the answer was cut off".to_owned()))?
                .to_bytes();
            Ok::<_, ProviderError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| transient(call, format!("no answer within {:?}", self.timeout)))??;
        // `Vec::from` takes the buffer over when no one else holds it, so the copy that
        // is wiped on drop is the only one keyroll made.
        let body = Zeroizing::new(String::from_utf8(Vec::from(body)).map_err(|_| {
            ProviderError::Invalid {
                call,
                detail: "the answer is not UTF-8".to_owned(),
            }
        })?);
        if status.is_success() {
            Ok(body)
        } else {
            Err(xml::classify(
                call,
                status.as_u16(),
                xml::parse_error(&body),
            ))
        }
    }
}

fn transient(call: &'static str, detail: String) -> ProviderError {
    ProviderError::Transient { call, detail }
}
