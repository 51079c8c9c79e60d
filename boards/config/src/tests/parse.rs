//! Rejections by the parser: unknown and missing keys, bad values (toml's messages, positioned).
#![forbid(unsafe_code)]

use super::*;

/// The single message for `text`, which must start with the file name and toml's position.
fn parse_error(text: &str) -> String {
    let mut all = messages(text);
    assert_eq!(all.len(), 1, "{all:?}");
    let message = all.remove(0);
    assert!(
        message.starts_with("domains.toml: TOML parse error at line "),
        "{message}"
    );
    message
}

#[test]
fn an_unknown_key_is_named() {
    let message = parse_error(&edited(&[(
        "priority = 10",
        "priority = 10\nprioritee = 3",
    )]));
    assert!(message.contains("unknown field `prioritee`"), "{message}");
}

#[test]
fn a_missing_key_is_named() {
    let message = parse_error(&edited(&[("console = \"hypercall\"\n", "")]));
    assert!(message.contains("missing field `console`"), "{message}");
}

#[test]
fn a_bad_enumeration_value_is_named() {
    let message = parse_error(&edited(&[("role = \"secure\"", "role = \"trusted\"")]));
    assert!(message.contains("unknown variant `trusted`"), "{message}");
}

#[test]
fn a_bad_size_is_explained() {
    let message = parse_error(&edited(&[("\"16M\"", "\"16 MB\"")]));
    assert!(message.contains("\"16 MB\" is not a size"), "{message}");
}

#[test]
fn a_bad_kernel_is_explained() {
    let message = parse_error(&edited(&[("\"boot-modules\"", "\"bootmodules\"")]));
    assert!(
        message.contains("kernel \"bootmodules\" is unknown: write \"boot-modules\""),
        "{message}"
    );
    let message = parse_error(&edited(&[("embedded = ", "embeded = ")]));
    assert!(message.contains("unknown field `embeded`"), "{message}");
}

#[test]
fn an_escape_byte_must_fit_a_byte() {
    let message = parse_error(&edited(&[("escape = 0x1d", "escape = 0x11d")]));
    assert!(message.contains("escape"), "{message}");
}
