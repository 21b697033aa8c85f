//! The `lockgate` binary as a child process: CLI commands that create the
//! tenant and its tokens, and `lockgate serve` or another server, whose
//! resident memory and CPU time are read from `/proc` (Linux only).

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

/// The `lockgate` binary and the data directory every command uses.
#[derive(Debug, Clone)]
pub struct Lockgate {
    binary: PathBuf,
    data_dir: PathBuf,
    /// SQLite `synchronous` setting (`normal` or `full`) for every command.
    sqlite_synchronous: String,
}

impl Lockgate {
    pub fn new(binary: PathBuf, data_dir: PathBuf, sqlite_synchronous: String) -> Lockgate {
        Lockgate {
            binary,
            data_dir,
            sqlite_synchronous,
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        // LOCKGATE_ variables of the caller could point the server at
        // another database or change what is measured, so none are passed on.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("LOCKGATE_") {
                command.env_remove(key);
            }
        }
        command
            .env(
                "LOCKGATE_DATABASE__SQLITE_SYNCHRONOUS",
                &self.sqlite_synchronous,
            )
            .arg("--data-dir")
            .arg(&self.data_dir);
        command
    }

    /// Runs a CLI command that prints one JSON object and returns it.
    pub fn run_json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let command_line = format!("lockgate {}", args.join(" "));
        let output = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("failed to run {}", self.binary.display()))?;
        if !output.status.success() {
            bail!(
                "`{command_line}` failed with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "`{command_line}` printed no JSON object: {}",
                String::from_utf8_lossy(&output.stdout).trim()
            )
        })
    }

    /// Runs a CLI command and returns whether it succeeded, with its
    /// standard output and standard error.
    pub fn run_text(&self, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
        let output = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("failed to run {}", self.binary.display()))?;
        Ok((
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }

    /// Starts `lockgate serve` on a port of 127.0.0.1 that the system
    /// picks, with its log in `log_file`.
    pub fn serve(&self, log_file: &Path) -> anyhow::Result<ServerProcess> {
        let mut command = self.command();
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        // The port is read from the "lockgate serving" line, which a
        // caller's RUST_LOG such as `warn` would otherwise leave out.
        if let Ok(filter) = std::env::var("RUST_LOG")
            && !filter.is_empty()
        {
            command.env("RUST_LOG", format!("{filter},lockgate::commands=info"));
        }
        ServerProcess::spawn("lockgate serve", command, log_file)
    }
}

/// A running server, such as `lockgate serve`. Dropping it kills the
/// process, so an error in the benchmark leaves no server behind.
///
/// The server binds a port the system picks and names it in a log line
/// (see [`listen_address`]). A free port picked here and passed on would
/// leave a gap in which another process could take it, and a server
/// already listening there would then be measured instead.
pub struct ServerProcess {
    /// Name of the server in error messages.
    name: String,
    child: Child,
    /// The address from the server's log, once it has been read.
    address: Option<SocketAddr>,
    log_file: PathBuf,
    exited: bool,
}

