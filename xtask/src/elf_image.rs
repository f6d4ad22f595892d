//! Turns the hypervisor ELF into a flat arm64 Linux `Image`: the loadable segments' file
//! bytes laid out by virtual address, with the Image header at offset 0.

use std::fmt;
use std::fs;
use std::path::Path;

use object::elf::{FileHeader64, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian;

/// Offset of the `ARM\x64` magic in the arm64 Image header (Linux `booting.rst`).
pub const MAGIC_OFFSET: usize = 0x38;
/// The arm64 Image header magic.
pub const MAGIC: [u8; 4] = *b"ARM\x64";
/// A flat image larger than this means the segments are scattered, not an Image.
pub const MAX_IMAGE_SIZE: u64 = 256 << 20;

/// Why the ELF cannot become an Image.
#[derive(Debug)]
pub enum ImageError {
    /// Reading the ELF or writing the Image failed.
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file is not a little-endian 64-bit ELF.
    NotElf { reason: String },
    /// It has no `PT_LOAD` segment with bytes in the file.
    NoLoadSegments,
    /// A segment claims bytes beyond the end of the file.
    SegmentOutsideFile {
        vaddr: u64,
        offset: u64,
        size: u64,
        file_size: usize,
    },
    /// The segments span more than [`MAX_IMAGE_SIZE`].
    TooLarge { span: u64 },
    /// There is no arm64 Image header at offset 0.
    NoImageHeader { found: [u8; 4] },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Io { path, source } => write!(f, "{path}: {source}"),
            ImageError::NotElf { reason } => write!(f, "not a 64-bit little-endian ELF: {reason}"),
            ImageError::NoLoadSegments => write!(f, "the ELF has no PT_LOAD segment with file contents"),
            ImageError::SegmentOutsideFile { vaddr, offset, size, file_size } => write!(
                f,
                "segment at {vaddr:#x} takes {size:#x} bytes from file offset {offset:#x}, past the file's end ({file_size:#x})"
            ),
            ImageError::TooLarge { span } => {
                write!(f, "the loadable segments span {span:#x} bytes, more than {MAX_IMAGE_SIZE:#x}")
            }
            ImageError::NoImageHeader { found } => write!(
                f,
                "no arm64 Image header: expected magic {MAGIC:02x?} (\"ARM\\x64\") at offset {MAGIC_OFFSET:#x}, found \
                 {found:02x?}; the hypervisor's entry must start with the Image header"
            ),
        }
    }
}

impl std::error::Error for ImageError {}

/// Lays out the ELF's `PT_LOAD` file bytes at `p_vaddr - lowest p_vaddr`, zero-filling gaps and
/// ending at the last segment's file end, and checks the Image magic.
pub fn flatten(elf: &[u8]) -> Result<Vec<u8>, ImageError> {
    let endian = LittleEndian;
    let not_elf = |e: object::read::Error| ImageError::NotElf {
        reason: e.to_string(),
    };
    let header = FileHeader64::<LittleEndian>::parse(elf).map_err(not_elf)?;
    let segments: Vec<(u64, u64, u64)> = header
        .program_headers(endian, elf)
        .map_err(not_elf)?
        .iter()
        .filter(|p| p.p_type(endian) == PT_LOAD && p.p_filesz(endian) > 0)
        .map(|p| (p.p_vaddr(endian), p.p_offset(endian), p.p_filesz(endian)))
        .collect();
    let base = segments
        .iter()
        .map(|s| s.0)
        .min()
        .ok_or(ImageError::NoLoadSegments)?;
    let end = segments
        .iter()
        .map(|s| s.0.saturating_add(s.2))
        .max()
        .unwrap_or(base);
    let span = end - base;
    if span > MAX_IMAGE_SIZE {
        return Err(ImageError::TooLarge { span });
    }
    let mut image = vec![0u8; span as usize];
    for &(vaddr, offset, size) in &segments {
        let outside = ImageError::SegmentOutsideFile {
            vaddr,
            offset,
            size,
            file_size: elf.len(),
        };
        let bytes = offset
            .checked_add(size)
            .and_then(|file_end| elf.get(offset as usize..file_end as usize))
            .ok_or(outside)?;
        let at = (vaddr - base) as usize;
        image[at..at + bytes.len()].copy_from_slice(bytes);
    }
    let mut found = [0u8; 4];
    if let Some(magic) = image.get(MAGIC_OFFSET..MAGIC_OFFSET + 4) {
        found.copy_from_slice(magic);
    }
    if found != MAGIC {
        return Err(ImageError::NoImageHeader { found });
    }
    Ok(image)
}

/// Reads the ELF at `elf`, writes the Image to `image` (creating its directory).
pub fn convert(elf: &Path, image: &Path) -> Result<usize, ImageError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ImageError::Io { path, source }
    };
    let bytes = fs::read(elf).map_err(io(elf))?;
    let flat = flatten(&bytes)?;
    if let Some(dir) = image.parent() {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    fs::write(image, &flat).map_err(io(image))?;
    Ok(flat.len())
}

#[cfg(test)]
#[path = "elf_image_tests.rs"]
mod tests;
