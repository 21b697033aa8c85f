//! The `lockgate` binary as an operator uses it: real processes, a real
//! SQLite file, real HTTP on 127.0.0.1.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lockgate(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("LOCKGATE_DATABASE_URL")
        .env_remove("LOCKGATE_CONFIG")
        .output()
        .expect("run lockgate")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `lockgate serve` on a port the system picks and returns the
/// server and that port, read from its "lockgate serving" log line.
fn serve(data_dir: &std::path::Path) -> (Server, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lockgate serve");
    let stderr = child.stderr.take().expect("piped stderr");
    let server = Server(child);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let serving = lines
        .find_map(|line| line.ok().filter(|line| line.contains("lockgate serving")))
        .expect("lockgate serve logged no listen address");
    let port = serving
        .split_whitespace()
        .find_map(|field| field.strip_prefix("listen=127.0.0.1:"))
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {serving:?}"));
    assert_ne!(port, 0, "{serving}");
    // The rest of the log is drained so the server never blocks on a
    // full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (server, port)
}

#[test]
fn tenant_create_json_prints_url_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let output = lockgate(dir.path(), &["tenant", "create", "st-marys", "--json"]);
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_str(&stdout(&output)).expect("JSON output");
    assert_eq!(
        json["scim_base_url"],
        "http://127.0.0.1:8080/scim/v2/st-marys"
    );
    assert!(
        json["scim_token"].as_str().unwrap().starts_with("lgs_"),
        "{json}"
    );
    assert!(
        dir.path().join("lockgate.db").exists(),
        "the database is created on first use"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("public_url is not set"), "{stderr}");

    // With the public URL set, the URLs use it and no note is printed.
    let output = Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["tenant", "create", "north", "--json"])
        .env_remove("LOCKGATE_CONFIG")
        .env("LOCKGATE_SERVER__PUBLIC_URL", "https://lockers.example/")
        .output()
        .expect("run lockgate");
    assert!(output.status.success(), "{output:?}");
    let json: Value = serde_json::from_str(&stdout(&output)).expect("JSON output");
    assert_eq!(
        json["scim_base_url"],
        "https://lockers.example/scim/v2/north"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("public_url"), "{stderr}");
}

#[test]
fn duplicate_tenant_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        lockgate(dir.path(), &["tenant", "create", "depot"])
            .status
            .success()
    );
    let output = lockgate(dir.path(), &["tenant", "create", "depot"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[test]
fn invalid_slug_names_the_value_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let output = lockgate(dir.path(), &["tenant", "create", "St Marys"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"St Marys\"") && stderr.contains("lower-case"),
        "{stderr}"
    );
}

#[test]
fn unknown_config_key_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lockgate.toml");
    std::fs::write(&config, "[server]\nlisten_address = \"127.0.0.1:1\"\n").unwrap();
    let output = lockgate(
        dir.path(),
        &["--config", config.to_str().unwrap(), "tenant", "list"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("listen_address"), "{stderr}");
}

#[test]
fn token_rotation_keeps_two_valid_tokens() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        lockgate(dir.path(), &["tenant", "create", "depot"])
            .status
            .success()
    );
    let rotated = lockgate(dir.path(), &["scim-token", "rotate", "depot", "--json"]);
    assert!(rotated.status.success(), "{rotated:?}");
    let list = stdout(&lockgate(dir.path(), &["scim-token", "list", "depot"]));
    let tokens: Vec<Value> = list
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tokens.len(), 2, "{list}");
    let revoked = tokens.iter().filter(|t| !t["revoked_at"].is_null()).count();
    assert_eq!(
        revoked, 0,
        "the previous token stays valid during the grace period: {list}"
    );
    let with_expiry = tokens.iter().filter(|t| !t["expires_at"].is_null()).count();
    assert_eq!(
        with_expiry, 1,
        "only the previous token gets an expiry: {list}"
    );
}

#[test]
fn serve_provisions_and_logs_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let created = lockgate(dir.path(), &["tenant", "create", "depot", "--json"]);
    let token = serde_json::from_str::<Value>(&stdout(&created)).unwrap()["scim_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (mut server, port) = serve(dir.path());

    let health = Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .args(["healthcheck", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(health.status.success(), "{health:?}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/scim/v2/depot/Users"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ivo.brandt@lockers.example"}"#)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status.as_u16(), 201);

    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "lockgate did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");

    // The log writer is flushed during shutdown, so the entry is there.
    let log = stdout(&lockgate(
        dir.path(),
        &["provisioning-log", "depot", "--json"],
    ));
    let entry: Value = serde_json::from_str(log.lines().next().expect("one log entry")).unwrap();
    assert_eq!(entry["operation"], "create");
    assert_eq!(entry["status"], 201);
    assert_eq!(entry["outcome"], "success");
}

#[test]
fn healthcheck_fails_without_a_server() {
    let port = free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .args(["healthcheck", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let target = format!("not ready: http://127.0.0.1:{port}/readyz");
    assert!(stderr.contains(&target), "{stderr}");
}

#[test]
fn healthcheck_reports_unready_status() {
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 1024];
        let read = stream.read(&mut request).unwrap();
        stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&request[..read]).into_owned()
    });

    let output = Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .args(["healthcheck", "--url", &format!("http://{address}/")])
        .output()
        .unwrap();
    let request = server.join().unwrap();

    assert!(request.starts_with("GET /readyz "), "{request}");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("503"), "{stderr}");
}

#[test]
fn invalid_log_level_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lockgate.toml");
    std::fs::write(&config, "[log]\nlevel = \"verbose\"\n").unwrap();
    let output = lockgate(
        dir.path(),
        &["--config", config.to_str().unwrap(), "tenant", "list"],
    );
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("log.level"), "{stderr}");
}

#[test]
fn revoke_of_unknown_token_names_it() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        lockgate(dir.path(), &["tenant", "create", "depot"])
            .status
            .success()
    );
    let output = lockgate(
        dir.path(),
        &["scim-token", "revoke", "depot", "nonsense-id"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"nonsense-id\"") && stderr.contains("not found"),
        "{stderr}"
    );
}

#[test]
fn reading_commands_need_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("not-the-server-data");
    for args in [
        &["audit", "export", "depot"][..],
        &["tenant", "list"][..],
        &["device-token", "list", "depot"][..],
    ] {
        let output = lockgate(&data_dir, args);
        assert!(!output.status.success(), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("no Lockgate database at"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("--data-dir"), "{args:?}: {stderr}");
        assert!(
            !data_dir.join("lockgate.db").exists(),
            "{args:?} created a database"
        );
    }

    let created = lockgate(&data_dir, &["tenant", "create", "depot"]);
    assert!(created.status.success(), "{created:?}");
    let listed = lockgate(&data_dir, &["tenant", "list"]);
    assert!(stdout(&listed).contains("depot"), "{listed:?}");
}

#[test]
fn second_server_on_one_database_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = serve(dir.path());

    let started = Instant::now();
    let second = lockgate(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!second.status.success(), "{second:?}");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another Lockgate server already serves this database"),
        "{stderr}"
    );
    let first_pid = format!("pid {}", server.0.id());
    assert!(stderr.contains(&first_pid), "{stderr}");
    assert!(!stderr.contains("lockgate serving"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));

    // The first server still responds, and once it has gone, a new one
    // starts on the same database.
    let health = Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .args(["healthcheck", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(health.status.success(), "{health:?}");
    drop(server);
    let (_next, _) = serve(dir.path());
}
