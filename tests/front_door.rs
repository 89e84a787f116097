//! The front door holds: slow, idle and oversized unsigned clients are cut off by the server
//! (header and body read timeouts, a per-request size cap checked before the body is read, a
//! budget of bytes buffered across all requests) while `/healthz` and signed deliveries keep
//! being answered; and nothing of a processed delivery stays readable in the database files.
//!
//! Real sockets against the real server: the waits are bounded deadlines (the server's
//! timeouts here are a second or two), never assertions on how long something took.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::fixture;
use common::server::{SECRET, TestClock, get, post, settings, start};
use keyroll::server::{FrontDoor, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the server to do what its (short) timeouts promise.
const DEADLINE: Duration = Duration::from_secs(20);

/// Short timeouts, a 1 MiB cap per body, a 2 MiB budget for all of them, a scrub a second.
fn test_settings(db: &Path) -> Settings {
    let mut s = settings("http://127.0.0.1:9", db, &fixture("demo-age-key.txt"));
    s.max_body_bytes = 1024 * 1024;
    s.front_door = FrontDoor {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(2),
        max_connections: 1000,
        body_budget_bytes: 2 * 1024 * 1024,
    };
    s.scrub_every = Duration::from_secs(1);
    s
}

/// How a raw connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// The server closed it; what it answered first, if anything (its status line).
    Closed(Option<String>),
    /// The server reset it before answering anything.
    Reset(std::io::ErrorKind),
    /// Still open at the deadline.
    Open,
    /// The connection could not be made: a limit of the machine the test runs on (open
    /// files, the listen backlog), not an answer of the server's.
    NotConnected(std::io::ErrorKind),
}

