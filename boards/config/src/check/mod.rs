//! What the values of a parsed `domains.toml` mean, checked against the board's reference
//! device trees. Every check runs and every rejection is reported, so that one build shows all
//! that needs fixing.
#![forbid(unsafe_code)]

mod channels;
mod devices;
mod domains;
mod virtual_devices;

use std::mem::discriminant;

use crate::error::{ConfigError, ConfigErrors, Problem};
use crate::schema::Config;

/// A reference device tree: a machine the board stands for.
#[derive(Clone, Debug)]
pub struct ReferenceTree {
    /// As `board.reference_device_trees` names it, for messages.
    pub name: String,
    pub blob: Vec<u8>,
}

/// Every check of `config` (read from `file`) against `trees`.
pub fn check(file: &str, config: &Config, trees: &[ReferenceTree]) -> Result<(), ConfigErrors> {
    let mut checker = Checker {
        file,
        config,
        errors: Vec::new(),
    };
    domains::check(&mut checker);
    for tree in trees {
        devices::check(&mut checker, tree);
        channels::check_against_tree(&mut checker, tree);
        virtual_devices::check_against_tree(&mut checker, tree);
    }
    channels::check(&mut checker);
    virtual_devices::check(&mut checker);
    if checker.errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(checker.errors))
    }
}

/// The file being checked and the rejections so far.
pub(crate) struct Checker<'a> {
    file: &'a str,
    config: &'a Config,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    /// Records a rejection, once per key and kind: each reference tree repeats the same
    /// conflicts, and one message per key is enough to act on.
    fn reject(&mut self, key: impl Into<String>, problem: Problem) {
        let key = key.into();
        let duplicate = self.errors.iter().any(|error| {
            error.key == key && discriminant(&error.problem) == discriminant(&problem)
        });
        if !duplicate {
            self.errors.push(ConfigError {
                file: self.file.to_string(),
                key,
                problem,
            });
        }
    }
}
