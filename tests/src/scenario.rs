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
}
