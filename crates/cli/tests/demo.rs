//! `lockgate demo --no-serve` as a newcomer runs it: the real binary, its
//! own server on 127.0.0.1, a kept data directory, and the printed summary.

use std::path::Path;
use std::process::{Command, Output};

fn demo(data_dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["demo", "--no-serve"])
        .args(extra)
        .env_remove("LOCKGATE_DATABASE_URL")
        .env_remove("LOCKGATE_CONFIG")
        .output()
        .expect("run lockgate demo")
}

/// Returns the first line of `stdout` that starts with `prefix`.
fn line_starting<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?}:\n{stdout}"))
}

/// Returns the number after `prefix` on the line that starts with it.
fn number_after(stdout: &str, prefix: &str) -> u64 {
    let line = stdout
        .lines()
        .map(str::trim_start)
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?}:\n{stdout}"));
    let digits: String = line[prefix.len()..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {prefix:?} in {line:?}"))
}

#[test]
fn demo_summary_lists_decisions_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let output = demo(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    assert!(
        stdout.contains("tenant:        demo-hospital\n"),
        "{stdout}"
    );
    assert!(stdout.contains("ALLOW badge"), "{stdout}");
    assert!(stdout.contains("DENY  badge"), "{stdout}");
    assert!(stdout.contains("ALLOW PIN 4719"), "{stdout}");
    for reason in [
        "not_assigned",
        "not_entitled",
        "inactive_user",
        "locker_in_clear_out",
        "unknown_credential",
        "wrong_pin",
    ] {
        assert!(
            stdout.contains(&format!("        {reason}: ")),
            "{reason} with its explanation is missing:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("NOTE: the policies call for"),
        "a decision differs from the policies:\n{stdout}"
    );

    let clear_out = number_after(
        &stdout,
        "Lockers waiting for clear-out (GET /lockers?state=clear_out):",
    );
    assert!(clear_out >= 1, "{stdout}");
    let audited = number_after(&stdout, "audit chain intact:");
    assert!(audited > 0, "{stdout}");
    assert!(stdout.contains("keeps "), "no mover in grace:\n{stdout}");
    // A mover is listed with the ward group they left and the one they joined.
    let moves: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("): moved from "))
        .collect();
    assert!(!moves.is_empty(), "no mover listed:\n{stdout}");
    for line in moves {
        let (_, rest) = line.split_once("): moved from ").unwrap();
        let wards = rest.split(';').next().unwrap();
        let (from, to) = wards.split_once(" to ").unwrap();
        assert_ne!(from, to, "{line}");
    }
    // A decision names the locker by id as well as by bank and door.
    let decisions: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("  ALLOW ") || line.starts_with("  DENY "))
        .collect();
    assert!(!decisions.is_empty(), "no decision listed:\n{stdout}");
    for line in decisions {
        let (_, rest) = line.split_once(" at ").unwrap();
        let (id, place) = rest.split_once(" (bank ").expect(line);
        let (bank, rest) = place.split_once(" door ").expect(line);
        let door = rest.split(')').next().unwrap();
        assert_eq!(id, format!("{bank}-{door}"), "{line}");
    }
    // The explain request is printed with a user a reader can paste in.
    let explain = line_starting(&stdout, "  GET /explain?user=");
    let user = explain["  GET /explain?user=".len()..]
        .split('&')
        .next()
        .unwrap();
    assert!(user.contains('@'), "{explain}");
    // Prose names states and account changes in words, not API names.
    let counts = line_starting(&stdout, "  lockers: ");
    assert!(counts.contains(" clear-out"), "{counts}");
    assert!(!counts.contains("clear_out"), "{counts}");
    for action in ["user_deactivated", "user_reactivated", "user_deleted"] {
        assert!(!stdout.contains(action), "{action} in:\n{stdout}");
    }
    assert!(
        dir.path().join("lockgate.db").exists(),
        "the data directory was not kept"
    );
}

#[test]
fn demo_reused_data_dir_takes_next_slug() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path(), &["--users", "100"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    let second = demo(dir.path(), &["--users", "100"]);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        stdout.contains("tenant:        demo-hospital-2\n"),
        "{stdout}"
    );
    assert!(stdout.contains("audit chain intact:"), "{stdout}");
}
