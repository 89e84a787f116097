//! App authentication as GitHub checks it: an RS256 JWT from the App (issuer = App id, at
//! most ten minutes long) for the `/app` endpoints, installation tokens for everything else,
//! and the installation's permissions on each endpoint.

use std::collections::BTreeMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::state::{State, now};

/// What the `Authorization` header carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    None,
    /// `Bearer`/`token` value.
    Value(String),
    /// Something that is neither.
    Malformed,
}

pub fn credential(headers: &http::HeaderMap) -> Credential {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Credential::None;
    };
    let Ok(value) = value.to_str() else {
        return Credential::Malformed;
    };
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        Credential::Value(rest.trim().to_owned())
    } else {
        Credential::Malformed
    }
}

/// Checks an App JWT; the message GitHub would give when it is refused.
pub fn check_jwt(st: &State, token: &str) -> Result<(), String> {
    let not_decoded = || "A JSON web token could not be decoded".to_owned();
    let key = DecodingKey::from_rsa_pem(&st.cfg.public_key_pem).map_err(|_| not_decoded())?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims = ["exp", "iat", "iss"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    validation.leeway = 0;
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<BTreeMap<String, Value>>(token, &key, &validation)
        .map_err(|_| not_decoded())?;
    let claims = data.claims;
    let int = |name: &str| claims.get(name).and_then(Value::as_i64);
    let Some(iat) = int("iat") else {
        return Err("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued".to_owned());
    };
    let Some(exp) = int("exp") else {
        return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires".to_owned());
    };
    let t = now().unix_timestamp();
    if exp <= t {
        return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires".to_owned());
    }
    if exp - iat > 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future".to_owned());
    }
    if iat > t + 60 {
        return Err("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued".to_owned());
    }
    let iss = match claims.get("iss") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let client_id = format!("Iv23li{}", st.cfg.app.id);
    if iss != st.cfg.app.id.to_string() && iss != client_id {
        return Err("Integration not found".to_owned());
    }
    Ok(())
}

fn level(s: &str) -> u8 {
    match s {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    }
}

/// Whether a token's permissions include `permission` at `needed` (`read`/`write`).
pub fn allows(perms: &BTreeMap<String, String>, permission: &str, needed: &str) -> bool {
    perms
        .get(permission)
        .is_some_and(|have| level(have) >= level(needed))
}

/// Whether `asked` (from a token request) is within what the installation was granted.
pub fn within(granted: &BTreeMap<String, String>, asked: &BTreeMap<String, String>) -> bool {
    asked.iter().all(|(k, v)| allows(granted, k, v))
}
