//! Host tests of `grant_table_op` and the grant-table and reservation parts of `memory_op`,
//! through the dispatch, against the fake grant tables of `portable::gnttab`'s tests.

use super::*;
use crate::portable::gnttab::abi::{gntcopy, gntmap, gtf, op, WINDOW_BASE};
use crate::portable::gnttab::tests::{Mapped, DOM2, RAM_GFN};

/// A second argument buffer.
const BUF2: u64 = RAM_IPA + 0x2000;

fn gnttab(f: &mut Fake, s: &Mutex<XenState>, cmd: u64, uop: u64, count: u64) -> i64 {
    ret(f, s, number::GRANT_TABLE_OP, &[cmd, uop, count])
}

fn status(f: &mut Fake, at: u64) -> i16 {
    let b = f.peek(at, 2);
    i16::from_le_bytes([b[0], b[1]])
}

#[test]
fn query_size_setup_table_and_versions_answer_as_xen() {
    let (mut f, s) = (Fake::new(), state());
    let mut q = [0u8; 16];
    q[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    f.poke(BUF, &q);
    assert_eq!(gnttab(&mut f, &s, op::QUERY_SIZE as u64, BUF, 1), 0);
    let a = f.peek(BUF, 16);
    assert_eq!(u32::from_le_bytes(a[4..8].try_into().unwrap()), 1, "one frame to start with");
    assert_eq!(u32::from_le_bytes(a[8..12].try_into().unwrap()), 64, "Xen's default max_grant_frames");
    assert_eq!(status(&mut f, BUF + 12), 0);
    // Another domain: a domU is not privileged for it; a missing one is a bad domain.
    for (dom, st) in [(2u16, -8i16), (9, -2)] {
        q[0..2].copy_from_slice(&dom.to_le_bytes());
        f.poke(BUF, &q);
        assert_eq!(gnttab(&mut f, &s, op::QUERY_SIZE as u64, BUF, 1), 0);
        assert_eq!(status(&mut f, BUF + 12), st, "query_size of domain {dom}");
    }
    assert_eq!(gnttab(&mut f, &s, op::QUERY_SIZE as u64, BUF, 2), -errno::EINVAL, "count must be 1");
    assert_eq!(gnttab(&mut f, &s, op::QUERY_SIZE as u64, HOLE, 1), -errno::EFAULT);
    assert_eq!(gnttab(&mut f, &s, op::QUERY_SIZE as u64, BUF, 1 << 31), -errno::EINVAL, "negative count");
    assert_eq!(gnttab(&mut f, &s, op::QUERY_SIZE as u64 | 1 << 12, BUF, 1), -errno::EINVAL, "opaque bits");

    // setup_table grows the table and lists INVALID_GFN for frames mapped nowhere.
    let mut t = [0u8; 24];
    t[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    t[4..8].copy_from_slice(&4u32.to_le_bytes());
    t[16..24].copy_from_slice(&BUF2.to_le_bytes());
    f.poke(BUF, &t);
    assert_eq!(gnttab(&mut f, &s, op::SETUP_TABLE as u64, BUF, 1), 0);
    assert_eq!(status(&mut f, BUF + 8), 0);
    assert_eq!(f.peek(BUF2, 32), [0xff; 32]);
    assert_eq!(f.world.grants.table(0).unwrap().frames(), 4);
    t[4..8].copy_from_slice(&65u32.to_le_bytes());
    f.poke(BUF, &t);
    assert_eq!(gnttab(&mut f, &s, op::SETUP_TABLE as u64, BUF, 1), 0);
    assert_eq!(status(&mut f, BUF + 8), -1, "past max_grant_frames");
    t[4..8].copy_from_slice(&1u32.to_le_bytes());
    t[16..24].copy_from_slice(&HOLE.to_le_bytes());
    f.poke(BUF, &t);
    assert_eq!(gnttab(&mut f, &s, op::SETUP_TABLE as u64, BUF, 1), 0);
    assert_eq!(status(&mut f, BUF + 8), -5, "an unwritable frame list is GNTST_bad_virt_addr");

    // Version 1 only; the version written back is 1 either way.
    for (v, rc) in [(1u32, 0), (2, -errno::ENOSYS), (3, -errno::EINVAL)] {
        f.poke(BUF, &v.to_le_bytes());
        assert_eq!(gnttab(&mut f, &s, op::SET_VERSION as u64, BUF, 1), rc, "set_version {v}");
        assert_eq!(f.peek(BUF, 4), 1u32.to_le_bytes());
    }
    f.poke(BUF, &[0xf0, 0x7f, 0, 0, 9, 9, 9, 9]);
    assert_eq!(gnttab(&mut f, &s, op::GET_VERSION as u64, BUF, 1), 0);
    assert_eq!(f.peek(BUF + 4, 4), 1u32.to_le_bytes());
    f.poke(BUF, &[2, 0]);
    assert_eq!(gnttab(&mut f, &s, op::GET_VERSION as u64, BUF, 1), -errno::EPERM);
    // v2 status frames do not exist; transfer is PV only; unknown ops are -ENOSYS.
    let mut g = [0u8; 16];
    g[0..4].copy_from_slice(&1u32.to_le_bytes());
    g[4..6].copy_from_slice(&DOMID_SELF.to_le_bytes());
    f.poke(BUF, &g);
    assert_eq!(gnttab(&mut f, &s, op::GET_STATUS_FRAMES as u64, BUF, 1), 0);
    assert_eq!(status(&mut f, BUF + 6), -1);
    assert_eq!(gnttab(&mut f, &s, op::TRANSFER as u64, BUF, 1), -errno::EOPNOTSUPP);
    for unknown in [op::DUMP_TABLE, op::SWAP_GRANT_REF, op::CACHE_FLUSH, 13, 4095] {
        assert_eq!(gnttab(&mut f, &s, u64::from(unknown), BUF, 1), -errno::ENOSYS, "op {unknown}");
    }
}

#[test]
fn grant_frames_map_only_into_the_window() {
    let (mut f, s) = (Fake::new(), state());
    let add = |f: &mut Fake| ret(f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP, BUF]);
    let window = WINDOW_BASE / 4096;
    physmap(&mut f, DOMID_SELF, memory::SPACE_GRANT_TABLE, 0, window);
    assert_eq!(add(&mut f), 0);
    assert_eq!(f.world.s2.at(0, window), Some(Mapped::TableFrame(0)));
    physmap(&mut f, DOMID_SELF, memory::SPACE_GRANT_TABLE, 63, window + 63);
    assert_eq!(add(&mut f), 0);
    assert_eq!(f.world.grants.table(0).unwrap().frames(), 64, "mapping frame 63 grows the table");
    for (idx, gpfn) in [(64, window + 1), (0x8000_0000, window + 1), (1, RAM_GFN), (1, window + 0x1000)] {
        physmap(&mut f, DOMID_SELF, memory::SPACE_GRANT_TABLE, idx, gpfn);
        assert_eq!(add(&mut f), -errno::EINVAL, "frame {idx:#x} at {gpfn:#x}");
    }
    physmap(&mut f, 2, memory::SPACE_GRANT_TABLE, 0, window);
    assert_eq!(add(&mut f), -errno::EPERM);
}

#[test]
fn remove_from_physmap_unmaps_a_grant_frame_which_can_be_mapped_again() {
    let (mut f, s) = (Fake::new(), state());
    let add = |f: &mut Fake| ret(f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP, BUF]);
    let remove = |f: &mut Fake, domid: u16, gpfn: u64| {
        let mut request = [0u8; 16];
        request[..2].copy_from_slice(&domid.to_le_bytes());
        request[8..].copy_from_slice(&gpfn.to_le_bytes());
        f.poke(BUF + 256, &request);
        ret(f, &s, number::MEMORY_OP, &[memory::REMOVE_FROM_PHYSMAP, BUF + 256])
    };
    let window = WINDOW_BASE / 4096;
    physmap(&mut f, DOMID_SELF, memory::SPACE_GRANT_TABLE, 2, window + 5);
    assert_eq!(add(&mut f), 0);
    // Another domain's id is refused before the frame is looked at.
    assert_eq!(remove(&mut f, 2, window + 5), -errno::EPERM);
    assert_eq!(f.world.s2.at(0, window + 5), Some(Mapped::TableFrame(2)));
    // A window frame with nothing there.
    assert_eq!(remove(&mut f, DOMID_SELF, window + 6), -errno::ENOENT);
    assert_eq!(remove(&mut f, DOMID_SELF, window + 5), 0);
    assert_eq!(f.world.s2.at(0, window + 5), None, "the frame left the stage 2");
    assert_eq!(f.world.grants.table(0).unwrap().frame_gfn(2), None, "setup_table lists it unmapped");
    assert_eq!(f.world.grants.table(0).unwrap().frames(), 3, "the table keeps its frames");
    assert_eq!(remove(&mut f, DOMID_SELF, window + 5), -errno::ENOENT, "a hole now, as on Xen");
    // Mapped again, at the same frame or another.
    physmap(&mut f, DOMID_SELF, memory::SPACE_GRANT_TABLE, 2, window + 7);
    assert_eq!(add(&mut f), 0);
    assert_eq!(f.world.s2.at(0, window + 7), Some(Mapped::TableFrame(2)));
    assert_eq!(remove(&mut f, 1, window + 7), 0, "the caller's own id");
    physmap(&mut f, DOMID_SELF, memory::SPACE_GRANT_TABLE, 2, window + 5);
    assert_eq!(add(&mut f), 0);
    assert_eq!(f.world.grants.table(0).unwrap().frame_gfn(2), Some(window + 5));
}

