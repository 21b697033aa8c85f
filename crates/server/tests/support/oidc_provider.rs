//! Test support for signing in through an OpenID provider shaped like one Microsoft Entra ID
//! tenant: `tests/oidc-provider/provider.mjs` (Node.js, npm `oidc-provider`), driven either by
//! headless Chromium (`login.mjs`) or by plain HTTP requests.
//!
//! Include it from an integration test with
//! `#[path = "../support/oidc_provider.rs"] mod oidc_provider;`. It needs `node` on PATH, the
//! npm packages in `tests/oidc-provider/node_modules` and, for [`browser_login`], Debian's
//! `/usr/bin/chromium`; `scripts/test` installs the last two. The users, their claims and the
//! provider's limits are described in `tests/oidc-provider/README.md`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{StatusCode, Url};
use serde_json::Value;

/// Any password signs in: the provider's dev login page does not check it.
pub const PASSWORD: &str = "any-password";

/// Time a provider may take to print its ready line (it usually needs well under a second).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Login and consent pages that [`code_flow_without_browser`] submits before it gives up.
const MAX_INTERACTION_PAGES: usize = 8;

/// A running provider process; it is killed when this value is dropped.
pub struct Provider {
    /// `http://127.0.0.1:PORT/{tenant_id}/v2.0`, the `iss` of its ID tokens.
    pub issuer: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    child: Child,
    log: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Provider {
    /// Returns the OpenID discovery URL of the tenant.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// Returns what the provider wrote to stderr so far: oidc-provider's notices and every
    /// authorization, token and logout error it reported.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        // The provider's own error messages explain most failed sign-ins, so a failing test
        // shows them; passing tests stay quiet.
        if std::thread::panicking() {
            eprintln!(
                "--- OpenID provider log ({}) ---\n{}",
                self.issuer,
                self.log()
            );
        }
    }
}

/// One of the provider's invented users, as listed in `tests/oidc-provider/users.json`.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub login: String,
    pub oid: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    /// Group object IDs; empty for `overage`, whose token carries no `groups` claim.
    pub groups: Vec<String>,
}

/// Returns the provider's user `login` (`ada`, `fm`, `helpdesk`, `auditor`, `user`,
/// `overage` or `stepup`), so a test can provision it before it signs in.
pub fn test_user(login: &str) -> TestUser {
    let path = provider_dir().join("users.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("failed to read {}: {err}", path.display()));
    let document: Value = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not valid JSON: {err}", path.display()));
    let user = document["users"]
        .get(login)
        .unwrap_or_else(|| panic!("no user {login:?} in {}", path.display()));
    let text_field = |field: &str| user[field].as_str().unwrap_or_default().to_string();
    let list_field = |field: &str| -> Vec<String> {
        user[field]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    TestUser {
        login: login.to_string(),
        oid: text_field("oid"),
        name: text_field("name"),
        email: text_field("email"),
        roles: list_field("roles"),
        groups: list_field("groups"),
    }
}

/// Starts a provider for one confidential client on a free port of 127.0.0.1 and waits until
/// it accepts requests. The client must use PKCE (S256).
pub async fn start(
    tenant_id: &str,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    post_logout_redirect_uri: &str,
) -> Provider {
    start_with_env(
        tenant_id,
        client_id,
        client_secret,
        redirect_uri,
        post_logout_redirect_uri,
        &[],
    )
    .await
}

/// Like [`start`], with more environment variables for `provider.mjs`, for example
/// `("FRONTCHANNEL_LOGOUT_URI", url)` to have the logout page load that URL with `?sid=`, as
/// Entra's front-channel logout does. `REDIRECT_URIS` and `POST_LOGOUT_REDIRECT_URIS` given
/// here replace the single URIs.
pub async fn start_with_env(
    tenant_id: &str,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    post_logout_redirect_uri: &str,
    extra_env: &[(&str, &str)],
) -> Provider {
    let dir = provider_dir();
    require_npm_packages(&dir);
    let mut command = Command::new("node");
    command
        .arg(dir.join("provider.mjs"))
        .current_dir(&dir)
        .env("PORT", "0")
        .env("TENANT_ID", tenant_id)
        .env("CLIENT_ID", client_id)
        .env("CLIENT_SECRET", client_secret)
        .env("REDIRECT_URIS", redirect_uri)
        .env("POST_LOGOUT_REDIRECT_URIS", post_logout_redirect_uri)
        .envs(extra_env.iter().copied())
        // The provider exits when this pipe closes, so it cannot outlive a test process that
        // dies before Drop runs.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    // A provider that usually starts in under a second once printed nothing for the whole
    // timeout in CI. That hang is in the test tooling, so a second process gets one more
    // chance. A provider that exits or prints something else fails at once.
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match start_once(&mut command).await {
            Ok((issuer, child, log, stderr_reader)) => {
                // Straight to stderr, past the test harness's capture, so a
                // recovered hang still shows in the CI log of a passing run.
                for report in &failures {
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "an OpenID provider hung and was replaced: {report}"
                    );
                }
                return Provider {
                    issuer,
                    tenant_id: tenant_id.to_string(),
                    client_id: client_id.to_string(),
                    client_secret: client_secret.to_string(),
                    child,
                    log,
                    stderr_reader: Some(stderr_reader),
                };
            }
            Err(StartFailure::Hung(report)) => failures.push(report),
            Err(StartFailure::Broken(report)) => {
                failures.push(report);
                break;
            }
        }
    }
    panic!("{}", failures.join("\n\n"));
}

