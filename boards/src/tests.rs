//! Invariants of the board data.

use super::*;

fn sorted_disjoint(ranges: &[AddressRange]) -> bool {
    ranges.iter().all(|r| !r.is_empty()) && ranges.windows(2).all(|w| w[0].end() <= w[1].start())
}

#[test]
fn ram_windows_are_sorted_and_disjoint() {
    for b in ALL {
        assert!(sorted_disjoint(b.ram_windows), "{}: ram_windows {:x?}", b.name, b.ram_windows);
        assert!(sorted_disjoint(b.firmware_reserved), "{}: firmware_reserved", b.name);
    }
}

#[test]
fn names_and_compatibles_are_unique() {
    for (i, a) in ALL.iter().enumerate() {
        for b in &ALL[i + 1..] {
            assert_ne!(a.name, b.name);
            assert!(a.compatible.iter().all(|c| !b.compatible.contains(c)), "{} and {} share a compatible", a.name, b.name);
        }
    }
}

#[test]
fn devices_are_in_mmio_windows_and_outside_ram() {
    for b in ALL {
        assert!(sorted_disjoint(b.mmio_windows), "{}: mmio_windows", b.name);
        for m in b.mmio_windows {
            assert!(b.ram_windows.iter().all(|w| !w.overlaps(m)), "{}: {m:x?} overlaps RAM", b.name);
        }
        let mut devices = vec![AddressRange::window(b.console.base, b.console.base + 0x1000)];
        if let PowerOff::Bcm2711Watchdog { pm_base } = b.power_off {
            devices.push(AddressRange::window(pm_base, pm_base + 0x1000));
        }
        for g in b.gic {
            devices.push(AddressRange::window(g.gicd(), g.gicd() + 0x1000));
        }
        for d in devices {
            assert!(b.mmio_windows.iter().any(|w| w.contains_range(&d)), "{}: device {d:x?} outside the MMIO windows", b.name);
        }
    }
}

#[test]
fn console_interrupts_are_spis() {
    for b in ALL {
        assert!((32..1020).contains(&b.console.intid), "{}: console INTID {}", b.name, b.console.intid);
    }
}

#[test]
fn at_most_one_gic_layout_per_version() {
    for b in ALL {
        assert!(!b.gic.is_empty());
        for v in [GicVersion::V2, GicVersion::V3] {
            assert!(b.gic.iter().filter(|g| g.version() == v).count() <= 1, "{}", b.name);
        }
    }
}

#[test]
fn spin_table_slots_are_in_reserved_firmware_memory() {
    for b in ALL {
        if let Smp::SpinTable { release_addrs } = b.smp {
            for &a in release_addrs {
                let slot = AddressRange::window(a, a + 8);
                assert!(b.firmware_reserved.iter().any(|r| r.contains_range(&slot)), "{}: {a:#x}", b.name);
            }
        }
    }
}

#[test]
fn boards_are_found_by_compatible_and_name() {
    assert_eq!(Board::find(["foo", "linux,dummy-virt"].into_iter()).map(|b| b.name), Some("virt"));
    assert_eq!(Board::find(["raspberrypi,4-model-b", "brcm,bcm2711"].into_iter()).map(|b| b.name), Some("rpi4"));
    assert!(Board::find(["acme,board"].into_iter()).is_none());
    assert_eq!(Board::by_name("rpi4").map(|b| b.model), Some("Raspberry Pi 4 Model B"));
}

#[test]
fn virt_has_both_gic_versions() {
    assert!(VIRT.gic_layout(GicVersion::V3).is_some());
    assert!(VIRT.gic_layout(GicVersion::V2).is_some());
    assert!(RPI4.gic_layout(GicVersion::V3).is_none());
}
