//! map_grant_ref and unmap_grant_ref: every status code in Xen's order, the flag protocol on
//! the granter's entry, and what reaches stage 2.

use super::*;
use crate::portable::gnttab::abi::{gntmap, DOMID_SELF};

const RW: u32 = gntmap::HOST_MAP;
const RO: u32 = gntmap::HOST_MAP | gntmap::READONLY;

#[test]
fn map_write_unmap_sets_and_clears_the_flags() {
    let mut w = World::new(2);
    w.grant(0, 5, 1, 7, false);
    let h = w.map(1, DOM1, 5, 20, RW).unwrap();
    assert_eq!(
        w.mem.flags(0, 5),
        gtf::PERMIT_ACCESS | gtf::READING | gtf::WRITING
    );
    assert_eq!(
        w.s2.at(1, RAM_GFN + 20),
        Some(Mapped::Ram(HostFrame::new(w.host(0, 7)), Access::ReadWrite))
    );
    assert_eq!(
        w.grants.table(1).unwrap().physmap().page(RAM_GFN + 20),
        Some(Page::Granted)
    );
    assert_eq!(w.grants.table(0).unwrap().pins(5), Some((1, 1, 0)));
    w.unmap(1, h, 20).unwrap();
    assert_eq!(w.mem.flags(0, 5), gtf::PERMIT_ACCESS);
    assert_eq!(
        w.s2.at(1, RAM_GFN + 20),
        None,
        "the frame stays empty, as on Xen"
    );
    assert_eq!(
        w.grants.table(1).unwrap().physmap().page(RAM_GFN + 20),
        Some(Page::Ballooned)
    );
    assert_eq!(w.grants.table(0).unwrap().pins(5), None);
}

#[test]
fn readonly_is_honoured() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, true);
    assert_eq!(w.map(1, DOM1, 1, 10, RW), Err(GrantStatus::GeneralError));
    assert_eq!(
        w.mem.flags(0, 1),
        gtf::PERMIT_ACCESS | gtf::READONLY,
        "nothing left set"
    );
    let h = w.map(1, DOM1, 1, 10, RO).unwrap();
    assert_eq!(
        w.mem.flags(0, 1),
        gtf::PERMIT_ACCESS | gtf::READONLY | gtf::READING
    );
    assert!(matches!(
        w.s2.at(1, RAM_GFN + 10),
        Some(Mapped::Ram(_, Access::ReadOnly))
    ));
    w.unmap(1, h, 10).unwrap();
    assert_eq!(w.mem.flags(0, 1), gtf::PERMIT_ACCESS | gtf::READONLY);
}

#[test]
fn writing_stays_until_the_last_writable_pin_goes() {
    let mut w = World::new(2);
    w.grant(0, 2, 1, 4, false);
    let a = w.map(1, DOM1, 2, 10, RO).unwrap();
    let b = w.map(1, DOM1, 2, 11, RW).unwrap();
    assert_eq!(
        w.mem.flags(0, 2),
        gtf::PERMIT_ACCESS | gtf::READING | gtf::WRITING
    );
    w.unmap(1, b, 11).unwrap();
    assert_eq!(w.mem.flags(0, 2), gtf::PERMIT_ACCESS | gtf::READING);
    w.unmap(1, a, 10).unwrap();
    assert_eq!(w.mem.flags(0, 2), gtf::PERMIT_ACCESS);
}

