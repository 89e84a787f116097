//! The `aws-iam-access-key` provider against the AWS emulator moto (server mode): minting,
//! the two-key limit, last-used evidence made real by a signed request with the new key,
//! idempotent retiring, the replay of a mint after a crash, an emulator that is gone, and no
//! secret in any error.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use common::moto::{self, Moto};
use keyroll::provider::aws::credentials::CredentialSource;
use keyroll::provider::aws::query::{self, IAM_VERSION, STS_VERSION};
use keyroll::provider::aws::{IamAccessKeys, IamSettings};
use keyroll::provider::{
    Blocker, Holder, KeyId, KeyStatus, Known, MintOutcome, Minted, Provider, ProviderError,
    Refusal, mint_once,
};
use secrecy::ExposeSecret;

/// keyroll's own credentials at the emulator, which checks no signature by default.
fn admin() -> Credentials {
    Credentials::new(
        "AKIAADMINEXAMPLE0000",
        "admin-secret-unchecked",
        None,
        None,
        "tests",
    )
}

fn provider(moto: &Moto) -> IamAccessKeys {
    let settings = IamSettings {
        endpoint: moto.url().parse().unwrap(),
        timeout: Duration::from_secs(5),
        ..IamSettings::default()
    };
    IamAccessKeys::new(settings, CredentialSource::new(admin())).unwrap()
}

