//! Running other programs: echoing what runs, and turning failures into readable errors.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use hyp_arm_system_tests::command_line::shell_words;

/// Prints a progress message.
pub fn say(message: impl AsRef<str>) {
    eprintln!("xtask: {}", message.as_ref());
}

/// The command as a shell line, for messages.
pub fn shown(command: &Command) -> String {
    let program = command.get_program();
    // `$CARGO` is a long toolchain path; people know it as `cargo`.
    let program = match std::env::var_os("CARGO") {
        Some(cargo) if cargo == program => "cargo".into(),
        _ => program.to_string_lossy(),
    };
    shell_words(&program, command.get_args())
}

/// Runs `command` with inherited stdio, failing unless it exits successfully.
pub fn run(command: &mut Command) -> Result<()> {
    let line = shown(command);
    say(format!("running {line}"));
    let status = command
        .status()
        .with_context(|| format!("cannot start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `command` quietly and returns its stdout; on failure the error includes its stderr.
pub fn output(command: &mut Command) -> Result<String> {
    let line = shown(command);
    let output = command
        .output()
        .with_context(|| format!("cannot start `{line}`"))?;
    if !output.status.success() {
        bail!(
            "`{line}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("`{line}` printed non-UTF-8 output"))
}

/// The full path of `program` if it is on `PATH`.
pub fn find_program(program: impl AsRef<OsStr>) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program.as_ref()))
        .find(|candidate| is_executable(candidate))
}

/// Like [`find_program`], also looking in /usr/sbin and /sbin, which a normal user's `PATH` on
/// Debian lacks (mkfs.vfat lives there).
pub fn find_system_program(program: &str) -> Option<PathBuf> {
    find_program(program).or_else(|| {
        ["/usr/sbin", "/sbin"]
            .iter()
            .map(|dir| Path::new(dir).join(program))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// Whether xtask runs as root (and so may call apt-get and dpkg itself).
pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// `cargo`, the same one that runs xtask.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}
