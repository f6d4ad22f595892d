//! Numbers in the TOML format: decimal, `0x` hex, or sizes with a K/M/G suffix.

use std::format;
use std::string::String;

/// Parses `"4096"`, `"0x1000"`, `"4K"`, `"128M"` or `"1G"`.
pub fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim().replace('_', "");
    let (digits, shift) = match text.chars().last()? {
        'K' | 'k' => (&text[..text.len() - 1], 10),
        'M' | 'm' => (&text[..text.len() - 1], 20),
        'G' | 'g' => (&text[..text.len() - 1], 30),
        _ => (text.as_str(), 0),
    };
    let value = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    value.checked_mul(1u64 << shift)
}

/// Formats an address as hex.
pub fn format_address(value: u64) -> String {
    format!("{value:#x}")
}

/// Formats a size with the largest exact K/M/G unit, else as hex.
pub fn format_size(value: u64) -> String {
    for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
        if value != 0 && value.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", value >> shift);
        }
    }
    format!("{value:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_number("0x4a000000"), Some(0x4a00_0000));
        assert_eq!(parse_number("128M"), Some(128 << 20));
        assert_eq!(parse_number("1_024"), Some(1024));
        assert_eq!(parse_number("16G"), Some(16 << 30));
        assert_eq!(parse_number("x"), None);
        assert_eq!(parse_number("99999999999G"), None);
        assert_eq!(format_size(128 << 20), "128M");
        assert_eq!(format_size(0xffffff), "0xffffff");
        assert_eq!(format_size(0), "0x0");
    }
}
