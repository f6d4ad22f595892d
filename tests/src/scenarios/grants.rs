//! Grant tables between partitions, with no control domain: two `grants` guests
//! (`tests/guests`) share a page through a grant, move 1 MiB each way through it (each
//! handoff an event on a static channel of the config), and the granter restarts while the page is mapped: the hypervisor removes the mapping first, the
//! mapper finds its handle unknown and maps the new boot's page, which holds nothing of the
//! old one. On virt GICv3 and GICv2, and on raspi4b (its own config, for the board's RAM).
//! The same 1 MiB each way through a static shared-memory region, on the same three boards.

use crate::scenario::{Expect, PartitionConfig, Scenario};

use super::partitions::{says, started, stopped, ALL_STOPPED};
use super::POWER_OFF;

const CONFIG: &str = "tests/scenarios/virt-grants.dts";
/// Rounds of 4032 payload bytes that make 1 MiB each way (the guest's `ROUNDS`).
const EXCHANGED: &str = "261 rounds: 1052352 bytes each way, every byte checked";
/// Each handoff is an event on the static port 10 (the count after it is a figure: an event
/// read early is taken at the next handoff's wait).
const SIGNALLED: &str = "each handoff signalled on port 10: ";

fn granter() -> Vec<String> {
    let name = "granter";
    vec![
        started(name),
        says(name, "boot 1: page granted to domain 2 as ref 8"),
        says(name, EXCHANGED),
        says(name, SIGNALLED),
        says(name, "restarting with the page mapped"),
        "bulkhead: partition \"granter\" restarting (boot 2)".to_string(),
        "bulkhead: partition \"granter\": grant mappings removed: 1 of its pages in other partitions, 0 of other partitions' pages in it".to_string(),
        says(name, "boot 2: page granted to domain 2 as ref 8"),
        says(name, "boot 2: the mapper said goodbye"),
        // Not before the mapper's unmap: its status 0 must not race the shutdown.
        says(name, "boot 2: the mapper unmapped the page, access ended"),
        says(name, "done"),
        format!("bulkhead: partition \"{name}\" shut itself down (Xen SCHEDOP_shutdown, reason 0)"),
        stopped(name),
    ]
}

fn mapper() -> Vec<String> {
    let name = "mapper";
    vec![
        started(name),
        says(name, "mapped the granter's page"),
        says(name, EXCHANGED),
        says(name, SIGNALLED),
        says(name, "the grant was refused while the granter restarted: true"),
        // GNTST_bad_handle: the mapping went with the granter's restart.
        says(name, "unmap of the old handle = status -4"),
        says(name, "mapped again: the new boot's page, nothing of the old one"),
        says(name, "unmap = status 0"),
        says(name, "done"),
        format!("bulkhead: partition \"{name}\" shut itself down (Xen SCHEDOP_shutdown, reason 0)"),
        stopped(name),
    ]
}

fn exchange(name: &str, board: &str, gic: Option<u8>, file: &str) -> Scenario {
    Scenario {
        gic,
        expect: vec![Expect::Interleaved(vec![granter(), mapper()]), Expect::line(ALL_STOPPED), Expect::line(POWER_OFF)],
        partitions: Some(PartitionConfig { file: file.into(), valid: true }),
        ..Scenario::new(name, board)
    }
}

/// One side of the shared-memory exchange: `owner` sees the region at 0x50000000,
/// `borrower` at 0x60000000; each handoff is an event on the static port 10.
fn sharing_side(name: &str, address: u64) -> Vec<String> {
    vec![
        started(name),
        says(name, &format!("xen-shmem@{address:x} id exchange at {address:#x} size 0x100000")),
        says(name, EXCHANGED),
        says(name, SIGNALLED),
        says(name, "done"),
        stopped(name),
    ]
}

/// Two `shm` guests move 1 MiB each way through a static shared-memory region
/// (`xen,domain-shared-memory-v1`), with an event for each handoff.
fn shared_memory(name: &str, board: &str, gic: Option<u8>, file: &str) -> Scenario {
    Scenario {
        gic,
        expect: vec![
            Expect::Interleaved(vec![sharing_side("owner", 0x5000_0000), sharing_side("borrower", 0x6000_0000)]),
            Expect::line(ALL_STOPPED),
            Expect::line(POWER_OFF),
        ],
        partitions: Some(PartitionConfig { file: file.into(), valid: true }),
        ..Scenario::new(name, board)
    }
}

/// The grant-table scenarios, and the same exchange through static shared memory.
pub fn all() -> Vec<Scenario> {
    const SHARED: &str = "tests/scenarios/virt-shared-memory-exchange.dts";
    vec![
        exchange("virt-gicv3-grants", "virt", Some(3), CONFIG),
        exchange("virt-gicv2-grants", "virt", Some(2), CONFIG),
        exchange("raspi4b-grants", "rpi4", None, "tests/scenarios/raspi4b-grants.toml"),
        shared_memory("virt-gicv3-shared-memory-exchange", "virt", Some(3), SHARED),
        shared_memory("virt-gicv2-shared-memory-exchange", "virt", Some(2), SHARED),
        shared_memory("raspi4b-shared-memory-exchange", "rpi4", None, "tests/scenarios/raspi4b-shared-memory-exchange.toml"),
    ]
}
