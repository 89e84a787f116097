//! AWS query-API requests (IAM, STS): a form of `Action`, `Version` and parameters, POSTed
//! and signed with Signature Version 4. Pure but for the clock the caller passes in.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::header::{CONTENT_TYPE, HOST};
use http::{Method, Request, Uri};

pub const IAM_VERSION: &str = "2010-05-08";
pub const STS_VERSION: &str = "2011-06-15";

/// The body of a query-API call.
pub fn form(action: &str, version: &str, params: &[(&str, &str)]) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action);
    form.append_pair("Version", version);
    for (name, value) in params {
        form.append_pair(name, value);
    }
    form.finish()
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the endpoint {0} has no host")]
    NoHost(String),
    #[error("the request cannot be built: {0}")]
    Http(#[from] http::Error),
    /// The signer's own messages name parameters, never the secret.
    #[error("the request cannot be signed: {0}")]
    Sign(String),
}

/// A POST of `body` to `endpoint`, signed for `service` in `region` with `credentials`.
pub fn signed(
    endpoint: &Uri,
    service: &str,
    region: &str,
    credentials: &Credentials,
    body: String,
    now: SystemTime,
) -> Result<Request<String>, SignError> {
    let host = endpoint
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or_else(|| SignError::NoHost(endpoint.to_string()))?;
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(endpoint.clone())
        .header(HOST, host)
        .header(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body)?;
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError::Sign(e.to_string()))?
        .into();
    let uri = request.uri().to_string();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    let signable = SignableRequest::new(
        "POST",
        &uri,
        headers,
        SignableBody::Bytes(request.body().as_bytes()),
    )
    .map_err(|e| SignError::Sign(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SignError::Sign(e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn the_form_is_url_encoded() {
        assert_eq!(
            form(
                "ListAccessKeys",
                IAM_VERSION,
                &[("UserName", "ci+deploy@x")]
            ),
            "Action=ListAccessKeys&Version=2010-05-08&UserName=ci%2Bdeploy%40x"
        );
    }

    #[test]
    fn a_signed_request_names_the_key_and_scope_but_not_the_secret() {
        let credentials =
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", None, None, "tests");
        let request = signed(
            &Uri::from_static("http://127.0.0.1:5000/"),
            "iam",
            "us-east-1",
            &credentials,
            form("ListAccessKeys", IAM_VERSION, &[]),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
        .unwrap();
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/iam/aws4_request"
        ));
        assert_eq!(request.headers()["host"], "127.0.0.1:5000");
        assert!(!format!("{request:?}").contains("wJalrXUtnFEMI"));
    }
}
