//! The Linux test guest's initramfs: busybox-static, the `/init` script of `tests/linux/`, and
//! the few directories and the console node Linux needs before `/init` mounts the rest.

use crate::cpio::{Archive, CpioError};

/// The `/init` script, relative to the workspace root.
pub const INIT_SCRIPT: &str = "tests/linux/init";

/// Directories made in the archive. `busybox --install -s` fills `bin`, `sbin`, `usr/bin`
/// and `usr/sbin` with applet links at boot; `/init` mounts proc, sysfs, devtmpfs and tmpfs
/// on the others.
pub const DIRECTORIES: &[&str] = &[
    "bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root", "lib",
    "lib/modules",
];

/// Kernel modules put in `lib/modules/` (Debian's kernel has them as modules, without
/// dependencies): the virtio-mmio transport and the virtio block driver, which `/init`
/// loads when the partition was given a passthrough device.
pub const MODULES: &[&str] = &[
    "kernel/drivers/virtio/virtio_mmio.ko",
    "kernel/drivers/block/virtio_blk.ko",
    // Xen's grant and event-channel devices, for `gntshare` (`/dev/xen/gntalloc`,
    // `/dev/xen/gntdev`, `/dev/xen/evtchn`).
    "kernel/drivers/xen/xen-gntalloc.ko",
    "kernel/drivers/xen/xen-gntdev.ko",
    "kernel/drivers/xen/xen-evtchn.ko",
];

/// Programs of `tests/linux/` built for arm64 Linux and put in `bin/`: one Rust file each,
/// built with rustc alone (std, static, no crates).
pub const PROGRAMS: &[&str] = &["gntshare"];

/// The Linux bench's first process (`rdinit=/bin/bench_init`, docs/bench.md), built like
/// [`PROGRAMS`] but alone in an archive of its own ([`bench_archive`]): the test
/// initramfs stays as it was for the partitions with little RAM.
pub const BENCH_INIT: &str = "bench_init";

/// `/dev/console` (character device 5:1). Linux opens it for `/init`'s standard streams
/// before `/init` runs, so it must be in the archive: devtmpfs is mounted only later.
pub const CONSOLE: (&str, u32, u32) = ("dev/console", 5, 1);

/// The file the passthrough disk holds, and its text.
pub const DISK_FILE: (&str, &[u8]) = ("passthrough.txt", b"hello from the passthrough disk\n");

/// The virtio-blk disk of the passthrough scenarios: a `newc` cpio archive holding
/// [`DISK_FILE`], which `/init` unpacks from `/dev/vda` (Debian's kernel has no filesystem
/// built in, and a cpio needs no module), padded to 4 MiB, which `/init` then reads whole
/// (many requests, so many completion interrupts).
pub fn disk() -> Result<Vec<u8>, CpioError> {
    let mut archive = Archive::new();
    archive.file(DISK_FILE.0, 0o644, DISK_FILE.1)?;
    let mut bytes = archive.finish();
    bytes.resize(bytes.len().next_multiple_of(0x40_0000), 0);
    Ok(bytes)
}

/// The archive's bytes: the directories, `bin/busybox` with `bin/sh` linked to it (the
/// script's interpreter), `dev/console`, the kernel modules (by file name), the programs (in
/// `bin/`) and `init`.
pub fn archive(busybox: &[u8], init: &[u8], modules: &[(&str, Vec<u8>)], programs: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, CpioError> {
    let mut archive = Archive::new();
    for directory in DIRECTORIES {
        archive.directory(directory, 0o755)?;
    }
    for (name, bytes) in modules {
        archive.file(&format!("lib/modules/{name}"), 0o644, bytes)?;
    }
    for (name, bytes) in programs {
        archive.file(&format!("bin/{name}"), 0o755, bytes)?;
    }
    archive.file("bin/busybox", 0o755, busybox)?;
    archive.symlink("bin/sh", "busybox")?;
    let (console, major, minor) = CONSOLE;
    archive.char_device(console, 0o600, major, minor)?;
    archive.file("init", 0o755, init)?;
    Ok(archive.finish())
}

/// The Linux bench's initramfs: `bin/bench_init` and `dev/console`, nothing else.
pub fn bench_archive(init: &[u8]) -> Result<Vec<u8>, CpioError> {
    let mut archive = Archive::new();
    for directory in ["bin", "dev"] {
        archive.directory(directory, 0o755)?;
    }
    archive.file(&format!("bin/{BENCH_INIT}"), 0o755, init)?;
    let (console, major, minor) = CONSOLE;
    archive.char_device(console, 0o600, major, minor)?;
    Ok(archive.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::{S_IFCHR, S_IFLNK};

    /// The index of `needle` in `haystack`.
    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn the_archive_holds_busybox_its_shell_link_the_console_and_init() {
        let bytes = archive(b"BUSYBOX-BYTES", b"#!/bin/sh\necho hi\n", &[("m.ko", b"KO".to_vec())], &[("prog", b"ELF".to_vec())]).unwrap();
        assert!(find(&bytes, b"bin/prog\0").is_some());
        assert!(find(&bytes, b"lib/modules/m.ko\0").is_some());
        // Every parent comes before its children: the writer refuses anything else.
        for name in ["bin/busybox\0", "bin/sh\0", "dev/console\0", "init\0"] {
            assert!(find(&bytes, name.as_bytes()).is_some(), "{name}");
        }
        assert!(find(&bytes, b"BUSYBOX-BYTES").is_some());
        assert!(find(&bytes, b"#!/bin/sh\necho hi\n").is_some());
        let console = find(&bytes, b"dev/console\0").unwrap() - crate::cpio::HEADER_LEN;
        let header = std::str::from_utf8(&bytes[console..console + 110]).unwrap();
        let mode = u32::from_str_radix(&header[14..22], 16).unwrap();
        assert_eq!(mode, S_IFCHR | 0o600);
        assert_eq!(&header[78..94], "0000000500000001", "rdev 5:1");
        let sh = find(&bytes, b"bin/sh\0").unwrap() - crate::cpio::HEADER_LEN;
        let header = std::str::from_utf8(&bytes[sh..sh + 110]).unwrap();
        assert_eq!(
            u32::from_str_radix(&header[14..22], 16).unwrap(),
            S_IFLNK | 0o777
        );
    }

    #[test]
    fn the_bench_archive_holds_its_init_and_the_console_only() {
        let bytes = bench_archive(b"ELF-INIT").unwrap();
        assert!(find(&bytes, b"bin/bench_init\0").is_some());
        assert!(find(&bytes, b"dev/console\0").is_some());
        assert!(find(&bytes, b"ELF-INIT").is_some());
        assert!(find(&bytes, b"busybox").is_none());
    }

    #[test]
    fn the_init_script_in_the_tree_is_a_shell_script_with_the_markers() {
        let path = crate::workspace::root().join(INIT_SCRIPT);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"));
        for needed in [
            "LINUX-MARKER",
            "poweroff -f",
            "demo\\.shell=1",
            "busybox --install",
        ] {
            assert!(text.contains(needed), "{needed}");
        }
    }
}
