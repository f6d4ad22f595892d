//! A partition that stops: its pages leave every other partition's stage 2 first, its own
//! mappings go, its table and RAM come back as built.

use super::*;
use crate::portable::gnttab::abi::{gntmap, WINDOW_BASE};

#[test]
fn stopping_a_granter_removes_its_pages_everywhere() {
    let mut w = World::new(3);
    w.grant(0, 1, 1, 3, false);
    w.grant(0, 2, 2, 4, true);
    w.grant(2, 1, 0, 5, false);
    let a = w.map(1, DOM1, 1, 10, gntmap::HOST_MAP).unwrap();
    let _b = w
        .map(2, DOM1, 2, 11, gntmap::HOST_MAP | gntmap::READONLY)
        .unwrap();
    let _c = w.map(0, 3, 1, 12, gntmap::HOST_MAP).unwrap();
    w.grants
        .table_mut(0)
        .unwrap()
        .physmap_mut()
        .decrease(0, RAM_GFN + 40, 1, &mut w.s2, &mut w.mem)
        .unwrap();
    w.grants
        .map_table_frame(0, 0, WINDOW_BASE / PAGE_SIZE, &mut w.s2, &mut w.mem)
        .unwrap();
    let revoked = w.stop(0);
    assert_eq!(revoked, Revoked { foreign: 2, own: 1 });
    // Nobody maps partition 0's pages any more.
    for (&(p, gfn), m) in &w.s2.entries {
        if let Mapped::Ram(frame, _) = m {
            assert!(
                w.grants.table(p).unwrap().physmap().owns(*frame),
                "partition {p} frame {gfn:#x} still maps {frame:?}"
            );
        }
    }
    assert_eq!(
        w.s2.at(1, RAM_GFN + 10),
        None,
        "the mapper finds the frame empty"
    );
    assert_eq!(w.unmap(1, a, 10), Err(GrantStatus::BadHandle));
    // Partition 2's grant to 0 is free again, its flags cleared.
    assert_eq!(w.mem.flags(2, 1), abi::gtf::PERMIT_ACCESS);
    assert_eq!(w.grants.table(2).unwrap().pins(1), None);
    // Partition 0 is as built: all RAM present and mapped to its own frames, no table frame.
    let t = w.grants.table(0).unwrap();
    assert_eq!(t.physmap().present_pages(), RAM_PAGES);
    assert_eq!(t.frames(), 1);
    assert!(t.mappings().next().is_none());
    for i in 0..RAM_PAGES {
        assert_eq!(
            w.s2.at(0, RAM_GFN + i),
            Some(Mapped::Ram(HostFrame::new(w.host(0, i)), Access::ReadWrite))
        );
    }
    assert_eq!(w.s2.at(0, WINDOW_BASE / PAGE_SIZE), None);
    // The mappers' own frames stay empty until they populate them again.
    assert_eq!(
        w.grants.table(1).unwrap().physmap().page(RAM_GFN + 10),
        Some(Page::Ballooned)
    );
    // Stopping again is harmless.
    assert_eq!(w.stop(0), Revoked::default());
}

#[test]
fn stopping_a_partition_with_every_page_present_touches_no_stage2_entry() {
    let mut w = World::new(2);
    let before = w.s2.entries.clone();
    // A full table refuses every map: a restore that tried one would fail the stop.
    w.s2.full = true;
    assert_eq!(w.stop(0), Revoked::default());
    assert_eq!(w.s2.unmaps, 0);
    assert_eq!(w.s2.entries, before);
    // One page given back: the stop walks the pages and maps exactly that one back.
    w.s2.full = false;
    w.grants
        .table_mut(0)
        .unwrap()
        .physmap_mut()
        .decrease(0, RAM_GFN + 7, 0, &mut w.s2, &mut w.mem)
        .unwrap();
    assert_eq!(w.s2.at(0, RAM_GFN + 7), None);
    assert_eq!(w.stop(0), Revoked::default());
    assert_eq!(w.s2.entries, before);
    assert_eq!(w.grants.table(0).unwrap().physmap().present_pages(), RAM_PAGES);
}
