//! What a scenario is: plain data naming the board, QEMU options, expected console and exit.

use std::path::PathBuf;
use std::time::Duration;

/// One QEMU boot to check.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Unique name, shown in results and used by `--filter`.
    pub name: String,
    /// Board name as in `boards::Board::by_name`.
    pub board: String,
    /// GIC version for machines that let us choose it (`gic-version=N`).
    pub gic: Option<u8>,
    /// More QEMU arguments, after the ones the board implies. QEMU runs in the workspace root,
    /// so relative paths in them are relative to it.
    pub qemu_args: Vec<String>,
    /// Kernel command line given with `-append`.
    pub bootargs: Option<String>,
    /// The device tree given with `-dtb`.
    pub dtb: Dtb,
    /// Console lines to see, in order.
    pub expect: Vec<Expect>,
    /// The whole run, from start to QEMU's exit, must fit in this.
    pub deadline: Duration,
    /// How QEMU must end.
    pub exit: ExpectedExit,
    /// A console line containing any of these fails the scenario at once.
    pub forbidden: Vec<String>,
    /// Waits on work not done yet: not run unless asked for by name or with `--pending`.
    pub pending: bool,
    /// Partitions to boot: a config merged into the host device tree before the run.
    pub partitions: Option<PartitionConfig>,
    /// Checks of the whole console once every line was seen and QEMU exited as expected
    /// (figures the guests printed, the order of lines from different partitions).
    pub checks: Vec<Check>,
    /// The hypervisor QEMU boots: ours, or Debian's Xen 4.17 for comparison.
    pub hypervisor: Hypervisor,
}

/// A check of a finished run's console output.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// What it checks, for the failure message.
    pub what: &'static str,
    /// Returns why the console fails the check.
    pub check: fn(&[String]) -> Result<(), String>,
}

/// Which hypervisor a scenario boots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Hypervisor {
    /// The image under test.
    #[default]
    Bulkhead,
    /// Debian's Xen 4.17 (`xen-hypervisor-4.17-arm64`), which the caller fetches and passes
    /// in [`crate::RunConfig::xen`]: the same partition config and guests, to compare.
    Xen,
    /// The image under test built with its `defmt` feature, which the caller builds and
    /// passes in [`crate::RunConfig::defmt`]: its log lines come as defmt frames, decoded with
    /// the ELF's symbols before they are matched.
    BulkheadDefmt,
    /// The image under test started by Debian's U-Boot for the Raspberry Pi 4 (`rpi_arm64`),
    /// which QEMU boots as the kernel (the caller fetches it and passes it in
    /// [`crate::RunConfig::u_boot`]); U-Boot finds the hypervisor and the modules on the SD
    /// card the scenario's QEMU arguments attach, with their `boot.scr`.
    BulkheadByUBoot,
}

/// Texts that fail any scenario that does not say otherwise.
pub const DEFAULT_FORBIDDEN: &[&str] = &["FAIL", "FATAL"];

impl Scenario {
    /// A scenario on `board` with no expected lines yet, the default forbidden texts, a
    /// 60 s deadline and exit status 0; fill in the rest with struct update syntax.
    pub fn new(name: &str, board: &str) -> Self {
        Scenario {
            name: name.to_string(),
            board: board.to_string(),
            gic: None,
            qemu_args: Vec::new(),
            bootargs: None,
            dtb: Dtb::None,
            expect: Vec::new(),
            deadline: Duration::from_secs(60),
            exit: ExpectedExit::Code(0),
            forbidden: DEFAULT_FORBIDDEN.iter().map(|t| t.to_string()).collect(),
            pending: false,
            partitions: None,
            checks: Vec::new(),
            hypervisor: Hypervisor::Bulkhead,
        }
    }
}

/// A partition configuration file (`tests/scenarios/`), which `cargo xtask test` merges into
/// the host device tree's `/chosen`, placing the test guests it names in host RAM. The runner
/// boots the result given in [`crate::RunConfig::prepared`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionConfig {
    /// The `.dts` fragment of `/chosen` or the `.toml` authoring file, relative to the
    /// workspace root.
    pub file: PathBuf,
    /// Whether the config must pass the validator before the boot; `false` for a scenario
    /// that checks how the hypervisor reports an invalid config.
    pub valid: bool,
}

/// Where the `-dtb` file comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dtb {
    /// No `-dtb`: QEMU makes one (virt).
    None,
    /// The board's firmware device tree, which the caller fetches and passes in
    /// [`crate::RunConfig::board_dtbs`]. Required for boards whose QEMU model needs a DTB.
    Board,
    /// A file, relative to the workspace root unless absolute.
    File(PathBuf),
}

/// A step of the expected console output. A console line matches a text when it contains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// One line.
    Line(String),
    /// Several lines, each exactly once, in any order among themselves (CPUs coming online).
    AnyOrder(Vec<String>),
    /// Several sequences at once: each sequence's lines in order, the sequences mixed in any
    /// way (partitions running in parallel, each with its own lines).
    Interleaved(Vec<Vec<String>>),
    /// Type this on the console (QEMU's serial input), once every step before it was seen.
    Type(String),
}

impl Expect {
    /// One expected line.
    pub fn line(text: impl Into<String>) -> Self {
        Expect::Line(text.into())
    }
}

/// How QEMU must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedExit {
    /// Exit by itself with this status code once every line was seen.
    Code(i32),
    /// Still running once every line was seen: the run ends there and QEMU is stopped (Xen
    /// does not switch the machine off when its last domain shuts down).
    Running,
}
