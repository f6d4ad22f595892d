//! Tests for the ELF to Image conversion, on ELF files built here byte by byte.

use super::*;

/// `PT_LOAD` as it is stored in a program header.
const LOAD: u32 = 1;

/// A program header: type, file offset, virtual address, file size, memory size.
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

/// An AArch64 ELF64 executable with the given program headers and file contents after them.
fn elf(segments: &[Segment], contents: &[(usize, &[u8])]) -> Vec<u8> {
    let mut file = vec![0u8; 64];
    file[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    file[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN: a position-independent image
    file[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    file[20..24].copy_from_slice(&1u32.to_le_bytes());
    file[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    file[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    file[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    file[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
    file[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    for s in segments {
        let mut ph = Vec::with_capacity(56);
        ph.extend(s.kind.to_le_bytes());
        ph.extend(5u32.to_le_bytes()); // R+X
        for v in [s.offset, s.vaddr, s.vaddr, s.filesz, s.memsz, 0x1000] {
            ph.extend(v.to_le_bytes());
        }
        file.extend(ph);
    }
    for &(at, bytes) in contents {
        if file.len() < at + bytes.len() {
            file.resize(at + bytes.len(), 0);
        }
        file[at..at + bytes.len()].copy_from_slice(bytes);
    }
    file
}

fn header_with_magic() -> Vec<u8> {
    let mut header = vec![0u8; 0x40];
    header[..4].copy_from_slice(&[0x4d, 0x5a, 0, 0]);
    header[MAGIC_OFFSET..MAGIC_OFFSET + 4].copy_from_slice(&MAGIC);
    header
}

#[test]
fn segments_are_placed_by_address_with_zero_gaps() {
    let header = header_with_magic();
    let data = [0xaa; 16];
    let file = elf(
        &[
            Segment {
                kind: LOAD,
                offset: 0x1000,
                vaddr: 0x40_0000,
                filesz: 0x40,
                memsz: 0x40,
            },
            Segment {
                kind: 0x6474_e551,
                offset: 0,
                vaddr: 0,
                filesz: 0,
                memsz: 0,
            }, // PT_GNU_STACK
            // .data then .bss: only the file bytes go into the Image.
            Segment {
                kind: LOAD,
                offset: 0x1100,
                vaddr: 0x40_2000,
                filesz: 16,
                memsz: 0x8000,
            },
        ],
        &[(0x1000, &header), (0x1100, &data)],
    );
    let image = flatten(&file).unwrap();
    assert_eq!(image.len(), 0x2010);
    assert_eq!(&image[..0x40], &header[..]);
    assert!(image[0x40..0x2000].iter().all(|&b| b == 0));
    assert_eq!(&image[0x2000..], &data);
}

#[test]
fn missing_image_magic_is_reported() {
    let file = elf(
        &[Segment {
            kind: LOAD,
            offset: 0x100,
            vaddr: 0,
            filesz: 0x40,
            memsz: 0x40,
        }],
        &[(0x100, &[1; 0x40])],
    );
    match flatten(&file) {
        Err(ImageError::NoImageHeader { found }) => assert_eq!(found, [1; 4]),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn broken_inputs_are_refused() {
    assert!(matches!(
        flatten(b"not an elf at all, just some text padding it out to 64 bytes......"),
        Err(ImageError::NotElf { .. })
    ));
    let no_load = elf(
        &[Segment {
            kind: 4,
            offset: 0x100,
            vaddr: 0,
            filesz: 4,
            memsz: 4,
        }],
        &[(0x100, &[0; 4])],
    );
    assert!(matches!(flatten(&no_load), Err(ImageError::NoLoadSegments)));
    let past_end = elf(
        &[Segment {
            kind: LOAD,
            offset: 0x100,
            vaddr: 0,
            filesz: 0x1000,
            memsz: 0x1000,
        }],
        &[],
    );
    assert!(matches!(
        flatten(&past_end),
        Err(ImageError::SegmentOutsideFile { .. })
    ));
    let scattered = elf(
        &[
            Segment {
                kind: LOAD,
                offset: 0x100,
                vaddr: 0,
                filesz: 0x40,
                memsz: 0x40,
            },
            Segment {
                kind: LOAD,
                offset: 0x100,
                vaddr: 1 << 40,
                filesz: 0x40,
                memsz: 0x40,
            },
        ],
        &[(0x100, &header_with_magic())],
    );
    assert!(matches!(
        flatten(&scattered),
        Err(ImageError::TooLarge { .. })
    ));
}
