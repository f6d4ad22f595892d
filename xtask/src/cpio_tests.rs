//! Tests for the `newc` writer: exact header bytes, alignment, the trailer, and a reader
//! written from the format description that reads every archive back.

use super::*;

/// One entry as read back.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    name: String,
    inode: u32,
    mode: u32,
    links: u32,
    rdev: (u32, u32),
    data: Vec<u8>,
    /// Offset of the header in the archive.
    offset: usize,
}

fn field(header: &[u8], index: usize) -> u32 {
    let at = MAGIC.len() + index * 8;
    let text = std::str::from_utf8(&header[at..at + 8]).unwrap();
    u32::from_str_radix(text, 16).unwrap()
}

/// Reads entries up to and including the trailer; panics on anything malformed.
fn read(archive: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut at = 0;
    loop {
        assert_eq!(at % 4, 0, "entry at {at} is not 4-byte aligned");
        let header = &archive[at..at + HEADER_LEN];
        assert_eq!(&header[..6], MAGIC.as_bytes());
        let name_size = field(header, 11) as usize;
        let name_start = at + HEADER_LEN;
        let name = &archive[name_start..name_start + name_size];
        assert_eq!(name.last(), Some(&0), "the name is NUL-terminated");
        let data_start = padded(name_start + name_size);
        assert!(archive[name_start + name_size..data_start]
            .iter()
            .all(|&b| b == 0));
        let size = field(header, 6) as usize;
        let entry = Entry {
            name: String::from_utf8(name[..name_size - 1].to_vec()).unwrap(),
            inode: field(header, 0),
            mode: field(header, 1),
            links: field(header, 4),
            rdev: (field(header, 9), field(header, 10)),
            data: archive[data_start..data_start + size].to_vec(),
            offset: at,
        };
        at = padded(data_start + size);
        let last = entry.name == TRAILER;
        entries.push(entry);
        if last {
            assert_eq!(at, archive.len(), "nothing follows the trailer");
            return entries;
        }
    }
}

#[test]
fn a_file_header_is_byte_exact() {
    let mut archive = Archive::new();
    archive.file("init", 0o755, b"#!/bin/sh\n").unwrap();
    let bytes = archive.finish();
    let expected_header = concat!(
        "070701", "00000001", "000081ED", "00000000", "00000000", "00000001", "00000000",
        "0000000A", "00000000", "00000000", "00000000", "00000000", "00000005", "00000000",
    );
    assert_eq!(&bytes[..HEADER_LEN], expected_header.as_bytes());
    // 110 + "init\0" = 115, padded to 116; then 10 bytes of data padded to 12.
    assert_eq!(&bytes[110..116], b"init\0\0");
    assert_eq!(&bytes[116..126], b"#!/bin/sh\n");
    assert_eq!(&bytes[126..128], [0, 0]);
    assert_eq!(&bytes[128..134], MAGIC.as_bytes());
}

#[test]
fn entries_read_back_with_their_kinds() {
    let mut archive = Archive::new();
    archive.directory("bin", 0o755).unwrap();
    archive.file("bin/busybox", 0o755, &[1, 2, 3]).unwrap();
    archive.symlink("bin/sh", "busybox").unwrap();
    archive.directory("dev", 0o755).unwrap();
    archive.char_device("dev/console", 0o600, 5, 1).unwrap();
    let entries = read(&archive.finish());
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bin",
            "bin/busybox",
            "bin/sh",
            "dev",
            "dev/console",
            TRAILER
        ]
    );
    assert_eq!((entries[0].mode, entries[0].links), (S_IFDIR | 0o755, 2));
    assert_eq!(entries[1].mode, S_IFREG | 0o755);
    assert_eq!(entries[1].data, [1, 2, 3]);
    assert_eq!(entries[2].mode, S_IFLNK | 0o777);
    assert_eq!(entries[2].data, b"busybox");
    assert_eq!(entries[4].mode, S_IFCHR | 0o600);
    assert_eq!(entries[4].rdev, (5, 1));
    let inodes: Vec<u32> = entries.iter().map(|e| e.inode).collect();
    assert_eq!(
        inodes,
        [1, 2, 3, 4, 5, 0],
        "distinct inodes; the trailer has 0"
    );
}

#[test]
fn every_entry_and_the_end_are_aligned_for_any_name_and_data_length() {
    let mut archive = Archive::new();
    for length in 1..=9 {
        let name = "n".repeat(length);
        archive.file(&name, 0o644, &vec![0xa5; length]).unwrap();
    }
    let bytes = archive.finish();
    assert_eq!(bytes.len() % 4, 0);
    let entries = read(&bytes);
    assert_eq!(entries.len(), 10);
    for (length, entry) in (1..=9).zip(&entries) {
        assert_eq!(entry.data, vec![0xa5; length]);
        assert_eq!(entry.offset % 4, 0);
    }
}

#[test]
fn the_trailer_ends_even_an_empty_archive() {
    let bytes = Archive::new().finish();
    let entries = read(&bytes);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].name, TRAILER);
    assert_eq!((entries[0].mode, entries[0].links), (0, 1));
    // 110 + "TRAILER!!!\0" (11) = 121, padded to 124.
    assert_eq!(bytes.len(), 124);
}

#[test]
fn bad_entries_are_refused() {
    let mut archive = Archive::new();
    for name in ["", "/init", "bin//sh", "a\0b", "../x", "x/.", TRAILER] {
        assert_eq!(
            archive.file(name, 0o644, b""),
            Err(CpioError::BadName { name: name.into() }),
            "{name:?}"
        );
    }
    assert_eq!(
        archive.file("bin/sh", 0o755, b""),
        Err(CpioError::MissingParent {
            name: "bin/sh".into(),
            parent: "bin".into()
        })
    );
    archive.directory("bin", 0o755).unwrap();
    assert_eq!(
        archive.directory("bin", 0o755),
        Err(CpioError::Duplicate { name: "bin".into() })
    );
    assert_eq!(
        archive.file("bin/x", 0o100_755, b""),
        Err(CpioError::BadMode {
            name: "bin/x".into(),
            mode: 0o100_755
        })
    );
    // Refused entries leave nothing behind.
    let entries = read(&archive.finish());
    assert_eq!(entries.len(), 2);
}
