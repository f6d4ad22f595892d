use super::*;
use crate::portable::memory::stage2::{MappingAttributes, Stage2Table};
use crate::portable::memory::vtcr::Stage2Config;
use crate::portable::memory::AddressRange;

fn config() -> Stage2Config {
    Stage2Config::from_id_aa64mmfr0_el1(0b0100).unwrap()
}

const RAM: u64 = 0x4000_0000;
const HOST: u64 = 0x8000_0000;

#[test]
fn a_cleared_table_gives_back_what_it_grew_by_and_keeps_its_static_pages() {
    let pages = IdentityPages::new(3, heap::FNS, 64).unwrap();
    let mut table = Stage2Table::new(pages, config()).unwrap();
    let bank = AddressRange::new(HOST, 16 << 20).unwrap();
    table.map(RAM, bank, MappingAttributes::RAM).unwrap();
    let (at_build, cap) = table.page_source().held();
    assert_eq!(cap, 64);
    assert!((2..=4).contains(&at_build), "a root and a level-2 table, with a spare or two: {at_build}");
    assert!(table.page_source().keep_current());
    assert_eq!(table.page_source().kept(), at_build);
    // Run time: pages unmapped inside three 2 MiB blocks split each into a level-3 table.
    for block in 0..3u64 {
        table.unmap(AddressRange::new(RAM + block * (2 << 20) + 0x1000, 0x1000).unwrap()).unwrap();
    }
    let (grown, _) = table.page_source().held();
    assert!(grown >= at_build + 3, "{grown}");
    // Cleared and rebuilt, it holds what it held at build, none of it allocated anew.
    for _ in 0..3 {
        table.clear().unwrap();
        assert!(table.translate(RAM).is_none());
        table.map(RAM, bank, MappingAttributes::RAM).unwrap();
        assert_eq!(table.page_source().held().0, at_build);
        assert_eq!(table.translate(RAM + 0x1000).unwrap().physical, HOST + 0x1000);
    }
}

#[test]
fn a_source_at_its_cap_refuses_the_change_instead_of_failing_inside_it() {
    let pages = IdentityPages::new(0, heap::FNS, 3).unwrap();
    let mut table = Stage2Table::new(pages, config()).unwrap();
    table.map(RAM, AddressRange::new(HOST, 8 << 20).unwrap(), MappingAttributes::RAM).unwrap();
    assert!(table.page_source().keep_current());
    let held = table.page_source().held().0;
    assert!(held <= 3);
    // Each split needs a level-3 table: the cap stops them with an error, never a panic.
    let mut refused = false;
    for block in 0..4u64 {
        let page = AddressRange::new(RAM + block * (2 << 20), 0x1000).unwrap();
        if table.unmap(page).is_err() {
            refused = true;
            assert!(table.translate(page.start()).is_some(), "a refused unmap leaves the page mapped");
        }
    }
    assert!(refused);
    assert_eq!(table.page_source().held().0, 3);
}

#[test]
fn pages_come_from_and_go_back_to_the_owner_given() {
    use core::sync::atomic::{AtomicUsize, Ordering};
    static TAKEN: AtomicUsize = AtomicUsize::new(0);
    static GIVEN: AtomicUsize = AtomicUsize::new(0);
    fn take(owner: usize) -> Option<NonNull<u8>> {
        assert_eq!(owner, 5);
        TAKEN.fetch_add(1, Ordering::Relaxed);
        (heap::FNS.take)(owner)
    }
    fn give(owner: usize, page: NonNull<u8>) {
        assert_eq!(owner, 5);
        GIVEN.fetch_add(1, Ordering::Relaxed);
        (heap::FNS.give)(owner, page)
    }
    {
        let pages = IdentityPages::new(5, PageFns { take, give }, 16).unwrap();
        let mut table = Stage2Table::new(pages, config()).unwrap();
        table.map(RAM, AddressRange::new(HOST + 0x1000, 0x1000).unwrap(), MappingAttributes::RAM).unwrap();
        assert!(TAKEN.load(Ordering::Relaxed) >= 3);
    }
    assert_eq!(TAKEN.load(Ordering::Relaxed), GIVEN.load(Ordering::Relaxed), "a dropped table gives back every page");
}
