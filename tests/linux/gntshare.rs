//! `gntshare`: two unmodified Linux partitions share a page through Xen grant tables, with no
//! control domain and no xenstore. Built by xtask for arm64 Linux (static, musl) into the
//! Linux guest's initramfs as `/bin/gntshare`; `/init` runs it when the kernel command line
//! says `gntshare.role=granter` or `gntshare.role=mapper`.
//!
//! The granter (domain 1) allocates one page with `/dev/xen/gntalloc`, granted to domain 2.
//! The mapper (domain 2) does not know the grant reference (there is no xenstore to publish
//! it): it tries references from 8 (the first Linux hands out) with `/dev/xen/gntdev` until
//! one maps. Then 1 MiB crosses the page each way, a page's worth per round handed over by a
//! flag word, every byte checked. Each prints `LINUX-MARKER:` lines for the scenario.

use std::arch::asm;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::ptr::{read_volatile, write_volatile};
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

const GRANTER: u32 = 1;
const MAPPER: u32 = 2;
/// `_IOC(_IOC_NONE, 'G', nr, size)`.
const fn ioc(nr: u64, size: u64) -> u64 {
    (size << 16) | ((b'G' as u64) << 8) | nr
}
/// `IOCTL_GNTALLOC_ALLOC_GREF` (struct of 24 bytes), `IOCTL_GNTDEV_MAP_GRANT_REF` (24),
/// `IOCTL_GNTDEV_UNMAP_GRANT_REF` (16).
const GNTALLOC_ALLOC_GREF: u64 = ioc(5, 24);
const GNTDEV_MAP_GRANT_REF: u64 = ioc(0, 24);
const GNTDEV_UNMAP_GRANT_REF: u64 = ioc(1, 16);
const GNTALLOC_FLAG_WRITABLE: u16 = 1;
/// Linux's first grant reference after the reserved ones, and how far the mapper looks.
const FIRST_REF: u32 = 8;
const LAST_REF: u32 = 512;
const PAGE: usize = 4096;
/// The page: flag word, round, then the payload.
const FLAG: usize = 0;
const ROUND: usize = 4;
const PAYLOAD: usize = 64;
const PAYLOAD_BYTES: usize = PAGE - PAYLOAD;
const ROUNDS: u32 = (1u32 << 20).div_ceil(PAYLOAD_BYTES as u32);
const FILLED: u32 = 1;
const ANSWERED: u32 = 2;
const DONE: u32 = 3;
const PATIENCE: Duration = Duration::from_secs(120);

fn marker(text: &str) {
    println!("LINUX-MARKER: {text}");
}

fn fail(text: &str) -> ! {
    println!("LINUX-MARKER: FAIL {text}");
    std::process::exit(1)
}

/// `ioctl(fd, request, arg)` (aarch64 syscall 29).
fn ioctl(fd: i32, request: u64, arg: *mut u8) -> i64 {
    let ret: i64;
    // SAFETY: the kernel reads and writes the argument structure `arg` points to, which the
    // caller owns and sized for `request`.
    unsafe { asm!("svc #0", inlateout("x0") fd as i64 => ret, in("x1") request, in("x2") arg, in("x8") 29u64, options(nostack)) };
    ret
}

/// `mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset)` (syscall 222).
fn mmap(fd: i32, offset: u64) -> Result<*mut u8, i64> {
    let ret: i64;
    // SAFETY: a new shared mapping of one page of the device; no existing memory changes.
    unsafe {
        asm!("svc #0", inlateout("x0") 0i64 => ret, in("x1") PAGE, in("x2") 3u64, in("x3") 1u64, in("x4") fd as i64, in("x5") offset, in("x8") 222u64, options(nostack))
    };
    if (-4095..0).contains(&ret) {
        Err(ret)
    } else {
        Ok(ret as *mut u8)
    }
}

/// `munmap(address, PAGE)` (syscall 215).
fn munmap(address: *mut u8) -> i64 {
    let ret: i64;
    // SAFETY: `address` is a page this program mapped and no longer uses.
    unsafe { asm!("svc #0", inlateout("x0") address as i64 => ret, in("x1") PAGE, in("x8") 215u64, options(nostack)) };
    ret
}

fn load(page: *mut u8, at: usize) -> u32 {
    // SAFETY: `page` is a mapped, writable page and `at + 4 <= PAGE`, 4-byte aligned.
    unsafe { read_volatile(page.add(at) as *const u32) }
}

fn store(page: *mut u8, at: usize, value: u32) {
    // SAFETY: as for `load`.
    unsafe { write_volatile(page.add(at) as *mut u32, value) }
}

fn pattern(round: u32, back: bool, i: usize) -> u8 {
    (i as u32).wrapping_mul(29).wrapping_add(round.wrapping_mul(13)).wrapping_add(u32::from(back) * 71) as u8
}

fn fill(page: *mut u8, round: u32, back: bool) {
    for i in 0..PAYLOAD_BYTES {
        // SAFETY: inside the mapped page.
        unsafe { write_volatile(page.add(PAYLOAD + i), pattern(round, back, i)) };
    }
}

fn check(page: *mut u8, round: u32, back: bool) {
    for i in 0..PAYLOAD_BYTES {
        // SAFETY: inside the mapped page.
        let found = unsafe { read_volatile(page.add(PAYLOAD + i)) };
        if found != pattern(round, back, i) {
            fail(&format!("round {round}: payload byte {i} is {found:#x}"));
        }
    }
}

