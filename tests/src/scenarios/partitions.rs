//! Partition scenarios: test guests booted as dom0less partitions from a config in
//! `tests/scenarios/`, each partition's console lines checked under its name prefix.
//!
//! They wait on the hypervisor's partition boot and are `pending` until it lands: the lead
//! flips the flag. `cargo xtask test --pending` (or `--filter NAME`) runs them anyway.

use crate::scenario::{Check, Expect, PartitionConfig, Scenario};

use super::{boot_lines, BANNER, POWER_OFF};

/// The hypervisor's line once every partition has stopped.
pub const ALL_STOPPED: &str = "bulkhead: all partitions stopped";
/// How the board's last lines begin the UART's transmit figures (`console: N bytes sent, M of
/// them by K transmit interrupts, ...; D dropped`).
const CONSOLE_FIGURES: &str = "bulkhead: console: ";

/// The console went out through the UART's transmit interrupt: the board's last figures show
/// bytes sent from it, and none dropped.
pub const SENT_BY_TRANSMIT_INTERRUPT: Check = Check { what: "the console left through the UART's transmit interrupt, nothing dropped", check: sent_by_transmit_interrupt };

fn sent_by_transmit_interrupt(lines: &[String]) -> Result<(), String> {
    let line = lines
        .iter()
        .rev()
        .find_map(|l| l.find(CONSOLE_FIGURES).map(|at| &l[at + CONSOLE_FIGURES.len()..]))
        .ok_or_else(|| format!("no \"{CONSOLE_FIGURES}\" line among the board's last lines"))?;
    let words: Vec<&str> = line.split([' ', ',', ';']).filter(|w| !w.is_empty()).collect();
    // The number just before `word` ("M of them", "K transmit interrupts", "D dropped").
    let before = |word: &str| -> Result<u64, String> {
        let at = words.iter().position(|w| *w == word).ok_or_else(|| format!("no \"{word}\" in \"{line}\""))?;
        let number = at.checked_sub(1).and_then(|i| words.get(i)).ok_or_else(|| format!("nothing before \"{word}\" in \"{line}\""))?;
        number.parse().map_err(|_| format!("\"{number}\" is no number in \"{line}\""))
    };
    let from_interrupt = before("of")?;
    let interrupts = before("transmit")?;
    let dropped = before("dropped")?;
    if from_interrupt == 0 || interrupts == 0 {
        return Err(format!("no byte left through the transmit interrupt: \"{line}\""));
    }
    if dropped != 0 {
        return Err(format!("{dropped} bytes dropped: \"{line}\""));
    }
    Ok(())
}

/// How the hypervisor's line for each config error begins; the validator's message follows.
pub const CONFIG_ERROR: &str = "bulkhead: config error: ";
/// The hypervisor's line after the config errors.
pub const NOTHING_STARTED: &str = "bulkhead: the partition config is invalid; nothing was started";

/// The hypervisor's line when partition `name` starts.
pub fn started(name: &str) -> String {
    format!("bulkhead: partition \"{name}\" started")
}

/// The hypervisor's line when partition `name` stops for good.
pub fn stopped(name: &str) -> String {
    format!("bulkhead: partition \"{name}\" stopped")
}

/// The hypervisor's line when partition `name` restarts into boot number `boot`.
pub fn restarting(name: &str, boot: u32) -> String {
    format!("bulkhead: partition \"{name}\" restarting (boot {boot})")
}

/// The hypervisor's line when it injects a data abort at `address` into vCPU 0 of `name`.
pub fn data_abort(name: &str, address: u64) -> String {
    format!("bulkhead: partition \"{name}\" vcpu 0: data abort at {address:#x}")
}

/// A test guest's line as the console multiplexer shows it: the partition name in
/// parentheses, then the guest's own `NAME: ` prefix (its `guest.name=` is the partition name).
pub fn says(name: &str, text: &str) -> String {
    format!("({name}) {name}: {text}")
}

/// The `hello` guest's lines with one vCPU and `mib` MiB of RAM.
pub(crate) fn hello(name: &str, mib: u64) -> Vec<String> {
    let end = 0x4000_0000 + (mib << 20);
    vec![
        started(name),
        says(name, &format!("hello from {name}")),
        says(name, &format!("memory 0x40000000..{end:#x} ({mib} MiB)")),
        says(name, "1 cpus"),
        says(name, "psci 1.1"),
        says(name, "done"),
        stopped(name),
    ]
}

