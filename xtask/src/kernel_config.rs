//! Kconfig text of the Android-style kernel: what a config fragment asks for, whether the final
//! `.config` gives it, and the key its cached build is filed under.

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

/// One line of a config fragment: `CONFIG_X=value`, or `# CONFIG_X is not set` (value `None`).
#[derive(Debug, PartialEq, Eq)]
pub struct Setting<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

/// The settings of a fragment, in order. Comments and blank lines are skipped; anything else that
/// is not a setting is an error naming the line, so that a typo cannot be ignored silently.
pub fn settings(fragment: &str) -> Result<Vec<Setting<'_>>> {
    let mut settings = Vec::new();
    for (index, line) in fragment.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            // Kconfig's own spelling of "off"; every other comment is prose.
            let unset = comment
                .trim()
                .strip_suffix(" is not set")
                .filter(|name| is_symbol(name));
            if let Some(name) = unset {
                settings.push(Setting { name, value: None });
            }
            continue;
        }
        match line.split_once('=') {
            Some((name, value)) if is_symbol(name) && !value.is_empty() => {
                settings.push(Setting {
                    name,
                    value: Some(value),
                });
            }
            _ => bail!(
                "line {}: `{line}` is neither `CONFIG_NAME=value`, `# CONFIG_NAME is not set` \
                 nor a comment",
                index + 1
            ),
        }
    }
    Ok(settings)
}

/// `CONFIG_` followed by Kconfig symbol characters.
fn is_symbol(name: &str) -> bool {
    name.strip_prefix("CONFIG_").is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    })
}

/// The settings `config` (a final `.config`) does not give, each with what it has instead.
/// Kconfig drops a requested value without a word when a dependency is off, which is why the
/// build checks.
pub fn unmet(wanted: &[Setting<'_>], config: &str) -> Vec<String> {
    wanted
        .iter()
        .filter_map(|setting| {
            let actual = value_in(config, setting.name);
            match (setting.value, actual) {
                (Some(want), Some(have)) if want == have => None,
                (Some(want), Some(have)) => Some(format!(
                    "{}={want} (the .config has {}={have})",
                    setting.name, setting.name
                )),
                (Some(want), None) => Some(format!(
                    "{}={want} (the .config leaves it off: a dependency is missing)",
                    setting.name
                )),
                (None, Some(have)) => Some(format!(
                    "{} off (the .config has {}={have})",
                    setting.name, setting.name
                )),
                (None, None) => None,
            }
        })
        .collect()
}

/// The value `config` gives `name`, or `None` when it is off or absent.
fn value_in<'a>(config: &'a str, name: &str) -> Option<&'a str> {
    config.lines().find_map(|line| {
        let (symbol, value) = line.trim().split_once('=')?;
        (symbol == name).then_some(value)
    })
}

/// What a built kernel depends on; the build is redone when any of it changes.
pub struct BuildInputs<'a> {
    /// The fragment's bytes.
    pub fragment: &'a [u8],
    /// The make target the fragment is applied to, e.g. `allnoconfig`.
    pub base: &'a str,
    /// The Debian version of the source package, e.g. `6.1.192-2`.
    pub source_version: &'a str,
    /// The cross compiler's `--version` line.
    pub compiler: &'a str,
    /// The make command line that builds the Image.
    pub recipe: &'a str,
}

/// The SHA-256 of every input, as hex. Each part is length-prefixed, so that moving text from one
/// part to the next changes the key.
pub fn cache_key(inputs: &BuildInputs<'_>) -> String {
    let mut hasher = Sha256::new();
    for part in [
        inputs.fragment,
        inputs.base.as_bytes(),
        inputs.source_version.as_bytes(),
        inputs.compiler.as_bytes(),
        inputs.recipe.as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAGMENT: &str = "\
# A comment
CONFIG_A=y

# CONFIG_B is not set
CONFIG_C=\"binder,hwbinder\"
#CONFIG_D=y commented out, prose
";

    #[test]
    fn fragment_settings_in_order() {
        let parsed = settings(FRAGMENT).expect("a valid fragment");
        assert_eq!(
            parsed,
            vec![
                Setting {
                    name: "CONFIG_A",
                    value: Some("y")
                },
                Setting {
                    name: "CONFIG_B",
                    value: None
                },
                Setting {
                    name: "CONFIG_C",
                    value: Some("\"binder,hwbinder\"")
                },
            ]
        );
    }

    #[test]
    fn a_line_that_is_no_setting_is_refused_with_its_number() {
        for bad in [
            "CONFIG_A=y\nA=y\n",
            "CONFIG_A=y\nCONFIG_B=\n",
            "CONFIG_A y\n",
        ] {
            let error = settings(bad).expect_err(bad).to_string();
            let line = if bad.starts_with("CONFIG_A=y\n") {
                "line 2"
            } else {
                "line 1"
            };
            assert!(error.starts_with(line), "{bad:?}: {error}");
        }
    }

    #[test]
    fn unmet_names_dropped_and_changed_values() {
        let wanted = settings(FRAGMENT).expect("a valid fragment");
        let config = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"binder,hwbinder\"\n";
        assert!(unmet(&wanted, config).is_empty());

        let config = "CONFIG_A=m\nCONFIG_B=y\n";
        assert_eq!(
            unmet(&wanted, config),
            vec![
                "CONFIG_A=y (the .config has CONFIG_A=m)".to_string(),
                "CONFIG_B off (the .config has CONFIG_B=y)".to_string(),
                "CONFIG_C=\"binder,hwbinder\" (the .config leaves it off: a dependency is missing)"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn a_longer_symbol_is_not_mistaken_for_the_wanted_one() {
        let wanted = settings("CONFIG_TTY=y\n").expect("a valid fragment");
        let config = "CONFIG_GOLDFISH_TTY=y\nCONFIG_TTY_PRINTK=y\n";
        assert_eq!(unmet(&wanted, config).len(), 1);
    }

    #[test]
    fn every_input_changes_the_key() {
        let base = BuildInputs {
            fragment: b"CONFIG_A=y\n",
            base: "allnoconfig",
            source_version: "6.1.192-2",
            compiler: "aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0",
            recipe: "make Image",
        };
        let key = cache_key(&base);
        assert_eq!(key.len(), 64);
        assert_eq!(key, cache_key(&base), "the key must be deterministic");
        let changed = [
            BuildInputs {
                fragment: b"CONFIG_A=m\n",
                ..base
            },
            BuildInputs {
                base: "tinyconfig",
                ..base
            },
            BuildInputs {
                source_version: "6.1.192-3",
                ..base
            },
            BuildInputs {
                compiler: "aarch64-linux-gnu-gcc 13",
                ..base
            },
            BuildInputs {
                recipe: "make -j2 Image",
                ..base
            },
        ];
        for inputs in &changed {
            assert_ne!(cache_key(inputs), key);
        }
        // Text moved across the boundary of two parts is another key.
        let moved = BuildInputs {
            base: "allnoconfig6",
            source_version: ".1.192-2",
            ..base
        };
        assert_ne!(cache_key(&moved), key);
    }
}
