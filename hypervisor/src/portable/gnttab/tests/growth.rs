//! Tables that grow with use and give back what they grew by: grant frames with their active
//! entries, maptrack pages, RAM page states; and what a guest gets when the machine has no
//! page for them.

use super::*;
use crate::portable::evtchn::Errno;
use crate::portable::gnttab::abi::{gntmap, DOMID_SELF, WINDOW_BASE};

const WIN: u64 = WINDOW_BASE / PAGE_SIZE;

/// Pages partition `p` holds: its grant frames and its table's other pages.
fn held(w: &World, p: usize) -> usize {
    w.mem.frames_of(p) + w.mem.pages.held(p)
}

#[test]
fn a_table_starts_with_one_frame_and_grows_as_the_guest_asks() {
    let mut w = World::new(1);
    let t = w.grants.table(0).unwrap();
    assert_eq!((t.frames(), t.max_frames()), (1, 64));
    assert_eq!(t.maptrack_capacity(), 0, "no maptrack page before the first map");
    assert_eq!((w.mem.frames_of(0), w.mem.pages.held(0)), (1, 1), "a frame and its active entries");
    assert_eq!(t.pages_held(), 2);
    w.grants.setup_table(0, DOMID_SELF, 3, &mut w.mem).unwrap().for_each(drop);
    assert_eq!(w.grants.query_size(0, DOMID_SELF), Ok(Size { frames: 3, max_frames: 64 }));
    assert_eq!(held(&w, 0), 6);
    // Mapping frame 5 grows the table to 6 frames; frames it has are not taken twice.
    w.grants.map_table_frame(0, 5, WIN + 5, &mut w.s2, &mut w.mem).unwrap();
    w.grants.setup_table(0, DOMID_SELF, 2, &mut w.mem).unwrap().for_each(drop);
    assert_eq!(w.grants.table(0).unwrap().frames(), 6);
    assert_eq!(held(&w, 0), 12);
    assert_eq!(w.grants.table(0).unwrap().pages_held(), 12);
    // Entries of the new frames are usable: a grant in frame 5 maps.
    let mut w2 = World::new(2);
    w2.grants.setup_table(0, DOMID_SELF, 6, &mut w2.mem).unwrap().for_each(drop);
    w2.grant(0, 5 * 512 + 7, 1, 3, false);
    assert!(w2.map(1, DOM1, 5 * 512 + 7, 10, gntmap::HOST_MAP).is_ok());
    assert_eq!(w2.map(1, DOM1, 6 * 512, 11, gntmap::HOST_MAP), Err(GrantStatus::BadGntref), "past the frames it has");
}

#[test]
fn growth_the_machine_cannot_back_is_refused_as_xen_refuses_it_and_takes_nothing() {
    let mut w = World::new(1);
    w.mem.frame_limit = Some(2);
    assert_eq!(w.grants.setup_table(0, DOMID_SELF, 4, &mut w.mem).err(), Some(GrantStatus::GeneralError));
    assert_eq!(w.grants.table(0).unwrap().frames(), 1, "the table keeps its size");
    assert_eq!(held(&w, 0), 2, "what the failed growth took is given back");
    assert_eq!(
        w.grants.map_table_frame(0, 3, WIN, &mut w.s2, &mut w.mem),
        Err(Errno::Einval),
        "a frame the table could not grow to is -EINVAL, as on Xen"
    );
    assert_eq!(w.s2.at(0, WIN), None);
    assert_eq!(held(&w, 0), 2);
    // Within what the machine gives, it grows.
    w.grants.setup_table(0, DOMID_SELF, 2, &mut w.mem).unwrap().for_each(drop);
    assert_eq!(held(&w, 0), 4);
    // Active-entry pages running out is refused the same way.
    let mut w = World::new(1);
    w.mem.pages.limit = Some(1);
    assert_eq!(w.grants.setup_table(0, DOMID_SELF, 2, &mut w.mem).err(), Some(GrantStatus::GeneralError));
    assert_eq!((w.grants.table(0).unwrap().frames(), held(&w, 0)), (1, 2));
    // Past max_grant_frames nothing is even tried.
    let mut w = World::with_limits(1, Limits::from_plan(Some(2), None));
    assert_eq!(w.grants.setup_table(0, DOMID_SELF, 3, &mut w.mem).err(), Some(GrantStatus::GeneralError));
    assert_eq!(w.grants.map_table_frame(0, 2, WIN, &mut w.s2, &mut w.mem), Err(Errno::Einval));
    assert_eq!(held(&w, 0), 2);
}

#[test]
fn the_maptrack_grows_by_a_page_when_a_map_needs_a_handle() {
    let mut w = World::new(2);
    for gref in 0..3 {
        w.grant(0, gref, 1, 3 + u64::from(gref), false);
    }
    let before = w.mem.pages.held(1);
    let a = w.map(1, DOM1, 0, 10, gntmap::HOST_MAP).unwrap();
    assert_eq!(w.mem.pages.held(1), before + 2, "a maptrack page, and a page of RAM states");
    assert_eq!(w.grants.table(1).unwrap().maptrack_capacity(), 256);
    let b = w.map(1, DOM1, 1, 11, gntmap::HOST_MAP).unwrap();
    assert_eq!((a, b), (0, 1), "handles are taken in order");
    assert_eq!(w.mem.pages.held(1), before + 2, "the page holds 256 handles");
    w.unmap(1, a, 10).unwrap();
    assert_eq!(w.map(1, DOM1, 2, 12, gntmap::HOST_MAP), Ok(0), "a freed handle is taken again");
    // The maptrack's limit is the partition's RAM pages (256 here): one page.
    assert_eq!(w.grants.table(1).unwrap().maptrack_limit(), 256);
}

