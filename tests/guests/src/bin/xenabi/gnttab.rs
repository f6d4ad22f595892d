//! The grant-table cases of the `xenabi` guest: `grant_table_op` (sizes, versions, setup,
//! map, unmap, copy, refused operations) and the grant-table and reservation parts of
//! `memory_op`, valid and hostile. The guest is domain 1 and alone, so every grant it maps or
//! copies is one of its own: the mapping paths are the ones two partitions use.
//!
//! A page is mapped from a grant only at a frame the guest gave back first
//! (`XENMEM_decrease_reservation`), and repopulated after the unmap, so both hypervisors end
//! with the same memory: Xen keeps a RAM page a grant mapping displaced, which would leave it
//! unable to populate that frame again.
//!
//! The grant frames are reached through the guest's identity map, which maps Xen's grant
//! window Normal write-back inner shareable, as the hypervisor maps the frames and as Linux
//! does (`runtime::stage1`); the cases check that first.

use core::ptr::{addr_of_mut, read_volatile, write_volatile};

use test_guests::runtime::stage1::{require_normal, GRANT_WINDOW as WINDOW, GRANT_WINDOW_SIZE};
use test_guests::runtime::Guest;
use test_guests::say;

use super::{call, peek, peek_u64, poke, remove, BAD, DOMID_SELF, MEMORY_OP, NO_RAM};

const GRANT_TABLE_OP: u64 = 20;
/// `GNTTABOP_*`.
const MAP: u64 = 0;
const UNMAP: u64 = 1;
const SETUP_TABLE: u64 = 2;
const DUMP_TABLE: u64 = 3;
const TRANSFER: u64 = 4;
const COPY: u64 = 5;
const QUERY_SIZE: u64 = 6;
const SET_VERSION: u64 = 8;
const GET_STATUS_FRAMES: u64 = 9;
const GET_VERSION: u64 = 10;
/// `XENMEM_*`.
const INCREASE_RESERVATION: u64 = 0;
const DECREASE_RESERVATION: u64 = 1;
const CURRENT_RESERVATION: u64 = 3;
const MAXIMUM_RESERVATION: u64 = 4;
const POPULATE_PHYSMAP: u64 = 6;
const ADD_TO_PHYSMAP: u64 = 7;
const SPACE_GRANT_TABLE: u32 = 1;
/// `GTF_permit_access`, `GTF_readonly`.
const PERMIT: u16 = 1;
const READONLY: u16 = 1 << 2;
/// `GNTMAP_host_map`, `GNTMAP_readonly`.
const HOST_MAP: u32 = 1 << 1;
const MAP_READONLY: u32 = 1 << 2;
/// `GNTCOPY_dest_gref`.
const DEST_GREF: u16 = 1 << 1;
/// Our domain id (the first dom0less domU).
const SELF_ID: u16 = 1;

/// Pages of the guest's RAM: 0 the request buffer, 1 a frame list, 2 the granted page,
/// 3 the frame given back and then mapped from a grant.
#[repr(C, align(4096))]
struct Pages([[u8; 4096]; 4]);
static mut PAGES: Pages = Pages([[0; 4096]; 4]);

fn page(index: u64) -> u64 {
    (addr_of_mut!(PAGES) as u64) + index * 4096
}

/// Writes v1 entry `gref` in grant frame 0: the frame, then the flags and domain id.
fn grant(gref: u64, flags: u16, domid: u16, frame: u64) {
    let entry = WINDOW + gref * 8;
    // SAFETY: grant frame 0 is mapped at the window before this is called; the entry is the
    // guest's own to write.
    unsafe {
        write_volatile((entry + 4) as *mut u32, frame as u32);
        core::arch::asm!("dmb ishst");
        write_volatile(entry as *mut u32, u32::from(flags) | u32::from(domid) << 16);
    }
}

/// The flags of entry `gref` as the hypervisor left them.
fn flags(gref: u64) -> u16 {
    // SAFETY: as for `grant`.
    unsafe { read_volatile((WINDOW + gref * 8) as *const u32) as u16 }
}

fn status(at: u64) -> i16 {
    let mut b = [0u8; 2];
    peek(at, &mut b);
    i16::from_le_bytes(b)
}

fn u32_at(at: u64) -> u32 {
    let mut b = [0u8; 4];
    peek(at, &mut b);
    u32::from_le_bytes(b)
}

fn gnttab(cmd: u64, uop: u64, count: u64) -> i64 {
    call(GRANT_TABLE_OP, &[cmd, uop, count])
}

