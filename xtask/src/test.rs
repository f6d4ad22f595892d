//! `cargo xtask test`: host unit tests, then the image, then every QEMU scenario (pending
//! ones only on request), partition scenarios after their configs are built.

use std::fmt;
use std::path::PathBuf;

use qemu_tests::{run_all, Dtb, Hypervisor, RunConfig, Scenario};

use crate::build::{self, BuildError};
use crate::debian::{Debian, DebianError};
use crate::linux::{self, LinuxError};
use crate::partitions::{self, Inputs};
use crate::prereq::{self, PrereqError};
use crate::shell::{self, ShellError};
use crate::workspace::{self, Profile};

/// Why the tests did not pass.
#[derive(Debug)]
pub enum TestError {
    HostTests(ShellError),
    Build(BuildError),
    Prereq(PrereqError),
    Dtb { board: String, error: DebianError },
    Linux(LinuxError),
    Xen(DebianError),
    /// The Raspberry Pi 4 SD-card folder could not be written, or a board tree is wrong.
    Image(String),
    NoScenario { filter: String },
    Failed { failed: usize, total: usize },
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestError::HostTests(e) => write!(f, "host unit tests failed: {e}"),
            TestError::Build(e) => write!(f, "{e}"),
            TestError::Prereq(e) => write!(f, "{e}"),
            TestError::Dtb { board, error } => {
                write!(f, "device tree for board `{board}`: {error}")
            }
            TestError::Linux(e) => write!(f, "{e}"),
            TestError::Xen(e) => write!(f, "fetching Xen 4.17 for the comparison scenarios: {e}"),
            TestError::Image(e) => write!(f, "board images and trees: {e}"),
            TestError::NoScenario { filter } => {
                write!(f, "no QEMU scenario name contains `{filter}`")
            }
            TestError::Failed { failed, total } => {
                write!(f, "{failed} of {total} QEMU scenarios failed")
            }
        }
    }
}

impl std::error::Error for TestError {}

/// Which scenarios to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Selection<'a> {
    /// Only scenarios whose name contains this; a pending scenario it names runs too.
    pub filter: Option<&'a str>,
    /// Run pending scenarios as well.
    pub pending: bool,
}

/// The scenarios to run and the pending ones left out, among those whose name contains the
/// filter (all without one).
pub fn select(all: Vec<Scenario>, selection: &Selection<'_>) -> (Vec<Scenario>, Vec<Scenario>) {
    all.into_iter()
        .filter(|s| selection.filter.is_none_or(|f| s.name.contains(f)))
        .partition(|s| !s.pending || selection.pending || selection.filter.is_some())
}

/// Whether QEMU boots the scenario with the board's firmware device tree.
fn needs_board_dtb(scenario: &Scenario) -> bool {
    let board_needs = boards::Board::by_name(&scenario.board)
        .and_then(|b| b.qemu)
        .is_some_and(|q| q.needs_dtb);
    scenario.dtb == Dtb::Board || (scenario.partitions.is_some() && board_needs)
}

/// Runs the host unit tests (unless `host_tests` is false), builds the image and runs the
/// selected QEMU scenarios; fails if anything fails.
pub fn test(
    selection: &Selection<'_>,
    jobs: usize,
    profile: Profile,
    host_tests: bool,
) -> Result<(), TestError> {
    // Some crates' build scripts may want the bare-metal target, so add it first.
    prereq::ensure_target().map_err(TestError::Prereq)?;
    if host_tests {
        println!("xtask: host unit tests");
        shell::run(build::cargo().args(["test", "--workspace", "--no-fail-fast"]))
            .map_err(TestError::HostTests)?;
    }

    let (scenarios, skipped) = select(qemu_tests::scenarios::all(), selection);
    if scenarios.is_empty() && skipped.is_empty() {
        return Err(TestError::NoScenario {
            filter: selection.filter.unwrap_or_default().to_string(),
        });
    }
    let config = prepare(&scenarios, jobs, profile)?;
    crate::board_trees::check(&mut Debian::new(), &workspace::target_dir()).map_err(TestError::Image)?;
    for scenario in &skipped {
        println!("SKIP {} (pending)", scenario.name);
    }
    println!(
        "xtask: {} QEMU scenarios, at most {} at once",
        scenarios.len(),
        config.jobs
    );
    let summary = run_all(&scenarios, &config);
    if summary.failed > 0 {
        return Err(TestError::Failed {
            failed: summary.failed,
            total: scenarios.len(),
        });
    }
    Ok(())
}

