//! Linux scenarios: Debian's arm64 kernel with the initramfs of `tests/linux/` booted as a
//! dom0less partition, its `LINUX-MARKER` lines checked under the partition's name prefix.
//!
//! They wait on the virtual GIC and timer and are `pending` until those land: the lead flips
//! the flag. `cargo xtask test --filter linux` runs them anyway.

use std::time::Duration;

use crate::scenario::{Check, Expect, PartitionConfig, Scenario, DEFAULT_FORBIDDEN};

use super::partitions::{hello, isolation, started, stopped, ALL_STOPPED, UNMAPPED};
use super::{boot_lines, POWER_OFF};

/// The kernel command line every Linux partition in the configs has: the console on the
/// virtual SBSA UART (`ttyAMA0`, at 0x22000000 in the Xen guest layout), no address
/// randomisation (repeatable runs) and the initramfs's `/init`.
pub const BOOTARGS: &str = "console=ttyAMA0 earlycon=pl011,0x22000000 nokaslr rdinit=/init";

/// Linux under TCG needs one to three minutes.
pub const DEADLINE: Duration = Duration::from_secs(300);

/// Kernel lines that mean trouble with the interrupt controller, the timer or the CPUs,
/// beside the default `FAIL` and `FATAL`.
pub const KERNEL_TROUBLE: &[&str] = &[
    "Kernel panic",
    "Oops",
    "BUG:",
    // A WARN() splat, GIC and timer drivers included.
    "WARNING:",
    "Unable to handle kernel",
    "Internal error:",
    // The arch timer driver without a usable interrupt.
    "No interrupt available",
    // RCU stalls: a CPU stopped taking interrupts.
    "detected stalls",
    "failed to come online",
];

/// The init's line with `text`, as the console multiplexer shows it for partition `name`.
pub fn marker(name: &str, text: &str) -> String {
    format!("({name}) LINUX-MARKER: {text}")
}

/// The lines of a Linux partition `name` with `cpus` vCPUs, from its start to its stop.
pub fn linux(name: &str, cpus: u32) -> Vec<String> {
    let mut lines = vec![
        started(name),
        marker(name, "kernel 6."),
        marker(name, &format!("cpus online {cpus}")),
    ];
    lines.extend(
        (0..cpus).map(|cpu| marker(name, &format!("cpu {cpu} workload ok (on cpu {cpu})"))),
    );
    lines.push(marker(name, "workload done"));
    lines.push(marker(name, &format!("timer ticks on {cpus} cpus")));
    lines.push(if cpus > 1 {
        marker(name, "ipis delivered")
    } else {
        marker(name, "no ipis with one cpu")
    });
    lines.extend([marker(name, "powering off"), stopped(name)]);
    lines
}

/// What Debian's kernel prints when it finds Xen's interfaces, in order: the hypervisor (from
/// the `/hypervisor` node and `xen_version`), the grant table, the FIFO event-channel ABI.
pub const XEN_FOUND: &[&str] = &[
    "Xen 4.17 support found",
    "xen:grant_table: Grant tables using version 1 layout",
    "Grant table initialized",
    "xen:events: Using FIFO-based ABI",
];

/// Texts that mean one of Linux's Xen drivers was refused or gave up (its error and warning
/// lines say "failed" or "error"; FIFO refused falls back to the 2-level ABI). On a good boot
/// no line of the partition or the hypervisor says any of them.
pub const XEN_TROUBLE: &[&str] = &[
    "Using 2-level ABI",
    "failed",
    "Failed",
    "error",
    "Error",
    "not supported",
];

/// The lines of Linux partition `name` with the Xen interfaces: its Xen drivers' boot lines,
/// then its usual lines with `/sys/hypervisor` read after the CPU count.
pub fn linux_on_xen_interfaces(name: &str, cpus: u32) -> Vec<String> {
    let mut lines = linux(name, cpus);
    lines.splice(1..1, XEN_FOUND.iter().map(|text| text.to_string()));
    let after_cpus = 1 + XEN_FOUND.len() + 2;
    lines.splice(
        after_cpus..after_cpus,
        [
            marker(name, "hypervisor type xen"),
            marker(name, "hypervisor version 4.17"),
        ],
    );
    lines
}

