//! Runs one QEMU process, records its console, and waits for text on it with timeouts.
//!
//! Two threads read QEMU's stdout (the serial port) and stderr (QEMU's own errors) into one shared
//! buffer and tee it to `$HYP_ARM_LOG_DIR/<test binary>.<test name>.log`. Waiting never sleeps: it
//! blocks on a condition variable that the readers signal, up to a deadline.
//!
//! The serial port's bytes go through a [`ConsoleDecoder`] first, with the defmt table of the ELF
//! file next to the image QEMU boots (`-kernel`), so that buffer and log hold hyp-arm's log records
//! as text lines, as a text-logging hyp-arm prints them.

use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::command_line::{self, BootConfig, BootTarget, Console, Images, QEMU};
use crate::console_decoder::ConsoleDecoder;
use crate::line_joiner::LineJoiner;

/// Text that ends a wait with a failure as soon as it appears anywhere in the output.
pub const DEFAULT_FAILURE_PATTERNS: &[&str] = &[
    "Kernel panic",
    "hyp-arm: panic",
    "hyp-arm: PANIC",
    "Internal error:",
    "---[ end trace",
    // The test guest's init prints this when a mode did not do what it should (see guest.rs).
    "HYPTEST-ERROR",
    // A hypervisor log record the decoder could not read: the image and its ELF file differ, or
    // the framing broke.
    "<undecodable defmt frame",
    // hyp-arm's boot check of the device tree found something it cannot use: never on QEMU virt.
    "device tree: not supported:",
    "device tree: cannot check it:",
];

/// How much output a failure message repeats.
const TAIL_LINES: usize = 60;

const HOW_TO_RUN: &str = "run the system tests through `cargo xtask test`";

/// The images built by `cargo xtask test`, from `HYP_ARM_IMAGE`, `HYP_ARM_GUEST_KERNEL` and
/// `HYP_ARM_GUEST_INITRD`. Panics with instructions when they are missing.
pub fn images_from_environment() -> Images {
    Images {
        hypervisor: file_from_environment("HYP_ARM_IMAGE"),
        guest_kernel: file_from_environment("HYP_ARM_GUEST_KERNEL"),
        guest_initrd: file_from_environment("HYP_ARM_GUEST_INITRD"),
    }
}

pub(crate) fn file_from_environment(name: &str) -> PathBuf {
    let Some(value) = env::var_os(name) else {
        panic!("{name} is not set: {HOW_TO_RUN}");
    };
    let path = PathBuf::from(value);
    if !path.is_file() {
        panic!("{name}={} does not exist: {HOW_TO_RUN}", path.display());
    }
    path
}

fn log_dir_from_environment() -> PathBuf {
    let Some(value) = env::var_os("HYP_ARM_LOG_DIR") else {
        panic!("HYP_ARM_LOG_DIR is not set: {HOW_TO_RUN}");
    };
    PathBuf::from(value)
}

