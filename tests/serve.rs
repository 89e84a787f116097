//! `keyroll serve`'s front door: health, readiness, metrics, and webhook intake (signature
//! before anything, size cap, duplicates dropped, unknown events ignored), graceful
//! shutdown, and the settings check at start.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::server::{SECRET, TestClock, get, post, settings, start};
use common::{fixture, run_keyroll};

fn ping_body() -> Vec<u8> {
    br#"{"zen":"Keep it logically awesome.","hook_id":42,"hook":{"type":"App","id":42}}"#.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_verifies_stores_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    // No GitHub is needed: nothing here names a repository.
    let s = settings(
        "http://127.0.0.1:9",
        &dir.path().join("k.db"),
        &fixture("demo-age-key.txt"),
    );
    let server = start(s, TestClock::new()).await;
    let addr = server.addr;

    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(get(addr, "/readyz").await.0, 200);

    let body = ping_body();
    assert_eq!(post(addr, "ping", "d-1", &body, Some(SECRET)).await.0, 202);
    // The same delivery again: acknowledged, dropped.
    let (status, text) = post(addr, "ping", "d-1", &body, Some(SECRET)).await;
    assert_eq!(
        (status, text.as_str()),
        (202, "duplicate delivery; dropped\n")
    );
    // The other configured secret (mid-rotation of the secret) works too.
    assert_eq!(
        post(addr, "ping", "d-2", &body, Some("old-secret")).await.0,
        202
    );
    // Wrong or missing signature: refused before the body is read as JSON, even when it is
    // not JSON at all.
    assert_eq!(post(addr, "ping", "d-3", &body, Some("wrong")).await.0, 401);
    assert_eq!(post(addr, "ping", "d-4", b"{not json", None).await.0, 401);
    // Signed but not JSON: accepted (stored), then found unreadable by the worker.
    assert_eq!(
        post(addr, "ping", "d-5", b"{not json", Some(SECRET))
            .await
            .0,
        202
    );
    // Events keyroll does not read: acknowledged, not stored.
    let (status, text) = post(addr, "star", "d-6", b"{}", Some(SECRET)).await;
    assert_eq!(
        (status, text.as_str()),
        (202, "event not used by keyroll; ignored\n")
    );
    // Over the size cap.
    let big = vec![b' '; 2 * 1024 * 1024];
    assert_eq!(post(addr, "push", "d-7", &big, Some(SECRET)).await.0, 413);
    // Headers GitHub always sends.
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/webhook"))
        .header(
            "x-hub-signature-256",
            keyroll::github::signature::Secrets::sign(SECRET.as_bytes(), &body),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    server.settle().await;
    let (_, metrics) = get(addr, "/metrics").await;
    for line in [
        r#"keyroll_webhook_deliveries_total{event="ping",outcome="accepted"} 3"#,
        r#"keyroll_webhook_deliveries_total{event="ping",outcome="duplicate"} 1"#,
        r#"keyroll_webhook_deliveries_total{event="other",outcome="bad_signature"} 2"#,
        r#"keyroll_webhook_deliveries_total{event="other",outcome="ignored"} 1"#,
        r#"keyroll_webhook_deliveries_total{event="other",outcome="too_large"} 1"#,
        "keyroll_webhook_backlog 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    server.shutdown().await.unwrap();
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err(),
        "still serving after shutdown"
    );

    // What the worker made of each stored delivery.
    let db = stored_outcomes(&dir.path().join("k.db")).await;
    assert_eq!(
        db,
        vec![
            ("d-1".to_owned(), "pong".to_owned()),
            ("d-2".into(), "pong".into()),
            ("d-5".into(), "unreadable".into())
        ]
    );
}

/// The stored outcomes, read with sqlx (the store's own driver).
async fn stored_outcomes(db: &std::path::Path) -> Vec<(String, String)> {
    use sqlx::Row;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows = sqlx::query("SELECT delivery_id, outcome FROM webhooks ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            let outcome: String = r.get("outcome");
            let short = outcome.split(':').next().unwrap_or_default().to_owned();
            (r.get("delivery_id"), short)
        })
        .collect()
}