/// Runs every grant-table case.
pub fn cases(guest: &Guest) {
    // The hypervisor reads and writes the frames and the pages granted, mapped and copied
    // here as Normal write-back memory: so must this guest.
    require_normal(guest, "the grant-table window", WINDOW, GRANT_WINDOW_SIZE);
    require_normal(guest, "the grant pages", page(0), 4 * 4096);
    sizes_and_versions(guest);
    grant_frames(guest);
    reservations(guest);
    maps(guest);
    copies(guest);
    refused(guest);
    removal(guest);
}

fn query_size(dom: u16) -> (i64, i16, u32, u32) {
    let buf = page(0);
    poke(buf, &[0; 16]);
    poke(buf, &dom.to_le_bytes());
    let rc = gnttab(QUERY_SIZE, buf, 1);
    (rc, status(buf + 12), u32_at(buf + 4), u32_at(buf + 8))
}

fn setup_table(nr_frames: u32, count: u64) -> (i64, i16) {
    let buf = page(0);
    poke(buf, &[0; 24]);
    poke(buf, &DOMID_SELF.to_le_bytes());
    poke(buf + 4, &nr_frames.to_le_bytes());
    poke(buf + 16, &page(1).to_le_bytes());
    poke(page(1), &[0x5a; 16]);
    let rc = gnttab(SETUP_TABLE, buf, count);
    (rc, status(buf + 8))
}

fn sizes_and_versions(guest: &Guest) {
    let buf = page(0);
    for (name, dom) in [("DOMID_SELF", DOMID_SELF), ("own domid 1", SELF_ID), ("domid 2 (none)", 2)] {
        let (rc, st, frames, max) = query_size(dom);
        say!(guest, "gnttab query_size {name} = {rc} status {st} frames {frames} max {max}");
    }
    poke(buf, &DOMID_SELF.to_le_bytes());
    say!(guest, "gnttab query_size count 2 = {}", gnttab(QUERY_SIZE, buf, 2));
    say!(guest, "gnttab query_size count -1 = {}", gnttab(QUERY_SIZE, buf, u64::from(u32::MAX)));
    for bad in BAD {
        say!(guest, "gnttab query_size at {bad:#x} = {}", gnttab(QUERY_SIZE, bad, 1));
    }
    for version in [1u32, 2, 0] {
        poke(buf, &version.to_le_bytes());
        let rc = gnttab(SET_VERSION, buf, 1);
        say!(guest, "gnttab set_version {version} = {rc} version {}", u32_at(buf));
    }
    for (name, dom) in [("DOMID_SELF", DOMID_SELF), ("domid 2 (none)", 2)] {
        poke(buf, &[0; 8]);
        poke(buf, &dom.to_le_bytes());
        let rc = gnttab(GET_VERSION, buf, 1);
        say!(guest, "gnttab get_version {name} = {rc} version {}", u32_at(buf + 4));
    }
    poke(buf, &[0; 16]);
    poke(buf, &1u32.to_le_bytes());
    poke(buf + 4, &DOMID_SELF.to_le_bytes());
    poke(buf + 8, &page(1).to_le_bytes());
    let rc = gnttab(GET_STATUS_FRAMES, buf, 1);
    say!(guest, "gnttab get_status_frames 1 = {rc} status {}", status(buf + 6));
    let (rc, st) = setup_table(2, 1);
    say!(guest, "gnttab setup_table 2 frames = {rc} status {st} frames {:#x} {:#x}", peek_u64(page(1)), peek_u64(page(1) + 8));
    let (rc, st) = setup_table(65, 1);
    say!(guest, "gnttab setup_table 65 frames = {rc} status {st}");
    let (rc, _) = setup_table(1, 2);
    say!(guest, "gnttab setup_table count 2 = {rc}");
    say!(guest, "gnttab setup_table at {NO_RAM:#x} = {}", gnttab(SETUP_TABLE, NO_RAM, 1));
}

/// `XENMEM_add_to_physmap` of a grant frame.
fn add_frame(domid: u16, idx: u64, gfn: u64) -> i64 {
    let buf = page(0);
    poke(buf, &[0; 24]);
    poke(buf, &domid.to_le_bytes());
    poke(buf + 4, &SPACE_GRANT_TABLE.to_le_bytes());
    poke(buf + 8, &idx.to_le_bytes());
    poke(buf + 16, &gfn.to_le_bytes());
    call(MEMORY_OP, &[ADD_TO_PHYSMAP, buf])
}

