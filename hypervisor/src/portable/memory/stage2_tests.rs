//! Host tests for stage-2 tables, over heap pages whose "physical" address is their pointer.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::cell::Cell;
use std::rc::Rc;

use super::*;

const LAYOUT: Layout = match Layout::from_size_align(4096, 4096) {
    Ok(layout) => layout,
    Err(_) => panic!("4 KiB layout"),
};

/// Heap pages with a fixed budget; `live` counts pages not yet given back.
struct HeapPages {
    budget: usize,
    live: Rc<Cell<usize>>,
}

// SAFETY: pages come from `alloc_zeroed` with a 4 KiB aligned 4 KiB layout, are owned until
// `deallocate`, and the "physical" address is the pointer itself, so `to_virtual` inverts it.
unsafe impl TablePageSource for HeapPages {
    fn allocate_zeroed(&mut self) -> Option<TablePage> {
        if self.budget == 0 {
            return None;
        }
        // SAFETY: the layout has a non-zero size.
        let pointer = NonNull::new(unsafe { alloc_zeroed(LAYOUT) })?;
        self.budget -= 1;
        self.live.set(self.live.get() + 1);
        Some(TablePage {
            pointer,
            physical: pointer.as_ptr() as u64,
        })
    }

    unsafe fn deallocate(&mut self, pointer: NonNull<u8>) {
        self.budget += 1;
        self.live.set(self.live.get() - 1);
        // SAFETY: the caller gives back a page from `allocate_zeroed`, allocated with `LAYOUT`.
        unsafe { dealloc(pointer.as_ptr(), LAYOUT) }
    }

    fn to_virtual(&self, physical: u64) -> NonNull<u8> {
        NonNull::new(physical as *mut u8).expect("table pages are never at address 0")
    }

    fn available(&self) -> usize {
        self.budget
    }
}

/// A 44-bit PA, 39-bit IPA configuration (Cortex-A72).
fn config() -> Stage2Config {
    Stage2Config::from_id_aa64mmfr0_el1(0b0100).unwrap()
}

fn table(budget: usize) -> (Stage2Table<HeapPages>, Rc<Cell<usize>>) {
    let live = Rc::new(Cell::new(0));
    let pages = HeapPages {
        budget,
        live: Rc::clone(&live),
    };
    (Stage2Table::new(pages, config()).unwrap(), live)
}

fn range(start: u64, size: u64) -> AddressRange {
    AddressRange::new(start, size).unwrap()
}

#[test]
fn one_gib_aligned_ram_is_one_level1_block() {
    let (mut table, live) = table(8);
    table
        .map(
            0x4000_0000,
            range(0x8000_0000, BLOCK_1G),
            MappingAttributes::RAM,
        )
        .unwrap();
    assert_eq!(live.get(), 1, "only the root table");
    let leaf = table.translate(0x4012_3456).unwrap();
    assert_eq!(leaf.physical, 0x8012_3456);
    assert_eq!(leaf.block_size, BLOCK_1G);
    assert_eq!(leaf.attributes, MappingAttributes::RAM);
    assert_eq!(table.translate(0x3fff_ffff), None);
    assert_eq!(table.translate(0x8000_0000), None);
}

#[test]
fn two_mib_aligned_ram_uses_level2_blocks() {
    let (mut table, live) = table(8);
    table
        .map(
            0x4000_0000,
            range(0x4820_0000, 0x400_0000),
            MappingAttributes::RAM,
        )
        .unwrap();
    assert_eq!(live.get(), 2, "root and one level 2 table");
    let leaf = table.translate(0x43ff_f000).unwrap();
    assert_eq!((leaf.physical, leaf.block_size), (0x4c1f_f000, BLOCK_2M));
}

#[test]
fn page_aligned_ram_falls_back_to_pages() {
    let (mut table, live) = table(8);
    table
        .map(
            0x4000_0000,
            range(0x4820_1000, 0x40_0000),
            MappingAttributes::RAM,
        )
        .unwrap();
    assert_eq!(
        live.get(),
        4,
        "root, a level 2 table and two level 3 tables"
    );
    let leaf = table.translate(0x4030_0010).unwrap();
    assert_eq!((leaf.physical, leaf.block_size), (0x4850_1010, PAGE_SIZE));
}

