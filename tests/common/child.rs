//! A writer in a child process, killed mid-write: this test binary runs again as a child that
//! runs only its test `child_process`, told what to do by an environment variable.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Starts this test binary's `child_process` with `var` = `<what>:<path>`.
pub fn spawn(var: &str, what: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(var, format!("{what}:{}", path.display()))
        .spawn()
        .unwrap()
}

/// Waits until `ready` holds (or fails the test after 60 s, or when the child exits first),
/// then kills the child with SIGKILL and reaps it.
pub fn kill_when(mut child: Child, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child finished ({status}) before it could be killed");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the child never got there"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    assert!(!child.wait().unwrap().success());
}