/// A Linux scenario on `board`: the boot, then each partition's lines interleaved, then the
/// power-off.
fn scenario(
    name: &str,
    board: &str,
    gic: Option<u8>,
    file: &str,
    partitions: Vec<Vec<String>>,
) -> Scenario {
    let (model, gic_text) = match gic {
        Some(3) => ("QEMU virt", "v3"),
        Some(_) => ("QEMU virt", "v2"),
        None => ("Raspberry Pi 4 Model B", "v2"),
    };
    let mut expect = boot_lines(model, gic_text, 4);
    expect.extend([
        Expect::Interleaved(partitions),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    let forbidden = DEFAULT_FORBIDDEN
        .iter()
        .chain(KERNEL_TROUBLE)
        .map(|t| t.to_string())
        .collect();
    Scenario {
        gic,
        expect,
        deadline: DEADLINE,
        forbidden,
        pending: false,
        partitions: Some(PartitionConfig {
            file: file.into(),
            valid: true,
        }),
        ..Scenario::new(name, board)
    }
}

/// The Linux partition that owns the virtio-blk disk: its usual lines, with the disk's file
/// and its interrupts after the CPU count.
fn linux_with_disk(name: &str, cpus: u32) -> Vec<String> {
    let mut lines = linux(name, cpus);
    lines.splice(
        3..3,
        [
            marker(name, "disk file: hello from the passthrough disk"),
            marker(name, "virtio interrupts taken"),
        ],
    );
    lines
}

/// The QEMU arguments of the passthrough scenarios: a virtio-blk disk (read only, so two
/// scenarios may run at once) on the last virtio-mmio transport of `virt`.
fn disk_args() -> Vec<String> {
    [
        "-drive",
        "file=target/images/linux/disk.img,if=none,id=disk,format=raw,readonly=on",
        "-device",
        "virtio-blk-device,drive=disk",
    ]
    .map(String::from)
    .to_vec()
}

/// Device passthrough on QEMU virt: Linux owns the disk's virtio-mmio transport and reads a
/// file from it; `isolation` probes the transport's registers and faults.
fn passthrough(name: &str, gic: u8, file: &str) -> Scenario {
    let mut scenario = scenario(
        name,
        "virt",
        Some(gic),
        file,
        vec![
            linux_with_disk("linux", 2),
            isolation("isolation", &[0xa00_3e00, UNMAPPED]),
        ],
    );
    scenario.qemu_args = disk_args();
    scenario.checks.push(passthrough_check(gic, 10));
    scenario
}

/// The counts the hypervisor prints when a partition with passthrough interrupts stops:
/// how they were delivered, how many were taken, how many EOI maintenance interrupts were
/// about them and how many the hypervisor deactivated itself.
#[derive(Debug, PartialEq, Eq)]
pub struct PassthroughCounts {
    pub delivery: String,
    pub taken: u64,
    pub eoi_maintenance: u64,
    pub deactivated: u64,
    /// Of those, how many ran on another CPU than the one that had taken the interrupt.
    pub elsewhere: u64,
}

/// Reads partition `name`'s passthrough counts from the console.
pub fn passthrough_counts(console: &[String], name: &str) -> Result<PassthroughCounts, String> {
    let prefix = format!("bulkhead: partition \"{name}\": passthrough interrupts ");
    let line = console
        .iter()
        .rev()
        .find_map(|l| l.split_once(&prefix).map(|(_, rest)| rest.to_string()))
        .ok_or_else(|| format!("no line `{prefix}...`"))?;
    let (delivery, figures) = line.split_once(": ").ok_or_else(|| format!("no counts in `{line}`"))?;
    let numbers: Vec<u64> = figures
        .split(", ")
        .map(|part| part.split(' ').next().unwrap_or("").parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{figures}`: {e}"))?;
    match numbers[..] {
        [taken, eoi_maintenance, deactivated, elsewhere] => Ok(PassthroughCounts { delivery: delivery.to_string(), taken, eoi_maintenance, deactivated, elsewhere }),
        _ => Err(format!("`{figures}`: four counts expected (taken, EOI maintenance, deactivated, of them elsewhere)")),
    }
}

/// On GICv3 the disk's interrupts are hardware-mapped: the guest deactivates each at the
/// GIC, so none causes an EOI maintenance interrupt and the hypervisor deactivates none;
/// on GICv2 they are forwarded by software, and the same counts show the maintenance
/// interrupts that costs (the measurement is the same on both). At least `least` must have
/// been taken: the virtio disk takes some 35, the Pi's mini UART a few.
fn passthrough_check(gic: u8, least: u64) -> Check {
    fn v3(c: &PassthroughCounts) -> bool {
        c.delivery == "hardware-mapped" && c.eoi_maintenance == 0 && c.deactivated == 0
    }
    fn v2(c: &PassthroughCounts) -> bool {
        c.delivery == "forwarded by software" && c.eoi_maintenance >= 1 && c.deactivated >= 1
    }
    fn judge(console: &[String], least: u64, gic: u8) -> Result<(), String> {
        let c = passthrough_counts(console, "linux")?;
        let ok = c.taken >= least && if gic == 3 { v3(&c) } else { v2(&c) };
        match (ok, gic) {
            (true, _) => Ok(()),
            (false, 3) => Err(format!("{c:?}: expected hardware-mapped, at least {least} taken, no EOI maintenance interrupt, none deactivated by the hypervisor")),
            (false, _) => Err(format!("{c:?}: expected forwarded by software, at least {least} taken, EOI maintenance interrupts and deactivations by the hypervisor")),
        }
    }
    // A check is a plain function: one per case.
    match (gic, least) {
        (3, _) => Check { what: "the passthrough interrupts were hardware-mapped: no EOI maintenance interrupt, no deactivation by the hypervisor", check: |c| judge(c, 10, 3) },
        (_, 1) => Check { what: "the passthrough interrupts were forwarded by software, deactivated by the hypervisor after EOI maintenance interrupts", check: |c| judge(c, 1, 2) },
        _ => Check { what: "the passthrough interrupts were forwarded by software, deactivated by the hypervisor after EOI maintenance interrupts", check: |c| judge(c, 10, 2) },
    }
}

/// Linux with `xen,enhanced = "no-xenstore"`: its Xen drivers find the hypervisor and none
/// complains (their error lines are forbidden, beside the usual kernel trouble).
fn xen_interfaces() -> Scenario {
    let mut scenario = scenario(
        "virt-gicv3-linux-xen",
        "virt",
        Some(3),
        "tests/scenarios/virt-linux-xen.dts",
        vec![linux_on_xen_interfaces("linux", 2)],
    );
    scenario.forbidden.extend(XEN_TROUBLE.iter().map(|t| t.to_string()));
    scenario
}

/// The lines of a Linux partition of `virt-linux-grants.dts` (one vCPU), with what
/// `gntshare` prints after the hypervisor's markers: the page shared, the event channel, the
/// exchange, and the events that signalled it (their count is a figure: an event can be read
/// at the next handoff's wait).
fn linux_sharing(name: &str, shared: &str, channel: &str) -> Vec<String> {
    let mut lines = linux_on_xen_interfaces(name, 1);
    let after_hypervisor = 1 + XEN_FOUND.len() + 4;
    lines.splice(
        after_hypervisor..after_hypervisor,
        [
            marker(name, "balloon gave back 1024 KiB"),
            marker(name, shared),
            marker(name, channel),
            marker(name, "gntshare: 261 rounds, 1052352 bytes each way, every byte checked"),
            marker(name, "each handoff signalled on port "),
        ],
    );
    lines
}

/// Two unmodified Linux partitions share a page through grants and signal each handoff
/// through an event channel, with no control domain; the reference and the port are agreed
/// on their command lines.
fn sharing() -> Scenario {
    let mut scenario = scenario(
        "virt-gicv3-linux-grants",
        "virt",
        Some(3),
        "tests/scenarios/virt-linux-grants.dts",
        vec![
            linux_sharing("granter", "granted a page to domain 2 (gntalloc, ref 8)", "event channel port 1 unbound for domain 2"),
            linux_sharing("mapper", "mapped domain 1's page (gntdev, ref 8)", "event channel bound to port 1 of domain 1"),
        ],
    );
    scenario.forbidden.extend(XEN_TROUBLE.iter().map(|t| t.to_string()));
    scenario
}

/// The Linux partition that owns the Pi's mini UART: its usual lines, with the UART's line
/// after the CPU count.
fn linux_with_mini_uart(name: &str, cpus: u32) -> Vec<String> {
    let mut lines = linux(name, cpus);
    lines.insert(3, marker(name, "mini uart: 20 lines sent, its interrupts taken"));
    lines
}

/// Device passthrough on QEMU raspi4b: Linux owns the BCM2711 mini UART and sends through it,
/// its interrupt forwarded; `isolation` probes the UART's page at its host address and faults.
fn raspi4b_passthrough() -> Scenario {
    let mut scenario = scenario(
        "raspi4b-passthrough",
        "rpi4",
        None,
        "tests/scenarios/raspi4b-passthrough.dts",
        vec![
            linux_with_mini_uart("linux", 2),
            isolation("isolation", &[0xfe21_5000, UNMAPPED]),
        ],
    );
    // The GIC-400 is a GICv2: the UART's interrupt is forwarded by software.
    scenario.checks.push(passthrough_check(2, 1));
    scenario
}

/// Where `cargo xtask test` writes the Raspberry Pi 4 SD-card folder (`cargo xtask image
/// --board rpi4 --config SD_FOLDER_CONFIG`) that `raspi4b-sd-folder` boots.
pub const SD_FOLDER: &str = "target/images/rpi4-folder";
/// The partitions of that folder: Linux, `hello` and `isolation` in the default pool (an
/// overlay naming no node of the board applies to Debian's tree, which has no `__symbols__`).
pub const SD_FOLDER_CONFIG: &str = "tests/scenarios/raspi4b-sd-folder.toml";
/// Debian's `bcm2711-rpi-4-b.dtb` with the folder's `overlays/bulkhead.dtbo` applied by
/// `fdtoverlay`, as the firmware applies `dtoverlay=bulkhead` to its own tree.
pub const SD_FOLDER_TREE: &str = "target/images/rpi4-folder-firmware-tree.dtb";
/// Where the folder's `config.txt` has the firmware load `modules.bin` (`initramfs`): the
/// config's `module_base`.
pub const SD_FOLDER_MODULES: u64 = 0x2000_0000;

/// The SD-card folder booted as the Pi 4 firmware boots it: the hypervisor at 0x200000 (the
/// harness's `-kernel`, the same Image), the firmware's tree with the folder's overlay
/// applied, and its packed modules at the address its `config.txt` gives; Debian's Linux
/// (owning the mini UART) and two bare-metal partitions run.
fn sd_folder() -> Scenario {
    let mut scenario = scenario(
        "raspi4b-sd-folder",
        "rpi4",
        None,
        SD_FOLDER_CONFIG,
        vec![
            linux_with_mini_uart("linux", 2),
            hello("hello", 32),
            isolation("isolation", &[0x3000_0000, UNMAPPED]),
        ],
    );
    // Booted from the folder's files, not compiled by the harness.
    scenario.partitions = None;
    scenario.dtb = crate::scenario::Dtb::File(SD_FOLDER_TREE.into());
    scenario.qemu_args = vec![
        String::from("-device"),
        format!("loader,file={SD_FOLDER}/modules.bin,addr={SD_FOLDER_MODULES:#x},force-raw=on"),
    ];
    scenario
}

/// Every Linux scenario.
pub fn all() -> Vec<Scenario> {
    vec![
        passthrough("virt-gicv3-passthrough", 3, "tests/scenarios/virt-passthrough.dts"),
        passthrough("virt-gicv2-passthrough", 2, "tests/scenarios/virt-passthrough.dts"),
        // The vCPUs move between the two CPUs of a credit2 pool.
        passthrough("virt-gicv3-credit2-passthrough", 3, "tests/scenarios/virt-passthrough-credit2.dts"),
        // The same on GICv2: the CPU that deactivates a forwarded SPI after the guest's end
        // of interrupt is often not the one that acknowledged it.
        passthrough("virt-gicv2-credit2-passthrough", 2, "tests/scenarios/virt-passthrough-credit2.dts"),
        scenario(
            "virt-gicv3-linux",
            "virt",
            Some(3),
            "tests/scenarios/virt-linux.dts",
            vec![linux("linux", 2)],
        ),
        scenario(
            "virt-gicv2-linux",
            "virt",
            Some(2),
            "tests/scenarios/virt-linux.dts",
            vec![linux("linux", 2)],
        ),
        scenario(
            "virt-gicv3-linux-mixed",
            "virt",
            Some(3),
            "tests/scenarios/virt-gicv3-linux-mixed.dts",
            vec![linux("linux", 2), linux("linux2", 1), hello("hello", 64)],
        ),
        // Four vCPUs on the two CPUs of a credit2 pool.
        scenario(
            "virt-gicv3-credit2-linux",
            "virt",
            Some(3),
            "tests/scenarios/virt-credit2-linux.dts",
            vec![linux("linux", 2), linux("linux2", 2)],
        ),
        xen_interfaces(),
        sharing(),
        scenario(
            "raspi4b-linux",
            "rpi4",
            None,
            "tests/scenarios/raspi4b-linux.toml",
            vec![linux("linux", 2)],
        ),
        sd_folder(),
        raspi4b_passthrough(),
        // Xen's own example of two domains, as booting.txt writes it (domU2 has no console).
        scenario(
            "virt-gicv3-xen-doc-two-domains",
            "virt",
            Some(3),
            "tests/scenarios/virt-xen-doc-two-domains.dts",
            vec![linux("domU1", 2), vec![started("domU2"), stopped("domU2")]],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn passthrough_counts_are_read_from_the_hypervisors_line() {
        let console = vec![
            "bulkhead: partition \"linux\" stopped".to_string(),
            "bulkhead: partition \"linux\": passthrough interrupts hardware-mapped: 35 taken, 0 EOI maintenance interrupts, 0 deactivated by the hypervisor, 0 of them on another CPU than the one that took them".to_string(),
        ];
        let counts = passthrough_counts(&console, "linux").unwrap();
        assert_eq!(counts, PassthroughCounts { delivery: "hardware-mapped".into(), taken: 35, eoi_maintenance: 0, deactivated: 0, elsewhere: 0 });
        assert!((passthrough_check(3, 10).check)(&console).is_ok());
        assert!((passthrough_check(2, 10).check)(&console).is_err());
        assert!(passthrough_counts(&console, "other").is_err());
    }

    #[test]
    fn markers_carry_the_partition_prefix_and_the_cpu_count() {
        let lines = linux("linux", 2);
        assert_eq!(lines[2], "(linux) LINUX-MARKER: cpus online 2");
        assert!(lines.contains(&"(linux) LINUX-MARKER: cpu 1 workload ok (on cpu 1)".to_string()));
        assert!(lines.contains(&"(linux) LINUX-MARKER: ipis delivered".to_string()));
        let one = linux("linux2", 1);
        assert!(one.contains(&"(linux2) LINUX-MARKER: no ipis with one cpu".to_string()));
        assert!(!one.iter().any(|l| l.contains("cpu 1 workload")));
    }

    #[test]
    fn the_configs_give_every_linux_kernel_the_same_command_line() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for s in all() {
            // The SD-card folder's config is compiled by `cargo xtask image`, not the harness.
            let file = match &s.partitions {
                Some(config) => config.file.clone(),
                None if s.name == "raspi4b-sd-folder" => SD_FOLDER_CONFIG.into(),
                None => panic!("{}: a Linux scenario without partitions", s.name),
            };
            let text = std::fs::read_to_string(root.join(&file)).unwrap();
            assert!(text.contains(BOOTARGS), "{}", file.display());
            assert!(
                s.forbidden.iter().any(|f| f == "Kernel panic"),
                "{}",
                s.name
            );
        }
    }

    /// The init script prints the markers these scenarios expect.
    #[test]
    fn the_init_script_prints_the_expected_markers() {
        let init = Path::new(env!("CARGO_MANIFEST_DIR")).join("linux/init");
        let text = std::fs::read_to_string(init).unwrap();
        for needed in [
            "marker \"kernel $(uname -r)\"",
            "marker \"cpus online $cpus\"",
            "workload ok (on cpu",
            "marker \"workload done\"",
            "marker \"timer ticks on $ticking cpus\"",
            "marker \"ipis delivered\"",
            "marker \"no ipis with one cpu\"",
            "marker \"powering off\"",
        ] {
            assert!(text.contains(needed), "{needed}");
        }
    }
}