#[test]
fn ram_descriptor_bits_are_stage2_normal_read_write() {
    let (mut table, _) = table(8);
    table
        .map(
            0x4000_0000,
            range(0x4820_0000, BLOCK_2M),
            MappingAttributes::RAM,
        )
        .unwrap();
    let bits = table.translate(0x4000_0000).unwrap().descriptor;
    assert_eq!(bits & 0b11, 0b01, "block descriptor");
    assert_eq!(
        (bits >> 2) & 0b1111,
        0b1111,
        "MemAttr: normal, outer and inner write-back"
    );
    assert_eq!((bits >> 6) & 0b11, 0b11, "S2AP: read-write");
    assert_eq!((bits >> 8) & 0b11, 0b11, "SH: inner shareable");
    assert_eq!((bits >> 10) & 1, 1, "AF set: no access flag faults");
    assert_eq!((bits >> 11) & 1, 0, "no nG in stage 2");
    assert_eq!((bits >> 52) & 1, 0, "no contiguous hint");
    assert_eq!((bits >> 54) & 1, 0, "executable");
    assert_eq!(bits & 0x0000_ffff_ffff_f000, 0x4820_0000);
}

#[test]
fn device_mapping_is_device_ngnre_and_never_executable() {
    let (mut table, _) = table(8);
    // The GICv2 CPU interface: two pages at Xen's guest address.
    table
        .map(
            0x0300_2000,
            range(0x0804_0000, 0x2000),
            MappingAttributes::DEVICE,
        )
        .unwrap();
    let leaf = table.translate(0x0300_3004).unwrap();
    assert_eq!((leaf.physical, leaf.block_size), (0x0804_1004, PAGE_SIZE));
    assert_eq!(leaf.attributes, MappingAttributes::DEVICE);
    assert_eq!(leaf.descriptor & 0b11, 0b11, "page descriptor");
    assert_eq!(
        (leaf.descriptor >> 2) & 0b1111,
        0b0001,
        "MemAttr: Device-nGnRE"
    );
    assert_eq!((leaf.descriptor >> 54) & 1, 1, "XN");
    assert_eq!(table.translate(0x0300_1000), None);
}

#[test]
fn read_only_mapping_sets_s2ap_read() {
    let (mut table, _) = table(8);
    let attributes = MappingAttributes {
        access: Access::ReadOnly,
        ..MappingAttributes::RAM
    };
    table
        .map(0x3800_0000, range(0x5000_0000, 0x1000), attributes)
        .unwrap();
    let leaf = table.translate(0x3800_0000).unwrap();
    assert_eq!((leaf.descriptor >> 6) & 0b11, 0b01);
    assert_eq!(leaf.attributes, attributes);
}

#[test]
fn unmapping_inside_a_block_splits_it() {
    let (mut table, _) = table(8);
    table
        .map(
            0x4000_0000,
            range(0x8000_0000, BLOCK_2M),
            MappingAttributes::RAM,
        )
        .unwrap();
    table.unmap(range(0x4010_0000, 0x1000)).unwrap();
    assert_eq!(table.translate(0x4010_0000), None);
    assert_eq!(table.translate(0x400f_f000).unwrap().physical, 0x800f_f000);
    assert_eq!(table.translate(0x4010_1000).unwrap().physical, 0x8010_1000);
    // The hole can be mapped again; its neighbours cannot.
    table
        .map(
            0x4010_0000,
            range(0x9000_0000, 0x1000),
            MappingAttributes::RAM,
        )
        .unwrap();
    assert_eq!(table.translate(0x4010_0000).unwrap().physical, 0x9000_0000);
}

#[test]
fn overlapping_map_is_refused() {
    let (mut table, _) = table(8);
    table
        .map(
            0x4000_0000,
            range(0x8000_0000, BLOCK_2M),
            MappingAttributes::RAM,
        )
        .unwrap();
    let overlap = range(0x401f_f000, 0x2000);
    assert_eq!(
        table.map(
            0x401f_f000,
            range(0x9000_0000, 0x2000),
            MappingAttributes::RAM
        ),
        Err(Stage2Error::AlreadyMapped { ipa: overlap })
    );
    assert_eq!(
        table.translate(0x4020_0000),
        None,
        "refused map left nothing behind"
    );
}