fn grant_frames(guest: &Guest) {
    let window = WINDOW >> 12;
    say!(guest, "memory_op add_to_physmap grant_table frame 0 = {}", add_frame(DOMID_SELF, 0, window));
    say!(guest, "memory_op add_to_physmap grant_table frame 64 = {}", add_frame(DOMID_SELF, 64, window + 1));
    say!(guest, "memory_op add_to_physmap grant_table status frame 0 = {}", add_frame(DOMID_SELF, 1 << 31, window + 1));
    say!(guest, "memory_op add_to_physmap grant_table domid 2 (none) = {}", add_frame(2, 0, window));
    say!(guest, "memory_op add_to_physmap grant_table frame 2 = {}", add_frame(DOMID_SELF, 2, window + 2));
    let (rc, st) = setup_table(3, 1);
    let list = page(1);
    say!(guest, "gnttab setup_table after add_to_physmap = {rc} status {st} frames {:#x} {:#x} {:#x}", peek_u64(list), peek_u64(list + 8), peek_u64(list + 16));
    let (rc, st, frames, max) = query_size(DOMID_SELF);
    say!(guest, "gnttab query_size after add_to_physmap = {rc} status {st} frames {frames} max {max}");
    // The guest's entries start empty: nothing is granted until it writes them.
    say!(guest, "gnttab grant frame 0 entry 0 flags = {:#x}", flags(0));
}

/// A reservation call on one frame list of `gfns` (at most 4) for `domid`.
fn reservation(command: u64, gfns: &[u64], order: u32, domid: u16, list: u64) -> i64 {
    let buf = page(0);
    poke(buf, &[0; 32]);
    poke(buf, &list.to_le_bytes());
    poke(buf + 8, &(gfns.len() as u64).to_le_bytes());
    poke(buf + 16, &order.to_le_bytes());
    poke(buf + 24, &domid.to_le_bytes());
    for (i, gfn) in gfns.iter().enumerate() {
        poke(page(1) + i as u64 * 8, &gfn.to_le_bytes());
    }
    call(MEMORY_OP, &[command, buf])
}

fn pages(command: u64, domid: u16) -> i64 {
    poke(page(0), &domid.to_le_bytes());
    call(MEMORY_OP, &[command, page(0)])
}

fn reservations(guest: &Guest) {
    let maximum = pages(MAXIMUM_RESERVATION, DOMID_SELF);
    say!(guest, "memory_op maximum_reservation = {maximum}");
    say!(guest, "memory_op current_reservation is the maximum = {}", pages(CURRENT_RESERVATION, DOMID_SELF) == maximum);
    say!(guest, "memory_op current_reservation own domid 1 is the maximum = {}", pages(CURRENT_RESERVATION, SELF_ID) == maximum);
    say!(guest, "memory_op current_reservation domid 2 (none) = {}", pages(CURRENT_RESERVATION, 2));
    say!(guest, "memory_op maximum_reservation at {NO_RAM:#x} = {}", call(MEMORY_OP, &[MAXIMUM_RESERVATION, NO_RAM]));
    say!(guest, "memory_op current_reservation with a start extent = {}", call(MEMORY_OP, &[CURRENT_RESERVATION | 1 << 6, page(0)]));
    let frame = page(3) >> 12;
    let list = page(1);
    say!(guest, "memory_op increase_reservation 1 = {}", reservation(INCREASE_RESERVATION, &[frame], 0, DOMID_SELF, list));
    say!(guest, "memory_op decrease_reservation order 10 = {}", reservation(DECREASE_RESERVATION, &[frame], 10, DOMID_SELF, list));
    say!(guest, "memory_op decrease_reservation domid 2 (none) = {}", reservation(DECREASE_RESERVATION, &[frame], 0, 2, list));
    say!(guest, "memory_op decrease_reservation list at {NO_RAM:#x} = {}", reservation(DECREASE_RESERVATION, &[frame], 0, DOMID_SELF, NO_RAM));
    say!(guest, "memory_op decrease_reservation 1 = {}", reservation(DECREASE_RESERVATION, &[frame], 0, DOMID_SELF, list));
    let after = pages(CURRENT_RESERVATION, DOMID_SELF);
    say!(guest, "memory_op current_reservation after = maximum - {}", maximum - after);
    say!(guest, "memory_op decrease_reservation 1 again = {}", reservation(DECREASE_RESERVATION, &[frame], 0, DOMID_SELF, list));
    // The frame stays given back for the mapping cases; `maps` populates it again.
}

