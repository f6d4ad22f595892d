//! The arm64 Linux `Image` header (Documentation/arch/arm64/booting.rst, "Call the kernel image").
//!
//! The 64-byte header: code0/code1 (u32 each), text_offset (u64 at 8), image_size (u64 at 16),
//! flags (u64 at 24), three reserved u64, the magic "ARM\x64" (u32 at 56), a reserved u32.
//! All fields are little endian.

use core::fmt;

/// The header's size in bytes.
pub const HEADER_SIZE: usize = 64;
/// The magic number at offset 56: "ARM\x64" read as a little-endian u32.
pub const MAGIC: u32 = 0x644d_5241;
/// The text offset assumed for kernels older than 3.17, whose `image_size` is zero.
pub const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;
/// The kernel's base (load address minus text_offset) must be 2 MiB aligned.
pub const BASE_ALIGNMENT: u64 = 0x20_0000;

const FLAG_BIG_ENDIAN: u64 = 1 << 0;

/// Why a kernel image was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ImageError {
    /// Fewer bytes than a header.
    TooShort {
        /// The image's length.
        length: u64,
    },
    /// The magic number is not "ARM\x64": not an arm64 Image.
    BadMagic {
        /// The value found at offset 56.
        found: u32,
    },
    /// The kernel is built big endian; guests here boot little endian.
    BigEndian,
    /// The header's `image_size` is smaller than the file, so it cannot be trusted.
    ImageSizeTooSmall {
        /// The header's `image_size`.
        image_size: u64,
        /// The file's length.
        length: u64,
    },
    /// `text_offset` is not below the 2 MiB the base alignment leaves room for, or not 4 KiB
    /// aligned.
    BadTextOffset {
        /// The header's `text_offset`.
        text_offset: u64,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { length } => {
                write!(
                    f,
                    "a {length}-byte kernel is shorter than the 64-byte arm64 Image header"
                )
            }
            Self::BadMagic { found } => {
                write!(
                    f,
                    "kernel magic is {found:#010x}, not an arm64 Image (0x644d5241)"
                )
            }
            Self::BigEndian => write!(f, "the kernel is big endian; only little endian boots"),
            Self::ImageSizeTooSmall { image_size, length } => write!(
                f,
                "the header's image_size {image_size:#x} is smaller than the {length:#x}-byte file"
            ),
            Self::BadTextOffset { text_offset } => write!(
                f,
                "text_offset {text_offset:#x} is not a 4 KiB aligned offset below 2 MiB"
            ),
        }
    }
}

/// A parsed arm64 `Image` header.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct KernelImage {
    /// Where the image goes above a 2 MiB aligned base.
    pub text_offset: u64,
    /// The memory the kernel uses from its load address, BSS included (never below the file).
    pub memory_size: u64,
    /// The bytes to copy.
    pub file_size: u64,
    /// Header flag bit 3: the base may be anywhere in RAM rather than near the start of DRAM.
    pub anywhere: bool,
}

impl KernelImage {
    /// Parses the header at the start of `image` (at least its first 64 bytes), `length` being
    /// the whole file's length.
    pub fn parse(header: &[u8], length: u64) -> Result<Self, ImageError> {
        let header: &[u8; HEADER_SIZE] = header
            .get(..HEADER_SIZE)
            .and_then(|bytes| bytes.try_into().ok())
            .filter(|_| length >= HEADER_SIZE as u64)
            .ok_or(ImageError::TooShort { length })?;
        let found = u32::from_le_bytes([header[56], header[57], header[58], header[59]]);
        if found != MAGIC {
            return Err(ImageError::BadMagic { found });
        }
        let text_offset = read_u64(header, 8);
        let image_size = read_u64(header, 16);
        let flags = read_u64(header, 24);
        if image_size == 0 {
            // Before 3.17 the header carried no size and flags, and text_offset was 0x80000.
            return Ok(Self {
                text_offset: LEGACY_TEXT_OFFSET,
                memory_size: length,
                file_size: length,
                anywhere: false,
            });
        }
        if flags & FLAG_BIG_ENDIAN != 0 {
            return Err(ImageError::BigEndian);
        }
        if image_size < length {
            return Err(ImageError::ImageSizeTooSmall { image_size, length });
        }
        if text_offset >= BASE_ALIGNMENT || !text_offset.is_multiple_of(0x1000) {
            return Err(ImageError::BadTextOffset { text_offset });
        }
        Ok(Self {
            text_offset,
            memory_size: image_size,
            file_size: length,
            anywhere: flags & (1 << 3) != 0,
        })
    }
}