impl ServerProcess {
    /// Starts `command`, a server that listens on a port of its choice and
    /// logs it, with its output in `log_file`. `name` identifies it in
    /// error messages.
    pub fn spawn(
        name: &str,
        mut command: Command,
        log_file: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let log = File::create(log_file)
            .with_context(|| format!("cannot create {}", log_file.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("failed to start {name}"))?;
        Ok(ServerProcess {
            name: name.to_string(),
            child,
            address: None,
            log_file: log_file.to_path_buf(),
            exited: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Returns the address the server listens on, known once
    /// [`ServerProcess::wait_ready`] has succeeded.
    pub fn address(&self) -> anyhow::Result<SocketAddr> {
        self.address.with_context(|| {
            format!(
                "{} has not logged its address yet; wait until it is ready",
                self.name
            )
        })
    }

    /// Returns the base URL, such as `http://127.0.0.1:40123`.
    pub fn origin(&self) -> anyhow::Result<String> {
        Ok(format!("http://{}", self.address()?))
    }

    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// Reads the server's address from its log, then polls `/readyz` until
    /// the server responds with 200, and returns how long that took. Fails
    /// when the process exits or `timeout` passes first.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                bail!(
                    "{} exited with {status} before it was ready; its log is {}",
                    self.name,
                    self.log_file.display()
                );
            }
            if self.address.is_none() {
                // The log may not exist yet, or its last line may be
                // unfinished. Either way it is read again on the next turn.
                let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
                self.address = listen_address(&log);
            }
            if let Some(address) = self.address
                && let Ok(response) = client.get(format!("http://{address}/readyz")).send().await
                && response.status().is_success()
            {
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                let waited_for = match self.address {
                    Some(address) => format!("no answer from http://{address}/readyz"),
                    None => "no \"serving\" line with listen=ADDRESS in its log".to_string(),
                };
                bail!(
                    "{} was not ready after {} s ({waited_for}); its log is {}",
                    self.name,
                    timeout.as_secs(),
                    self.log_file.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM, on which `lockgate serve` drains requests and closes
    /// the database, and waits up to `timeout` before killing the process.
    pub fn stop(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("failed to run kill")?;
        if !sent.success() {
            bail!("kill -TERM {pid} failed with {sent}");
        }
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                return Ok(status);
            }
            if started.elapsed() > timeout {
                self.child.kill()?;
                self.exited = true;
                bail!(
                    "{} (pid {pid}) did not stop within {} s of SIGTERM and was killed",
                    self.name,
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Returns the address in the first log line that announces a server:
/// a line with the word `serving` and a `listen=ADDRESS` field, as
/// `lockgate serve` and `load-floor serve` write it. A last line without
/// its newline may still be being written, so it is left for a later read.
pub fn listen_address(log: &str) -> Option<SocketAddr> {
    log.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter(|line| line.split_whitespace().any(|word| word == "serving"))
        .find_map(|line| {
            line.split_whitespace()
                .find_map(|field| field.strip_prefix("listen="))
                .and_then(|address| address.parse().ok())
        })
}

/// Returns the resident set size of process `pid` (`VmRSS`) in bytes.
pub fn resident_bytes(pid: u32) -> anyhow::Result<u64> {
    status_bytes(pid, "VmRSS")
}

/// Returns the largest resident memory of `pid` since it started or since
/// [`reset_peak_resident`], in bytes (`VmHWM`, kept by the kernel).
pub fn peak_resident(pid: u32) -> anyhow::Result<u64> {
    status_bytes(pid, "VmHWM")
}

/// Sets the kernel's record of the largest resident memory of `pid` to
/// its current resident memory, by writing 5 to `/proc/PID/clear_refs`
/// (proc(5), Linux 4.0 and later).
pub fn reset_peak_resident(pid: u32) -> anyhow::Result<()> {
    let path = format!("/proc/{pid}/clear_refs");
    std::fs::write(&path, "5").with_context(|| format!("cannot write {path}"))
}

fn status_bytes(pid: u32, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let kib = field_value(&status, field)
        .and_then(|value| value.strip_suffix("kB"))
        .and_then(|number| number.trim().parse::<u64>().ok())
        .with_context(|| format!("{path} has no {field} line in kB"))?;
    Ok(kib * 1024)
}

/// Returns the CPU time (user plus system) process `pid` has used, or
/// this process's with `None`.
pub fn cpu_time(pid: Option<u32>) -> anyhow::Result<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The command name in field 2 may contain spaces, so fields are counted
    // from the closing parenthesis; utime and stime are fields 14 and 15.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path} has no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .and_then(|field| field.parse().ok())
            .with_context(|| format!("{path} has no CPU time in field {}", index + 3))
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(
        total as f64 / clock_ticks_per_second() as f64,
    ))
}

/// Returns the clock ticks per second, the unit of the CPU times in
/// `/proc/PID/stat`, from `getconf CLK_TCK`.
fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            // NOTE: 100, the usual value on Linux, is assumed when getconf
            // is missing or fails.
            .unwrap_or(100)
    })
}

/// Samples the resident memory of `pid` every `interval` until `until`
/// and returns the largest value seen, in bytes.
pub async fn peak_resident_bytes(pid: u32, interval: Duration, until: Instant) -> u64 {
    let mut peak = 0;
    while Instant::now() < until {
        if let Ok(bytes) = resident_bytes(pid) {
            peak = peak.max(bytes);
        }
        tokio::time::sleep(interval).await;
    }
    peak
}

/// Returns the CPU time all processes on the machine have used since boot,
/// idle and I/O wait excluded, from the `cpu` line of `/proc/stat`. The
/// difference between two readings, less what the server and the load
/// generator used, is what other processes took from the benchmark.
pub fn machine_busy_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let fields: Vec<u64> = stat
        .lines()
        .find_map(|line| line.strip_prefix("cpu "))
        .context("/proc/stat has no cpu line")?
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    // user, nice, system, idle, iowait, irq, softirq, steal; guest time is
    // already counted in user.
    let busy: u64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(index, _)| *index != 3 && *index != 4)
        .map(|(_, ticks)| ticks)
        .sum();
    Ok(Duration::from_secs_f64(
        busy as f64 / clock_ticks_per_second() as f64,
    ))
}