/// Writes a `gnttab_map_grant_ref` in the request page and makes the call; returns
/// (rc, status, handle).
fn map(host_addr: u64, flags: u32, gref: u32, dom: u16) -> (i64, i16, u32) {
    let buf = page(0);
    poke(buf, &[0; 32]);
    poke(buf, &host_addr.to_le_bytes());
    poke(buf + 8, &flags.to_le_bytes());
    poke(buf + 12, &gref.to_le_bytes());
    poke(buf + 16, &dom.to_le_bytes());
    let rc = gnttab(MAP, buf, 1);
    (rc, status(buf + 18), u32_at(buf + 20))
}

fn unmap(host_addr: u64, handle: u32) -> (i64, i16) {
    let buf = page(0);
    poke(buf, &[0; 24]);
    poke(buf, &host_addr.to_le_bytes());
    poke(buf + 16, &handle.to_le_bytes());
    let rc = gnttab(UNMAP, buf, 1);
    (rc, status(buf + 20))
}

fn maps(guest: &Guest) {
    let (granted, at) = (page(2), page(3));
    for i in 0..4096 {
        poke(granted + i, &[(i % 251) as u8]);
    }
    grant(1, PERMIT, SELF_ID, granted >> 12);
    grant(2, PERMIT | READONLY, SELF_ID, granted >> 12);
    grant(3, 0, SELF_ID, granted >> 12);
    grant(4, PERMIT, 2, granted >> 12);
    let (rc, st, handle) = map(at, HOST_MAP | MAP_READONLY, 2, SELF_ID);
    say!(guest, "gnttab map readonly grant readonly = {rc} status {st} flags {:#x}", flags(2));
    let mut seen = [0u8; 64];
    peek(at + 1000, &mut seen);
    say!(guest, "gnttab readonly mapping shows the granted bytes = {}", seen.iter().enumerate().all(|(i, &b)| b == ((1000 + i) % 251) as u8));
    let (rc, st) = unmap(at, handle);
    say!(guest, "gnttab unmap readonly = {rc} status {st} flags {:#x}", flags(2));
    let (rc, st, _) = map(at, HOST_MAP, 2, SELF_ID);
    say!(guest, "gnttab map readonly grant writable = {rc} status {st} flags {:#x}", flags(2));
    let (rc, st, handle) = map(at, HOST_MAP, 1, SELF_ID);
    say!(guest, "gnttab map = {rc} status {st} flags {:#x}", flags(1));
    poke(at + 8, b"granted!");
    let mut back = [0u8; 8];
    peek(granted + 8, &mut back);
    say!(guest, "gnttab a write through the mapping reaches the granted page = {}", &back == b"granted!");
    for (name, gref, dom, flags) in [
        ("ref 1000000", 1_000_000u32, SELF_ID, HOST_MAP),
        ("domid 9 (none)", 1, 9, HOST_MAP),
        ("flags 0", 1, SELF_ID, 0),
        ("ref not granted", 3, SELF_ID, HOST_MAP),
        ("ref granted to domid 2", 4, SELF_ID, HOST_MAP),
    ] {
        let (rc, st, _) = map(page(3), flags, gref, dom);
        say!(guest, "gnttab map {name} = {rc} status {st}");
    }
    say!(guest, "gnttab map at {NO_RAM:#x} = {}", gnttab(MAP, NO_RAM, 1));
    say!(guest, "gnttab map count -1 = {}", gnttab(MAP, page(0), u64::from(u32::MAX)));
    let (rc, st) = unmap(at, 12345);
    say!(guest, "gnttab unmap handle 12345 = {rc} status {st}");
    let (rc, st) = unmap(at, handle);
    say!(guest, "gnttab unmap = {rc} status {st} flags {:#x}", flags(1));
    let (rc, st) = unmap(at, handle);
    say!(guest, "gnttab unmap again = {rc} status {st}");
    say!(guest, "gnttab unmap at {NO_RAM:#x} = {}", gnttab(UNMAP, NO_RAM, 1));
    let list = page(1);
    let frame = at >> 12;
    say!(guest, "memory_op populate_physmap 1 = {}", reservation(POPULATE_PHYSMAP, &[frame], 0, DOMID_SELF, list));
    say!(guest, "memory_op populate_physmap 1 again = {}", reservation(POPULATE_PHYSMAP, &[frame], 0, DOMID_SELF, list));
    say!(guest, "memory_op current_reservation is the maximum again = {}", pages(CURRENT_RESERVATION, DOMID_SELF) == pages(MAXIMUM_RESERVATION, DOMID_SELF));
    poke(at, b"ours");
    let mut mine = [0u8; 4];
    peek(at, &mut mine);
    say!(guest, "memory_op the populated page is writable = {}", &mine == b"ours");
}

