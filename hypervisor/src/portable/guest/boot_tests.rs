//! Host tests for guest loading, over a window of fake physical memory.

use super::*;
use crate::portable::guest::image::{test_header, KernelImage};
use crate::portable::guest::layout::RAM0_BASE;
use crate::portable::guest::placement::place;
use crate::portable::memory::physical::testing::WindowMemory;

/// Fake host memory: modules at 0x1000_0000, guest RAM backed at 0x1100_0000 (64 MiB).
const HOST_BASE: u64 = 0x1000_0000;
const GUEST_HOST: u64 = 0x1100_0000;
const GUEST_SIZE: u64 = 0x400_0000;
const KERNEL_SOURCE: u64 = 0x1000_0000;
const INITRD_SOURCE: u64 = 0x1080_0000;

fn range(start: u64, size: u64) -> AddressRange {
    AddressRange::new(start, size).unwrap()
}

fn banks() -> [GuestBank; 1] {
    [GuestBank {
        ipa: range(RAM0_BASE, GUEST_SIZE),
        host: GUEST_HOST,
    }]
}

/// Host memory holding a 64 KiB kernel (BSS to 1 MiB) and a 5000-byte initrd; guest RAM dirty.
fn host_memory() -> (WindowMemory, KernelImage) {
    let mut memory = WindowMemory::new(
        HOST_BASE,
        (GUEST_HOST - HOST_BASE + GUEST_SIZE) as usize,
        0xee,
    );
    let mut kernel = vec![0x11; 0x1_0000];
    kernel[..64].copy_from_slice(&test_header(0, 0x10_0000, 0xa));
    memory.write(KERNEL_SOURCE, &kernel).unwrap();
    memory.write(INITRD_SOURCE, &[0x22; 5000]).unwrap();
    let image = KernelImage::parse(memory.slice(KERNEL_SOURCE, 64), 0x1_0000).unwrap();
    (memory, image)
}

#[test]
fn load_without_scrub_copies_the_modules_and_leaves_the_rest_as_it_was() {
    let (mut memory, image) = host_memory();
    let placement = place(banks()[0].ipa, &image, None).unwrap();
    let modules = BootModules { kernel: range(KERNEL_SOURCE, 0x1_0000), initrd: None, dtb: &[0xd0, 0x0d, 0xfe, 0xed] };
    load(&mut memory, &banks(), &placement, &modules, false).unwrap();
    let host = |ipa: u64| GUEST_HOST + (ipa - RAM0_BASE);
    assert_eq!(&memory.slice(host(placement.kernel.start()), 0x1_0000)[56..60], b"ARMd");
    assert_eq!(memory.slice(host(placement.dtb.start()), 4), [0xd0, 0x0d, 0xfe, 0xed]);
    // The kernel's BSS was not zeroed: the firmware is trusted to have cleared RAM.
    assert!(memory.slice(host(RAM0_BASE + 0x1_0000), 0x10_0000).iter().all(|byte| *byte == 0xee));
}

#[test]
fn load_scrubs_copies_and_enters_at_the_kernel_with_x0_at_the_dtb() {
    let (mut memory, image) = host_memory();
    let placement = place(banks()[0].ipa, &image, Some(5000)).unwrap();
    let modules = BootModules {
        kernel: range(KERNEL_SOURCE, 0x1_0000),
        initrd: Some(range(INITRD_SOURCE, 5000)),
        dtb: &[0xd0, 0x0d, 0xfe, 0xed],
    };
    let entry = load(&mut memory, &banks(), &placement, &modules, true).unwrap();
    assert_eq!(
        entry,
        EntryState {
            pc: RAM0_BASE,
            x0: placement.dtb.start(),
            spsr_el2: 0x3c5
        }
    );

    let host = |ipa: u64| GUEST_HOST + (ipa - RAM0_BASE);
    let kernel = memory.slice(host(placement.kernel.start()), 0x1_0000);
    assert_eq!(&kernel[56..60], b"ARMd");
    assert!(kernel[64..].iter().all(|byte| *byte == 0x11));
    // The kernel's BSS and every byte not loaded are scrubbed.
    assert!(memory
        .slice(host(RAM0_BASE + 0x1_0000), 0x10_0000)
        .iter()
        .all(|byte| *byte == 0));
    assert_eq!(
        memory.slice(host(placement.dtb.start()), 4),
        [0xd0, 0x0d, 0xfe, 0xed]
    );
    let initrd = placement.initrd.unwrap();
    assert!(memory
        .slice(host(initrd.start()), 5000)
        .iter()
        .all(|byte| *byte == 0x22));
    assert!(memory
        .slice(host(initrd.end()), 0x1000)
        .iter()
        .all(|byte| *byte == 0));
    // The modules themselves are untouched.
    assert!(memory
        .slice(INITRD_SOURCE, 5000)
        .iter()
        .all(|byte| *byte == 0x22));
}

#[test]
fn host_addresses_follow_the_bank_mapping() {
    let banks = [
        GuestBank {
            ipa: range(RAM0_BASE, 0x1000_0000),
            host: 0x8000_0000,
        },
        GuestBank {
            ipa: range(0x2_0000_0000, 0x1000_0000),
            host: 0x9000_0000,
        },
    ];
    assert_eq!(
        host_address(&banks, range(0x4000_2000, 0x1000)),
        Ok(0x8000_2000)
    );
    assert_eq!(
        host_address(&banks, range(0x2_0000_1000, 0x1000)),
        Ok(0x9000_1000)
    );
    let straddling = range(0x4fff_f000, 0x2000);
    assert_eq!(
        host_address(&banks, straddling),
        Err(BootError::NotGuestRam { ipa: straddling })
    );
}

#[test]
fn modules_that_do_not_fit_or_sit_in_guest_ram_are_refused() {
    let (mut memory, image) = host_memory();
    let placement = place(banks()[0].ipa, &image, None).unwrap();
    let big_dtb = vec![0; 0x20_0001];
    let modules = BootModules {
        kernel: range(KERNEL_SOURCE, 0x1_0000),
        initrd: None,
        dtb: &big_dtb,
    };
    assert_eq!(
        load(&mut memory, &banks(), &placement, &modules, true),
        Err(BootError::ModuleTooBig {
            module: "DTB",
            size: 0x20_0001,
            slot: 0x20_0000
        })
    );
    let stray = range(INITRD_SOURCE, 5000);
    let modules = BootModules {
        kernel: range(KERNEL_SOURCE, 0x1_0000),
        initrd: Some(stray),
        dtb: &[],
    };
    assert_eq!(
        load(&mut memory, &banks(), &placement, &modules, true),
        Err(BootError::ModuleTooBig {
            module: "initrd",
            size: 5000,
            slot: 0
        })
    );
    let inside = range(GUEST_HOST + 0x10_0000, 0x1_0000);
    let modules = BootModules {
        kernel: inside,
        initrd: None,
        dtb: &[],
    };
    assert_eq!(
        load(&mut memory, &banks(), &placement, &modules, true),
        Err(BootError::ModuleInGuestRam {
            module: "kernel",
            range: inside
        })
    );
    // Nothing was scrubbed by a refused load.
    assert!(memory
        .slice(GUEST_HOST, 0x1000)
        .iter()
        .all(|byte| *byte == 0xee));
}
