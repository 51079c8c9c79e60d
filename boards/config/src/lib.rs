//! A board's `domains.toml`: parsed into plain structs, validated against the board's reference
//! device trees, and turned into the Rust source of hyp-arm's `static SYSTEM_PLAN`
//! (docs/DOMAINS.md). Runs on the host, from the board crate's `build.rs`; nothing parses TOML at
//! boot, where `hyp_arm::domain::ownership` checks the plan once more against the real tree.
#![forbid(unsafe_code)]

pub mod build_script;
pub mod check;
pub mod error;
pub mod generate;
pub mod schema;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use check::{check, ReferenceTree};
pub use error::{ConfigError, ConfigErrors, Problem, Span};
pub use generate::{image_variable, system_plan, Generated, ImageSource};
pub use schema::Config;

/// Parses `text`, the contents of `file`: shapes and types only, with toml's positions.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
    toml::from_str(text).map_err(|error| {
        ConfigErrors(vec![ConfigError {
            file: file.to_string(),
            key: String::new(),
            problem: Problem::Toml(error.to_string()),
        }])
    })
}

/// A checked config with the paths of the files it was read from.
#[derive(Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// The reference trees that were read (for `cargo:rerun-if-changed`).
    pub reference_tree_files: Vec<std::path::PathBuf>,
}

/// Reads `path` (named `file` in messages), reads the reference trees it names (relative to its
/// folder), and checks everything.
pub fn load(file: &str, path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let unreadable = |path: &Path, error: std::io::Error| {
        ConfigErrors(vec![ConfigError {
            file: file.to_string(),
            key: String::new(),
            problem: Problem::Unreadable {
                path: path.display().to_string(),
                error: error.to_string(),
            },
        }])
    };
    let text = std::fs::read_to_string(path).map_err(|error| unreadable(path, error))?;
    let config = parse(file, &text)?;
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut trees = Vec::new();
    let mut reference_tree_files = Vec::new();
    for name in &config.board.reference_device_trees {
        let tree_path = folder.join(name);
        let blob = std::fs::read(&tree_path).map_err(|error| unreadable(&tree_path, error))?;
        trees.push(ReferenceTree {
            name: name.clone(),
            blob,
        });
        reference_tree_files.push(tree_path);
    }
    check(file, &config, &trees)?;
    Ok(LoadedConfig {
        config,
        reference_tree_files,
    })
}