#[test]
fn address_limits_and_alignment_are_checked() {
    let (mut table, _) = table(8);
    let ram = MappingAttributes::RAM;
    let physical = range(0x8000_0000, 0x2000);
    assert_eq!(
        table.map(0x4000_0800, physical, ram),
        Err(Stage2Error::Unaligned {
            ipa: 0x4000_0800,
            physical
        })
    );
    let odd = range(0x8000_0000, 0x1800);
    assert_eq!(
        table.map(0x4000_0000, odd, ram),
        Err(Stage2Error::Unaligned {
            ipa: 0x4000_0000,
            physical: odd
        })
    );
    assert_eq!(
        table.map(0x7f_ffff_f000, physical, ram),
        Err(Stage2Error::OutsideIpaSpace {
            ipa: range(0x7f_ffff_f000, 0x2000),
            limit: 1 << 39
        })
    );
    let high = range(0xfff_ffff_f000, 0x2000);
    assert_eq!(
        table.map(0x4000_0000, high, ram),
        Err(Stage2Error::OutsidePhysicalSpace {
            physical: high,
            limit: 1 << 44
        })
    );
    assert_eq!(table.translate(1 << 39), None);
}

#[test]
fn running_out_of_table_pages_is_an_error_not_a_panic() {
    let (mut table, live) = table(2);
    // Needs a level 2 and two level 3 tables; only one page is left after the root.
    assert_eq!(
        table.map(
            0x4000_0000,
            range(0x8000_1000, 0x40_0000),
            MappingAttributes::RAM
        ),
        Err(Stage2Error::OutOfTablePages {
            needed: 3,
            available: 1
        })
    );
    assert_eq!(live.get(), 1);
    let empty = HeapPages {
        budget: 0,
        live: Rc::new(Cell::new(0)),
    };
    assert_eq!(
        Stage2Table::new(empty, config()).unwrap_err(),
        Stage2Error::OutOfTablePages {
            needed: 1,
            available: 0
        }
    );
}

#[test]
fn dropping_the_table_returns_every_page() {
    let (mut table, live) = table(16);
    table
        .map(
            0x4000_0000,
            range(0x4820_1000, 0x40_0000),
            MappingAttributes::RAM,
        )
        .unwrap();
    table
        .map(
            0x2200_0000,
            range(0x0900_0000, 0x1000),
            MappingAttributes::DEVICE,
        )
        .unwrap();
    assert!(live.get() > 1);
    drop(table);
    assert_eq!(live.get(), 0);
}

#[test]
fn vttbr_carries_vmid_and_root() {
    let (table, _) = table(1);
    let vmid = Vmid::new(3).unwrap();
    assert_eq!(
        table.vttbr_el2(vmid).unwrap(),
        (3 << 48) | table.root_address()
    );
}

#[test]
fn table_budget_counts_partial_and_misaligned_slots() {
    // Aligned 1 GiB: no tables. Aligned 2 MiB inside one 1 GiB slot: one level 2 table.
    assert_eq!(tables_needed(range(0x4000_0000, BLOCK_1G), 0x8000_0000), 0);
    assert_eq!(tables_needed(range(0x4000_0000, BLOCK_2M), 0x8000_0000), 1);
    // One page: a level 2 and a level 3 table.
    assert_eq!(tables_needed(range(0x4000_0000, PAGE_SIZE), 0x8000_0000), 2);
    // Misaligned by a page over 4 MiB: a level 2 table and two level 3 tables.
    assert_eq!(tables_needed(range(0x4000_0000, 0x40_0000), 0x8000_1000), 3);
    // A range straddling a 1 GiB boundary, 2 MiB aligned: two level 2 tables.
    assert_eq!(tables_needed(range(0x7fe0_0000, 0x40_0000), 0x7fe0_0000), 2);
}

#[test]
fn errors_read_as_sentences() {
    let error = Stage2Error::AlreadyMapped {
        ipa: range(0x4000_0000, 0x1000),
    };
    assert_eq!(
        error.to_string(),
        "IPA range [0x40000000, 0x40001000) is already mapped"
    );
}

