//! Black-box harness: the real `cubby` binary as hub and as headless kiosk, over loopback,
//! with real SQLite files in a temp dir. Processes are killed when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_cubby");

pub fn cubby(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("run cubby");
    assert!(
        out.status.success(),
        "cubby {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub struct Hub {
    child: Child,
    pub db: PathBuf,
    pub url: String,
    pub port: u16,
}

impl Hub {
    /// Start `cubby hub` on a free port (or the given one) with the demo center.
    pub fn start(db: &Path, port: u16, faults: Option<&str>) -> Hub {
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec![
            "hub",
            "--listen",
            &listen,
            "--db",
            db.to_str().unwrap(),
            "--seed",
            "demo",
        ];
        if let Some(f) = faults {
            args.push("--faults");
            args.push(f);
        }
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn hub");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("hub prints its address");
        let url = line
            .trim()
            .strip_prefix("cubby hub listening on ")
            .unwrap_or_else(|| panic!("unexpected hub banner {line:?}"))
            .to_string();
        let port = url.rsplit(':').next().unwrap().parse().unwrap();
        Hub {
            child,
            db: db.to_path_buf(),
            url,
            port,
        }
    }

    /// Send `signal` (e.g. `libc::SIGTERM`) and wait up to 15 s for the hub to exit.
    pub fn stop_with(mut self, signal: i32) -> std::process::ExitStatus {
        exit_on(&mut self.child, signal)
    }

    pub fn stop(mut self) -> (PathBuf, u16) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.db.clone(), self.port)
    }

    pub fn code(&self) -> String {
        cubby(&["hub", "enroll-code", "--db", self.db.to_str().unwrap()])
            .trim()
            .to_string()
    }

    /// Every stored event, in hub order.
    pub fn events(&self) -> Vec<Value> {
        hub_events(&self.db)
    }
}

pub fn hub_events(db: &Path) -> Vec<Value> {
    cubby(&["hub", "events", "--db", db.to_str().unwrap(), "--json"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .map(|v| v["event"].clone())
        .collect()
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The quick timings the door tests run with (peers polled every second).
pub const QUICK_TIMING: &str =
    "peer_poll_s = 1\nretry_base_s = 1\nretry_cap_s = 2\nheartbeat_s = 5\nhttp_timeout_s = 5\n";

/// Write a kiosk config in `dir` and provision it against `hub`.
pub fn provision(dir: &Path, hub: &Hub, name: &str) -> PathBuf {
    provision_with_timing(dir, hub, name, QUICK_TIMING)
}

/// [`provision`] with the `[timing]` section's body given.
pub fn provision_with_timing(dir: &Path, hub: &Hub, name: &str, timing: &str) -> PathBuf {
    let config = dir.join("cubby.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[timing]\n{timing}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let code = hub.code();
    cubby(&[
        "provision",
        "--hub",
        &hub.url,
        "--code",
        &code,
        "--name",
        name,
        "--config",
        config.to_str().unwrap(),
    ]);
    config
}

pub struct Kiosk {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<Value>,
    pub last: Value,
}

impl Kiosk {
    pub fn start(config: &Path) -> Kiosk {
        let mut child = Command::new(BIN)
            .args(["run", "--headless", "--config", config.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kiosk");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut k = Kiosk {
            child,
            stdin,
            lines: rx,
            last: Value::Null,
        };
        k.wait_for("first frame", |_| true);
        k
    }

    pub fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").expect("kiosk stdin");
        self.stdin.flush().unwrap();
    }

    /// Wait (up to 30 s) for a frame matching `pred` (the last one seen counts); returns it.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if !self.last.is_null() && pred(&self.last) {
            return self.last.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.last = v.clone();
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => panic!("timed out waiting for {what}; last frame: {}", self.last),
            }
        }
    }

    /// Send a command and wait for the screen named `screen` (a frame after the command).
    pub fn act(&mut self, cmd: &str, screen: &str) -> Value {
        self.last = Value::Null;
        self.send(cmd);
        self.wait_for(screen, |v| v["screen"] == screen)
    }

    /// Check in (or out) every allowed child of the person with this PIN.
    pub fn door(&mut self, pin: &str, action: &str) -> Value {
        self.act(&format!("{{\"pin\":\"{pin}\"}}"), "family");
        let done = self.act(&format!("{{\"tap\":\"{action}\"}}"), "done");
        // Back home for the next person.
        self.act("{\"tap\":\"home\"}", "home");
        done
    }

    pub fn wait_roster(&mut self) {
        self.wait_for("a roster sync", |v| !v["status"]["last_sync"].is_null());
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `signal` (e.g. `libc::SIGTERM`) and wait up to 15 s for the process to exit.
    pub fn stop_with(mut self, signal: i32) -> std::process::ExitStatus {
        exit_on(&mut self.child, signal)
    }
}

/// Send `signal` to `child` and wait up to 15 s for it to exit.
pub fn exit_on(child: &mut Child, signal: i32) -> std::process::ExitStatus {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill({pid}, {signal})"
    );
    eventually(15, "the process to exit", || {
        child.try_wait().ok().flatten()
    })
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `f` until it returns Some, up to `secs`.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out: {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// event_id → how many times the hub holds it.
pub fn counts(events: &[Value]) -> std::collections::HashMap<String, usize> {
    let mut m = std::collections::HashMap::new();
    for e in events {
        *m.entry(e["event_id"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m
}

/// Write an unprovisioned kiosk config in `dir` (data in `dir/data`, the quick timings of
/// [`provision`]); nothing is enrolled.
pub fn kiosk_config(dir: &Path) -> PathBuf {
    let config = dir.join("cubby.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[timing]\npeer_poll_s = 1\nretry_base_s = 1\nretry_cap_s = 2\nheartbeat_s = 5\nhttp_timeout_s = 5\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    config
}
