//! The `shm` guest: finds its static shared-memory region in its own device tree
//! (`/reserved-memory`, a `xen,shared-memory-v1` child, as Xen describes it) and either writes
//! a pattern there (`shm.write`) or waits for the other partition's pattern and checks it.
#![no_std]
#![no_main]

use test_guests::fdt::{read_cells, Fdt, FdtError, Node};
use test_guests::runtime::cpu::micros;
use test_guests::runtime::Guest;
use test_guests::say;

test_guests::entry!(main);

/// Words of the pattern after the ready word.
const WORDS: u64 = 511;
/// Written last, at the region's first word, once the pattern is in place.
const READY: u64 = 0x5348_4d5f_5245_4144;
/// How long the reader waits for the writer.
const WAIT_US: u64 = 5_000_000;

fn pattern(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x0123_4567_89ab_cdef
}

/// The first `xen,shared-memory-v1` node under `/reserved-memory`: (node, address, size, id).
fn find(guest: &Guest) -> Result<Option<(Node<'static>, u64, u64, &'static str)>, FdtError> {
    let tree = Fdt::new(guest.dtb)?;
    let Some(reserved) = tree.find("/reserved-memory")? else { return Ok(None) };
    for child in reserved.children() {
        let child = child?;
        if !child.is_compatible("xen,shared-memory-v1")? {
            continue;
        }
        let Some(reg) = child.property("reg")? else { continue };
        let (Ok(address), Ok(size)) = (read_cells(reg, 0, 2), read_cells(reg, 2, 2)) else { continue };
        let id = child.string_property("xen,id")?.unwrap_or("?");
        return Ok(Some((child, address, size, id)));
    }
    Ok(None)
}

fn main(guest: &'static Guest) -> ! {
    let (node, address, size, id) = match find(guest) {
        Ok(Some(found)) => found,
        Ok(None) => guest.fail(format_args!("no xen,shared-memory-v1 node under /reserved-memory")),
        Err(error) => guest.fail(format_args!("device tree: {error}")),
    };
    say!(guest, "{} id {id} at {address:#x} size {size:#x}", node.name());
    if size < (WORDS + 1) * 8 {
        guest.fail(format_args!("region too small"));
    }
    let word = |i: u64| (address + i * 8) as *mut u64;
    if guest.bootargs.split(' ').any(|a| a == "shm.write") {
        for i in 1..=WORDS {
            // SAFETY: the region is this partition's shared memory (its device tree says so),
            // mapped by the boot code as Device memory, and `i` stays inside its first 4 KiB.
            unsafe { word(i).write_volatile(pattern(i)) };
        }
        // SAFETY: as above; the ready word is written after the pattern (Device-nGnRnE
        // accesses reach memory in program order).
        unsafe { word(0).write_volatile(READY) };
        say!(guest, "wrote {WORDS} words");
    } else {
        let start = micros();
        // SAFETY: as for the writer.
        while unsafe { word(0).read_volatile() } != READY {
            if micros().saturating_sub(start) > WAIT_US {
                guest.fail(format_args!("no pattern after {} ms", WAIT_US / 1000));
            }
        }
        let bad = (1..=WORDS)
            // SAFETY: as for the writer.
            .filter(|&i| unsafe { word(i).read_volatile() } != pattern(i))
            .count();
        if bad != 0 {
            guest.fail(format_args!("{bad} of {WORDS} words differ"));
        }
        // SAFETY: as for the writer.
        let last = unsafe { word(WORDS).read_volatile() };
        say!(guest, "read {WORDS} words, pattern ok, last {last:#x}");
    }
    say!(guest, "done");
    guest.psci.system_off()
}