fn read_u64(header: &[u8; HEADER_SIZE], offset: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&header[offset..offset + 8]);
    u64::from_le_bytes(bytes)
}

/// Builds an arm64 Image header for tests.
#[cfg(any(test, feature = "testing"))]
pub fn test_header(text_offset: u64, image_size: u64, flags: u64) -> [u8; HEADER_SIZE] {
    let mut header = [0; HEADER_SIZE];
    // code0: "add x13, x18, #0x16" (the EFI "MZ" stub), as Linux emits it.
    header[0..4].copy_from_slice(&0x9100_4d5a_u32.to_le_bytes());
    header[8..16].copy_from_slice(&text_offset.to_le_bytes());
    header[16..24].copy_from_slice(&image_size.to_le_bytes());
    header[24..32].copy_from_slice(&flags.to_le_bytes());
    header[56..60].copy_from_slice(&MAGIC.to_le_bytes());
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_header_is_parsed() {
        // Debian 6.1: text_offset 0, image_size covers BSS, flags 0xa (4K pages, anywhere).
        let header = test_header(0, 0x0260_0000, 0xa);
        let image = KernelImage::parse(&header, 0x0200_0000).unwrap();
        assert_eq!(
            image,
            KernelImage {
                text_offset: 0,
                memory_size: 0x0260_0000,
                file_size: 0x0200_0000,
                anywhere: true
            }
        );
    }

    #[test]
    fn legacy_header_without_size_uses_the_old_text_offset() {
        let header = test_header(0x8_0000, 0, 0);
        let image = KernelImage::parse(&header, 0x10_0000).unwrap();
        assert_eq!(
            (image.text_offset, image.memory_size, image.file_size),
            (0x8_0000, 0x10_0000, 0x10_0000)
        );
    }

    #[test]
    fn bad_images_are_rejected_with_their_reason() {
        assert_eq!(
            KernelImage::parse(&[0; 32], 32),
            Err(ImageError::TooShort { length: 32 })
        );
        let header = test_header(0, 0x1000, 0);
        assert_eq!(
            KernelImage::parse(&header, 10),
            Err(ImageError::TooShort { length: 10 })
        );
        let mut elf = test_header(0, 0x1000, 0);
        elf[56..60].copy_from_slice(b"\x7fELF");
        assert_eq!(
            KernelImage::parse(&elf, 0x1000),
            Err(ImageError::BadMagic { found: 0x464c_457f })
        );
        assert_eq!(
            KernelImage::parse(&test_header(0, 0x1000, 1), 0x1000),
            Err(ImageError::BigEndian)
        );
        assert_eq!(
            KernelImage::parse(&test_header(0, 0x1000, 0), 0x2000),
            Err(ImageError::ImageSizeTooSmall {
                image_size: 0x1000,
                length: 0x2000
            })
        );
        assert_eq!(
            KernelImage::parse(&test_header(0x20_0000, 0x1000, 0), 0x1000),
            Err(ImageError::BadTextOffset {
                text_offset: 0x20_0000
            })
        );
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            ImageError::BadMagic { found: 0x464c_457f }.to_string(),
            "kernel magic is 0x464c457f, not an arm64 Image (0x644d5241)"
        );
    }
}