/// Number of provider processes started before a hang fails the test.
const START_ATTEMPTS: usize = 2;

enum StartFailure {
    /// No line within [`READY_TIMEOUT`], so another process may start.
    Hung(String),
    /// Exited or printed something else, which another process would repeat.
    Broken(String),
}

type Started = (String, Child, Arc<Mutex<String>>, JoinHandle<()>);

async fn start_once(command: &mut Command) -> Result<Started, StartFailure> {
    let mut child = command
        .spawn()
        .unwrap_or_else(|err| panic!("{}", node_error(&err)));
    let log = Arc::new(Mutex::new(String::new()));
    let stderr_reader = collect_stderr(child.stderr.take().expect("stderr is piped"), log.clone());
    let ready = read_ready_line(child.stdout.take().expect("stdout is piped"), log.clone());

    match tokio::time::timeout(READY_TIMEOUT, ready).await {
        Ok(Ok(line)) => match line.strip_prefix("ready ") {
            Some(issuer) => Ok((issuer.trim().to_string(), child, log, stderr_reader)),
            None => Err(StartFailure::Broken(stop_failed(
                child,
                stderr_reader,
                &log,
                &format!("printed {line:?} instead of its ready line"),
            ))),
        },
        Ok(Err(_)) => Err(StartFailure::Broken(stop_failed(
            child,
            stderr_reader,
            &log,
            "exited before it was ready",
        ))),
        Err(_) => {
            let state = process_state(child.id());
            Err(StartFailure::Hung(stop_failed(
                child,
                stderr_reader,
                &log,
                &format!("printed no ready line within {READY_TIMEOUT:?} ({state})"),
            )))
        }
    }
}

/// Signs in as `login` in headless Chromium: opens `start_url` (a Lockgate page on 127.0.0.1
/// that redirects to the provider), fills the login form, accepts the consent page and waits
/// until the browser is back on `start_url`'s origin. Returns the JSON that `login.mjs`
/// prints: `{"url", "status", "text", "cookies"}` with the final URL, the HTTP status and
/// visible text of the last page, and the names of the cookies of that origin. Panics with
/// `login.mjs`'s message (which names a screenshot) when the sign-in fails.
pub async fn browser_login(start_url: &str, login: &str, password: &str) -> Value {
    let dir = provider_dir();
    require_npm_packages(&dir);
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium not found at {chromium}: run scripts/test, which installs Debian's chromium package"
    );

    let mut command = Command::new("node");
    command
        .arg(dir.join("login.mjs"))
        .current_dir(&dir)
        .env("START_URL", start_url)
        .env("LOGIN", login)
        .env("PASSWORD", password)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("login.mjs runner thread panicked")
        .unwrap_or_else(|err| panic!("{}", node_error(&err)));

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser sign-in as {login:?} from {start_url} failed ({}):\n{stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!("login.mjs printed no JSON line ({err}):\nstdout: {stdout}\nstderr: {stderr}")
    })
}