fn wait(page: *mut u8, want: u32) {
    let start = Instant::now();
    loop {
        fence(Ordering::SeqCst);
        if load(page, FLAG) == want {
            fence(Ordering::SeqCst);
            return;
        }
        if start.elapsed() > PATIENCE {
            fail(&format!("waited {PATIENCE:?} for flag {want}; it is {}", load(page, FLAG)));
        }
        std::hint::spin_loop();
    }
}

fn granter() {
    let dev = OpenOptions::new().read(true).write(true).open("/dev/xen/gntalloc").unwrap_or_else(|e| fail(&format!("/dev/xen/gntalloc: {e}")));
    // struct ioctl_gntalloc_alloc_gref: domid u16, flags u16, count u32, index u64 (out),
    // gref_ids[1] u32 (out).
    let mut request = [0u8; 24];
    request[0..2].copy_from_slice(&(MAPPER as u16).to_le_bytes());
    request[2..4].copy_from_slice(&GNTALLOC_FLAG_WRITABLE.to_le_bytes());
    request[4..8].copy_from_slice(&1u32.to_le_bytes());
    let rc = ioctl(dev.as_raw_fd(), GNTALLOC_ALLOC_GREF, request.as_mut_ptr());
    if rc != 0 {
        fail(&format!("IOCTL_GNTALLOC_ALLOC_GREF: {rc}"));
    }
    let index = u64::from_le_bytes(request[8..16].try_into().unwrap_or_default());
    let gref = u32::from_le_bytes(request[16..20].try_into().unwrap_or_default());
    let page = mmap(dev.as_raw_fd(), index).unwrap_or_else(|e| fail(&format!("mmap of the granted page: {e}")));
    marker(&format!("granted a page to domain {MAPPER} (gntalloc, ref {gref})"));
    for round in 0..ROUNDS {
        store(page, ROUND, round);
        fill(page, round, false);
        fence(Ordering::SeqCst);
        store(page, FLAG, FILLED);
        wait(page, ANSWERED);
        check(page, round, true);
    }
    store(page, FLAG, DONE);
    marker(&format!("gntshare: {ROUNDS} rounds, {} bytes each way, every byte checked", ROUNDS as usize * PAYLOAD_BYTES));
    // The mapper unmaps first; the page stays granted until then (gntalloc frees it when it can).
    std::thread::sleep(Duration::from_millis(200));
    let _ = munmap(page);
}

/// Maps reference `gref` of the granter through gntdev; `None` if it does not map.
fn map_ref(fd: i32, gref: u32) -> Option<(*mut u8, u64)> {
    // struct ioctl_gntdev_map_grant_ref: count u32, pad u32, index u64 (out),
    // refs[1] { domid u32, ref u32 }.
    let mut request = [0u8; 24];
    request[0..4].copy_from_slice(&1u32.to_le_bytes());
    request[16..20].copy_from_slice(&GRANTER.to_le_bytes());
    request[20..24].copy_from_slice(&gref.to_le_bytes());
    if ioctl(fd, GNTDEV_MAP_GRANT_REF, request.as_mut_ptr()) != 0 {
        fail("IOCTL_GNTDEV_MAP_GRANT_REF refused a single reference");
    }
    let index = u64::from_le_bytes(request[8..16].try_into().unwrap_or_default());
    match mmap(fd, index) {
        Ok(page) => Some((page, index)),
        Err(_) => {
            unmap_ref(fd, index);
            None
        }
    }
}

fn unmap_ref(fd: i32, index: u64) {
    let mut request = [0u8; 16];
    request[0..8].copy_from_slice(&index.to_le_bytes());
    request[8..12].copy_from_slice(&1u32.to_le_bytes());
    let rc = ioctl(fd, GNTDEV_UNMAP_GRANT_REF, request.as_mut_ptr());
    if rc != 0 {
        fail(&format!("IOCTL_GNTDEV_UNMAP_GRANT_REF: {rc}"));
    }
}

fn mapper() {
    let dev = OpenOptions::new().read(true).write(true).open("/dev/xen/gntdev").unwrap_or_else(|e| fail(&format!("/dev/xen/gntdev: {e}")));
    let fd = dev.as_raw_fd();
    let start = Instant::now();
    let (page, index, gref) = 'found: loop {
        for gref in FIRST_REF..LAST_REF {
            if let Some((page, index)) = map_ref(fd, gref) {
                break 'found (page, index, gref);
            }
        }
        if start.elapsed() > PATIENCE {
            fail(&format!("no reference of domain {GRANTER} from {FIRST_REF} to {LAST_REF} maps"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    marker(&format!("mapped domain {GRANTER}'s page (gntdev, ref {gref})"));
    for round in 0..ROUNDS {
        wait(page, FILLED);
        if load(page, ROUND) != round {
            fail(&format!("round {round}: the page says round {}", load(page, ROUND)));
        }
        check(page, round, false);
        fill(page, round, true);
        fence(Ordering::SeqCst);
        store(page, FLAG, ANSWERED);
    }
    wait(page, DONE);
    marker(&format!("gntshare: {ROUNDS} rounds, {} bytes each way, every byte checked", ROUNDS as usize * PAYLOAD_BYTES));
    if munmap(page) != 0 {
        fail("munmap of the mapped grant");
    }
    unmap_ref(fd, index);
    marker("unmapped the grant");
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("granter") => granter(),
        Some("mapper") => mapper(),
        other => fail(&format!("gntshare {other:?}: granter or mapper")),
    }
}
