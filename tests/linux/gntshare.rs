//! `gntshare`: two unmodified Linux partitions share a page through Xen grant tables and
//! signal each other through a Xen event channel, with no control domain and no xenstore.
//! Built by xtask for arm64 Linux (static, musl) into the Linux guest's initramfs as
//! `/bin/gntshare`; `/init` runs it when the kernel command line says `gntshare.role=granter`
//! or `gntshare.role=mapper`.
//!
//! With no xenstore to publish them, the grant reference and the event-channel port are
//! agreed on the kernel command line of both partitions (`gntshare.ref=N gntshare.port=P`):
//! the granter (domain 1) allocates one page with `/dev/xen/gntalloc`, granted to domain 2,
//! and an unbound port for domain 2 with `/dev/xen/evtchn`, and checks that Linux gave it the
//! agreed reference and port (the same kernel and initramfs boot the same way every time);
//! the mapper (domain 2) maps reference N of domain 1 with `/dev/xen/gntdev` and binds to
//! port P of domain 1, each retried only until the granter has made it. Then 1 MiB crosses
//! the page each way, a page's worth per round, every byte checked: a flag word in the page
//! says whose turn it is and an event on the channel signals each handoff, which the other
//! side waits for in `read` on `/dev/xen/evtchn`. Each prints `LINUX-MARKER:` lines for the
//! scenario.
//!
//! (The config's static channels, `xen,evtchn`, cannot serve here: Linux 6.1's evtchn device
//! has no ioctl to bind a port the hypervisor bound already; a later Linux added one.)

use std::arch::asm;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::ptr::{read_volatile, write_volatile};
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

const GRANTER: u32 = 1;
const MAPPER: u32 = 2;
/// `_IOC(_IOC_NONE, kind, nr, size)`.
const fn ioc(kind: u8, nr: u64, size: u64) -> u64 {
    (size << 16) | ((kind as u64) << 8) | nr
}
/// `IOCTL_GNTALLOC_ALLOC_GREF` (struct of 24 bytes), `IOCTL_GNTDEV_MAP_GRANT_REF` (24),
/// `IOCTL_GNTDEV_UNMAP_GRANT_REF` (16).
const GNTALLOC_ALLOC_GREF: u64 = ioc(b'G', 5, 24);
const GNTDEV_MAP_GRANT_REF: u64 = ioc(b'G', 0, 24);
const GNTDEV_UNMAP_GRANT_REF: u64 = ioc(b'G', 1, 16);
const GNTALLOC_FLAG_WRITABLE: u16 = 1;
/// `IOCTL_EVTCHN_BIND_INTERDOMAIN` (remote domain, remote port), `IOCTL_EVTCHN_BIND_UNBOUND_PORT`
/// (remote domain), `IOCTL_EVTCHN_NOTIFY` (port): each returns the local port or 0.
const EVTCHN_BIND_INTERDOMAIN: u64 = ioc(b'E', 1, 8);
const EVTCHN_BIND_UNBOUND_PORT: u64 = ioc(b'E', 2, 4);
const EVTCHN_NOTIFY: u64 = ioc(b'E', 4, 4);
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