#[test]
fn status_codes_in_xens_order() {
    let mut w = World::new(3);
    w.grant(0, 1, 1, 3, false);
    // No host or device map: bad_gntref before anything else is looked at.
    assert_eq!(w.map(1, 99, 1, 10, 0), Err(GrantStatus::BadGntref));
    // Device, application and PTE mappings: general_error on Arm.
    assert_eq!(
        w.map(1, DOM1, 1, 10, RW | gntmap::DEVICE_MAP),
        Err(GrantStatus::GeneralError)
    );
    assert_eq!(
        w.map(1, DOM1, 1, 10, RW | gntmap::APPLICATION_MAP),
        Err(GrantStatus::GeneralError)
    );
    assert_eq!(
        w.map(1, DOM1, 1, 10, RW | gntmap::CONTAINS_PTE),
        Err(GrantStatus::GeneralError)
    );
    // Unknown domain, DOMID_SELF (not accepted by map), 0.
    assert_eq!(w.map(1, 4, 1, 10, RW), Err(GrantStatus::BadDomain));
    assert_eq!(w.map(1, DOMID_SELF, 1, 10, RW), Err(GrantStatus::BadDomain));
    assert_eq!(w.map(1, 0, 1, 10, RW), Err(GrantStatus::BadDomain));
    // A reference past the table (1 frame: 512 entries).
    assert_eq!(w.map(1, DOM1, 512, 10, RW), Err(GrantStatus::BadGntref));
    assert_eq!(
        w.map(1, DOM1, u32::MAX, 10, RW),
        Err(GrantStatus::BadGntref)
    );
    // Granted to someone else, not granted, wrong type.
    assert_eq!(w.map(2, DOM1, 1, 10, RW), Err(GrantStatus::GeneralError));
    assert_eq!(w.map(1, DOM1, 2, 10, RW), Err(GrantStatus::GeneralError));
    w.mem
        .grant(0, 3, gtf::ACCEPT_TRANSFER, DOM2, (RAM_GFN + 3) as u32);
    assert_eq!(w.map(1, DOM1, 3, 10, RW), Err(GrantStatus::GeneralError));
    w.mem.grant(
        0,
        4,
        gtf::PERMIT_ACCESS | gtf::SUB_PAGE,
        DOM2,
        (RAM_GFN + 3) as u32,
    );
    assert_eq!(w.map(1, DOM1, 4, 10, RW), Err(GrantStatus::GeneralError));
    // A frame outside the granter's RAM: bad_page, flags put back.
    w.mem.grant(0, 6, gtf::PERMIT_ACCESS, DOM2, 0x1000);
    assert_eq!(w.map(1, DOM1, 6, 10, RW), Err(GrantStatus::BadPage));
    assert_eq!(w.mem.flags(0, 6), gtf::PERMIT_ACCESS);
    w.mem.grant(0, 7, gtf::PERMIT_ACCESS, DOM2, u32::MAX);
    assert_eq!(w.map(1, DOM1, 7, 10, RW), Err(GrantStatus::BadPage));
    // Cache attributes are ignored for RAM, as on Xen.
    w.mem.grant(
        0,
        8,
        gtf::PERMIT_ACCESS | gtf::PAT,
        DOM2,
        (RAM_GFN + 3) as u32,
    );
    let h = w.map(1, DOM1, 8, 10, RW).unwrap();
    w.unmap(1, h, 10).unwrap();
    assert_eq!(w.mem.flags(0, 8), gtf::PERMIT_ACCESS | gtf::PAT);
    w.grants
        .table_mut(1)
        .unwrap()
        .physmap_mut()
        .populate(1, RAM_GFN + 10, 0, &mut w.s2, &mut w.mem)
        .unwrap();
    // A guest-available flag bit: Arm's host mapping refuses it.
    assert_eq!(
        w.map(1, DOM1, 1, 10, RW | 1 << 16),
        Err(GrantStatus::GeneralError)
    );
    // host_addr outside the mapper's RAM (the GIC, the grant window, nothing).
    let req = MapRequest {
        host_addr: 0x0800_0000,
        flags: RW,
        gref: 1,
        dom: DOM1,
    };
    assert_eq!(
        w.grants.map(1, &req, &mut w.mem, &mut w.s2),
        Err(GrantStatus::GeneralError)
    );
    let req = MapRequest {
        host_addr: u64::MAX,
        flags: RW,
        gref: 1,
        dom: DOM1,
    };
    assert_eq!(
        w.grants.map(1, &req, &mut w.mem, &mut w.s2),
        Err(GrantStatus::GeneralError)
    );
    assert_eq!(
        w.mem.flags(0, 1),
        gtf::PERMIT_ACCESS,
        "every failure leaves the entry as it was"
    );
    assert!(w.grants.table(1).unwrap().mappings().next().is_none());
}

#[test]
fn a_pinned_grant_refuses_another_domain_and_a_frame_with_a_grant() {
    let mut w = World::new(3);
    w.grant(0, 1, 1, 3, false);
    let h = w.map(1, DOM1, 1, 10, RW).unwrap();
    // The entry now says domain 3: the pin's domain (2) still decides, as Xen's active entry.
    w.mem.grant(
        0,
        1,
        gtf::PERMIT_ACCESS | gtf::READING | gtf::WRITING,
        3,
        (RAM_GFN + 3) as u32,
    );
    assert_eq!(w.map(2, DOM1, 1, 10, RW), Err(GrantStatus::GeneralError));
    // The same frame of the mapper already holds a grant.
    assert_eq!(w.map(1, DOM1, 1, 10, RW), Err(GrantStatus::GeneralError));
    w.unmap(1, h, 10).unwrap();
}

#[test]
fn self_grant_and_stale_frame_field() {
    let mut w = World::new(1);
    w.grant(0, 9, 0, 1, false);
    let h = w.map(0, DOM1, 9, 30, RW).unwrap();
    // The granter rewrites the frame field while pinned: the pinned page stays mapped.
    w.mem.grant(
        0,
        9,
        gtf::PERMIT_ACCESS | gtf::READING | gtf::WRITING,
        DOM1,
        0,
    );
    assert_eq!(
        w.s2.at(0, RAM_GFN + 30),
        Some(Mapped::Ram(HostFrame::new(w.host(0, 1)), Access::ReadWrite))
    );
    let h2 = w.map(0, DOM1, 9, 31, RW).unwrap();
    assert_eq!(
        w.s2.at(0, RAM_GFN + 31),
        Some(Mapped::Ram(HostFrame::new(w.host(0, 1)), Access::ReadWrite)),
        "a second pin uses the pinned page, not the rewritten frame"
    );
    w.unmap(0, h, 30).unwrap();
    w.unmap(0, h2, 31).unwrap();
}

