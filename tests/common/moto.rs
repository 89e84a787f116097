//! The AWS emulator `moto` (PyPI, server mode), which `tests/tools.sh` installs. Each test
//! binary shares one server ([`shared`]); a test that needs to stop a server starts its own
//! ([`Moto::start`]), killed on drop. Tests sharing a server use users of their own, so they
//! can run in parallel without resetting each other's state.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `moto_server` script of the cached virtual environment.
pub fn moto_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KEYROLL_TEST_MOTO") {
        return PathBuf::from(p);
    }
    let candidate = super::cache_dir().join("moto-5.2.5/bin/moto_server");
    if candidate.is_file() {
        return candidate;
    }
    panic!(
        "the AWS emulator moto is needed: run the tests with `bash tests/run.sh`, which \
         installs it"
    );
}

#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// Starts a server on a free loopback port and waits until it answers.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // A watchdog shell stops the server when the test binary is gone, since the shared
        // server lives in a static that is never dropped.
        let script = format!(
            "\"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
             trap 'kill $m 2>/dev/null; exit 0' TERM; \
             while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; \
             kill $m 2>/dev/null",
            parent = std::process::id()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(moto_bin())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let moto = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while moto.request("GET", "/moto-api/").is_none() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto.reset();
        moto
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Forgets every user, key and recorded use.
    pub fn reset(&self) {
        let status = self.request("POST", "/moto-api/reset");
        assert_eq!(status, Some(200), "moto reset failed");
    }

    /// The status of a bodiless request, `None` while nothing answers.
    fn request(&self, method: &str, path: &str) -> Option<u16> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // TERM lets the watchdog kill the server it started; then reap the watchdog.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// The server this test binary shares, started on first use.
pub fn shared() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}