/// Why a wait failed, with the end of the console output; `Debug` prints the same readable text,
/// so tests can return `Result<(), Failure>` and use `?`.
pub struct Failure {
    pub reason: String,
    pub tail: String,
    pub log: PathBuf,
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(formatter, "{}", self.reason)?;
        writeln!(formatter, "full log: {}", self.log.display())?;
        writeln!(formatter, "---- last {TAIL_LINES} lines of output ----")?;
        write!(formatter, "{}", self.tail)?;
        write!(formatter, "---- end of output ----")
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

impl std::error::Error for Failure {}

/// A running QEMU, killed when dropped.
pub struct Qemu {
    child: Child,
    /// QEMU's standard input: the emulated serial port's receive side.
    input: Option<ChildStdin>,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    /// Output before this offset has been consumed by an earlier successful wait.
    cursor: usize,
    failure_patterns: Vec<String>,
    log_path: PathBuf,
    exit_status: Option<ExitStatus>,
}

struct Shared {
    output: Mutex<Output>,
    changed: Condvar,
}

struct Output {
    /// What QEMU printed, with the console lines hyp-arm cut put back together (the log file
    /// has the raw bytes).
    bytes: Vec<u8>,
    joiner: LineJoiner,
    /// The shortest `bytes` has been since a waiter last looked (joining takes bytes back).
    shortest_since_look: usize,
    open_streams: usize,
    log: Option<File>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Output> {
        self.output.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Qemu {
    /// Boots the images from the environment (see [`images_from_environment`]) with `config`,
    /// serial console captured.
    pub fn boot(config: &BootConfig) -> Qemu {
        let images = match config.target {
            BootTarget::HypArm => images_from_environment(),
            BootTarget::HypArmPinned => Images {
                hypervisor: file_from_environment("HYP_ARM_PINNED_IMAGE"),
                ..images_from_environment()
            },
            // Without hyp-arm its image is not needed, and need not have been built.
            BootTarget::BareKernel => Images {
                hypervisor: PathBuf::new(),
                guest_kernel: file_from_environment("HYP_ARM_GUEST_KERNEL"),
                guest_initrd: file_from_environment("HYP_ARM_GUEST_INITRD"),
            },
        };
        Qemu::spawn(command_line::command(config, &images, Console::Captured))
    }

    /// Starts `command` (normally a `qemu-system-aarch64` command line) with stdin a pipe (see
    /// [`Qemu::send`]) and
    /// stdout and stderr captured; the log is named after the current test.
    pub fn spawn(command: Command) -> Qemu {
        Qemu::start(command, &log_dir_from_environment())
    }

    fn start(mut command: Command, log_dir: &Path) -> Qemu {
        if let Err(error) = fs::create_dir_all(log_dir) {
            panic!(
                "cannot create the log directory {}: {error}",
                log_dir.display()
            );
        }
        let log_path = log_dir.join(format!("{}.log", log_name()));
        let mut log = match File::create(&log_path) {
            Ok(log) => log,
            Err(error) => panic!("cannot create {}: {error}", log_path.display()),
        };
        let program = command.get_program().to_string_lossy().into_owned();
        let shown = command_line::shell_words(&program, command.get_args());
        // The command line heads the log so that a failure can be reproduced by hand.
        let _ = writeln!(log, "$ {shown}");
        let decoder = match booted_image(&command).map(|image| ConsoleDecoder::for_image(&image)) {
            None => ConsoleDecoder::new(None),
            Some(Ok(decoder)) => decoder,
            Some(Err(error)) => panic!("cannot decode the hypervisor's log records: {error}"),
        };
        if let Some(elf) = decoder.table_elf() {
            let _ = writeln!(
                log,
                "# hyp-arm's defmt records decoded with {}",
                elf.display()
            );
        }

        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) if error.kind() == ErrorKind::NotFound && program == QEMU => {
                panic!("{QEMU} is not installed: run `cargo xtask deps` (error: {error})")
            }
            Err(error) => panic!("cannot start `{shown}`: {error}"),
        };
        let shared = Arc::new(Shared {
            output: Mutex::new(Output {
                bytes: Vec::new(),
                joiner: LineJoiner::default(),
                shortest_since_look: 0,
                open_streams: 0,
                log: Some(log),
            }),
            changed: Condvar::new(),
        });
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(start_reader(stdout, Some(decoder), Arc::clone(&shared)));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(start_reader(stderr, None, Arc::clone(&shared)));
        }
        let input = child.stdin.take();
        Qemu {
            child,
            input,
            shared,
            readers,
            cursor: 0,
            failure_patterns: DEFAULT_FAILURE_PATTERNS
                .iter()
                .map(|p| p.to_string())
                .collect(),
            log_path,
            exit_status: None,
        }
    }

