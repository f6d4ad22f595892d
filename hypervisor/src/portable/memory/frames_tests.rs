//! Host tests for the frame allocator.

use super::*;

fn range(start: u64, size: u64) -> AddressRange {
    AddressRange::new(start, size).unwrap()
}

/// QEMU virt with 1 GiB of RAM, the hypervisor at the start and a module at 0x4800_0000.
fn virt_allocator() -> FrameAllocator<8> {
    let ram = [range(0x4000_0000, 0x4000_0000)];
    let excluded = [range(0x4000_0000, 0x20_0000), range(0x4800_0000, 0x1234)];
    FrameAllocator::new(&ram, &excluded).unwrap()
}

#[test]
fn construction_subtracts_exclusions_grown_to_pages() {
    let allocator = virt_allocator();
    assert_eq!(
        allocator.free_ranges(),
        &[
            range(0x4020_0000, 0x07e0_0000),
            range(0x4800_2000, 0x37ff_e000)
        ]
    );
    assert_eq!(allocator.free_bytes(), 0x4000_0000 - 0x20_0000 - 0x2000);
}

#[test]
fn construction_shrinks_ram_to_pages_and_rejects_overlap() {
    let ram = [range(0x1, 0x3000), range(0x10_0000, 0x800)];
    let allocator = FrameAllocator::<4>::new(&ram, &[]).unwrap();
    assert_eq!(allocator.free_ranges(), &[range(0x1000, 0x2000)]);

    let overlapping = [range(0x0, 0x2000), range(0x1000, 0x2000)];
    assert_eq!(
        FrameAllocator::<4>::new(&overlapping, &[]).unwrap_err(),
        FrameError::OverlappingRam {
            first: overlapping[0],
            second: overlapping[1]
        }
    );
}

#[test]
fn allocation_prefers_block_alignment() {
    let ram = [range(0x4000_1000, 0x8000_0000)];
    let mut allocator = FrameAllocator::<8>::new(&ram, &[]).unwrap();
    // 1 GiB aligned placement exists at 0x8000_0000.
    assert_eq!(
        allocator.allocate(0x4000_0000).unwrap(),
        range(0x8000_0000, 0x4000_0000)
    );
    // 2 MiB aligned placement for a 4 MiB request.
    assert_eq!(
        allocator.allocate(0x40_0000).unwrap(),
        range(0x4020_0000, 0x40_0000)
    );
    // Small requests are page aligned and first fit.
    assert_eq!(
        allocator.allocate(0x10).unwrap(),
        range(0x4000_1000, 0x1000)
    );
}

#[test]
fn allocation_falls_back_to_pages_when_no_block_fits() {
    let ram = [range(0x1000, 0x30_0000)];
    let mut allocator = FrameAllocator::<4>::new(&ram, &[]).unwrap();
    // 0x20_0000 is aligned but only 0x10_1000 bytes remain after it: fall back to 4 KiB.
    assert_eq!(
        allocator.allocate(0x28_0000).unwrap(),
        range(0x1000, 0x28_0000)
    );
    assert_eq!(
        allocator.allocate(0x10_0000).unwrap_err(),
        FrameError::OutOfMemory {
            size: 0x10_0000,
            alignment: PAGE_SIZE
        }
    );
}

#[test]
fn invalid_requests_are_typed_errors() {
    let mut allocator = virt_allocator();
    assert_eq!(
        allocator.allocate(0).unwrap_err(),
        FrameError::InvalidSize { size: 0 }
    );
    assert_eq!(
        allocator.allocate(u64::MAX).unwrap_err(),
        FrameError::InvalidSize { size: u64::MAX }
    );
    assert_eq!(
        allocator.allocate_aligned(0x1000, 0x3000).unwrap_err(),
        FrameError::InvalidAlignment { alignment: 0x3000 }
    );
    assert_eq!(
        allocator.allocate(0x8000_0000).unwrap_err(),
        FrameError::OutOfMemory {
            size: 0x8000_0000,
            alignment: PAGE_SIZE
        }
    );
}

#[test]
fn claim_takes_static_memory_and_refuses_used_memory() {
    let mut allocator = virt_allocator();
    let static_mem = range(0x5000_0000, 0x1000_0000);
    allocator.claim(static_mem).unwrap();
    assert_eq!(
        allocator.claim(static_mem).unwrap_err(),
        FrameError::NotFree { range: static_mem }
    );
    let hypervisor = range(0x4010_0000, 0x1000);
    assert_eq!(
        allocator.claim(hypervisor).unwrap_err(),
        FrameError::NotFree { range: hypervisor }
    );
    let odd = range(0x6000_0800, 0x1000);
    assert_eq!(
        allocator.claim(odd).unwrap_err(),
        FrameError::Unaligned { range: odd }
    );
    assert_eq!(allocator.free_ranges().len(), 3);
}

#[test]
fn release_merges_neighbours_and_detects_double_free() {
    let mut allocator = virt_allocator();
    let before = allocator.free_ranges().to_vec();
    let first = allocator.allocate(0x20_0000).unwrap();
    let second = allocator.allocate(0x20_0000).unwrap();
    allocator.release(first).unwrap();
    allocator.release(second).unwrap();
    assert_eq!(allocator.free_ranges(), &before[..]);
    assert_eq!(
        allocator.release(first).unwrap_err(),
        FrameError::DoubleFree { range: first }
    );
}

#[test]
fn capacity_overflow_is_reported_without_corruption() {
    let ram = [range(0x0, 0x10_0000)];
    let mut allocator = FrameAllocator::<2>::new(&ram, &[range(0x4000, 0x1000)]).unwrap();
    let before = allocator.free_ranges().to_vec();
    // Claiming the middle of a range would need a third free range.
    assert_eq!(
        allocator.claim(range(0x8000, 0x1000)).unwrap_err(),
        FrameError::TooManyRanges { capacity: 2 }
    );
    assert_eq!(allocator.free_ranges(), &before[..]);
    assert_eq!(
        FrameAllocator::<1>::new(&ram, &[range(0x4000, 0x1000)]).unwrap_err(),
        FrameError::TooManyRanges { capacity: 1 }
    );
}

#[test]
fn errors_read_as_sentences() {
    let error = FrameError::NotFree {
        range: range(0x1000, 0x1000),
    };
    assert_eq!(
        error.to_string(),
        "host memory [0x1000, 0x2000) is not free"
    );
}

#[test]
fn the_largest_free_range_is_the_first_of_the_biggest() {
    let ram = [range(0x0, 0x10_0000)];
    let mut allocator = FrameAllocator::<4>::new(&ram, &[range(0x4000, 0x1000), range(0x9000, 0x1000)]).unwrap();
    // Free: [0, 0x4000), [0x5000, 0x9000), [0xa000, 0x100000).
    assert_eq!(allocator.largest_free(), Some(range(0xa000, 0xf6000)));
    allocator.claim(range(0xa000, 0xf6000)).unwrap();
    assert_eq!(allocator.largest_free(), Some(range(0x0, 0x4000)), "the first of two 16 KiB ranges");
    allocator.claim(range(0x0, 0x4000)).unwrap();
    allocator.claim(range(0x5000, 0x4000)).unwrap();
    assert_eq!(allocator.largest_free(), None);
}
