//! Runs the `load-floor` binary as a user would, with a short closed loop.

use std::process::Command;

#[test]
fn measure_prints_one_row_per_cost() {
    let output = Command::new(env!("CARGO_BIN_EXE_load-floor"))
        .args([
            "measure",
            "--rate",
            "0",
            "--warm-up",
            "0",
            "--duration",
            "1",
        ])
        .args(["--work-us", "0,50", "--banks", "4", "--doors-per-bank", "3"])
        .args(["--concurrency", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let rows: Vec<&str> = stdout
        .lines()
        .filter(|line| {
            line.starts_with("| ") && line[2..].starts_with(|c: char| c.is_ascii_digit())
        })
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(rows[0].starts_with("| 0 µs |"), "{stdout}");
    assert!(rows[1].starts_with("| 50 µs |"), "{stdout}");
    // A closed loop has no send schedule, so it has no send lag.
    assert!(rows[1].ends_with("| - |"), "{stdout}");

    // The stand-in's CPU per request, the second column, includes the
    // 50 µs it spins.
    let cpu: f64 = rows[1]
        .split('|')
        .nth(2)
        .unwrap()
        .trim()
        .trim_end_matches(" µs")
        .parse()
        .unwrap();
    assert!(cpu >= 50.0, "{stdout}");
}

#[test]
fn measure_rejects_bad_settings() {
    for (flag, value) in [
        ("--banks", "0"),
        ("--doors-per-bank", "1"),
        ("--concurrency", "0"),
        ("--duration", "0"),
        ("--work-us", "20000"),
    ] {
        assert_rejected("measure", flag, value);
    }
}

#[test]
fn stalls_prints_one_row_per_setting() {
    let output = Command::new(env!("CARGO_BIN_EXE_load-floor"))
        .args(["stalls", "--threads", "1,2", "--busy-percent", "100,50"])
        .args(["--seconds", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");

    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|line| {
            line.starts_with("| ") && line[2..].starts_with(|c: char| c.is_ascii_digit())
        })
        .map(|line| line.split('|').map(str::trim).collect())
        .collect();
    let settings: Vec<(&str, &str)> = rows.iter().map(|row| (row[1], row[2])).collect();
    assert_eq!(
        settings,
        [("1", "100 %"), ("1", "50 %"), ("2", "100 %"), ("2", "50 %")],
        "{stdout}"
    );
    for row in &rows {
        assert!(row[4].ends_with("% of thread time)"), "{stdout}");
    }
}

#[test]
fn stalls_rejects_bad_settings() {
    for (flag, value) in [
        ("--threads", "0"),
        ("--busy-percent", "0"),
        ("--busy-percent", "101"),
        ("--seconds", "0"),
    ] {
        assert_rejected("stalls", flag, value);
    }
}

/// Runs `load-floor STEP FLAG VALUE` and checks that it fails with a
/// message naming the flag and the value.
fn assert_rejected(step: &str, flag: &str, value: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_load-floor"))
        .args([step, flag, value])
        .output()
        .unwrap();
    assert!(!output.status.success(), "{step} {flag} {value}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("invalid {flag} {value}")),
        "{stderr}"
    );
}