    /// Types `bytes` on the emulated serial port (QEMU's standard input with `-serial stdio`).
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let result = match self.input.as_mut() {
            Some(input) => input.write_all(bytes).and_then(|()| input.flush()),
            None => return Err(self.failure("QEMU's standard input is closed")),
        };
        result.map_err(|error| {
            self.failure(format!("cannot write to QEMU's standard input: {error}"))
        })
    }

    /// Also fail when `pattern` appears.
    pub fn add_failure_pattern(&mut self, pattern: &str) {
        self.failure_patterns.push(pattern.to_string());
    }

    /// Stop failing on `pattern`, e.g. kernel fault reports in a test that provokes a fault.
    pub fn remove_failure_pattern(&mut self, pattern: &str) {
        self.failure_patterns.retain(|existing| existing != pattern);
    }

    /// Waits until `text` appears after the output consumed by earlier waits, and consumes it.
    /// Fails when a failure pattern appears first, when QEMU exits, or after `timeout`.
    pub fn wait_for(&mut self, text: &str, timeout: Duration) -> Result<(), Failure> {
        let needle = text.as_bytes();
        self.wait_until(&format!("`{text}`"), timeout, |output, cursor| {
            find(&output.bytes[cursor..], needle).map(|at| ((), cursor + at + needle.len()))
        })
    }

    /// Like [`Qemu::wait_for`] for a line starting with `prefix`; returns the rest of that line
    /// once it is complete, trimmed.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> Result<String, Failure> {
        let needle = prefix.as_bytes();
        self.wait_until(
            &format!("a line `{prefix}...`"),
            timeout,
            |output, cursor| {
                let start = cursor + find(&output.bytes[cursor..], needle)? + needle.len();
                let end = start + output.bytes[start..].iter().position(|&b| b == b'\n')?;
                let rest = String::from_utf8_lossy(&output.bytes[start..end]);
                Some((rest.trim().to_string(), end + 1))
            },
        )
    }

    /// Waits until QEMU exits by itself and returns its exit status; fails on a failure pattern
    /// or after `timeout` (QEMU is then killed when dropped).
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Result<ExitStatus, Failure> {
        self.wait_until("QEMU to exit", timeout, |output, _| {
            (output.open_streams == 0).then_some(((), output.bytes.len()))
        })?;
        self.exit_status()
            .ok_or_else(|| self.failure("QEMU closed its output but its exit status is unknown"))
    }

    /// How many times `text` occurs in the whole output so far.
    pub fn count(&self, text: &str) -> usize {
        let output = self.shared.lock();
        let needle = text.as_bytes();
        let mut count = 0;
        let mut rest = &output.bytes[..];
        while let Some(at) = find(rest, needle) {
            count += 1;
            rest = &rest[at + needle.len()..];
        }
        count
    }

    /// The first complete line of the whole output so far for which `predicate` holds.
    pub fn find_line(&self, predicate: impl Fn(&str) -> bool) -> Option<String> {
        let output = self.shared.lock();
        String::from_utf8_lossy(&output.bytes)
            .lines()
            .find(|line| predicate(line))
            .map(str::to_string)
    }

    /// The whole output so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.shared.lock().bytes).into_owned()
    }

    /// A failure with `reason` and the current output, for a test's own checks.
    pub fn failure(&self, reason: impl Into<String>) -> Failure {
        let output = self.shared.lock();
        self.failure_with(reason.into(), &output.bytes)
    }

    /// The common loop: `check` looks at the output and the cursor, and on success returns a
    /// value and the new cursor.
    fn wait_until<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Output, usize) -> Option<(T, usize)>,
    ) -> Result<T, Failure> {
        let deadline = Instant::now() + timeout;
        let shared = Arc::clone(&self.shared);
        let mut output = shared.lock();
        loop {
            // Joining a cut line may take back bytes an earlier wait already passed, and put
            // new ones in their place.
            self.cursor = self.cursor.min(output.shortest_since_look);
            output.shortest_since_look = output.bytes.len();
            let found = check(&output, self.cursor);
            let failure = self.first_failure(&output.bytes);
            match (found, failure) {
                (Some((value, end)), failure)
                    if failure.as_ref().is_none_or(|(at, _)| *at >= end) =>
                {
                    self.cursor = end;
                    return Ok(value);
                }
                (_, Some((_, pattern))) => {
                    let reason = format!("`{pattern}` appeared while waiting for {what}");
                    return Err(self.failure_with(reason, &output.bytes));
                }
                _ => {}
            }
            if output.open_streams == 0 {
                drop(output);
                let status = match self.exit_status() {
                    Some(status) => status.to_string(),
                    None => "unknown status".to_string(),
                };
                return Err(
                    self.failure(format!("QEMU exited ({status}) while waiting for {what}"))
                );
            }
            let now = Instant::now();
            if now >= deadline {
                let reason = format!("timed out after {timeout:?} waiting for {what}");
                return Err(self.failure_with(reason, &output.bytes));
            }
            output = shared
                .changed
                .wait_timeout(output, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The earliest failure pattern in `bytes`: its end offset and the pattern.
    fn first_failure(&self, bytes: &[u8]) -> Option<(usize, String)> {
        self.failure_patterns
            .iter()
            .filter_map(|pattern| {
                find(bytes, pattern.as_bytes()).map(|at| (at + pattern.len(), pattern.clone()))
            })
            .min()
    }

    /// Reaps QEMU once both its output streams are closed; `None` if that fails.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit_status.is_none() {
            self.exit_status = self.child.wait().ok();
        }
        self.exit_status
    }

    fn failure_with(&self, reason: String, bytes: &[u8]) -> Failure {
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<&str> = text.lines().collect();
        let mut tail = String::new();
        for line in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
            tail.push_str(line);
            tail.push('\n');
        }
        Failure {
            reason,
            tail,
            log: self.log_path.clone(),
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if self.exit_status.is_none() {
            // Errors mean QEMU is already gone, which is what we want.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

/// Reads `stream` into the shared output until it closes, through `decoder` if given (for the
/// serial port, not for QEMU's own messages).
fn start_reader(
    mut stream: impl Read + Send + 'static,
    mut decoder: Option<ConsoleDecoder>,
    shared: Arc<Shared>,
) -> JoinHandle<()> {
    shared.lock().open_streams += 1;
    thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        let mut decoded = Vec::new();
        loop {
            let length = match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(length) => length,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let bytes = match decoder.as_mut() {
                Some(decoder) => {
                    decoded.clear();
                    decoder.decode(&buffer[..length], &mut decoded);
                    &decoded[..]
                }
                None => &buffer[..length],
            };
            append(&shared, bytes);
        }
        if let Some(decoder) = decoder.as_mut() {
            decoded.clear();
            decoder.finish(&mut decoded);
            append(&shared, &decoded);
        }
        let mut output = shared.lock();
        output.open_streams -= 1;
        shared.changed.notify_all();
    })
}

/// Adds `bytes` to the output and its log, and wakes the waiters.
fn append(shared: &Shared, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let mut output = shared.lock();
    let Output {
        bytes: joined,
        joiner,
        shortest_since_look,
        ..
    } = &mut *output;
    let shortest = joiner.append(joined, bytes);
    *shortest_since_look = (*shortest_since_look).min(shortest);
    if let Some(log) = output.log.as_mut() {
        if log.write_all(bytes).is_err() {
            // A full disk must not hide the test result; the buffer still has everything.
            output.log = None;
        }
    }
    shared.changed.notify_all();
}

/// The image a QEMU command line boots: the word after `-kernel`, relative to the command's
/// directory.
fn booted_image(command: &Command) -> Option<PathBuf> {
    let image = command
        .get_args()
        .skip_while(|argument| *argument != "-kernel")
        .nth(1)?;
    Some(match command.get_current_dir() {
        Some(directory) => directory.join(image),
        None => PathBuf::from(image),
    })
}

/// `<test binary>.<test name>`, file-name safe: the test harness names each test's thread.
fn log_name() -> String {
    let binary = env::current_exe()
        .ok()
        .as_deref()
        .and_then(Path::file_stem)
        .map(OsStr::to_string_lossy)
        .map(|stem| match stem.rsplit_once('-') {
            // Cargo appends `-<hash>` to test binaries.
            Some((name, _hash)) => name.to_string(),
            None => stem.into_owned(),
        })
        .unwrap_or_else(|| "qemu".to_string());
    let test = thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", ".");
    let name = format!("{binary}.{test}");
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for QEMU: a shell script printing what a guest might.
    fn fake(script: &str) -> Qemu {
        let log_dir = env::temp_dir().join(format!("hyp-arm-runner-test-{}", std::process::id()));
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        Qemu::start(command, &log_dir)
    }

    const SECOND: Duration = Duration::from_secs(1);
    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn waits_in_order_and_reads_lines() {
        let mut qemu = fake("echo one; echo 'VALUE=42'; echo two; echo one");
        qemu.wait_for("one", LONG).unwrap();
        assert_eq!(qemu.wait_for_line("VALUE=", LONG).unwrap(), "42");
        qemu.wait_for("two", LONG).unwrap();
        qemu.wait_for("one", LONG).unwrap();
        assert!(qemu.wait_for_exit(LONG).unwrap().success());
        assert_eq!(qemu.count("one"), 2);
        assert_eq!(
            qemu.find_line(|line| line.contains("two")).as_deref(),
            Some("two")
        );
    }

    #[test]
    fn a_failure_pattern_fails_fast_with_the_tail() {
        let mut qemu = fake("echo booting; echo 'Kernel panic - not syncing'; exec sleep 600");
        let started = Instant::now();
        let failure = qemu.wait_for("never printed", LONG).unwrap_err();
        assert!(started.elapsed() < LONG);
        assert!(failure.reason.contains("Kernel panic"), "{failure}");
        assert!(failure.tail.contains("booting\n"), "{failure}");
    }

    #[test]
    fn text_before_a_failure_counts_text_after_it_does_not() {
        let mut qemu = fake("echo ready; echo 'Kernel panic'; exec sleep 600");
        qemu.wait_for("ready", LONG).unwrap();
        let failure = qemu.wait_for("anything else", LONG).unwrap_err();
        assert!(failure.reason.contains("Kernel panic"), "{failure}");

        let mut late = fake("echo 'Kernel panic'; echo after; exec sleep 600");
        let failure = late.wait_for("after", LONG).unwrap_err();
        assert!(failure.reason.contains("Kernel panic"), "{failure}");
    }

    #[test]
    fn exiting_early_and_timing_out_fail() {
        let mut exited = fake("echo bye; exit 3");
        let failure = exited.wait_for("never printed", LONG).unwrap_err();
        assert!(failure.reason.contains("exited"), "{failure}");
        assert!(failure.reason.contains('3'), "{failure}");

        let mut silent = fake("exec sleep 600");
        let failure = silent.wait_for("never printed", SECOND).unwrap_err();
        assert!(failure.reason.contains("timed out"), "{failure}");
    }

    #[test]
    fn serial_output_is_decoded_and_bad_frames_fail() {
        // No `-kernel`, so no table: the frame cannot be decoded, which must not pass unnoticed.
        let mut qemu = fake(r"printf 'booting\n\377\001\176\000after\n'; exec sleep 600");
        qemu.wait_for("booting", LONG).unwrap();
        let failure = qemu.wait_for("after", LONG).unwrap_err();
        assert!(
            failure.reason.contains("undecodable defmt frame"),
            "{failure}"
        );
        assert!(!qemu.output().contains('\u{FFFD}'), "{}", qemu.output());
    }

    #[test]
    fn the_booted_image_is_the_kernel_argument() {
        let mut command = Command::new(QEMU);
        command.args([
            "-M",
            "virt",
            "-kernel",
            "images/hyp-arm-defmt.img",
            "-m",
            "2G",
        ]);
        assert_eq!(
            booted_image(&command),
            Some(PathBuf::from("images/hyp-arm-defmt.img"))
        );
        command.current_dir("/repository");
        assert_eq!(
            booted_image(&command),
            Some(PathBuf::from("/repository/images/hyp-arm-defmt.img"))
        );
        assert_eq!(booted_image(&Command::new("sh")), None);
    }

    #[test]
    fn stderr_is_captured_and_logged() {
        let mut qemu = fake("echo 'qemu: bad option' >&2; exit 1");
        let status = qemu.wait_for_exit(LONG).unwrap();
        assert_eq!(status.code(), Some(1));
        assert_eq!(qemu.count("bad option"), 1);
        let log = fs::read_to_string(&qemu.log_path).unwrap();
        assert!(log.starts_with("$ sh -c"), "{log}");
        assert!(log.contains("qemu: bad option"), "{log}");
    }
}