/// Writes a `gnttab_copy` at `at`: `source` a frame of ours (DOMID_SELF unless `source_dom`),
/// `dest` grant reference `gref` of domain 1.
#[allow(clippy::too_many_arguments)]
fn copy_request(at: u64, source: u64, source_dom: u16, source_offset: u16, gref: u32, dest_offset: u16, len: u16, flags: u16) {
    poke(at, &[0; 40]);
    poke(at, &source.to_le_bytes());
    poke(at + 8, &source_dom.to_le_bytes());
    poke(at + 10, &source_offset.to_le_bytes());
    poke(at + 16, &u64::from(gref).to_le_bytes());
    poke(at + 24, &SELF_ID.to_le_bytes());
    poke(at + 26, &dest_offset.to_le_bytes());
    poke(at + 32, &len.to_le_bytes());
    poke(at + 34, &flags.to_le_bytes());
}

fn copies(guest: &Guest) {
    let (buf, source, granted) = (page(0), page(3), page(2));
    poke(source + 100, b"copied by the hypervisor");
    let frame = source >> 12;
    let cases: [(&str, u64, u16, u16, u32, u16, u16); 6] = [
        ("frame to own grant", frame, DOMID_SELF, 100, 1, 3000, 24),
        ("across the page end", frame, DOMID_SELF, 100, 1, 4090, 24),
        ("frame named by domid 1", frame, SELF_ID, 100, 1, 0, 24),
        ("frame without RAM", NO_RAM >> 12, DOMID_SELF, 0, 1, 0, 24),
        ("bad ref", frame, DOMID_SELF, 0, 1_000_000, 0, 24),
        ("readonly grant as destination", frame, DOMID_SELF, 0, 2, 0, 24),
    ];
    for (i, (_, source, dom, source_offset, gref, dest_offset, len)) in cases.iter().enumerate() {
        copy_request(buf + i as u64 * 40, *source, *dom, *source_offset, *gref, *dest_offset, *len, DEST_GREF);
    }
    let rc = gnttab(COPY, buf, cases.len() as u64);
    say!(guest, "gnttab copy x{} = {rc}", cases.len());
    for (i, (name, ..)) in cases.iter().enumerate() {
        say!(guest, "gnttab copy {name} = status {}", status(buf + i as u64 * 40 + 36));
    }
    let mut copied = [0u8; 24];
    peek(granted + 3000, &mut copied);
    say!(guest, "gnttab copy reached the granted page = {} flags {:#x}", &copied == b"copied by the hypervisor", flags(1));
    say!(guest, "gnttab copy at {NO_RAM:#x} = {}", gnttab(COPY, NO_RAM, 1));
}

fn refused(guest: &Guest) {
    let buf = page(0);
    poke(buf, &[0; 64]);
    say!(guest, "gnttab transfer = {}", gnttab(TRANSFER, buf, 1));
    say!(guest, "gnttab dump_table = {}", gnttab(DUMP_TABLE, buf, 1));
    say!(guest, "gnttab unknown op 99 = {}", gnttab(99, buf, 1));
    say!(guest, "gnttab query_size with continuation bits = {}", gnttab(QUERY_SIZE | 1 << 12, buf, 1));
}

/// Grant frame 0 taken out of the guest's address space with `XENMEM_remove_from_physmap`,
/// then mapped again at the same frame: its entries are still there, and a copy through one
/// of them works.
fn removal(guest: &Guest) {
    let window = WINDOW >> 12;
    say!(guest, "memory_op remove_from_physmap grant frame 0 = {}", remove(DOMID_SELF, window));
    let (rc, st) = setup_table(1, 1);
    say!(guest, "gnttab setup_table after remove_from_physmap = {rc} status {st} frame {:#x}", peek_u64(page(1)));
    say!(guest, "memory_op remove_from_physmap grant frame 0 again = {}", remove(DOMID_SELF, window));
    say!(guest, "memory_op add_to_physmap grant_table frame 0 again = {}", add_frame(DOMID_SELF, 0, window));
    say!(guest, "gnttab grant frame 0 entry 1 after re-adding = flags {:#x}", flags(1));
    let (buf, source, granted) = (page(0), page(3), page(2));
    poke(source + 200, b"copied after the re-add");
    poke(granted + 1000, &[0; 23]);
    copy_request(buf, source >> 12, DOMID_SELF, 200, 1, 1000, 23, DEST_GREF);
    let rc = gnttab(COPY, buf, 1);
    let mut copied = [0u8; 23];
    peek(granted + 1000, &mut copied);
    say!(guest, "gnttab copy through the re-added frame = {rc} status {} reached {}", status(buf + 36), &copied == b"copied after the re-add");
}