/// Writes a `gnttab_map_grant_ref` at `at`.
fn map_request(f: &mut Fake, at: u64, host_addr: u64, flags: u32, gref: u32, dom: u16) {
    let mut m = [0u8; 32];
    m[0..8].copy_from_slice(&host_addr.to_le_bytes());
    m[8..12].copy_from_slice(&flags.to_le_bytes());
    m[12..16].copy_from_slice(&gref.to_le_bytes());
    m[16..18].copy_from_slice(&dom.to_le_bytes());
    f.poke(at, &m);
}

#[test]
fn map_and_unmap_reach_the_tables_and_the_stage_2() {
    let (mut f, s) = (Fake::new(), state());
    // Domain 2 grants its page 5 to domain 1 as reference 7.
    f.world.grant(1, 7, 0, 5, false);
    let at = RAM_IPA + 0x30000;
    map_request(&mut f, BUF, at, gntmap::HOST_MAP, 7, DOM2);
    // A hostile second request: a reference past the table.
    map_request(&mut f, BUF + 32, at + 4096, gntmap::HOST_MAP, 1 << 20, DOM2);
    assert_eq!(gnttab(&mut f, &s, op::MAP_GRANT_REF as u64, BUF, 2), 0);
    assert_eq!(status(&mut f, BUF + 18), 0);
    assert_eq!(status(&mut f, BUF + 32 + 18), -3, "GNTST_bad_gntref");
    let handle = u32::from_le_bytes(f.peek(BUF + 20, 4).try_into().unwrap());
    let gfn = at / 4096;
    assert!(matches!(f.world.s2.at(0, gfn), Some(Mapped::Ram(frame, _)) if frame.address() == f.world.host(1, 5)));
    assert_eq!(f.world.mem.flags(1, 7), gtf::PERMIT_ACCESS | gtf::READING | gtf::WRITING);
    // Unmap: the page leaves the stage 2 and the entry's flags clear.
    let mut u = [0u8; 24];
    u[0..8].copy_from_slice(&at.to_le_bytes());
    u[16..20].copy_from_slice(&handle.to_le_bytes());
    f.poke(BUF, &u);
    assert_eq!(gnttab(&mut f, &s, op::UNMAP_GRANT_REF as u64, BUF, 1), 0);
    assert_eq!(status(&mut f, BUF + 20), 0);
    assert_eq!(f.world.s2.at(0, gfn), None);
    assert_eq!(f.world.mem.flags(1, 7), gtf::PERMIT_ACCESS);
    // The same handle again: a grant unmapped twice.
    assert_eq!(gnttab(&mut f, &s, op::UNMAP_GRANT_REF as u64, BUF, 1), 0);
    assert_eq!(status(&mut f, BUF + 20), -4, "GNTST_bad_handle");
    // An unreadable request list is -EFAULT.
    assert_eq!(gnttab(&mut f, &s, op::MAP_GRANT_REF as u64, HOLE, 1), -errno::EFAULT);
}