/// A signed query-API call, as any AWS client would send it; the status and the body.
async fn call(
    moto: &Moto,
    service: &str,
    credentials: &Credentials,
    action: &str,
    version: &str,
    params: &[(&str, &str)],
) -> (u16, String) {
    let request = query::signed(
        &moto.url().parse().unwrap(),
        service,
        "us-east-1",
        credentials,
        query::form(action, version, params),
        SystemTime::now(),
    )
    .unwrap();
    let (parts, body) = request.into_parts();
    let response = reqwest::Client::new()
        .post(moto.url())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn create_user(moto: &Moto, name: &str) -> Holder {
    let (status, body) = call(
        moto,
        "iam",
        &admin(),
        "CreateUser",
        IAM_VERSION,
        &[("UserName", name)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    Holder::new(name)
}

/// Uses the key the way a consumer would: one signed request with it.
async fn use_key(moto: &Moto, minted: &Minted) {
    let credentials = Credentials::new(
        minted.receipt.key_id.as_str(),
        minted.secret.expose_secret(),
        None,
        None,
        "consumer",
    );
    let (status, body) = call(
        moto,
        "sts",
        &credentials,
        "GetCallerIdentity",
        STS_VERSION,
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

fn ids(keys: &[keyroll::provider::Evidence]) -> Vec<&KeyId> {
    keys.iter().map(|k| &k.key_id).collect()
}

#[tokio::test]
async fn a_minted_key_appears_with_its_secret_wrapped() {
    let moto = moto::shared();
    let aws = provider(moto);
    let user = create_user(moto, "mint-user").await;

    let minted = aws.mint(&user).await.unwrap();
    assert!(minted.receipt.key_id.as_str().starts_with("AKIA"));
    assert!(minted.receipt.created.is_some());
    let secret = minted.secret.expose_secret();
    assert!(secret.len() >= 20);
    assert!(!format!("{minted:?}").contains(secret));

    let keys = aws.observe(&user).await.unwrap();
    assert_eq!(ids(&keys), vec![&minted.receipt.key_id]);
    assert_eq!(keys[0].status, KeyStatus::Active);
    assert_eq!(keys[0].last_used, None);
}

#[tokio::test]
async fn a_third_key_is_refused_as_limit_exceeded_and_an_unused_stranger_is_an_orphan() {
    let moto = moto::shared();
    let aws = provider(moto);
    let user = create_user(moto, "limit-user").await;
    let in_repo = aws.mint(&user).await.unwrap();
    let stranger = aws.mint(&user).await.unwrap();

    let err = aws.mint(&user).await.unwrap_err();
    assert_eq!(err.refusal(), Some(&Refusal::LimitExceeded), "{err}");

    let outcome = mint_once(
        &aws,
        &user,
        Known {
            in_repository: Some(&in_repo.receipt.key_id),
            receipt: None,
        },
    )
    .await
    .unwrap();
    let MintOutcome::Blocked(Blocker::Orphan(orphan)) = outcome else {
        panic!("expected an orphan, got {outcome:?}");
    };
    assert_eq!(orphan.key_id, stranger.receipt.key_id);
    assert_eq!(
        aws.observe(&user).await.unwrap().len(),
        2,
        "nothing deleted"
    );
}

#[tokio::test]
async fn last_use_appears_once_the_key_signs_a_request() {
    let moto = moto::shared();
    let aws = provider(moto);
    let user = create_user(moto, "used-user").await;
    let minted = aws.mint(&user).await.unwrap();

    let fresh = aws.observe(&user).await.unwrap();
    assert_eq!(fresh[0].last_used, None);

    use_key(moto, &minted).await;

    let used = aws.observe(&user).await.unwrap();
    let last = used[0]
        .last_used
        .clone()
        .expect("a last use after a signed request");
    assert_eq!(last.service.as_deref(), Some("sts"));
    assert_eq!(last.region.as_deref(), Some("us-east-1"));
    let age = time::OffsetDateTime::now_utc() - last.date;
    assert!(age < time::Duration::hours(1), "{last:?}");
}

#[tokio::test]
async fn retiring_twice_is_done_twice() {
    let moto = moto::shared();
    let aws = provider(moto);
    let user = create_user(moto, "retire-user").await;
    let key = aws.mint(&user).await.unwrap().receipt.key_id;
    let status = |keys: Vec<keyroll::provider::Evidence>| keys[0].status;

    aws.deactivate(&user, &key).await.unwrap();
    aws.deactivate(&user, &key).await.unwrap();
    assert_eq!(
        status(aws.observe(&user).await.unwrap()),
        KeyStatus::Inactive
    );

    aws.reactivate(&user, &key).await.unwrap();
    assert_eq!(status(aws.observe(&user).await.unwrap()), KeyStatus::Active);

    aws.delete(&user, &key).await.unwrap();
    aws.delete(&user, &key).await.unwrap();
    assert!(aws.observe(&user).await.unwrap().is_empty());

    // Gone is as deactivated as can be, but cannot be brought back.
    aws.deactivate(&user, &key).await.unwrap();
    let err = aws.reactivate(&user, &key).await.unwrap_err();
    assert_eq!(err.refusal(), Some(&Refusal::NoSuchEntity), "{err}");
}

#[tokio::test]
async fn a_replayed_mint_after_a_crash_leaves_exactly_one_new_key() {
    let moto = moto::shared();
    let aws = provider(moto);
    let user = create_user(moto, "replay-user").await;
    let in_repo = aws.mint(&user).await.unwrap().receipt.key_id;

    // The first attempt: the receipt is recorded, then the process dies with the value.
    let receipt = aws.mint(&user).await.unwrap().receipt.key_id;

    let known = Known {
        in_repository: Some(&in_repo),
        receipt: Some(&receipt),
    };
    let MintOutcome::Minted(again) = mint_once(&aws, &user, known).await.unwrap() else {
        panic!("the replay should mint");
    };
    let mut expected = vec![&in_repo, &again.receipt.key_id];
    expected.sort();
    let keys = aws.observe(&user).await.unwrap();
    let mut found = ids(&keys);
    found.sort();
    assert_eq!(found, expected);
    assert_ne!(again.receipt.key_id, receipt);
}

#[tokio::test]
async fn an_emulator_that_is_gone_is_a_transient_failure() {
    let own = Moto::start();
    let aws = provider(&own);
    let user = create_user(&own, "outage-user").await;
    aws.observe(&user).await.unwrap();

    drop(own);

    let err = aws.observe(&user).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn no_secret_in_any_error() {
    let moto = moto::shared();
    let aws = provider(moto);
    let user = create_user(moto, "scan-user").await;
    let first = aws.mint(&user).await.unwrap();
    let second = aws.mint(&user).await.unwrap();
    use_key(moto, &first).await;

    let mut errors: Vec<ProviderError> = vec![
        aws.mint(&user).await.unwrap_err(),
        aws.mint(&Holder::new("no-such-user")).await.unwrap_err(),
        aws.mint(&Holder::new("not a user")).await.unwrap_err(),
    ];
    aws.delete(&user, &second.receipt.key_id).await.unwrap();
    errors.push(
        aws.reactivate(&user, &second.receipt.key_id)
            .await
            .unwrap_err(),
    );
    let outcome = mint_once(
        &aws,
        &user,
        Known {
            in_repository: None,
            receipt: None,
        },
    )
    .await
    .unwrap();
    let evidence = aws.observe(&user).await.unwrap();

    let MintOutcome::Minted(third) = &outcome else {
        panic!("one key left: the plan mints, got {outcome:?}");
    };
    let secrets = [
        first.secret.expose_secret().to_owned(),
        second.secret.expose_secret().to_owned(),
        third.secret.expose_secret().to_owned(),
        admin().secret_access_key().to_owned(),
    ];
    let mut texts: Vec<String> = errors
        .iter()
        .flat_map(|e| [e.to_string(), format!("{e:?}")])
        .collect();
    texts.push(format!("{first:?} {second:?} {outcome:?} {evidence:?}"));
    texts.push(format!("{aws:?}"));
    for text in &texts {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret in: {text}");
        }
    }
    assert_eq!(
        errors[1].refusal(),
        Some(&Refusal::NoSuchEntity),
        "{}",
        errors[1]
    );
    assert!(matches!(errors[2], ProviderError::BadInput { .. }));
}
