//! decrease_reservation, populate_physmap, current and maximum reservation.

use super::*;

#[test]
fn give_back_and_take_again() {
    let mut w = World::new(1);
    assert_eq!(
        w.grants.table(0).unwrap().physmap().total_pages(),
        RAM_PAGES
    );
    let mut s2 = FakeStage2::new(1);
    w.grants.table_mut(0).unwrap().physmap_mut()
        .decrease(0, RAM_GFN + 8, 2, &mut s2, &mut w.mem)
        .unwrap();
    for i in 8..12 {
        assert_eq!(s2.at(0, RAM_GFN + i), None);
    }
    assert_eq!(
        w.grants.table(0).unwrap().physmap().present_pages(),
        RAM_PAGES - 4
    );
    assert_eq!(
        w.grants.table(0).unwrap().physmap().total_pages(),
        RAM_PAGES
    );
    w.grants.table_mut(0).unwrap().physmap_mut()
        .populate(0, RAM_GFN + 8, 1, &mut s2, &mut w.mem)
        .unwrap();
    assert_eq!(
        s2.at(0, RAM_GFN + 9),
        Some(Mapped::Ram(HostFrame::new(w.host(0, 9)), Access::ReadWrite)),
        "the same host frame comes back"
    );
    assert_eq!(
        w.grants.table(0).unwrap().physmap().present_pages(),
        RAM_PAGES - 2
    );
}

#[test]
fn refusals() {
    let mut w = World::new(1);
    let mut s2 = FakeStage2::new(1);
    let pm = w.grants.table_mut(0).unwrap().physmap_mut();
    assert_eq!(
        pm.populate(0, RAM_GFN, 0, &mut s2, &mut w.mem),
        Err(Refusal::Exhausted { gfn: RAM_GFN })
    );
    assert_eq!(
        pm.decrease(0, RAM_GFN, 10, &mut s2, &mut w.mem),
        Err(Refusal::ExtentOrder { order: 10 })
    );
    assert_eq!(
        pm.decrease(0, 0, 0, &mut s2, &mut w.mem),
        Err(Refusal::NotRam { gfn: 0 })
    );
    assert_eq!(
        pm.populate(0, u64::MAX, 0, &mut s2, &mut w.mem),
        Err(Refusal::NotRam { gfn: u64::MAX })
    );
    assert_eq!(
        pm.decrease(0, u64::MAX, 3, &mut s2, &mut w.mem),
        Err(Refusal::NotRam { gfn: u64::MAX })
    );
    // The last pages of RAM and one past: the first three go, then it stops.
    let last = RAM_GFN + RAM_PAGES - 3;
    assert_eq!(
        pm.decrease(0, last, 2, &mut s2, &mut w.mem),
        Err(Refusal::NotRam {
            gfn: RAM_GFN + RAM_PAGES
        })
    );
    assert_eq!(pm.present_pages(), RAM_PAGES - 3);
    assert_eq!(
        pm.decrease(0, last, 0, &mut s2, &mut w.mem),
        Err(Refusal::NotPopulated { gfn: last })
    );
    // Populating an extent with a present page in it changes nothing.
    assert_eq!(
        pm.populate(0, last - 1, 1, &mut s2, &mut w.mem),
        Err(Refusal::Exhausted { gfn: last - 1 })
    );
    assert_eq!(s2.at(0, last), None);
    s2.full = true;
    assert_eq!(
        pm.populate(0, last, 1, &mut s2, &mut w.mem),
        Err(Refusal::Stage2 { gfn: last })
    );
    assert_eq!(pm.page(last), Some(Page::Ballooned));
    s2.full = false;
    for r in [
        Refusal::Exhausted { gfn: 1 },
        Refusal::ExtentOrder { order: 12 },
        Refusal::NotRam { gfn: 2 },
    ] {
        assert!(!r.to_string().is_empty());
    }
}

#[test]
fn a_grant_mapped_page_is_not_given_back() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, false);
    let h = w.map(1, DOM1, 1, 10, abi::gntmap::HOST_MAP).unwrap();
    let mut s2 = FakeStage2::new(2);
    let pm = w.grants.table_mut(1).unwrap().physmap_mut();
    assert_eq!(
        pm.decrease(1, RAM_GFN + 10, 0, &mut s2, &mut w.mem),
        Err(Refusal::GrantMapped { gfn: RAM_GFN + 10 })
    );
    assert_eq!(
        pm.populate(1, RAM_GFN + 10, 0, &mut s2, &mut w.mem),
        Err(Refusal::GrantMapped { gfn: RAM_GFN + 10 })
    );
    assert_eq!(
        pm.present_pages(),
        RAM_PAGES - 1,
        "a grant mapping is not the partition's memory"
    );
    w.unmap(1, h, 10).unwrap();
    // The granter gives back its granted page: it cannot be granted anew, but a pinned one
    // stays mapped (its frame stays reserved for the granter).
    let h = w.map(1, DOM1, 1, 11, abi::gntmap::HOST_MAP).unwrap();
    w.grants.table_mut(0).unwrap().physmap_mut()
        .decrease(0, RAM_GFN + 3, 0, &mut s2, &mut w.mem)
        .unwrap();
    assert!(matches!(w.s2.at(1, RAM_GFN + 11), Some(Mapped::Ram(..))));
    w.unmap(1, h, 11).unwrap();
    assert_eq!(
        w.map(1, DOM1, 1, 12, abi::gntmap::HOST_MAP),
        Err(GrantStatus::BadPage)
    );
}