#[test]
fn a_long_batch_continues_over_several_traps() {
    let (mut f, s) = (Fake::new(), state());
    let count = 40u64;
    for i in 0..count {
        // Bad domain in each: every one is answered in its own status.
        map_request(&mut f, BUF + i * 32, RAM_IPA + 0x40000, gntmap::HOST_MAP, 0, 77);
    }
    let mut args = [op::MAP_GRANT_REF as u64, BUF, count];
    let mut traps = 1;
    while let Outcome::Again { args: next } = call(&mut f, &s, number::GRANT_TABLE_OP, &args) {
        args = [next[0], next[1], next[2]];
        traps += 1;
    }
    assert_eq!(traps, 3, "16 requests per trap");
    for i in 0..count {
        assert_eq!(status(&mut f, BUF + i * 32 + 18), -2, "request {i}");
    }
}

#[test]
fn copy_checks_its_bounds_and_moves_bytes() {
    let (mut f, s) = (Fake::new(), state());
    f.world.grant(1, 3, 0, 9, false);
    let src = f.world.host(0, 2);
    for i in 0..16 {
        f.world.mem.bytes.insert(src + 100 + i, i as u8 + 1);
    }
    let mut c = [0u8; 40];
    c[0..8].copy_from_slice(&(RAM_GFN + 2).to_le_bytes());
    c[8..10].copy_from_slice(&DOMID_SELF.to_le_bytes());
    c[10..12].copy_from_slice(&100u16.to_le_bytes());
    c[16..24].copy_from_slice(&3u64.to_le_bytes());
    c[24..26].copy_from_slice(&DOM2.to_le_bytes());
    c[26..28].copy_from_slice(&4000u16.to_le_bytes());
    c[32..34].copy_from_slice(&16u16.to_le_bytes());
    c[34..36].copy_from_slice(&gntcopy::DEST_GREF.to_le_bytes());
    f.poke(BUF, &c);
    // The same copy with a length that crosses the destination page.
    c[32..34].copy_from_slice(&200u16.to_le_bytes());
    f.poke(BUF + 40, &c);
    assert_eq!(gnttab(&mut f, &s, op::COPY as u64, BUF, 2), 0);
    assert_eq!(status(&mut f, BUF + 36), 0);
    assert_eq!(status(&mut f, BUF + 40 + 36), -10, "GNTST_bad_copy_arg");
    let dest = f.world.host(1, 9) + 4000;
    assert_eq!((0..16).map(|i| f.world.mem.byte(dest + i)).collect::<Vec<_>>(), (1..=16).collect::<Vec<u8>>());
    assert_eq!(f.world.mem.flags(1, 3), gtf::PERMIT_ACCESS, "no pin outlives a copy");
}