#[test]
fn serve_names_every_missing_or_bad_setting_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = fixture("github-app/test-app-key.pem");
    let id = fixture("demo-age-key.txt");
    let good = |extra: &[(&'static str, String)]| {
        let mut env = vec![
            ("KEYROLL_APP_ID", "1".to_owned()),
            ("KEYROLL_APP_KEY_FILE", key.display().to_string()),
            ("KEYROLL_WEBHOOK_SECRETS", "s".into()),
            ("KEYROLL_AGE_IDENTITY_FILE", id.display().to_string()),
        ];
        for (k, v) in extra {
            env.retain(|(name, _)| name != k);
            env.push((k, v.clone()));
        }
        env
    };
    // The environment, the exit code, and lines the error must hold.
    type Case = (Vec<(&'static str, String)>, u8, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (
            vec![],
            7,
            vec![
                "serve cannot start; fix these 4 settings:",
                "--app-id (KEYROLL_APP_ID): not set; serve needs it",
                "--app-key-file (KEYROLL_APP_KEY_FILE): not set; serve needs it",
                "--webhook-secrets (KEYROLL_WEBHOOK_SECRETS): not set; serve needs it",
                "--age-identity-file (KEYROLL_AGE_IDENTITY_FILE): not set; serve needs it",
            ],
        ),
        // A missing key file names its setting (and keeps the I/O exit code when alone).
        (
            good(&[("KEYROLL_APP_KEY_FILE", "missing.pem".into())]),
            3,
            vec!["--app-key-file (KEYROLL_APP_KEY_FILE): missing.pem: No such file"],
        ),
        (
            good(&[("KEYROLL_APP_KEY_FILE", id.display().to_string())]),
            7,
            vec![
                "--app-key-file (KEYROLL_APP_KEY_FILE): ",
                "demo-age-key.txt: ",
            ],
        ),
        (
            good(&[
                ("KEYROLL_LISTEN", "localhost".into()),
                ("KEYROLL_WEBHOOK_SECRETS", " , ".into()),
                ("KEYROLL_SCHEDULE_INTERVAL", "9223372036854775807s".into()),
                ("KEYROLL_MAX_BODY_BYTES", "lots".into()),
                ("KEYROLL_HEADER_TIMEOUT", "0s".into()),
                ("KEYROLL_LOG_FORMAT", "xml".into()),
            ]),
            7,
            vec![
                "fix these 6 settings:",
                "--listen (KEYROLL_LISTEN): \"localhost\"",
                "--webhook-secrets (KEYROLL_WEBHOOK_SECRETS): no webhook secret is configured",
                "--schedule-interval (KEYROLL_SCHEDULE_INTERVAL): \"9223372036854775807s\" is out of range; write one between 1s and 7d",
                "--max-body-bytes (KEYROLL_MAX_BODY_BYTES): \"lots\" is not a whole number",
                "--header-timeout (KEYROLL_HEADER_TIMEOUT): \"0s\" is out of range",
                "--log-format (KEYROLL_LOG_FORMAT): \"xml\": write text or json",
            ],
        ),
    ];
    for (env, code, expected) in cases {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = run_keyroll(dir.path(), &["serve"], &env, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(i32::from(code)),
            "{env:?}: {stderr}"
        );
        for line in expected {
            assert!(
                stderr.contains(line),
                "{env:?}: expected {line:?} in {stderr}"
            );
        }
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    }
}

#[test]
fn serve_help_names_every_setting_and_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_keyroll(dir.path(), &["serve", "--help"], &[], None);
    assert!(out.status.success());
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn deliveries_read_long_ago_are_forgotten_and_the_rest_kept() {
    use keyroll::store::{NewWebhook, Store};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("k.db").display()))
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let hook = |id: &str| NewWebhook {
        delivery_id: id.into(),
        event: "ping".into(),
        body: bytes::Bytes::from_static(b"{}"),
    };
    assert_eq!(
        store
            .insert_webhooks(&[hook("old"), hook("unread")], now)
            .await
            .unwrap(),
        vec![true, true]
    );
    let pending = store.pending_webhooks(10).await.unwrap();
    store
        .finish_webhooks(&[(pending[0].seq, "pong".into())], now)
        .await
        .unwrap();
    // A week later: the read one goes, the unread one stays.
    assert_eq!(
        store
            .prune_webhooks(now + time::Duration::days(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.pending_webhooks(10).await.unwrap().len(), 1);
    // Its id is free again; the unread one is still a duplicate.
    assert_eq!(
        store
            .insert_webhooks(&[hook("old"), hook("unread")], now)
            .await
            .unwrap(),
        vec![true, false]
    );
}