/// The `hello` guest's lines with a heartbeat of `beats` beats, `period_ms` apart, before it
/// ends.
pub(crate) fn hello_beating(name: &str, mib: u64, beats: u64, period_ms: u64) -> Vec<String> {
    let mut lines = hello(name, mib);
    let done = lines.len() - 2;
    lines.insert(done, says(name, &format!("{beats} beats every {period_ms} ms")));
    lines
}

/// The `smp` guest's lines with `cpus` vCPUs. The MPIDR is left out: the guest itself fails
/// (a forbidden `FAIL` line) when it differs from its device tree.
fn smp(name: &str, cpus: u32) -> Vec<String> {
    let mut lines = vec![started(name), says(name, "psci 1.1")];
    lines.extend((0..cpus).map(|cpu| says(name, &format!("cpu {cpu} (mpidr "))));
    lines.extend([
        says(name, &format!("all {cpus} cpus online")),
        says(name, "done"),
        stopped(name),
    ]);
    lines
}

/// The `isolation` guest's lines: each probe is a data abort the hypervisor reports and
/// injects, which the guest then reports.
pub fn isolation(name: &str, probes: &[u64]) -> Vec<String> {
    let mut lines = vec![
        started(name),
        says(name, "psci 1.1"),
        says(name, "own ram ok"),
    ];
    for &probe in probes {
        lines.push(data_abort(name, probe));
        lines.push(says(name, &format!("read {probe:#x} faulted")));
    }
    lines.extend([
        says(name, "all probes faulted"),
        format!("bulkhead: partition \"{name}\" vcpu 0: instruction fetch at {ISOLATION_FETCH:#x}"),
        says(name, &format!("fetch from {ISOLATION_FETCH:#x} faulted")),
        says(name, "done"),
        stopped(name),
    ]);
    lines
}

/// Where the `isolation` guest fetches (its `isolation.fetch=`): executable in its own stage 1
/// (the same GiB as its RAM), mapped by nobody in its stage 2.
const ISOLATION_FETCH: u64 = 0x7000_0000;

/// Where a board's three-partition scenario puts things: must agree with its config file.
struct Layout {
    /// The board name.
    board: &'static str,
    /// What the banner calls the board.
    model: &'static str,
    /// `gic-version=N` for virt, `None` for the fixed GIC of raspi4b.
    gic: Option<u8>,
    /// RAM per partition in MiB.
    mib: u64,
    /// The host address of the `hello` partition's `xen,static-mem`.
    hello_host: u64,
}

/// An address no partition has in its stage-2 tables (beyond every partition's RAM).
pub const UNMAPPED: u64 = 0x1_0000_0000;