/// Returns the size of the SQLite write-ahead log next to `database`, or 0
/// when there is none.
pub fn wal_bytes(database: &Path) -> u64 {
    let mut wal = database.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(0, |metadata| metadata.len())
}

/// Returns the bytes process `pid` has caused to be written to storage
/// (`write_bytes` in `/proc/PID/io`, proc(5)). Buffered writes count when
/// they dirty the page cache, so SQLite's log and checkpoint writes count
/// before the kernel flushes them.
pub fn written_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/io");
    let io = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    io_field(&io, "write_bytes").with_context(|| format!("{path} has no write_bytes line"))
}

fn io_field(io: &str, field: &str) -> Option<u64> {
    field_value(io, field).and_then(|value| value.parse().ok())
}

/// Returns the trimmed text after `field:` on the first line that starts
/// with it, the layout of `/proc/PID/status` and `/proc/PID/io`.
fn field_value<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// Returns the one-, five- and fifteen-minute load averages as text.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Returns the CPU model from `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_resident_follows_reset() {
        let pid = std::process::id();
        // Touch 64 MB, so the high-water mark is well above what stays
        // resident once it is freed.
        let block = vec![1u8; 64 << 20];
        let touched: u64 = block.iter().step_by(4096).map(|&b| u64::from(b)).sum();
        assert_eq!(touched, (64 << 20) / 4096);
        drop(block);
        let peak_before = peak_resident(pid).unwrap();
        let resident = resident_bytes(pid).unwrap();
        assert!(
            peak_before >= resident + (32 << 20),
            "{peak_before} {resident}"
        );

        reset_peak_resident(pid).unwrap();
        let peak_after = peak_resident(pid).unwrap();
        assert!(peak_after < peak_before, "{peak_after} {peak_before}");
    }

    #[test]
    fn listen_address_reads_serving_line() {
        let lockgate = "2026-12-05T22:10:01.5Z  INFO lockgate::commands: opening database\n\
             2026-12-05T22:10:02.1Z  INFO lockgate::commands: lockgate serving \
             listen=127.0.0.1:40123 database=sqlite:///tmp/x/lockgate.db backend=Sqlite\n";
        assert_eq!(
            listen_address(lockgate),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        let stand_in = "load-floor stand-in serving listen=127.0.0.1:5001\n";
        assert_eq!(
            listen_address(stand_in),
            Some("127.0.0.1:5001".parse().unwrap())
        );
        // An address outside a serving line is not taken, nor one in a line
        // still being written, whose port may be cut short.
        assert_eq!(listen_address("config listen=127.0.0.1:8080\n"), None);
        assert_eq!(listen_address("lockgate serving listen=127.0.0.1:4"), None);
        assert_eq!(listen_address(""), None);
    }

    #[test]
    fn io_field_reads_named_counter() {
        let io = "rchar: 4096\nwchar: 900\nsyscr: 3\nsyscw: 2\nread_bytes: 0\n\
                  write_bytes: 1228800\ncancelled_write_bytes: 4096\n";
        assert_eq!(io_field(io, "write_bytes"), Some(1_228_800));
        assert_eq!(io_field(io, "cancelled_write_bytes"), Some(4096));
        assert_eq!(io_field(io, "read_bytes"), Some(0));
        assert_eq!(io_field(io, "missing"), None);
        assert_eq!(io_field("write_bytes: lots\n", "write_bytes"), None);
    }

    #[test]
    fn written_bytes_reads_proc_file() {
        // The counter grows only for writes to a file system with backing
        // storage (tmpfs has none), so this checks only that the real
        // file parses.
        let written = written_bytes(std::process::id()).unwrap();
        assert!(written_bytes(std::process::id()).unwrap() >= written);
    }
}