/// Signs in as `login` with plain HTTP requests, without a browser.
///
/// Follows `authorize_url` (the provider's authorization endpoint with the client's query)
/// through the provider's dev login and consent pages, keeping the provider's cookies. Returns
/// the first redirect that leaves the provider's origin, without following it. That is
/// normally the client's callback with `code`, `state` and `iss`, or with `error` when the
/// provider rejected the request. Panics when the provider responds with anything but a
/// redirect, a login page or a consent page, for example the 401 page for an unknown login.
pub async fn code_flow_without_browser(authorize_url: &str, login: &str, password: &str) -> String {
    let mut url = Url::parse(authorize_url)
        .unwrap_or_else(|err| panic!("invalid authorize URL {authorize_url:?}: {err}"));
    let provider_origin = url.origin();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("failed to build the HTTP client");
    let mut jar = CookieJar::default();

    let mut response = jar.send(http.get(url.clone())).await;
    let mut pages = 0;
    loop {
        if response.status().is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_else(|| panic!("redirect from {url} without a Location header"));
            url = url
                .join(location)
                .unwrap_or_else(|err| panic!("invalid Location {location:?} from {url}: {err}"));
            if url.origin() != provider_origin {
                return url.to_string();
            }
            response = jar.send(http.get(url.clone())).await;
            continue;
        }

        pages += 1;
        assert!(
            pages <= MAX_INTERACTION_PAGES,
            "sign-in as {login:?} did not finish after {MAX_INTERACTION_PAGES} login and consent pages (last: {url})"
        );
        let status = response.status();
        let html = response
            .text()
            .await
            .unwrap_or_else(|err| panic!("failed to read {url}: {err}"));
        let Some(form) = InteractionForm::parse(&html) else {
            panic!(
                "unexpected provider page {url} (status {status}): {}",
                page_text(&html)
            );
        };
        assert_eq!(status, StatusCode::OK, "provider page {url}");

        let mut fields = vec![("prompt", form.prompt.as_str())];
        match form.prompt.as_str() {
            "login" => fields.extend([("login", login), ("password", password)]),
            "consent" => {}
            other => panic!("provider page {url} asks for an unknown prompt {other:?}"),
        }
        url = url
            .join(&form.action)
            .unwrap_or_else(|err| panic!("invalid form action {:?}: {err}", form.action));
        response = jar.send(http.post(url.clone()).form(&fields)).await;
    }
}

/// The provider's cookies by name. Sending every cookie on every request to the provider is
/// enough for its flows, so paths and expiry times are ignored.
#[derive(Default)]
struct CookieJar(BTreeMap<String, String>);

impl CookieJar {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let request = if self.0.is_empty() {
            request
        } else {
            let header = self
                .0
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            request.header(COOKIE, header)
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("request to the OpenID provider failed: {err}"));
        for header in response.headers().get_all(SET_COOKIE) {
            self.store(header.to_str().unwrap_or_default());
        }
        response
    }

    fn store(&mut self, set_cookie: &str) {
        let pair = set_cookie.split(';').next().unwrap_or_default();
        let Some((name, value)) = pair.split_once('=') else {
            return;
        };
        // The provider deletes a cookie by setting it empty with a 1970 expiry date.
        let deleted = value.is_empty() || set_cookie.contains("expires=Thu, 01 Jan 1970");
        if deleted {
            self.0.remove(name.trim());
        } else {
            self.0.insert(name.trim().to_string(), value.to_string());
        }
    }
}

/// The form of the provider's dev login or consent page.
struct InteractionForm {
    action: String,
    /// `login` or `consent`, from the form's hidden `prompt` field.
    prompt: String,
}