/// Opens a connection, sends `head` at once, then `trickle` one byte every `gap` (cycling)
/// until the server closes the connection or `deadline` passes.
async fn trickle(addr: SocketAddr, head: Vec<u8>, trickle: &'static [u8], gap: Duration) -> Ended {
    let end = Instant::now() + DEADLINE;
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(e) => return Ended::NotConnected(e.kind()),
    };
    let (mut r, mut w) = stream.into_split();
    if w.write_all(&head).await.is_err() {
        return Ended::Closed(None);
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut i = 0usize;
    loop {
        tokio::select! {
            n = r.read(&mut buf) => match n {
                Ok(0) => return Ended::Closed(status_line(&answer)),
                Err(e) if answer.is_empty() => return Ended::Reset(e.kind()),
                Err(_) => return Ended::Closed(status_line(&answer)),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(gap) => {
                if Instant::now() > end {
                    return Ended::Open;
                }
                if !trickle.is_empty() {
                    let b = trickle[i % trickle.len()];
                    i += 1;
                    // A failed write means the server is gone; the read side says how.
                    let _ = w.write_all(&[b]).await;
                }
            }
        }
    }
}

fn status_line(answer: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(answer);
    text.lines()
        .next()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
}

/// A request whose headers never end.
fn endless_head() -> Vec<u8> {
    b"POST /webhook HTTP/1.1\r\nHost: keyroll\r\nX-Padding: ".to_vec()
}

/// A request whose headers are complete and whose body never is.
fn endless_body_head(declared: usize) -> Vec<u8> {
    format!(
        "POST /webhook HTTP/1.1\r\nHost: keyroll\r\nContent-Type: application/json\r\n\
         X-GitHub-Event: ping\r\nX-GitHub-Delivery: slow\r\nContent-Length: {declared}\r\n\r\n"
    )
    .into_bytes()
}

fn ping_body(extra: &str) -> Vec<u8> {
    format!(r#"{{"zen":"Keep it logically awesome. {extra}","hook_id":42,"hook":{{"type":"App","id":42}}}}"#)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_the_door_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_settings(&dir.path().join("k.db")), TestClock::new()).await;
    let addr = server.addr;

    // Enough to show that none is left open, few enough that a runner allowing 1,024 open
    // files holds both ends of every connection.
    let gap = Duration::from_millis(100);
    let mut slow = Vec::new();
    for _ in 0..150 {
        slow.push(tokio::spawn(trickle(addr, endless_head(), b"a", gap)));
    }
    for _ in 0..50 {
        slow.push(tokio::spawn(trickle(
            addr,
            endless_body_head(200_000),
            b" ",
            gap,
        )));
    }
    // A connection that sends one good request and then idles with keep-alive.
    let idle = tokio::spawn(async move {
        let req = b"GET /healthz HTTP/1.1\r\nHost: keyroll\r\n\r\n".to_vec();
        trickle(addr, req, b"", gap).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Meanwhile the door is open to everyone else.
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(
        post(addr, "ping", "during", &ping_body(""), Some(SECRET))
            .await
            .0,
        202
    );

    // Every slow connection is closed by the server (their own deadline is far longer).
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    for task in slow {
        match task.await.unwrap() {
            Ended::Open => panic!("a slow connection was still open after {DEADLINE:?}"),
            Ended::NotConnected(kind) => panic!("the test could not connect: {kind:?}"),
            Ended::Closed(status) => {
                *answers.entry(status.unwrap_or_default()).or_default() += 1;
            }
            Ended::Reset(kind) => *answers.entry(format!("reset: {kind:?}")).or_default() += 1,
        }
    }
    // The trickling bodies were told why.
    assert_eq!(
        answers.get("HTTP/1.1 408 Request Timeout"),
        Some(&50),
        "{answers:?}"
    );
    let idle = idle.await.unwrap();
    assert_eq!(
        idle,
        Ended::Closed(Some("HTTP/1.1 200 OK".into())),
        "an idle keep-alive connection is closed too"
    );

    // And afterwards, too.
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(
        post(addr, "ping", "after", &ping_body(""), Some(SECRET))
            .await
            .0,
        202
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_settings(&dir.path().join("k.db")), TestClock::new()).await;
    // Declares 10 MiB (the cap is 1 MiB here) and sends none of it: the answer comes anyway.
    let ended = trickle(
        server.addr,
        endless_body_head(10 * 1024 * 1024),
        b"",
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(
        ended,
        Ended::Closed(Some("HTTP/1.1 413 Payload Too Large".into()))
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_for_a_slot() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(&dir.path().join("k.db"));
    s.front_door.max_connections = 8;
    let server = start(s, TestClock::new()).await;
    let addr = server.addr;
    // Eight connections take every slot and never finish their headers.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(&endless_head()).unwrap();
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A ninth waits to be accepted until the server has closed one of them.
    let answer = trickle(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: keyroll\r\nConnection: close\r\n\r\n".to_vec(),
        b"",
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(answer, Ended::Closed(Some("HTTP/1.1 200 OK".into())));
    let mut closed = 0;
    for c in &mut held {
        c.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            _ => {}
        }
    }
    assert!(
        closed > 0,
        "the ninth connection was served while eight held every slot"
    );
    server.shutdown().await.unwrap();
}

/// Sends `head` and `first` at once, then holds the connection open without sending more;
/// returns how it ended.
async fn stall_after(addr: SocketAddr, declared: usize, first: usize) -> Ended {
    let mut head = endless_body_head(declared);
    head.extend(std::iter::repeat_n(b' ', first));
    trickle(addr, head, b"", Duration::from_millis(100)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_buffered_across_requests_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(test_settings(&dir.path().join("k.db")), TestClock::new()).await;
    let addr = server.addr;
    // Each declares 1 MiB and sends 700 KiB: together far over the 2 MiB budget.
    let mut stalled = Vec::new();
    for _ in 0..6 {
        stalled.push(tokio::spawn(stall_after(addr, 1024 * 1024, 700 * 1024)));
    }
    let mut answers = Vec::new();
    for task in stalled {
        answers.push(task.await.unwrap());
    }
    let busy = answers
        .iter()
        .filter(|a| **a == Ended::Closed(Some("HTTP/1.1 503 Service Unavailable".into())))
        .count();
    let slow = answers
        .iter()
        .filter(|a| **a == Ended::Closed(Some("HTTP/1.1 408 Request Timeout".into())))
        .count();
    assert!(busy >= 3, "{answers:?}");
    assert_eq!(busy + slow, 6, "{answers:?}");
    // Their bytes were given back: a signed delivery is taken.
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(
        post(addr, "ping", "after", &ping_body(""), Some(SECRET))
            .await
            .0,
        202
    );
    server.shutdown().await.unwrap();
}

/// Every file of the database, its bytes.
fn database_files(db: &Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let path = format!("{}{suffix}", db.display());
            std::fs::read(&path).ok().map(|bytes| (path, bytes))
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processed_bodies_are_gone_from_the_database_files() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let server = start(test_settings(&db), TestClock::new()).await;
    let addr = server.addr;

    // A marker no other byte sequence in the files could match; small bodies (in the row's
    // page) and large ones (in overflow pages).
    let marker = format!("MARKER-{}-", std::process::id());
    for i in 0..40 {
        let pad = if i % 2 == 0 { 0 } else { 6000 };
        let extra = format!("{marker}{i} {}", "x".repeat(pad));
        assert_eq!(
            post(
                addr,
                "ping",
                &format!("d-{i}"),
                &ping_body(&extra),
                Some(SECRET)
            )
            .await
            .0,
            202
        );
    }
    server.settle().await;

    for (path, _) in database_files(&db) {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path} has mode {mode:o}");
    }
    // Every body was read (and set to NULL); the scrub then takes them out of the files.
    let end = Instant::now() + DEADLINE;
    loop {
        let seen: Vec<String> = database_files(&db)
            .into_iter()
            .filter(|(_, bytes)| contains(bytes, marker.as_bytes()))
            .map(|(path, _)| path)
            .collect();
        if seen.is_empty() {
            break;
        }
        assert!(
            Instant::now() < end,
            "a processed body is still readable in {seen:?} after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.shutdown().await.unwrap();
}
