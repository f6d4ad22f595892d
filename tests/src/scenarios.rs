//! The QEMU scenarios `cargo xtask test` runs. Add new ones here as data.

pub mod console;
pub mod direct;
pub mod event_channels;
pub mod grants;
pub mod linux;
pub mod partitions;
pub mod resilience;
pub mod scheduling;
pub mod xen_abi;
pub mod xen_docs;

use crate::scenario::{Dtb, Expect, Scenario};

/// The hypervisor's banner, first line of every boot.
pub const BANNER: &str = "Bulkhead hypervisor v0.1.0";
/// The last line of every clean run.
pub const POWER_OFF: &str = "bulkhead: powering off";
/// QEMU's `-icount`: virtual time follows the instructions executed, 1 ns each, whatever the
/// host's load, and QEMU runs the board's CPUs in turn in one thread (`sleep=off`: when
/// every CPU waits, time jumps to the next timer deadline).
pub(crate) const ICOUNT: [&str; 2] = ["-icount", "shift=0,sleep=off"];

/// Lines of a boot that brings all `cpus` online on `model` with GIC `gic` (`"v2"`/`"v3"`).
pub fn boot_lines(model: &str, gic: &str, cpus: u32) -> Vec<Expect> {
    vec![
        Expect::line(BANNER),
        Expect::line(format!("board: {model}")),
        Expect::line(format!("gic: {gic}")),
        Expect::AnyOrder(
            (0..cpus)
                .map(|n| format!("bulkhead: cpu {n} online"))
                .collect(),
        ),
        Expect::line(format!("bulkhead: all {cpus} cpus online")),
    ]
}

fn smp_boot(
    name: &str,
    board: &str,
    gic: Option<u8>,
    model: &str,
    gic_text: &str,
    dtb: Dtb,
) -> Scenario {
    let mut expect = boot_lines(model, gic_text, 4);
    expect.push(Expect::line(POWER_OFF));
    Scenario {
        gic,
        dtb,
        expect,
        ..Scenario::new(name, board)
    }
}

/// A hypervisor fault at EL2 on request, reported in full before power-off.
fn el2_fault() -> Scenario {
    Scenario {
        gic: Some(3),
        bootargs: Some("bulkhead.debug=el2-fault".to_string()),
        expect: [
            BANNER,
            "bulkhead: FATAL: synchronous exception at EL2",
            "ESR_EL2",
            "EC 0x25",
            "FAR_EL2",
            "ELR_EL2",
            POWER_OFF,
        ]
        .into_iter()
        .map(Expect::line)
        .collect(),
        // The fatal report is what this scenario checks.
        forbidden: vec!["FAIL".to_string()],
        ..Scenario::new("virt-gicv3-el2-fault", "virt")
    }
}

/// An EL2 stack overflow on request: the guard page below the stack stops it, and the
/// report, made on the CPU's fault stack, says what happened.
fn el2_stack_overflow() -> Scenario {
    Scenario {
        gic: Some(3),
        bootargs: Some("bulkhead.debug=el2-stack-overflow".to_string()),
        expect: [BANNER, "bulkhead: FATAL: synchronous exception at EL2", "bulkhead: FATAL: EL2 stack overflow", "ESR_EL2", "SP", POWER_OFF]
            .into_iter()
            .map(Expect::line)
            .collect(),
        forbidden: vec!["FAIL".to_string()],
        ..Scenario::new("virt-gicv3-el2-stack-overflow", "virt")
    }
}

/// Every scenario.
pub fn all() -> Vec<Scenario> {
    let mut all = vec![
        smp_boot(
            "virt-gicv3-4cpus",
            "virt",
            Some(3),
            "QEMU virt",
            "v3",
            Dtb::None,
        ),
        smp_boot(
            "virt-gicv2-4cpus",
            "virt",
            Some(2),
            "QEMU virt",
            "v2",
            Dtb::None,
        ),
        smp_boot(
            "raspi4b-4cpus",
            "rpi4",
            None,
            "Raspberry Pi 4 Model B",
            "v2",
            Dtb::Board,
        ),
        el2_fault(),
        el2_stack_overflow(),
    ];
    all.extend(partitions::all());
    all.extend(linux::all());
    all.extend(scheduling::all());
    all.extend(console::all());
    all.extend(direct::all());
    all.extend(xen_abi::all());
    all.extend(event_channels::all());
    all.extend(grants::all());
    all.extend(xen_docs::all());
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{scenario_args, RunConfig};

    #[test]
    fn names_are_unique_and_boards_exist() {
        let all = all();
        for (i, s) in all.iter().enumerate() {
            assert!(boards::Board::by_name(&s.board).is_some(), "{}", s.name);
            assert!(all[i + 1..].iter().all(|o| o.name != s.name), "{}", s.name);
            // Xen keeps the machine on after its last domain; those runs end at their last line.
            if matches!(s.hypervisor, crate::scenario::Hypervisor::Bulkhead | crate::scenario::Hypervisor::BulkheadByUBoot) {
                assert_eq!(
                    s.expect.last(),
                    Some(&Expect::line(POWER_OFF)),
                    "{}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn every_scenario_makes_a_qemu_command() {
        let mut config = RunConfig::new("Image".into(), "/ws".into());
        config.xen = Some("xen-4.17-arm64".into());
        config.defmt = Some(("Image-defmt".into(), "hypervisor".into()));
        config.u_boot = Some("u-boot.bin".into());
        config
            .board_dtbs
            .push(("rpi4".into(), "/cache/bcm2711-rpi-4-b.dtb".into()));
        for s in all().iter().filter(|s| s.partitions.is_some()) {
            let prepared = crate::Prepared {
                dtb: format!("target/scenarios/{}/merged.dtb", s.name).into(),
                qemu_args: Vec::new(),
            };
            config.prepared.push((s.name.clone(), Ok(prepared)));
        }
        for s in all() {
            let args = scenario_args(&s, &config).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert!(args.contains(&"-kernel".to_string()), "{}", s.name);
        }
        let fault = all()
            .into_iter()
            .find(|s| s.name.contains("fault"))
            .unwrap();
        let args = scenario_args(&fault, &config).unwrap();
        assert!(args
            .windows(2)
            .any(|w| w == ["-append", "bulkhead.debug=el2-fault"]));
    }

    #[test]
    fn board_dtb_must_be_provided() {
        let config = RunConfig::new("Image".into(), "/ws".into());
        let pi = all().into_iter().find(|s| s.board == "rpi4").unwrap();
        assert!(scenario_args(&pi, &config).unwrap_err().contains("rpi4"));
    }
}