/// Builds what the scenarios boot (the image, the test guests, the Linux guest, each
/// partition config) and the configuration they run under.
pub fn prepare(scenarios: &[Scenario], jobs: usize, profile: Profile) -> Result<RunConfig, TestError> {
    println!(
        "xtask: building the hypervisor image ({})",
        match profile {
            Profile::Debug => "debug build: overflow checks and debug assertions on, as the tests want",
            Profile::Release => "release build",
        }
    );
    let image = build::build(profile).map_err(TestError::Build)?;
    prereq::ensure_qemu().map_err(TestError::Prereq)?;
    prereq::ensure_dtc().map_err(TestError::Prereq)?;

    let mut config = RunConfig::new(image, workspace::root());
    config.jobs = jobs;
    config.log_dir = Some(workspace::target_dir().join("qemu-logs"));
    let mut debian = Debian::new();
    for scenario in scenarios.iter().filter(|s| needs_board_dtb(s)) {
        if config
            .board_dtbs
            .iter()
            .any(|(name, _)| *name == scenario.board)
        {
            continue;
        }
        let dtb_error = |error| TestError::Dtb {
            board: scenario.board.clone(),
            error,
        };
        if let Some(board) = boards::Board::by_name(&scenario.board) {
            if let Some(dtb) = debian.board_dtb(board).map_err(dtb_error)? {
                config.board_dtbs.push((scenario.board.clone(), dtb));
            }
        }
    }

    if scenarios.iter().any(|s| s.hypervisor == Hypervisor::Xen) {
        println!("xtask: fetching Debian's Xen 4.17 for the scenarios that compare with it");
        config.xen = Some(debian.xen_image().map_err(TestError::Xen)?);
    }
    if scenarios.iter().any(|s| s.hypervisor == Hypervisor::BulkheadDefmt) {
        println!("xtask: building the hypervisor with its defmt feature for the scenarios that decode its frames");
        config.defmt = Some(build::build_variant(profile, build::Logs::Defmt).map_err(TestError::Build)?);
    }
    if scenarios.iter().any(|s| s.name == "raspi4b-sd-folder") {
        sd_folder(&mut debian, profile)?;
    }
    if scenarios.iter().any(|s| s.hypervisor == Hypervisor::BulkheadByUBoot) {
        println!("xtask: fetching Debian's U-Boot for the Pi and making the SD card it boots");
        config.u_boot = Some(debian.u_boot_rpi().map_err(|e| TestError::Image(e.to_string()))?);
        u_boot_card(&mut debian, profile)?;
    }
    if scenarios.iter().any(|s| s.partitions.is_some()) {
        let guests = build::guests(profile).map_err(TestError::Build)?;
        let linux = match scenarios.iter().any(partitions::names_linux) {
            true => Some(linux::guest(&mut debian).map_err(TestError::Linux)?.dir),
            false => None,
        };
        prepare_partitions(scenarios, &mut config, &guests, linux.as_deref());
    }
    Ok(config)
}

/// Writes the SD-card folder a user flashes, and the tree the Pi 4 firmware would boot it
/// with: its own `bcm2711-rpi-4-b.dtb` (here Debian's) with the folder's overlay applied.
fn sd_folder(debian: &mut Debian, profile: Profile) -> Result<(), TestError> {
    use qemu_tests::scenarios::linux::{SD_FOLDER, SD_FOLDER_CONFIG, SD_FOLDER_TREE};
    let root = workspace::root();
    let out = root.join(SD_FOLDER);
    let config = root.join(SD_FOLDER_CONFIG);
    crate::image::image("rpi4", &out, Some(&config), profile, crate::image::Loader::Firmware)
        .map_err(|e| TestError::Image(e.to_string()))?;
    overlay_onto_board_tree(debian, &out, &root.join(SD_FOLDER_TREE))
}

/// Writes the `--u-boot` folder of `raspi4b-u-boot`'s config, the SD-card image of it, and
/// the tree the firmware would hand U-Boot (Debian's Pi 4 tree with the folder's overlay).
fn u_boot_card(debian: &mut Debian, profile: Profile) -> Result<(), TestError> {
    use qemu_tests::scenarios::partitions::{U_BOOT_CARD, U_BOOT_CONFIG, U_BOOT_FOLDER, U_BOOT_TREE};
    prereq::ensure_mkimage().map_err(TestError::Prereq)?;
    prereq::ensure_mtools().map_err(TestError::Prereq)?;
    let root = workspace::root();
    let out = root.join(U_BOOT_FOLDER);
    crate::image::image("rpi4", &out, Some(&root.join(U_BOOT_CONFIG)), profile, crate::image::Loader::UBoot)
        .map_err(|e| TestError::Image(e.to_string()))?;
    overlay_onto_board_tree(debian, &out, &root.join(U_BOOT_TREE))?;
    crate::uboot::sd_card(&out, &root.join(U_BOOT_CARD)).map_err(TestError::Image)
}

