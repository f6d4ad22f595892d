//! A writer of `newc` cpio archives (the format Linux unpacks as an initramfs), so building
//! one needs no `cpio` program and no root: device nodes are just headers.
//!
//! Format (Linux `Documentation/driver-api/early-userspace/buffer-format.rst`): each entry
//! is a 110-byte ASCII header (`070701` and thirteen 8-digit hex fields), the NUL-terminated
//! name padded so header and name end on a 4-byte boundary, then the data padded to 4 bytes.
//! The archive ends with an entry named `TRAILER!!!`.

use std::fmt;

/// The `newc` header magic (no checksum).
pub const MAGIC: &str = "070701";
/// Bytes in a header.
pub const HEADER_LEN: usize = 110;
/// The name of the last entry.
pub const TRAILER: &str = "TRAILER!!!";

/// File type bits of `st_mode` (POSIX `<sys/stat.h>`).
pub const S_IFDIR: u32 = 0o040_000;
/// A regular file.
pub const S_IFREG: u32 = 0o100_000;
/// A symbolic link.
pub const S_IFLNK: u32 = 0o120_000;
/// A character device.
pub const S_IFCHR: u32 = 0o020_000;
/// The permission bits (with set-user-ID, set-group-ID and sticky).
const PERMISSIONS: u32 = 0o7777;

/// Why an entry cannot be added.
#[derive(Debug, PartialEq, Eq)]
pub enum CpioError {
    /// Names are relative paths of non-empty, NUL-free components (`bin/busybox`).
    BadName { name: String },
    /// Linux creates entries in archive order, so a parent directory must come first.
    MissingParent { name: String, parent: String },
    /// The same name twice.
    Duplicate { name: String },
    /// Permission bits beyond `0o7777`.
    BadMode { name: String, mode: u32 },
    /// A size that does not fit the header's 32-bit field.
    TooLarge { name: String, size: usize },
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CpioError::BadName { name } => write!(
                f,
                "cpio entry {name:?}: a name is a relative path without empty parts or NUL bytes"
            ),
            CpioError::MissingParent { name, parent } => write!(
                f,
                "cpio entry {name:?}: its directory {parent:?} must be added before it"
            ),
            CpioError::Duplicate { name } => write!(f, "cpio entry {name:?} is added twice"),
            CpioError::BadMode { name, mode } => write!(
                f,
                "cpio entry {name:?}: mode {mode:#o} has bits beyond the permissions (0o7777)"
            ),
            CpioError::TooLarge { name, size } => write!(
                f,
                "cpio entry {name:?}: {size} bytes do not fit the 32-bit size field"
            ),
        }
    }
}

impl std::error::Error for CpioError {}

/// The header fields an entry sets; the rest are zero (owner root, time 0, so archives are
/// reproducible).
struct Header<'a> {
    name: &'a str,
    mode: u32,
    links: u32,
    size: u32,
    device: (u32, u32),
}

/// An archive being written, entry by entry.
#[derive(Debug, Default)]
pub struct Archive {
    bytes: Vec<u8>,
    names: Vec<String>,
}

/// `length` rounded up to a multiple of 4.
fn padded(length: usize) -> usize {
    length.div_ceil(4) * 4
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory with permissions `mode`.
    pub fn directory(&mut self, name: &str, mode: u32) -> Result<(), CpioError> {
        self.entry(name, S_IFDIR, mode, 2, &[], (0, 0))
    }

    /// Adds a regular file with permissions `mode` holding `data`.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<(), CpioError> {
        self.entry(name, S_IFREG, mode, 1, data, (0, 0))
    }

    /// Adds a symbolic link to `target` (its data is the target path).
    pub fn symlink(&mut self, name: &str, target: &str) -> Result<(), CpioError> {
        self.entry(name, S_IFLNK, 0o777, 1, target.as_bytes(), (0, 0))
    }

    /// Adds a character device node `major:minor` with permissions `mode`.
    pub fn char_device(
        &mut self,
        name: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.entry(name, S_IFCHR, mode, 1, &[], (major, minor))
    }

    /// Ends the archive with the trailer and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.header(&Header {
            name: TRAILER,
            mode: 0,
            links: 1,
            size: 0,
            device: (0, 0),
        });
        self.bytes
    }

    fn entry(
        &mut self,
        name: &str,
        kind: u32,
        mode: u32,
        links: u32,
        data: &[u8],
        device: (u32, u32),
    ) -> Result<(), CpioError> {
        let owned = || name.to_string();
        let bad_part = |part: &str| part.is_empty() || part == "." || part == "..";
        if name.contains('\0') || name == TRAILER || name.split('/').any(bad_part) {
            return Err(CpioError::BadName { name: owned() });
        }
        if let Some((parent, _)) = name.rsplit_once('/') {
            if !self.names.iter().any(|n| n == parent) {
                return Err(CpioError::MissingParent {
                    name: owned(),
                    parent: parent.to_string(),
                });
            }
        }
        if self.names.iter().any(|n| n == name) {
            return Err(CpioError::Duplicate { name: owned() });
        }
        if mode & !PERMISSIONS != 0 {
            return Err(CpioError::BadMode {
                name: owned(),
                mode,
            });
        }
        let size = u32::try_from(data.len()).map_err(|_| CpioError::TooLarge {
            name: owned(),
            size: data.len(),
        })?;
        self.header(&Header {
            name,
            mode: kind | mode,
            links,
            size,
            device,
        });
        self.bytes.extend_from_slice(data);
        self.bytes.resize(padded(self.bytes.len()), 0);
        self.names.push(owned());
        Ok(())
    }

    /// Writes a header and the padded name. Inode numbers count entries from 1 (the trailer
    /// has 0), so no two files share one and Linux does not link them together.
    fn header(&mut self, header: &Header<'_>) {
        let inode = if header.name == TRAILER {
            0
        } else {
            self.names.len() as u32 + 1
        };
        let name_size = header.name.len() as u32 + 1;
        let (rdev_major, rdev_minor) = header.device;
        let fields = [
            inode,
            header.mode,
            0, // uid
            0, // gid
            header.links,
            0, // mtime
            header.size,
            0, // devmajor
            0, // devminor
            rdev_major,
            rdev_minor,
            name_size,
            0, // check
        ];
        let start = self.bytes.len();
        self.bytes.extend_from_slice(MAGIC.as_bytes());
        for field in fields {
            self.bytes
                .extend_from_slice(format!("{field:08X}").as_bytes());
        }
        debug_assert_eq!(self.bytes.len() - start, HEADER_LEN);
        self.bytes.extend_from_slice(header.name.as_bytes());
        self.bytes.push(0);
        self.bytes.resize(padded(self.bytes.len()), 0);
    }
}

#[cfg(test)]
#[path = "cpio_tests.rs"]
mod tests;