#[test]
fn unmapping_a_page_that_was_never_mapped_is_a_no_op() {
    let (mut table, live) = table(8);
    // A page inside an empty 1 GiB slot, not at its start (the grant-table window's frames).
    table.unmap(range(0x3800_1000, 0x1000)).unwrap();
    assert_eq!(live.get(), 1, "no table was built for nothing");
    table
        .map(0x3800_0000, range(0x9000_0000, 0x1000), MappingAttributes::RAM)
        .unwrap();
    table.unmap(range(0x3800_3000, 0x1000)).unwrap();
    assert!(table.translate(0x3800_0000).is_some(), "its neighbour stays");
    table.unmap(range(0x3800_0000, 0x1000)).unwrap();
    assert_eq!(table.translate(0x3800_0000), None);
}

/// The root table's 512 raw entries.
fn root_entries(table: &Stage2Table<HeapPages>) -> Vec<u64> {
    let root = table.root_address() as *const u64;
    // SAFETY: the root is a live 4 KiB page of the table's heap page source.
    (0..512).map(|i| unsafe { root.add(i).read() }).collect()
}

#[test]
fn withdrawing_invalidates_every_root_entry_and_giving_back_restores_them() {
    let (mut table, live) = table(8);
    // A 1 GiB block, a level 2 table with 2 MiB blocks and a device page: three root entries.
    table
        .map(0x4000_0000, range(0x8000_0000, BLOCK_1G), MappingAttributes::RAM)
        .unwrap();
    table
        .map(0x8000_0000, range(0x4820_0000, 0x40_0000), MappingAttributes::RAM)
        .unwrap();
    table
        .map(0x0900_0000, range(0x0900_0000, 0x1000), MappingAttributes::DEVICE)
        .unwrap();
    let before = root_entries(&table);
    assert_eq!(before.iter().filter(|&&e| e & 1 == 1).count(), 3);
    let pages = live.get();

    assert_eq!(table.withdraw(), 3);
    assert!(table.withdrawn());
    let withdrawn = root_entries(&table);
    assert!(withdrawn.iter().all(|&e| e & 1 == 0), "no root entry is valid");
    for (old, new) in before.iter().zip(&withdrawn) {
        assert_eq!(old & !1, *new, "only the valid bit changes");
    }
    for ipa in [0x4000_0000, 0x8020_0000, 0x0900_0000] {
        assert_eq!(table.translate(ipa), None, "{ipa:#x} translates to nothing");
    }
    assert_eq!(table.withdraw(), 0, "a second withdrawal changes nothing");

    // No change while withdrawn: the library would take a withdrawn entry for an empty one.
    let ipa = range(0x4000_0000, 0x1000);
    assert_eq!(
        table.unmap(ipa),
        Err(Stage2Error::Withdrawn { ipa })
    );
    assert!(matches!(
        table.map(0xc000_0000, range(0x1_0000_0000, 0x1000), MappingAttributes::RAM),
        Err(Stage2Error::Withdrawn { .. })
    ));
    assert_eq!(live.get(), pages, "no table page was taken");

    assert_eq!(table.give_back(), 3);
    assert!(!table.withdrawn());
    assert_eq!(root_entries(&table), before);
    assert_eq!(table.translate(0x4012_3456).map(|l| l.physical), Some(0x8012_3456));
    assert_eq!(table.translate(0x8020_0000).map(|l| l.physical), Some(0x4840_0000));
    assert_eq!(table.give_back(), 0);
    table.unmap(ipa).unwrap();
    assert_eq!(table.translate(0x4000_0000), None);
}

#[test]
fn withdrawing_an_empty_table_withdraws_nothing_and_refuses_changes() {
    let (mut table, _) = table(4);
    assert_eq!(table.withdraw(), 0);
    assert!(table.withdrawn());
    assert!(root_entries(&table).iter().all(|&e| e == 0));
    let error = table
        .map(0x4000_0000, range(0x8000_0000, 0x1000), MappingAttributes::RAM)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "IPA range [0x40000000, 0x40001000) cannot change: the partition's stage 2 is withdrawn until it restarts"
    );
    assert_eq!(table.give_back(), 0);
    table
        .map(0x4000_0000, range(0x8000_0000, 0x1000), MappingAttributes::RAM)
        .unwrap();
}