#[test]
fn a_guest_that_keeps_changing_its_entry_is_refused() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, false);
    w.mem.racing = Some((0, 8));
    assert_eq!(w.map(1, DOM1, 1, 10, RW), Err(GrantStatus::GeneralError));
    w.mem.racing = None;
    assert_eq!(w.mem.flags(0, 1) & (gtf::READING | gtf::WRITING), 0);
}

#[test]
fn pin_counters_stop_before_overflow() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, true);
    let mut handles = Vec::new();
    for i in 0..200 {
        match w.map(1, DOM1, 1, i, RO) {
            Ok(h) => handles.push((h, i)),
            Err(s) => {
                assert_eq!(s, GrantStatus::GeneralError);
                break;
            }
        }
    }
    assert_eq!(
        handles.len(),
        128,
        "Xen's 8-bit counters refuse at their top bit"
    );
    for (h, i) in handles {
        w.unmap(1, h, i).unwrap();
    }
    assert_eq!(w.mem.flags(0, 1), gtf::PERMIT_ACCESS | gtf::READONLY);
}

#[test]
fn maptrack_full_is_no_space() {
    let mut w = World::with_limits(
        2,
        Limits {
            max_grant_frames: 4,
            max_maptrack_frames: 0,
        },
    );
    w.grant(0, 1, 1, 3, false);
    assert_eq!(w.map(1, DOM1, 1, 10, RW), Err(GrantStatus::NoSpace));
    assert_eq!(w.mem.flags(0, 1), gtf::PERMIT_ACCESS);
}

#[test]
fn stage2_full_undoes_the_pin() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, false);
    w.s2.full = true;
    assert_eq!(w.map(1, DOM1, 1, 10, RW), Err(GrantStatus::GeneralError));
    w.s2.full = false;
    assert_eq!(w.mem.flags(0, 1), gtf::PERMIT_ACCESS);
    assert_eq!(w.grants.table(0).unwrap().pins(1), None);
    assert_eq!(
        w.grants.table(1).unwrap().physmap().page(RAM_GFN + 10),
        Some(Page::Populated)
    );
}

#[test]
fn peers_refuse_with_permission_denied() {
    let mut w = World::new(3);
    w.grant(0, 1, 1, 3, false);
    w.grants.table_mut(1).unwrap().set_peers(1 << 2);
    assert_eq!(
        w.map(1, DOM1, 1, 10, RW),
        Err(GrantStatus::PermissionDenied)
    );
}

#[test]
fn unmap_errors() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, false);
    assert_eq!(
        w.unmap(1, 0, 10),
        Err(GrantStatus::BadHandle),
        "never mapped"
    );
    assert_eq!(w.unmap(1, u32::MAX, 10), Err(GrantStatus::BadHandle));
    let h = w.map(1, DOM1, 1, 10, RW).unwrap();
    assert_eq!(
        w.unmap(0, h, 10),
        Err(GrantStatus::BadHandle),
        "another partition's handle"
    );
    assert_eq!(
        w.unmap(1, h, 11),
        Err(GrantStatus::GeneralError),
        "not where it is mapped"
    );
    let replace = UnmapRequest {
        host_addr: (RAM_GFN + 10) * PAGE_SIZE,
        handle: h,
        new_addr: 0x4000_0000,
    };
    assert_eq!(
        w.grants.unmap(1, &replace, &mut w.mem, &mut w.s2),
        Err(GrantStatus::GeneralError),
        "unmap_and_replace with a replacement is refused on Arm"
    );
    // host_addr 0: Xen does nothing and answers okay.
    let zero = UnmapRequest {
        host_addr: 0,
        handle: h,
        new_addr: 0,
    };
    assert_eq!(w.grants.unmap(1, &zero, &mut w.mem, &mut w.s2), Ok(()));
    assert!(w.grants.table(1).unwrap().mapping(h).is_some());
    w.unmap(1, h, 10).unwrap();
    assert_eq!(
        w.unmap(1, h, 10),
        Err(GrantStatus::BadHandle),
        "a grant unmapped twice"
    );
    assert_eq!(w.mem.flags(0, 1), gtf::PERMIT_ACCESS);
}

#[test]
fn handles_are_reused() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, false);
    let a = w.map(1, DOM1, 1, 10, RW).unwrap();
    assert_eq!(a, 0);
    w.unmap(1, a, 10).unwrap();
    w.grants
        .table_mut(1)
        .unwrap()
        .physmap_mut()
        .populate(1, RAM_GFN + 10, 0, &mut w.s2, &mut w.mem)
        .unwrap();
    assert_eq!(w.map(1, DOM1, 1, 10, RW), Ok(0));
}