/// `ppoll` for input on `fd` for at most `timeout` (syscall 73); whether input is ready.
fn readable(fd: i32, timeout: Duration) -> bool {
    // struct pollfd: fd i32, events i16 (POLLIN 1), revents i16; struct timespec: two i64.
    let mut pollfd = [0u8; 8];
    pollfd[0..4].copy_from_slice(&fd.to_le_bytes());
    pollfd[4..6].copy_from_slice(&1i16.to_le_bytes());
    let timespec: [i64; 2] = [timeout.as_secs() as i64, i64::from(timeout.subsec_nanos())];
    let ret: i64;
    // SAFETY: the kernel reads `timespec` and writes `revents` inside `pollfd`, both owned
    // here for the call; no signal mask is given.
    unsafe {
        asm!("svc #0", inlateout("x0") pollfd.as_mut_ptr() as i64 => ret, in("x1") 1u64, in("x2") timespec.as_ptr(), in("x3") 0u64, in("x4") 8u64, in("x8") 73u64, options(nostack))
    };
    ret > 0
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

/// A number from the kernel command line (`gntshare.NAME=N`).
fn parameter(name: &str) -> u32 {
    let line = std::fs::read_to_string("/proc/cmdline").unwrap_or_else(|e| fail(&format!("/proc/cmdline: {e}")));
    let key = format!("gntshare.{name}=");
    let Some(text) = line.split_whitespace().find_map(|word| word.strip_prefix(&key)) else {
        fail(&format!("no {key}N on the kernel command line: give both partitions the same grant reference and port"))
    };
    text.parse().unwrap_or_else(|e| fail(&format!("{key}{text}: {e} (a decimal number)")))
}

/// One end of the event channel through `/dev/xen/evtchn`: its local port, and the events
/// read from it.
struct Channel {
    device: File,
    port: u32,
    received: u32,
}

impl Channel {
    fn open() -> File {
        OpenOptions::new().read(true).write(true).open("/dev/xen/evtchn").unwrap_or_else(|e| fail(&format!("/dev/xen/evtchn: {e}")))
    }

    /// The granter's end: an unbound port for domain `remote`, which must be `agreed`.
    fn unbound(remote: u32, agreed: u32) -> Channel {
        let device = Self::open();
        let mut request = remote.to_le_bytes();
        let port = ioctl(device.as_raw_fd(), EVTCHN_BIND_UNBOUND_PORT, request.as_mut_ptr());
        if port != i64::from(agreed) {
            fail(&format!("IOCTL_EVTCHN_BIND_UNBOUND_PORT for domain {remote} gave port {port}, not the agreed gntshare.port={agreed}: give both partitions gntshare.port={port}"));
        }
        Channel { device, port: agreed, received: 0 }
    }

    /// The mapper's end: bound to port `remote_port` of domain `remote` once it exists.
    fn bind(remote: u32, remote_port: u32) -> Channel {
        let device = Self::open();
        let start = Instant::now();
        loop {
            let mut request = [0u8; 8];
            request[0..4].copy_from_slice(&remote.to_le_bytes());
            request[4..8].copy_from_slice(&remote_port.to_le_bytes());
            let port = ioctl(device.as_raw_fd(), EVTCHN_BIND_INTERDOMAIN, request.as_mut_ptr());
            if port > 0 {
                return Channel { device, port: port as u32, received: 0 };
            }
            if start.elapsed() > PATIENCE {
                fail(&format!("IOCTL_EVTCHN_BIND_INTERDOMAIN to port {remote_port} of domain {remote}: {port} for {PATIENCE:?}"));
            }
            // Not allocated yet: the granter is still starting.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn notify(&self) {
        let mut request = self.port.to_le_bytes();
        let rc = ioctl(self.device.as_raw_fd(), EVTCHN_NOTIFY, request.as_mut_ptr());
        if rc != 0 {
            fail(&format!("IOCTL_EVTCHN_NOTIFY on port {}: {rc}", self.port));
        }
    }

    /// Sleeps until the next event on the port, then unmasks it (the device masks a port
    /// from its event until the port number is written back).
    fn wait(&mut self) {
        if !readable(self.device.as_raw_fd(), PATIENCE) {
            fail(&format!("no event on port {} for {PATIENCE:?} ({} received before)", self.port, self.received));
        }
        let mut port = [0u8; 4];
        if let Err(e) = self.device.read_exact(&mut port) {
            fail(&format!("read of /dev/xen/evtchn: {e}"));
        }
        if u32::from_le_bytes(port) != self.port {
            fail(&format!("an event on port {}, not on {}", u32::from_le_bytes(port), self.port));
        }
        if let Err(e) = self.device.write_all(&port) {
            fail(&format!("unmasking port {} through /dev/xen/evtchn: {e}", self.port));
        }
        self.received += 1;
    }

    /// Waits, event by event, until the page's flag word says `want`. It never polls the
    /// page: without an event for each handoff this waits until `PATIENCE` and fails. The
    /// flag may say `want` before its event is read (that event is then read at the next
    /// wait, which finds the flag unchanged and waits for the next one).
    fn wait_flag(&mut self, page: *mut u8, want: u32) {
        loop {
            fence(Ordering::SeqCst);
            if load(page, FLAG) == want {
                fence(Ordering::SeqCst);
                return;
            }
            self.wait();
        }
    }

    /// Hands the page over: `flag` after everything written before, then the event.
    fn hand_over(&self, page: *mut u8, flag: u32) {
        fence(Ordering::SeqCst);
        store(page, FLAG, flag);
        fence(Ordering::SeqCst);
        self.notify();
    }
}

fn granter(gref: u32, port: u32) {
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
    let given = u32::from_le_bytes(request[16..20].try_into().unwrap_or_default());
    if given != gref {
        fail(&format!("gntalloc granted reference {given}, not the agreed gntshare.ref={gref}: give both partitions gntshare.ref={given}"));
    }
    let page = mmap(dev.as_raw_fd(), index).unwrap_or_else(|e| fail(&format!("mmap of the granted page: {e}")));
    marker(&format!("granted a page to domain {MAPPER} (gntalloc, ref {gref})"));
    let mut channel = Channel::unbound(MAPPER, port);
    marker(&format!("event channel port {port} unbound for domain {MAPPER}"));
    // The mapper's first event says it is bound: an event sent before would have been lost.
    channel.wait();
    for round in 0..ROUNDS {
        store(page, ROUND, round);
        fill(page, round, false);
        channel.hand_over(page, FILLED);
        channel.wait_flag(page, ANSWERED);
        check(page, round, true);
    }
    channel.hand_over(page, DONE);
    marker(&format!("gntshare: {ROUNDS} rounds, {} bytes each way, every byte checked", ROUNDS as usize * PAYLOAD_BYTES));
    marker(&format!("each handoff signalled on port {port}: {} events received", channel.received));
    // The mapper unmaps first; the page stays granted until then (gntalloc frees it when it can).
    std::thread::sleep(Duration::from_millis(200));
    let _ = munmap(page);
}

/// Maps reference `gref` of the granter through gntdev; `None` while it does not map.
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

fn mapper(gref: u32, port: u32) {
    let dev = OpenOptions::new().read(true).write(true).open("/dev/xen/gntdev").unwrap_or_else(|e| fail(&format!("/dev/xen/gntdev: {e}")));
    let fd = dev.as_raw_fd();
    let start = Instant::now();
    // The agreed reference, retried until the granter has granted it.
    let (page, index) = loop {
        if let Some(found) = map_ref(fd, gref) {
            break found;
        }
        if start.elapsed() > PATIENCE {
            fail(&format!("reference {gref} of domain {GRANTER} did not map for {PATIENCE:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    marker(&format!("mapped domain {GRANTER}'s page (gntdev, ref {gref})"));
    let mut channel = Channel::bind(GRANTER, port);
    marker(&format!("event channel bound to port {port} of domain {GRANTER}"));
    channel.notify();
    for round in 0..ROUNDS {
        channel.wait_flag(page, FILLED);
        if load(page, ROUND) != round {
            fail(&format!("round {round}: the page says round {}", load(page, ROUND)));
        }
        check(page, round, false);
        fill(page, round, true);
        channel.hand_over(page, ANSWERED);
    }
    channel.wait_flag(page, DONE);
    marker(&format!("gntshare: {ROUNDS} rounds, {} bytes each way, every byte checked", ROUNDS as usize * PAYLOAD_BYTES));
    marker(&format!("each handoff signalled on port {} (bound to domain {GRANTER}'s port {port}): {} events received", channel.port, channel.received));
    if munmap(page) != 0 {
        fail("munmap of the mapped grant");
    }
    unmap_ref(fd, index);
    marker("unmapped the grant");
}

fn main() {
    let gref = parameter("ref");
    let port = parameter("port");
    match std::env::args().nth(1).as_deref() {
        Some("granter") => granter(gref, port),
        Some("mapper") => mapper(gref, port),
        other => fail(&format!("gntshare {other:?}: granter or mapper")),
    }
}