#[test]
fn banks_must_be_aligned() {
    let bad = Bank {
        guest: RAM + 1,
        host: 0x1_0000_0000,
        size: PAGE_SIZE,
    };
    assert_eq!(Physmap::new(&[bad]).err(), Some(TableError::Bank(BankError { bank: bad })));
    let wraps = Bank {
        guest: u64::MAX - 0xfff,
        host: 0,
        size: 2 * PAGE_SIZE,
    };
    assert!(Physmap::new(&[wraps]).is_err());
    let two = [
        Bank {
            guest: RAM,
            host: 0x1_0000_0000,
            size: 2 * PAGE_SIZE,
        },
        Bank {
            guest: 0x2_0000_0000,
            host: 0x2_0000_0000,
            size: PAGE_SIZE,
        },
    ];
    let pm = Physmap::new(&two).unwrap();
    assert_eq!(pm.total_pages(), 3);
    assert_eq!(
        pm.present_frame(0x2_0000_0000 / PAGE_SIZE)
            .map(|f| f.address()),
        Some(0x2_0000_0000)
    );
    assert_eq!(pm.present_frame(RAM_GFN + 2), None);
    assert!(!BankError { bank: bad }.to_string().is_empty());
}

fn args(nr_extents: u64, extent_order: u32, domid: u16) -> args::Reservation {
    args::Reservation {
        extent_start: 0,
        nr_extents,
        extent_order,
        mem_flags: 0,
        domid,
    }
}

#[test]
fn whole_calls_in_pieces() {
    use crate::portable::evtchn::Errno;
    use crate::portable::gnttab::abi::DOMID_SELF;
    let mut w = World::new(2);
    let list: Vec<u64> = (0..100).map(|i| RAM_GFN + 100 + i).collect();
    let read = |i: u64| list.get(i as usize).copied();
    let a = args(100, 0, DOMID_SELF);
    let first = w
        .grants
        .reservation(0, Direction::Decrease, &a, 0, read, &mut w.s2, &mut w.mem);
    assert_eq!(first, Ok(Progress::Continue { done: 64 }));
    let rest = w
        .grants
        .reservation(0, Direction::Decrease, &a, 64, read, &mut w.s2, &mut w.mem);
    assert_eq!(rest, Ok(Progress::Finished { done: 100 }));
    assert_eq!(
        w.grants.reservation_pages(0, DOMID_SELF, true),
        Ok(RAM_PAGES - 100)
    );
    assert_eq!(w.grants.reservation_pages(0, DOM1, false), Ok(RAM_PAGES));
    assert_eq!(w.grants.reservation_pages(0, DOM2, true), Err(Errno::Eperm));
    assert_eq!(w.grants.reservation_pages(0, 9, true), Err(Errno::Esrch));
    // Populating more than was given back stops at the first present page.
    let more: Vec<u64> = vec![RAM_GFN + 100, RAM_GFN + 5];
    let p = w.grants.reservation(
        0,
        Direction::Populate,
        &args(2, 0, DOMID_SELF),
        0,
        |i| more.get(i as usize).copied(),
        &mut w.s2, &mut w.mem
    );
    assert_eq!(
        p,
        Ok(Progress::Stopped {
            done: 1,
            refusal: Some(Refusal::Exhausted { gfn: RAM_GFN + 5 })
        })
    );
    // An unreadable list entry stops the call; another domain is refused.
    let p = w.grants.reservation(
        0,
        Direction::Populate,
        &args(5, 0, DOMID_SELF),
        0,
        |_| None,
        &mut w.s2, &mut w.mem
    );
    assert_eq!(
        p,
        Ok(Progress::Stopped {
            done: 0,
            refusal: None
        })
    );
    assert_eq!(
        w.grants.reservation(
            0,
            Direction::Populate,
            &args(1, 0, DOM2),
            0,
            read,
            &mut w.s2, &mut w.mem
        ),
        Err(Errno::Eperm)
    );
    assert_eq!(
        w.grants
            .reservation(0, Direction::Populate, &args(1, 0, 77), 0, read, &mut w.s2, &mut w.mem),
        Err(Errno::Esrch)
    );
    // A huge count is handled 64 at a time; a start past the end finishes at once.
    let p = w.grants.reservation(
        0,
        Direction::Populate,
        &args(u64::MAX, 10, DOMID_SELF),
        0,
        read,
        &mut w.s2, &mut w.mem
    );
    assert_eq!(
        p,
        Ok(Progress::Stopped {
            done: 0,
            refusal: Some(Refusal::ExtentOrder { order: 10 })
        })
    );
    let p = w.grants.reservation(
        0,
        Direction::Populate,
        &args(3, 0, DOMID_SELF),
        5,
        read,
        &mut w.s2, &mut w.mem
    );
    assert_eq!(p, Ok(Progress::Finished { done: 5 }));
}
