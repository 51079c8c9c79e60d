//! The guests' command line (`/chosen/bootargs`): space-separated words, `name=value` options
//! with decimal or `0x` hexadecimal numbers.

/// The value of the last `name=...` word of `command_line` (a later word overrides an earlier
/// one, as on Linux's command line), or `None` when there is none.
pub fn option<'a>(command_line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    command_line
        .split(|&byte| byte == b' ' || byte == b'\t' || byte == b'\n')
        .filter_map(|word| word.strip_prefix(name)?.strip_prefix(b"="))
        .next_back()
}

/// `0x` hexadecimal or decimal, without overflow; `None` for anything else (empty included).
pub fn number(text: &[u8]) -> Option<u64> {
    let (digits, radix) = match text.strip_prefix(b"0x") {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        let digit = (digit as char).to_digit(radix)?;
        value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_found_by_whole_name() {
        let line = b"console=ttyAMA0 rounds=20  iterations=0x10 iterations=300";
        assert_eq!(option(line, b"rounds"), Some(&b"20"[..]));
        assert_eq!(option(line, b"iterations"), Some(&b"300"[..]));
        assert_eq!(option(line, b"round"), None);
        assert_eq!(option(line, b"console"), Some(&b"ttyAMA0"[..]));
        assert_eq!(option(b"", b"rounds"), None);
    }

    #[test]
    fn numbers_are_decimal_or_hex_and_never_overflow() {
        assert_eq!(number(b"300"), Some(300));
        assert_eq!(number(b"0x10"), Some(16));
        assert_eq!(number(b"0x"), None);
        assert_eq!(number(b""), None);
        assert_eq!(number(b"12a"), None);
        assert_eq!(number(b"18446744073709551616"), None);
    }
}