fn reservation(f: &mut Fake, list: &[u64], domid: u16, order: u32) {
    let mut r = [0u8; 32];
    r[0..8].copy_from_slice(&BUF2.to_le_bytes());
    r[8..16].copy_from_slice(&(list.len() as u64).to_le_bytes());
    r[16..20].copy_from_slice(&order.to_le_bytes());
    r[24..26].copy_from_slice(&domid.to_le_bytes());
    f.poke(BUF, &r);
    let bytes: Vec<u8> = list.iter().flat_map(|g| g.to_le_bytes()).collect();
    f.poke(BUF2, &bytes);
}

#[test]
fn reservation_calls_balloon_within_the_partitions_own_memory() {
    let (mut f, s) = (Fake::new(), state());
    let count = |f: &mut Fake, command: u64, dom: u16| {
        f.poke(BUF, &dom.to_le_bytes());
        ret(f, &s, number::MEMORY_OP, &[command, BUF])
    };
    assert_eq!(count(&mut f, 4, DOMID_SELF), 256);
    assert_eq!(count(&mut f, 3, DOMID_SELF), 256);
    assert_eq!(count(&mut f, 3, 2), -errno::EPERM);
    assert_eq!(count(&mut f, 3, 9), -errno::ESRCH);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[3 | 1 << 6, BUF]), -errno::EINVAL);
    let pages: Vec<u64> = (0..70).map(|i| RAM_GFN + 100 + i).collect();
    reservation(&mut f, &pages, DOMID_SELF, 0);
    let mut args = [1u64, BUF];
    let rc = loop {
        match call(&mut f, &s, number::MEMORY_OP, &args) {
            Outcome::Again { args: next } => args = [next[0], next[1]],
            Outcome::Return(rc) => break rc,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(rc, 70, "every extent given back, over two traps");
    assert_eq!(f.world.s2.at(0, RAM_GFN + 100), None);
    assert_eq!(count(&mut f, 3, DOMID_SELF), 186);
    // Populate them back, then once more: memory is static, so the second stops at once.
    reservation(&mut f, &pages[..3], DOMID_SELF, 0);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[6, BUF]), 3);
    reservation(&mut f, &pages[..3], DOMID_SELF, 0);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[6, BUF]), 0);
    assert_eq!(f.refusals, [crate::portable::gnttab::Refusal::Exhausted { gfn: RAM_GFN + 100 }], "said for the log");
    // Another domain, an order above 9, increase_reservation: no extent done.
    reservation(&mut f, &pages[3..5], 2, 0);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[1, BUF]), 0);
    reservation(&mut f, &pages[3..5], DOMID_SELF, 10);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[6, BUF]), 0);
    reservation(&mut f, &pages[3..5], DOMID_SELF, 0);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[0, BUF]), 0);
    // A frame outside the partition's RAM stops the call there.
    reservation(&mut f, &[RAM_GFN + 103, 0x10], DOMID_SELF, 0);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[6, BUF]), 1);
    assert_eq!(count(&mut f, 3, DOMID_SELF), 256 - 70 + 4);
}
