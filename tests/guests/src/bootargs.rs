//! Reading the guests' options from the kernel command line (`/chosen` `bootargs`).
//!
//! Options are space-separated `key=value` words: `guest.name=NAME` names the guest in every
//! output line, `isolation.probe=0xADDR,0xADDR` lists the addresses the isolation guest reads.

use core::fmt;

/// What can be wrong with a number in the boot arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootargsError<'a> {
    /// The text is not a decimal or `0x` hexadecimal number that fits in 64 bits.
    BadNumber { text: &'a str },
}

impl fmt::Display for BootargsError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadNumber { text } => {
                write!(
                    f,
                    "`{text}` is not a 64-bit decimal or 0x-prefixed hexadecimal number"
                )
            }
        }
    }
}

/// The value of the last `key=value` word for `key`, if any.
pub fn value<'a>(bootargs: &'a str, key: &str) -> Option<&'a str> {
    bootargs
        .split_ascii_whitespace()
        .filter_map(|word| word.split_once('='))
        .filter(|(found, _)| *found == key)
        .map(|(_, value)| value)
        .next_back()
}

/// The guest's name: `guest.name=` if given and not empty, else `default`.
pub fn guest_name<'a>(bootargs: &'a str, default: &'a str) -> &'a str {
    value(bootargs, "guest.name")
        .filter(|name| !name.is_empty())
        .unwrap_or(default)
}

/// Parses a decimal or `0x`-prefixed hexadecimal number; `_` may separate digits.
pub fn parse_number(text: &str) -> Result<u64, BootargsError<'_>> {
    let error = BootargsError::BadNumber { text };
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    let mut number: u64 = 0;
    let mut seen_digit = false;
    for c in digits.chars().filter(|&c| c != '_') {
        let digit = c.to_digit(radix).ok_or(error)?;
        number = number.checked_mul(u64::from(radix)).ok_or(error)?;
        number = number.checked_add(u64::from(digit)).ok_or(error)?;
        seen_digit = true;
    }
    if seen_digit {
        Ok(number)
    } else {
        Err(error)
    }
}

/// The numbers of a comma-separated list such as `0x48000000,0x100000000`.
pub fn number_list(text: &str) -> impl Iterator<Item = Result<u64, BootargsError<'_>>> {
    text.split(',')
        .filter(|item| !item.is_empty())
        .map(parse_number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_by_key() {
        let args = "console=hvc0 guest.name=dom1  isolation.probe=0x1,0x2 guest.name=dom2";
        assert_eq!(value(args, "isolation.probe"), Some("0x1,0x2"));
        assert_eq!(value(args, "guest.name"), Some("dom2"));
        assert_eq!(value(args, "guest"), None);
        assert_eq!(guest_name(args, "hello"), "dom2");
        assert_eq!(guest_name("guest.name=", "hello"), "hello");
        assert_eq!(guest_name("", "hello"), "hello");
    }

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_number("0x4800_0000"), Ok(0x4800_0000));
        assert_eq!(parse_number("0XfF"), Ok(255));
        assert_eq!(parse_number("42"), Ok(42));
        assert_eq!(parse_number("0xffffffffffffffff"), Ok(u64::MAX));
        for bad in ["", "0x", "0x1g", "12a", "0x1_0000_0000_0000_0000", "-1"] {
            assert_eq!(
                parse_number(bad),
                Err(BootargsError::BadNumber { text: bad }),
                "{bad}"
            );
        }
    }

    #[test]
    fn parses_lists() {
        let list: std::vec::Vec<_> = number_list("0x48000000,,0x100000000").collect();
        assert_eq!(list, [Ok(0x4800_0000), Ok(0x1_0000_0000)]);
        let bad: std::vec::Vec<_> = number_list("1,zz").collect();
        assert_eq!(bad, [Ok(1), Err(BootargsError::BadNumber { text: "zz" })]);
    }
}