#[test]
fn a_map_with_no_page_for_a_handle_or_a_page_state_fails_cleanly() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, false);
    // Partition 1 holds its one active page: no room for a maptrack page.
    w.mem.pages.limit = Some(1);
    assert_eq!(w.map(1, DOM1, 1, 10, gntmap::HOST_MAP), Err(GrantStatus::NoSpace));
    assert_eq!(w.grants.table(0).unwrap().pins(1), None, "nothing was pinned");
    assert_eq!(w.mem.flags(0, 1), abi::gtf::PERMIT_ACCESS);
    // A maptrack page but no page for the mapper's RAM states: Xen's p2m failing.
    w.mem.pages.limit = Some(2);
    assert_eq!(w.map(1, DOM1, 1, 10, gntmap::HOST_MAP), Err(GrantStatus::GeneralError));
    assert_eq!(w.grants.table(0).unwrap().pins(1), None);
    assert_eq!(w.mem.flags(0, 1), abi::gtf::PERMIT_ACCESS);
    assert!(matches!(w.s2.at(1, RAM_GFN + 10), Some(Mapped::Ram(..))), "the mapper's page stays");
    w.mem.pages.limit = None;
    assert!(w.map(1, DOM1, 1, 10, gntmap::HOST_MAP).is_ok());
}

#[test]
fn a_stop_gives_back_every_page_the_table_grew_by() {
    let mut w = World::new(2);
    w.grants.setup_table(0, DOMID_SELF, 5, &mut w.mem).unwrap().for_each(drop);
    w.grants.map_table_frame(0, 4, WIN, &mut w.s2, &mut w.mem).unwrap();
    w.grant(0, 4 * 512, 1, 3, false);
    w.grant(1, 2, 0, 9, false);
    w.map(1, DOM1, 4 * 512, 10, gntmap::HOST_MAP).unwrap();
    w.map(0, DOM2, 2, 20, gntmap::HOST_MAP).unwrap();
    w.grants.table_mut(0).unwrap().physmap_mut().decrease(0, RAM_GFN + 40, 2, &mut w.s2, &mut w.mem).unwrap();
    assert!(held(&w, 0) > 10);
    w.stop(0);
    assert_eq!(held(&w, 0), 2, "its first frame and its active entries");
    assert_eq!(w.grants.table(0).unwrap().pages_held(), 2);
    // Partition 1 lost its mapping of 0's page: its maptrack page stays until it stops.
    assert_eq!(w.grants.table(1).unwrap().mappings().count(), 0);
    w.stop(1);
    assert_eq!(held(&w, 1), 2);
    // Restarts do not leak: the same traffic again ends with the same pages.
    for _ in 0..3 {
        w.grants.setup_table(0, DOMID_SELF, 5, &mut w.mem).unwrap().for_each(drop);
        w.grant(0, 4 * 512, 1, 3, false);
        w.map(1, DOM1, 4 * 512, 10, gntmap::HOST_MAP).unwrap();
        w.stop(0);
        w.stop(1);
        assert_eq!((held(&w, 0), held(&w, 1)), (2, 2));
    }
}

#[test]
fn a_partition_without_grant_frames_keeps_no_grant_bookkeeping() {
    let mut w = World::with_limits(1, Limits { max_grant_frames: 0, max_maptrack_frames: 0 });
    assert_eq!(held(&w, 0), 0);
    assert_eq!(w.grants.table(0).unwrap().pages_held(), 0);
    assert_eq!(w.grants.query_size(0, DOMID_SELF), Ok(Size { frames: 0, max_frames: 0 }));
    assert_eq!(w.grants.setup_table(0, DOMID_SELF, 1, &mut w.mem).err(), Some(GrantStatus::GeneralError));
    assert_eq!(w.map(0, DOM1, 0, 10, gntmap::HOST_MAP), Err(GrantStatus::NoSpace));
    // Its reservation calls still work, a page of states taken while a page is given back.
    w.grants.table_mut(0).unwrap().physmap_mut().decrease(0, RAM_GFN + 1, 0, &mut w.s2, &mut w.mem).unwrap();
    assert_eq!(held(&w, 0), 1);
    w.stop(0);
    assert_eq!(held(&w, 0), 0, "every page present again: the page of states goes back");
}

#[test]
fn a_page_given_back_with_no_page_for_its_state_stops_the_call() {
    let mut w = World::new(1);
    w.mem.pages.limit = Some(1);
    let pm = w.grants.table_mut(0).unwrap().physmap_mut();
    assert_eq!(pm.decrease(0, RAM_GFN + 3, 0, &mut w.s2, &mut w.mem), Err(Refusal::NoStatePage { gfn: RAM_GFN + 3 }));
    assert_eq!(pm.page(RAM_GFN + 3), Some(Page::Populated));
    assert!(matches!(w.s2.at(0, RAM_GFN + 3), Some(Mapped::Ram(..))), "nothing was unmapped");
    assert!(!Refusal::NoStatePage { gfn: 1 }.to_string().is_empty());
}

#[test]
fn page_caps_count_frames_active_entries_maptrack_and_states() {
    let bank = Bank { guest: RAM, host: host_base(0), size: 256 << 20 };
    // 64 frames and their active pages, 65536 RAM pages / 256 = 256 maptrack pages, 16 of states.
    assert_eq!(GrantTable::page_cap(Limits::from_plan(None, None), &[bank]), 64 * 2 + 256 + 16);
    assert_eq!(GrantTable::page_cap(Limits { max_grant_frames: 0, max_maptrack_frames: 0 }, &[bank]), 16);
    assert_eq!(GrantTable::page_cap(Limits::from_plan(Some(4), Some(2)), &[bank]), 8 + 2 + 16);
}
