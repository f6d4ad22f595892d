use super::*;
use crate::portable::memory::page_pool::fake::HeapPages;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pair {
    a: u32,
    b: u32,
}

// SAFETY: two integers.
unsafe impl Zeroable for Pair {}

#[test]
fn slots_exist_only_in_present_pages() {
    let mut pages = HeapPages::default();
    let mut table = Paged::<Pair>::new(3).unwrap();
    assert_eq!(Paged::<Pair>::PER_PAGE, 512);
    assert_eq!(table.get(0), None);
    assert!(table.ensure(1, &mut pages, 7));
    assert_eq!(pages.held(7), 1);
    assert_eq!(table.get(0), None, "page 0 is absent");
    assert_eq!(table.get(512), Some(&Pair { a: 0, b: 0 }), "a new page is zeroed");
    table.get_mut(1023).unwrap().a = 5;
    assert_eq!(table.get(1023).unwrap().a, 5);
    assert_eq!(table.get(1024), None, "page 2 is absent");
    assert_eq!(table.get(usize::MAX), None);
    assert!(table.ensure(1, &mut pages, 7), "ensuring a present page takes nothing");
    assert_eq!(pages.held(7), 1);
    assert!(!table.ensure(3, &mut pages, 7), "past max_pages");
    assert_eq!(table.slots().count(), 512);
    table.release_from(0, &mut pages, 7);
    assert_eq!((table.present_pages(), pages.held(7)), (0, 0));
}

#[test]
fn a_source_out_of_pages_leaves_the_table_as_it_was() {
    let mut pages = HeapPages::limited(1);
    let mut table = Paged::<Pair>::new(4).unwrap();
    assert!(table.ensure(0, &mut pages, 0));
    assert!(!table.ensure(1, &mut pages, 0));
    assert_eq!(table.present_pages(), 1);
    assert!(!table.has_page(1));
    table.get_mut(3).unwrap().b = 9;
    table.clear();
    assert_eq!(table.get(3), Some(&Pair { a: 0, b: 0 }));
    table.release(0, &mut pages, 0);
    table.release(0, &mut pages, 0);
    assert_eq!(pages.held(0), 0, "released once");
}