/// Three partitions on four CPUs: `smp` (2 vCPUs), `hello` and `isolation` (1 each).
/// `isolation` probes `hello`'s host RAM and an unmapped address.
fn three_partitions(name: &str, file: &str, layout: &Layout) -> Scenario {
    let gic_text = if layout.gic == Some(3) { "v3" } else { "v2" };
    let mut expect = boot_lines(layout.model, gic_text, 4);
    expect.extend([
        Expect::Interleaved(vec![
            smp("smp", 2),
            hello("hello", layout.mib),
            isolation("isolation", &[layout.hello_host, UNMAPPED]),
        ]),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        gic: layout.gic,
        expect,
        pending: false,
        partitions: Some(PartitionConfig {
            file: file.into(),
            valid: true,
        }),
        checks: vec![SENT_BY_TRANSMIT_INTERRUPT],
        ..Scenario::new(name, layout.board)
    }
}

/// Static shared memory: `writer` fills region "ring" at its guest address, `reader` finds the
/// same host memory at another guest address, each from its own device tree.
fn shared_memory() -> Scenario {
    let mut expect = boot_lines("QEMU virt", "v3", 4);
    let writer = vec![
        started("writer"),
        says("writer", "xen-shmem@50000000 id ring at 0x50000000 size 0x100000"),
        says("writer", "wrote 511 words"),
        says("writer", "done"),
        stopped("writer"),
    ];
    let reader = vec![
        started("reader"),
        says("reader", "xen-shmem@60000000 id ring at 0x60000000 size 0x100000"),
        says("reader", "read 511 words, pattern ok, last 0x"),
        says("reader", "done"),
        stopped("reader"),
    ];
    expect.extend([
        Expect::Interleaved(vec![writer, reader]),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        gic: Some(3),
        expect,
        pending: false,
        partitions: Some(PartitionConfig {
            file: "tests/scenarios/virt-shared-memory.dts".into(),
            valid: true,
        }),
        ..Scenario::new("virt-gicv3-shared-memory", "virt")
    }
}

/// An allocated partition before a static one in `/chosen`, the static bank where first fit
/// would have put the first: every static bank is claimed before any partition is placed, so
/// it boots (it stopped with "static memory ... is not free" before), and `dynamic` runs above
/// `fixed`'s bank.
fn static_memory_placed_first() -> Scenario {
    let mut expect = boot_lines("QEMU virt", "v3", 4);
    expect.extend([
        Expect::line("bulkhead: partition \"dynamic\": 1 vcpu on cpu [0], 256 MiB of RAM at 0x40000000 (host 0x54000000)"),
        Expect::line("bulkhead: partition \"fixed\": 1 vcpu on cpu [1], 64 MiB of RAM at 0x40000000 (host 0x50000000)"),
        Expect::Interleaved(vec![hello("dynamic", 256), hello("fixed", 64)]),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        gic: Some(3),
        expect,
        pending: false,
        partitions: Some(PartitionConfig {
            file: "tests/scenarios/virt-static-mem-placed-first.dts".into(),
            valid: true,
        }),
        ..Scenario::new("virt-gicv3-static-mem-placed-first", "virt")
    }
}

/// The `gpio` guest owns QEMU virt's PL061 and raises its interrupt itself; it clears the
/// SPI's pending state before taking it (the physical SPI must not stay active: it stayed so
/// before, and the interrupt never came back), and after taking it (it stays active, and its
/// end of interrupt reaches the physical SPI). The hypervisor's counts when `gpio` stops say
/// who deactivated what: on GICv3 the hypervisor only the ten cleared before they were taken.
/// With `shared`, `gpio` shares a credit2 pool of two CPUs with two busy `spin` guests, so
/// its vCPU moves between the CPUs while the SPI is routed to one of them: on GICv3 the other
/// CPU often takes the SPI again before the vCPU's exit has synced the list register of its
/// end of interrupt, and the vGIC must still know the physical SPI active (it forgot, and a
/// cleared SPI never came back in some runs).
fn passthrough_gpio(name: &str, gic: u8, shared: bool) -> Scenario {
    let (gic_text, counts) = match gic {
        3 => ("v3", "hardware-mapped: 40 taken, 0 EOI maintenance interrupts, 10 deactivated by the hypervisor"),
        _ => ("v2", "forwarded by software: 40 taken, 30 EOI maintenance interrupts, 40 deactivated by the hypervisor"),
    };
    let mut expect = boot_lines("QEMU virt", gic_text, 4);
    let gpio = vec![
        started("gpio"),
        says("gpio", "10 interrupts cleared before they were taken came back"),
        says("gpio", "10 interrupts cleared while active stayed active and came back after their end"),
        says("gpio", "done"),
        format!("bulkhead: partition \"gpio\": passthrough interrupts {counts}"),
    ];
    let mut partitions = vec![gpio];
    if shared {
        for spin in ["spin1", "spin2"] {
            partitions.push(vec![started(spin), says(spin, "done"), stopped(spin)]);
        }
    }
    expect.extend([Expect::Interleaved(partitions), Expect::line(ALL_STOPPED), Expect::line(POWER_OFF)]);
    let file = if shared { "tests/scenarios/virt-passthrough-gpio-credit2.dts" } else { "tests/scenarios/virt-passthrough-gpio.dts" };
    // In the shared pool on GICv2 the scenario is about the hypervisor's deactivations on
    // another CPU than the one that took the SPI: some must have happened. (On GICv3 the
    // guest's own deactivations reach the GIC through the list register, and the hypervisor
    // deactivates only the ten cleared before they were taken, wherever its vCPU runs.)
    let checks = if shared && gic == 2 {
        vec![Check {
            what: "some of gpio's SPIs were deactivated on another CPU than the one that took them",
            check: |console| {
                let c = super::linux::passthrough_counts(console, "gpio")?;
                if c.elsewhere >= 1 {
                    Ok(())
                } else {
                    Err(format!("{c:?}: its vCPU never ended an interrupt away from the CPU that took it"))
                }
            },
        }]
    } else {
        Vec::new()
    };
    Scenario {
        gic: Some(gic),
        expect,
        checks,
        pending: false,
        partitions: Some(PartitionConfig {
            file: file.into(),
            valid: true,
        }),
        ..Scenario::new(name, "virt")
    }
}

/// `timer` alone: a hundred virtual timer interrupts, each re-armed already expired before its
/// end of interrupt. Before the fix of the GICv2 Linux hang, the GICv2 boards stopped after the
/// first one (QEMU never signalled the hardware-mapped timer again).
fn timer_alone(name: &str, board: &str, model: &str, gic: Option<u8>, file: &str) -> Scenario {
    let gic_text = if gic == Some(3) { "v3" } else { "v2" };
    let mut expect = boot_lines(model, gic_text, 4);
    expect.extend([
        Expect::line(started("timer")),
        Expect::line(says("timer", &format!("gic {gic_text}"))),
        Expect::line(says(
            "timer",
            "100 timer interrupts, 90 re-armed expired before their end of interrupt, 10 ahead",
        )),
        Expect::line(says("timer", "done")),
        Expect::line(stopped("timer")),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        gic,
        expect,
        pending: false,
        partitions: Some(PartitionConfig {
            file: file.into(),
            valid: true,
        }),
        ..Scenario::new(name, board)
    }
}

/// `regs` and `smp` with the vCPU save and restore forced on every exit (`switch`): every
/// register of `regs` survives 500 traps, and `smp` starts and stops its second vCPU through
/// the slots. Without `switch`, the same partitions with the hypervisor's defaults: `regs`'s
/// traps (PSCI_VERSION) are answered on the trap fast path, which must keep every register.
fn register_round_trips(name: &str, gic: u8, switch: bool) -> Scenario {
    let gic_text = if gic == 3 { "v3" } else { "v2" };
    let mut expect = boot_lines("QEMU virt", gic_text, 4);
    if switch {
        expect.push(Expect::line(
            "bulkhead: debug: every exit saves the vCPU to memory, scribbles over the CPU and loads it back",
        ));
    }
    expect.extend([
        Expect::Interleaved(vec![
            vec![
                started("regs"),
                says(
                    "regs",
                    "500 traps: 24 general registers, V0-V31, FPCR, FPSR and 5 system registers came back",
                ),
                says("regs", "done"),
                stopped("regs"),
            ],
            smp("smp", 2),
        ]),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        gic: Some(gic),
        bootargs: switch.then(|| "bulkhead.debug=switch-every-exit".into()),
        expect,
        pending: false,
        partitions: Some(PartitionConfig {
            file: "tests/scenarios/virt-switch.dts".into(),
            valid: true,
        }),
        ..Scenario::new(name, "virt")
    }
}

/// The validator's messages for `tests/scenarios/virt-gicv3-config-error.dts`, one per
/// error: `cargo xtask test` checks them against the crate before the boot.
pub const CONFIG_ERRORS: &[&str] = &[
    "/chosen/beta: range [0x62000000, 0x66000000) overlaps static memory of \
     /chosen/alpha at [0x60000000, 0x64000000)",
    "/chosen/gamma: no kernel",
];

/// Two partitions whose static memory overlaps and one without a kernel: the hypervisor
/// reports each error and starts nothing.
fn config_error() -> Scenario {
    let errors = CONFIG_ERRORS
        .iter()
        .map(|e| format!("{CONFIG_ERROR}{e}"))
        .collect();
    Scenario {
        gic: Some(3),
        expect: vec![
            Expect::line(BANNER),
            Expect::AnyOrder(errors),
            Expect::line(NOTHING_STARTED),
            Expect::line(POWER_OFF),
        ],
        pending: false,
        partitions: Some(PartitionConfig {
            file: "tests/scenarios/virt-gicv3-config-error.dts".into(),
            valid: false,
        }),
        ..Scenario::new("virt-gicv3-config-error", "virt")
    }
}

/// Every partition scenario.
pub fn all() -> Vec<Scenario> {
    let virt = |gic| Layout {
        board: "virt",
        model: "QEMU virt",
        gic: Some(gic),
        mib: 64,
        hello_host: 0x6000_0000,
    };
    let raspi = Layout {
        board: "rpi4",
        model: "Raspberry Pi 4 Model B",
        gic: None,
        mib: 32,
        hello_host: 0x3000_0000,
    };
    vec![
        three_partitions(
            "virt-gicv3-partitions",
            "tests/scenarios/virt-gicv3-partitions.dts",
            &virt(3),
        ),
        three_partitions(
            "virt-gicv2-partitions",
            "tests/scenarios/virt-gicv2-partitions.toml",
            &virt(2),
        ),
        three_partitions(
            "raspi4b-partitions",
            "tests/scenarios/raspi4b-partitions.toml",
            &raspi,
        ),
        super::resilience::reset_beside_hello(),
        super::resilience::reset_beside_hello_without_boot_scrub(),
        super::resilience::restart_100(),
        super::resilience::hostile_beside_hello(),
        shared_memory(),
        static_memory_placed_first(),
        passthrough_gpio("virt-gicv3-passthrough-gpio", 3, false),
        passthrough_gpio("virt-gicv2-passthrough-gpio", 2, false),
        passthrough_gpio("virt-gicv3-credit2-passthrough-gpio", 3, true),
        passthrough_gpio("virt-gicv2-credit2-passthrough-gpio", 2, true),
        config_error(),
        register_round_trips("virt-gicv3-switch", 3, true),
        register_round_trips("virt-gicv2-switch", 2, true),
        register_round_trips("virt-gicv3-fast-path", 3, false),
        timer_alone("virt-gicv2-timer", "virt", "QEMU virt", Some(2), "tests/scenarios/virt-timer.dts"),
        timer_alone("virt-gicv3-timer", "virt", "QEMU virt", Some(3), "tests/scenarios/virt-timer.dts"),
        // Trapped WFI: the guest waits blocked, its deadline on the hypervisor's EL2 timer.
        timer_alone("virt-gicv3-timer-trap-wfi", "virt", "QEMU virt", Some(3), "tests/scenarios/virt-timer-trap-wfi.dts"),
        timer_alone("virt-gicv2-timer-trap-wfi", "virt", "QEMU virt", Some(2), "tests/scenarios/virt-timer-trap-wfi.dts"),
        timer_alone(
            "raspi4b-timer",
            "rpi4",
            "Raspberry Pi 4 Model B",
            None,
            "tests/scenarios/raspi4b-timer.toml",
        ),
        // The demos `cargo xtask run` boots by default, so that they keep working.
        three_partitions("virt-gicv3-demo", "demo/virt.dts", &virt(3)),
        three_partitions("raspi4b-demo", "demo/rpi4.toml", &raspi),
        through_u_boot(),
    ]
}

/// The partitions of the SD card `raspi4b-u-boot` boots (`cargo xtask image --board rpi4
/// --u-boot --config U_BOOT_CONFIG`).
pub const U_BOOT_CONFIG: &str = "tests/scenarios/raspi4b-u-boot.toml";
/// Where `cargo xtask test` writes that folder.
pub const U_BOOT_FOLDER: &str = "target/images/rpi4-u-boot-folder";
/// The FAT image of the folder, as the SD card's first partition.
pub const U_BOOT_CARD: &str = "target/images/rpi4-u-boot-sd.img";
/// Debian's `bcm2711-rpi-4-b.dtb` with the folder's overlay applied by `fdtoverlay`: what
/// the firmware hands U-Boot at `${fdt_addr}`.
pub const U_BOOT_TREE: &str = "target/images/rpi4-u-boot-firmware-tree.dtb";

/// The `--u-boot` folder booted as a Pi 4 boots it through U-Boot: QEMU starts Debian's
/// U-Boot (`rpi_arm64`) with the firmware's tree, U-Boot's distro boot finds `boot.scr` on
/// the SD card's FAT partition, which loads the hypervisor and each module at its address and
/// starts the hypervisor with `booti`; the partitions run.
fn through_u_boot() -> Scenario {
    let mut expect = vec![Expect::line("U-Boot 20")];
    expect.extend(boot_lines("Raspberry Pi 4 Model B", "v2", 4));
    expect.extend([
        Expect::Interleaved(vec![
            smp("smp", 2),
            hello("hello", 32),
            isolation("isolation", &[0x3000_0000, UNMAPPED]),
        ]),
        Expect::line(ALL_STOPPED),
        Expect::line(POWER_OFF),
    ]);
    Scenario {
        expect,
        dtb: crate::scenario::Dtb::File(U_BOOT_TREE.into()),
        // The card is attached read-only to QEMU's view: writes (U-Boot saves nothing) would
        // go to a temporary overlay, so two runs may share the image.
        qemu_args: ["-drive", &format!("file={U_BOOT_CARD},if=sd,format=raw,snapshot=on")].map(String::from).to_vec(),
        hypervisor: crate::scenario::Hypervisor::BulkheadByUBoot,
        // U-Boot waits 2 s for a key before its distro boot, then reads the files at some
        // 2 MiB/s from QEMU's SD model.
        deadline: std::time::Duration::from_secs(120),
        ..Scenario::new("raspi4b-u-boot", "rpi4")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_config_file_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let with_configs = crate::scenarios::all()
            .into_iter()
            .filter(|s| s.partitions.is_some());
        for s in with_configs {
            let config = s.partitions.as_ref().expect("a partition scenario");
            assert!(
                root.join(&config.file).is_file(),
                "{}",
                config.file.display()
            );
        }
    }

    #[test]
    fn every_config_file_belongs_to_a_scenario() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let mut used: Vec<_> = crate::scenarios::all()
            .into_iter()
            .filter_map(|s| s.partitions.map(|p| p.file))
            .collect();
        // Compiled by `cargo xtask image` into the SD-card folder, not by the harness.
        used.push(crate::scenarios::linux::SD_FOLDER_CONFIG.into());
        used.push(U_BOOT_CONFIG.into());
        // A config may name another file of the directory (a partial device tree module).
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let texts: Vec<String> = used
            .iter()
            .filter_map(|f| std::fs::read_to_string(root.join(f)).ok())
            .collect();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".dts") || name.ends_with(".toml") {
                let file = Path::new("tests/scenarios").join(&name);
                let named = texts.iter().any(|t| t.contains(&format!("tests/scenarios/{name}")));
                assert!(used.contains(&file) || named, "{name} is used by no scenario");
            }
        }
    }

    #[test]
    fn guest_lines_carry_the_partition_prefix() {
        assert_eq!(
            says("hello", "hello from hello"),
            "(hello) hello: hello from hello"
        );
        assert_eq!(
            hello("hello", 64)[2],
            "(hello) hello: memory 0x40000000..0x44000000 (64 MiB)"
        );
        assert_eq!(
            data_abort("isolation", UNMAPPED),
            "bulkhead: partition \"isolation\" vcpu 0: data abort at 0x100000000"
        );
    }

    fn figures(last: &str) -> Vec<String> {
        vec!["bulkhead: console: 10 bytes sent, 0 of them by 0 transmit interrupts, 10 by writers priming the FIFO, 0 waiting for it; 0 dropped".into(), last.into()]
    }

    #[test]
    fn the_transmit_figures_are_read_from_the_last_line() {
        let good = "bulkhead: console: 3391 bytes sent, 1321 of them by 44 transmit interrupts, 939 by writers priming the FIFO, 1131 waiting for it; 0 dropped";
        assert_eq!(sent_by_transmit_interrupt(&figures(good)), Ok(()));
        let none = "bulkhead: console: 939 bytes sent, 0 of them by 0 transmit interrupts, 939 by writers priming the FIFO, 0 waiting for it; 0 dropped";
        assert!(sent_by_transmit_interrupt(&figures(none)).unwrap_err().contains("no byte left through the transmit interrupt"));
        let lossy = "bulkhead: console: 3391 bytes sent, 1321 of them by 44 transmit interrupts, 939 by writers priming the FIFO, 1131 waiting for it; 7 dropped";
        assert!(sent_by_transmit_interrupt(&figures(lossy)).unwrap_err().starts_with("7 bytes dropped"));
        assert!(sent_by_transmit_interrupt(&[]).is_err());
    }
}
