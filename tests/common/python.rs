//! The Python a test checks its outputs with: `$PYTHON` (else `python3`), when it can import
//! what the test needs. Outside CI a missing package skips the check with a message; under
//! `CI=true` it fails, since CI installs every package.

use std::process::Command;

/// `$PYTHON` or `python3`, when `python -c check` succeeds; `None` (after printing why and
/// the `pip install` that fixes it) when it does not, outside CI. `purpose` says what the check
/// is for, in the message.
pub fn python_with(check: &str, install: &str, purpose: &str) -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ok = Command::new(&python)
        .args(["-c", check])
        .output()
        .is_ok_and(|out| out.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "`{python} -c \"{check}\"` failed, and CI is set, so this check may not be skipped: run `pip install {install}`"
    );
    eprintln!("SKIPPED: `{python} -c \"{check}\"` failed; run `pip install {install}` {purpose}");
    None
}
