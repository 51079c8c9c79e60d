//! The QEMU command line the README shows boots hyp-arm and its guest, and is the one
//! `cargo xtask run` and the other tests use.

use std::path::Path;
use std::process::Command;

use hyp_arm_system_tests::command_line::{
    self, relative_images, BootConfig, Console, BASE_BOOTARGS,
};
use hyp_arm_system_tests::{guest, Failure, Mode, Qemu};

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The README's `qemu-system-aarch64 -M virt...` command, split into words as a shell would.
fn readme_command() -> Vec<String> {
    let readme_path = repository().join("README.md");
    let readme = std::fs::read_to_string(&readme_path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", readme_path.display()));
    let mut lines = readme
        .lines()
        .skip_while(|line| !line.starts_with("qemu-system-aarch64 -M virt"));
    let mut command = String::new();
    for line in lines.by_ref() {
        match line.trim_end().strip_suffix('\\') {
            Some(continued) => command.push_str(continued),
            None => {
                command.push_str(line);
                break;
            }
        }
    }
    assert!(
        !command.is_empty(),
        "README.md shows no `qemu-system-aarch64 -M virt` line"
    );
    shell_split(&command)
}

/// Words separated by blanks, with '...' and "..." quoting (enough for the README).
fn shell_split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quote in `{line}`");
    words.extend(word);
    words
}

#[test]
fn readme_shows_the_shared_command_line() {
    let arguments = command_line::arguments(
        &BootConfig::default(),
        &relative_images("qemu-virt"),
        Console::Interactive,
    );
    let mut expected = vec![command_line::QEMU.to_string()];
    expected.extend(
        arguments
            .iter()
            .map(|argument| argument.to_string_lossy().into_owned()),
    );
    assert_eq!(readme_command(), expected);
}

#[test]
fn readme_command_line_boots() -> Result<(), Failure> {
    let mut words = readme_command();
    let bootargs = format!("bootargs={BASE_BOOTARGS}");
    let Some(loader) = words.iter_mut().find(|word| word.ends_with(&bootargs)) else {
        panic!("the README's command line has no `{bootargs}`");
    };
    loader.push(' ');
    loader.push_str(&Mode::Boot.bootargs());

    let mut command = Command::new(&words[0]);
    command.args(&words[1..]).current_dir(repository());
    let mut qemu = Qemu::spawn(command);
    guest::check_boot_report(&mut qemu, BootConfig::default().smp)
}

#[test]
fn shell_split_handles_quotes() {
    assert_eq!(
        shell_split(r#"a  b,c="x y" 'q r' """#),
        ["a", "b,c=x y", "q r", ""]
    );
}
