//! Formatting helpers for the guests' report lines.

use core::fmt;

/// A physical address range printed as `0x40000000..0x48000000 (128 MiB)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: u64,
    /// Number of bytes.
    pub size: u64,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.start.saturating_add(self.size);
        write!(f, "{:#x}..{:#x} ({})", self.start, end, Size(self.size))
    }
}

/// A byte count in the largest binary unit that divides it exactly (`128 MiB`, `4 KiB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 4] = [("GiB", 30), ("MiB", 20), ("KiB", 10), ("bytes", 0)];
        let bytes = self.0;
        for (unit, shift) in UNITS {
            let divisor = 1u64 << shift;
            if bytes >= divisor && bytes.is_multiple_of(divisor) || shift == 0 {
                return write!(f, "{} {unit}", bytes >> shift);
            }
        }
        Ok(())
    }
}

/// A PSCI version printed as `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn spans_and_sizes() {
        let span = Span {
            start: 0x4000_0000,
            size: 0x800_0000,
        };
        assert_eq!(span.to_string(), "0x40000000..0x48000000 (128 MiB)");
        assert_eq!(Size(0x4000_0000).to_string(), "1 GiB");
        assert_eq!(Size(0x6000_0000).to_string(), "1536 MiB");
        assert_eq!(Size(0x1800).to_string(), "6 KiB");
        assert_eq!(Size(1000).to_string(), "1000 bytes");
        assert_eq!(Size(0).to_string(), "0 bytes");
        let top = Span {
            start: u64::MAX - 1,
            size: 16,
        };
        assert_eq!(
            top.to_string(),
            "0xfffffffffffffffe..0xffffffffffffffff (16 bytes)"
        );
        assert_eq!(Version { major: 1, minor: 1 }.to_string(), "1.1");
    }
}