impl InteractionForm {
    fn parse(html: &str) -> Option<InteractionForm> {
        let action = attribute_after(html, "<form", "action")?;
        let prompt_input = html.find(r#"name="prompt""#)?;
        let prompt = attribute_after(&html[prompt_input..], "name=\"prompt\"", "value")?;
        Some(InteractionForm {
            action: action.replace("&amp;", "&"),
            prompt,
        })
    }
}

/// Returns the value of `attribute="..."` in the first tag that starts with `tag_start`.
fn attribute_after(html: &str, tag_start: &str, attribute: &str) -> Option<String> {
    let tag = &html[html.find(tag_start)?..];
    let tag = &tag[..tag.find('>')?];
    let needle = format!("{attribute}=\"");
    let value = &tag[tag.find(&needle)? + needle.len()..];
    Some(value[..value.find('"')?].to_string())
}

/// Returns the visible text of an HTML page's body on one line, cut to 300 characters.
fn page_text(html: &str) -> String {
    let body = html.find("<body").map_or(html, |start| &html[start..]);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    // provider.mjs escapes these five characters as numeric entities.
    let text = text
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.chars().take(300).collect()
}

fn provider_dir() -> PathBuf {
    // CARGO_MANIFEST_DIR is crates/server; the provider lives at the repository root.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider");
    dir.canonicalize()
        .unwrap_or_else(|err| panic!("{} is missing: {err}", dir.display()))
}

fn require_npm_packages(dir: &Path) {
    for package in ["oidc-provider", "playwright-core"] {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        assert!(
            manifest.exists(),
            "npm package {package} is missing in {}: run scripts/test, which runs `npm ci` there \
             (or run `npm ci` in that directory yourself)",
            dir.display()
        );
    }
}

fn node_error(err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::NotFound {
        "`node` was not found on PATH: the OpenID provider tests need Node.js 20 or newer \
         (then run scripts/test, which installs the npm packages and Chromium)"
            .to_string()
    } else {
        format!("failed to run node: {err}")
    }
}

fn collect_stderr(stderr: ChildStderr, log: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut buffer = [0u8; 4096];
        while let Ok(read @ 1..) = reader.read(&mut buffer) {
            log.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    })
}

/// Returns a receiver for the first stdout line. Later lines, which the provider should never
/// print, are added to the log.
fn read_ready_line(
    stdout: ChildStdout,
    log: Arc<Mutex<String>>,
) -> tokio::sync::oneshot::Receiver<String> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = sender.send(first);
        }
        for line in lines.map_while(Result::ok) {
            let mut log = log.lock().unwrap();
            log.push_str("stdout: ");
            log.push_str(&line);
            log.push('\n');
        }
    });
    receiver
}

/// Kills a provider that failed to start and describes the failure with its log.
fn stop_failed(
    mut child: Child,
    stderr_reader: JoinHandle<()>,
    log: &Mutex<String>,
    problem: &str,
) -> String {
    let _ = child.kill();
    let status = match child.wait() {
        Ok(status) => status.to_string(),
        Err(err) => format!("unknown ({err})"),
    };
    let _ = stderr_reader.join();
    format!(
        "the OpenID provider (node tests/oidc-provider/provider.mjs) {problem}, then was \
         stopped ({status}); its log:\n{}",
        log.lock().unwrap()
    )
}

/// Describes a process that does not respond: its state, the kernel function it waits in,
/// the CPU time it used, and the machine's load. This separates a process blocked in the
/// kernel from one that computes or one that never got a CPU.
fn process_state(pid: u32) -> String {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{name}"))
            .map(|text| text.trim().to_string())
            .unwrap_or_else(|err| format!("unreadable: {err}"))
    };
    let status = read("status");
    let state = status
        .lines()
        .find_map(|line| line.strip_prefix("State:"))
        .map_or("unknown", str::trim);
    // Fields 14 and 15 of /proc/PID/stat are user and system time in clock ticks (proc(5)).
    // The name in field 2 may contain spaces, so counting starts after its closing parenthesis.
    let stat = read("stat");
    let cpu_ticks = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            format!(
                "user {} system {} ticks",
                fields.get(11).unwrap_or(&"?"),
                fields.get(12).unwrap_or(&"?")
            )
        })
        .unwrap_or_else(|| "unknown".to_string());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "state {state}, waiting in {}, CPU {cpu_ticks}, threads {}, load average {}",
        read("wchan"),
        thread_states(pid),
        load.trim()
    )
}

/// Counts the threads of `pid` by state and kernel wait function, because
/// node's main thread may wait in epoll while a worker thread is stuck.
fn thread_states(pid: u32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return "unreadable".to_string();
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks.flatten() {
        let read = |name: &str| std::fs::read_to_string(task.path().join(name)).unwrap_or_default();
        let stat = read("stat");
        // Field 3 of /proc/PID/task/TID/stat, the first after the name's parenthesis.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "?".to_string());
        let wchan = read("wchan");
        let wchan = wchan.trim();
        let key = if wchan.is_empty() || wchan == "0" {
            state
        } else {
            format!("{state} in {wchan}")
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
        .iter()
        .map(|(key, count)| format!("{count} {key}"))
        .collect::<Vec<_>>()
        .join(", ")
}
