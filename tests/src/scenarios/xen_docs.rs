//! Xen's own dom0less documentation examples (booting.txt), booted as the doc writes them
//! with small test guests in place of the kernels, each proving the feature its example is
//! about. `dom0less-config/tests/xen_docs.rs` checks every example; the two-domain one boots
//! with Linux among the Linux scenarios (`virt-gicv3-xen-doc-two-domains`).

use std::time::Duration;

use crate::scenario::{Expect, PartitionConfig, Scenario};

use super::event_channels::guest_with;
use super::partitions::{says, started, stopped, ALL_STOPPED};
use super::{boot_lines, POWER_OFF};

/// A doc example on virt GICv3: the boot, each partition's lines interleaved, the power-off.
fn example(name: &str, file: &str, partitions: Vec<Vec<String>>, forbidden: &[&str]) -> Scenario {
    example_after(name, file, &[], partitions, forbidden)
}

/// The same, with lines the hypervisor prints after the CPUs came online and before the
/// partitions (config warnings, the partitions' placement).
fn example_after(name: &str, file: &str, before: &[&str], partitions: Vec<Vec<String>>, forbidden: &[&str]) -> Scenario {
    let mut expect = boot_lines("QEMU virt", "v3", 4);
    expect.extend(before.iter().map(|line| Expect::line(*line)));
    expect.extend([Expect::Interleaved(partitions), Expect::line(ALL_STOPPED), Expect::line(POWER_OFF)]);
    Scenario {
        gic: Some(3),
        expect,
        partitions: Some(PartitionConfig { file: file.into(), valid: true }),
        forbidden: forbidden.iter().map(|t| t.to_string()).collect(),
        deadline: Duration::from_secs(60),
        ..Scenario::new(name, "virt")
    }
}

/// "Static Event Channel": the doc's channels bound at boot; the two domains exchange 100
/// events each way over port 0xb and over channels they make, 2-level and FIFO.
fn static_event_channels() -> Scenario {
    example(
        "virt-gicv3-xen-doc-static-evtchn",
        "tests/scenarios/virt-xen-doc-static-evtchn.dts",
        vec![guest_with("domU1", true, 100, 11), guest_with("domU2", false, 100, 11)],
        &["FAIL", "FATAL", "an event was lost"],
    )
}

/// "Static Shared Memory": 512 MiB of host RAM at 0x50000000 that domU1 sees at 0x60000000
/// and domU2 at 0x70000000; domU1's pattern is what domU2 reads.
fn static_shared_memory() -> Scenario {
    // The region as the guest finds it under `/reserved-memory`, named by its guest address.
    let region = |at: &str| format!("xen-shmem@{} id my-shared-mem-1 at {at} size 0x20000000", at.trim_start_matches("0x"));
    example(
        "virt-gicv3-xen-doc-static-shm",
        "tests/scenarios/virt-xen-doc-static-shm.dts",
        vec![
            vec![started("domU1"), says("domU1", &region("0x60000000")), says("domU1", "wrote 511 words"), says("domU1", "done"), stopped("domU1")],
            vec![started("domU2"), says("domU2", &region("0x70000000")), says("domU2", "read 511 words, pattern ok, last 0x"), says("domU2", "done"), stopped("domU2")],
        ],
        &["FAIL", "FATAL"],
    )
}

/// What `hello` prints as domU1 with `mib` MiB of RAM.
fn hello(mib: u64) -> Vec<String> {
    let end = 0x4000_0000 + (mib << 20);
    vec![
        started("domU1"),
        says("domU1", "hello from domU1"),
        says("domU1", &format!("memory 0x40000000..{end:#x} ({mib} MiB)")),
        says("domU1", "done"),
        stopped("domU1"),
    ]
}

/// The config warning the hypervisor prints at boot for a Xen-only `/chosen` property.
fn no_effect(property: &str) -> String {
    format!("bulkhead: config warning: /chosen: `{property}` is valid Xen but not supported yet; it is kept and has no effect")
}

/// "Command lines": Xen's and dom0's command lines are kept with a warning; the domU runs.
fn command_lines() -> Scenario {
    let (xen, dom0) = (no_effect("xen,xen-bootargs"), no_effect("xen,dom0-bootargs"));
    example_after(
        "virt-gicv3-xen-doc-command-lines",
        "tests/scenarios/virt-xen-doc-command-lines.dts",
        &[&xen, &dom0],
        vec![hello(128)],
        &["FAIL", "FATAL"],
    )
}

/// "Static Heap Memory": Xen's heap reservation is kept with a warning; the domU runs.
fn static_heap() -> Scenario {
    let heap = no_effect("xen,static-heap");
    example_after(
        "virt-gicv3-xen-doc-static-heap",
        "tests/scenarios/virt-xen-doc-static-heap.dts",
        &[&heap],
        vec![hello(128)],
        &["FAIL", "FATAL"],
    )
}

/// "Static Allocation": the domU's RAM is the host range `xen,static-mem` names.
fn static_memory() -> Scenario {
    example_after(
        "virt-gicv3-xen-doc-static-mem",
        "tests/scenarios/virt-xen-doc-static-mem.dts",
        &["bulkhead: partition \"domU1\": 2 vcpus on cpu [0, 1], 512 MiB of RAM at 0x40000000 (host 0x60000000)"],
        vec![hello(512)],
        &["FAIL", "FATAL"],
    )
}

/// The dom0less guide's one domain, on the Pi 4 (its modules' low addresses are RAM there):
/// the kernel and the ramdisk at the guide's addresses, the domain runs.
fn dom0less_guide() -> Scenario {
    let mut expect = boot_lines("Raspberry Pi 4 Model B", "v2", 4);
    expect.extend([
        Expect::line("bulkhead: partition \"domU1\": 1 vcpu on cpu [0], 128 MiB of RAM at 0x40000000"),
        Expect::Interleaved(vec![hello(128)]),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        expect,
        dtb: crate::scenario::Dtb::Board,
        partitions: Some(PartitionConfig { file: "tests/scenarios/raspi4b-xen-doc-dom0less-guide.dts".into(), valid: true }),
        deadline: Duration::from_secs(60),
        ..Scenario::new("raspi4b-xen-doc-dom0less-guide", "rpi4")
    }
}

/// The documentation-example scenarios.
pub fn all() -> Vec<Scenario> {
    vec![static_event_channels(), static_shared_memory(), command_lines(), static_heap(), static_memory(), dom0less_guide()]
}
