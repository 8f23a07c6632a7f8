//! A Keel server in a child process ([`ChildServer`]): the `keel` binary's own code (the
//! `keel-child` target of this package), started on a database with the arguments a test gives,
//! to be killed with SIGKILL mid-work and restarted, which an in-process server cannot be.
//!
//! The child picks its own port (`--listen 127.0.0.1:0`) and logs JSON to stderr; a thread
//! reads that to the end, copying every line to a log file (so the pipe never fills) and
//! reporting the `listen` address of the startup line. The child is ready once `/readyz`
//! answers 200 (database reachable and migrated). Dropping a [`ChildServer`] kills it.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Client;

/// How long a child may take to log its address and then to answer `/readyz`.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// A Keel server running as a child process.
pub struct ChildServer {
    child: Child,
    address: SocketAddr,
    log: PathBuf,
    /// Keeps the log file's directory until the child is gone.
    _log_dir: tempfile::TempDir,
}

impl ChildServer {
    /// Starts `program` (pass `env!("CARGO_BIN_EXE_keel-child")`, which only test targets can
    /// name) as `keel --listen 127.0.0.1:0 --database-url <database_url> --log-format json
    /// --log info <extra_args>` (a flag given again overrides) and waits until it is ready.
    ///
    /// # Panics
    /// When the child cannot be started, exits or stays silent before logging its address, or
    /// does not become ready in time, showing its log.
    pub async fn start(program: &str, database_url: &str, extra_args: &[&str]) -> ChildServer {
        let log_dir = tempfile::tempdir().expect("a directory for the child's log");
        let log = log_dir.path().join("keel.log");
        let mut child = Command::new(program)
            // The startup line is at INFO: a KEEL_LOG in the environment must not filter it out.
            .args(["--listen", "127.0.0.1:0", "--database-url", database_url, "--log-format", "json", "--log", "info"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {program}: {err}"));
        let stderr = child.stderr.take().expect("the child's stderr is piped");
        let (found, listening) = mpsc::channel();
        let file = std::fs::File::create(&log).expect("the child's log file");
        std::thread::spawn(move || drain(stderr, file, &found));

        let started = Instant::now();
        let address = tokio::task::spawn_blocking(move || listening.recv_timeout(STARTUP_DEADLINE))
            .await
            .expect("the wait for the child's address ran");
        let mut server = match address {
            Ok(address) => ChildServer { child, address, log, _log_dir: log_dir },
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().map(|status| status.to_string()).unwrap_or_default();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("the child never logged its address ({status}); its log:\n{text}");
            }
        };
        server.wait_ready(started + STARTUP_DEADLINE).await;
        server
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// A GraphQL client of it with no credential.
    pub fn client(&self) -> Client {
        Client::of(self.address)
    }

    /// Everything the child has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the child with SIGKILL (no shutdown of any kind runs) and reaps it.
    ///
    /// # Panics
    /// When the child cannot be signalled or waited for.
    pub fn kill(&mut self) -> ExitStatus {
        // `Child::kill` is SIGKILL on Unix; it fails only when the child was already reaped.
        self.child.kill().unwrap_or_else(|err| panic!("cannot kill the child {}: {err}", self.child.id()));
        self.child.wait().expect("the killed child is reaped")
    }

    /// Polls `/readyz` until it answers 200.
    async fn wait_ready(&mut self, deadline: Instant) {
        let http = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the child exited ({status}) before it was ready; its log:\n{}", self.log());
            }
            let answer = http.get(self.url("/readyz")).timeout(Duration::from_secs(2)).send().await;
            if answer.is_ok_and(|answer| answer.status().is_success()) {
                return;
            }
            assert!(Instant::now() < deadline, "the child never became ready; its log:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Copies the child's stderr to `file` line by line until it closes, sending the address of
/// the first line that has a `listen` field.
fn drain(stderr: impl std::io::Read, mut file: std::fs::File, found: &mpsc::Sender<SocketAddr>) {
    let mut reported = false;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let _ = writeln!(file, "{line}");
        if !reported && let Some(address) = listen_address(&line) {
            reported = found.send(address).is_ok();
        }
    }
}

/// The `listen` field of a JSON log line, as an address.
fn listen_address(line: &str) -> Option<SocketAddr> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    entry.get("listen")?.as_str()?.parse().ok()
}