/// Applies the folder's overlay to Debian's Pi 4 tree with `fdtoverlay`, as the firmware
/// applies `dtoverlay=` to its own.
fn overlay_onto_board_tree(debian: &mut Debian, folder: &std::path::Path, out: &std::path::Path) -> Result<(), TestError> {
    let board = debian
        .board_dtb(&boards::RPI4)
        .map_err(|e| TestError::Image(e.to_string()))?
        .ok_or_else(|| TestError::Image(String::from("the Pi 4 has no firmware device tree")))?;
    shell::output(
        std::process::Command::new("fdtoverlay")
            .arg("-i")
            .arg(&board)
            .arg("-o")
            .arg(out)
            .arg(folder.join(crate::image::overlay_path())),
    )
    .map(drop)
    .map_err(|e| TestError::Image(format!("fdtoverlay (device-tree-compiler) on {}: {e}", board.display())))
}

/// Builds every partition scenario's boot into `config.prepared`; a failure is kept there and
/// fails that scenario when it runs.
fn prepare_partitions(
    scenarios: &[Scenario],
    config: &mut RunConfig,
    guests: &std::path::Path,
    linux: Option<&std::path::Path>,
) {
    for scenario in scenarios.iter().filter(|s| s.partitions.is_some()) {
        let board_dtb: Option<PathBuf> = config
            .board_dtbs
            .iter()
            .find(|(name, _)| *name == scenario.board)
            .map(|(_, path)| path.clone());
        // Modules are placed clear of the image that boots: ours, or Xen's.
        let image = match (scenario.hypervisor, &config.xen, &config.defmt) {
            (Hypervisor::Xen, Some(xen), _) => xen,
            (Hypervisor::BulkheadDefmt, _, Some((defmt, _))) => defmt,
            _ => &config.image,
        };
        let inputs = Inputs {
            image,
            guests,
            board_dtb: board_dtb.as_deref(),
            linux,
        };
        let prepared = partitions::prepare(scenario, &inputs).map_err(|e| e.to_string());
        config.prepared.push((scenario.name.clone(), prepared));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select_names(filter: Option<&str>, pending: bool) -> (Vec<String>, Vec<String>) {
        let names = |list: Vec<Scenario>| list.into_iter().map(|s| s.name).collect();
        let (run, skipped) = select(qemu_tests::scenarios::all(), &Selection { filter, pending });
        (names(run), names(skipped))
    }

    #[test]
    fn filter_selects_by_name() {
        let total = qemu_tests::scenarios::all().len();
        let (run, skipped) = select_names(None, true);
        assert_eq!((run.len(), skipped.len()), (total, 0));
        let (gicv2, _) = select_names(Some("gicv2"), false);
        assert!(!gicv2.is_empty() && gicv2.iter().all(|s| s.contains("gicv2")));
        assert_eq!(
            select_names(Some("no such scenario"), true),
            (vec![], vec![])
        );
    }

    #[test]
    fn pending_scenarios_run_only_when_asked_for() {
        let pending: Vec<String> = qemu_tests::scenarios::all()
            .into_iter()
            .filter(|s| s.pending)
            .map(|s| s.name)
            .collect();
        let (run, skipped) = select_names(None, false);
        assert_eq!(skipped, pending);
        assert!(run.iter().all(|name| !pending.contains(name)));
        for name in &pending {
            let (run, skipped) = select_names(Some(name), false);
            assert!(run.contains(name) && skipped.is_empty(), "{name}");
        }
    }

    #[test]
    fn partition_scenarios_on_raspi4b_need_the_firmware_tree() {
        for s in qemu_tests::scenarios::all() {
            if s.board == "rpi4" && !matches!(s.dtb, Dtb::File(_)) {
                assert!(needs_board_dtb(&s), "{}", s.name);
            } else {
                assert!(!needs_board_dtb(&s), "{}", s.name);
            }
        }
    }
}
