//! The machine this boot runs on: the board from `boards` matched against the host device
//! tree, and the tree's facts (RAM, CPUs, GIC, bootargs), checked against each other.

use alloc::string::String;
use alloc::vec::Vec;
use boards::{AddressRange, Board, GicLayout, GicVersion};
use core::fmt;
use dom0less_config::devicetree::{DtError, Tree};
use dom0less_config::host::HostInfo;

/// Device tree compatibles of a GICv2-class distributor (GIC-400 and earlier).
const GIC_V2_COMPATIBLES: &[&str] = &["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a7-gic", "arm,cortex-a9-gic"];
const GIC_V3_COMPATIBLE: &str = "arm,gic-v3";

/// Everything the hypervisor knows about the machine after reading its device tree.
#[derive(Debug)]
pub struct Platform {
    pub board: &'static Board,
    pub gic: GicLayout,
    /// RAM banks, sorted, each inside one of the board's RAM windows.
    pub ram: Vec<AddressRange>,
    /// MPIDR of each CPU, in `/cpus` order: the index is the CPU's logical number.
    pub cpus: Vec<u64>,
    /// Index of the CPU that booted the hypervisor.
    pub boot_cpu: usize,
    pub bootargs: String,
    pub host: HostInfo,
}

/// Why the device tree does not describe a machine the hypervisor can run on.
#[derive(Debug, PartialEq, Eq)]
pub enum PlatformError {
    Tree(DtError),
    UnknownBoard { compatible: Vec<String> },
    NoGic,
    GicNotOnBoard { board: &'static str, version: GicVersion },
    GicAddress { board: &'static str, tree: u64, expected: u64 },
    NoRam,
    RamOutsideBoard { board: &'static str, bank: AddressRange },
    NoCpus,
    TooManyCpus { count: usize, max: usize },
    BootCpuNotListed { mpidr: u64 },
}

impl From<DtError> for PlatformError {
    fn from(e: DtError) -> Self {
        PlatformError::Tree(e)
    }
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tree(e) => write!(f, "host device tree: {e}"),
            Self::UnknownBoard { compatible } => write!(
                f,
                "no board matches the device tree's root compatible {compatible:?}; known boards: {}",
                boards::ALL.iter().map(|b| b.name).collect::<Vec<_>>().join(", ")
            ),
            Self::NoGic => write!(f, "the device tree has no GIC node (compatible \"arm,gic-v3\" or \"arm,gic-400\")"),
            Self::GicNotOnBoard { board, version } => {
                write!(f, "the device tree has a GIC{version:?} but board \"{board}\" has none; use a supported GIC version")
            }
            Self::GicAddress { board, tree, expected } => write!(
                f,
                "the device tree's GIC distributor is at {tree:#x}, board \"{board}\" has it at {expected:#x}; fix the board data or the tree"
            ),
            Self::NoRam => write!(f, "the device tree has no /memory node with a non-empty reg"),
            Self::RamOutsideBoard { board, bank } => write!(
                f,
                "RAM bank {:#x}..{:#x} lies outside board \"{board}\"'s RAM windows",
                bank.start(), bank.end()
            ),
            Self::NoCpus => write!(f, "the device tree lists no /cpus/cpu nodes"),
            Self::TooManyCpus { count, max } => {
                write!(f, "the device tree lists {count} CPUs; this build supports at most {max}")
            }
            Self::BootCpuNotListed { mpidr } => {
                write!(f, "the boot CPU (MPIDR {mpidr:#x}) is not among the device tree's /cpus")
            }
        }
    }
}

impl Platform {
    /// The board whose compatible string the tree's root lists, if any.
    pub fn board_of(tree: &Tree) -> Result<&'static Board, PlatformError> {
        let root = tree.node(tree.root());
        let compatible: Vec<&str> = root.property("compatible").map(|p| p.strings().collect()).unwrap_or_default();
        Board::find(compatible.iter().copied())
            .ok_or_else(|| PlatformError::UnknownBoard { compatible: compatible.iter().map(|s| String::from(*s)).collect() })
    }

    /// Reads and checks the machine's facts.
    pub fn from_tree(tree: &Tree, max_cpus: usize, boot_mpidr: u64) -> Result<Platform, PlatformError> {
        let board = Self::board_of(tree)?;
        let gic = find_gic(tree, board)?;
        let host = HostInfo::read(tree)?;
        let mut ram = Vec::new();
        for bank in &host.ram {
            if !board.ram_windows.iter().any(|w| w.contains_range(bank)) {
                return Err(PlatformError::RamOutsideBoard { board: board.name, bank: *bank });
            }
            ram.push(*bank);
        }
        if ram.is_empty() {
            return Err(PlatformError::NoRam);
        }
        let cpus: Vec<u64> = host.cpus.iter().map(|c| c.mpidr).collect();
        if cpus.is_empty() {
            return Err(PlatformError::NoCpus);
        }
        if cpus.len() > max_cpus {
            return Err(PlatformError::TooManyCpus { count: cpus.len(), max: max_cpus });
        }
        let Some(boot_cpu) = cpus.iter().position(|&m| m == boot_mpidr) else {
            return Err(PlatformError::BootCpuNotListed { mpidr: boot_mpidr });
        };
        let bootargs = host.bootargs.clone().unwrap_or_default();
        Ok(Platform { board, gic, ram, cpus, boot_cpu, bootargs, host })
    }

    /// Total RAM in bytes.
    pub fn ram_bytes(&self) -> u64 {
        self.ram.iter().map(|r| r.size()).sum()
    }

    /// Whether the kernel command line has the word `flag` (like `bulkhead.debug=el2-fault`).
    pub fn has_bootarg(&self, flag: &str) -> bool {
        self.bootargs.split_ascii_whitespace().any(|w| w == flag)
    }
}

fn find_gic(tree: &Tree, board: &'static Board) -> Result<GicLayout, PlatformError> {
    let v3 = tree.compatible(GIC_V3_COMPATIBLE).next();
    let v2 = GIC_V2_COMPATIBLES.iter().find_map(|c| tree.compatible(c).next());
    let (node, version) = match (v3, v2) {
        (Some(n), _) => (n, GicVersion::V3),
        (None, Some(n)) => (n, GicVersion::V2),
        (None, None) => return Err(PlatformError::NoGic),
    };
    // Each error is built where it is returned: an error value made and dropped on the way
    // to success costs its construction and its drop at every boot.
    let Some(&layout) = board.gic_layout(version) else {
        return Err(PlatformError::GicNotOnBoard { board: board.name, version });
    };
    let Some(distributor) = tree.translated_reg(node)?.first().map(|r| r.start()) else {
        return Err(PlatformError::NoGic);
    };
    if distributor != layout.gicd() {
        return Err(PlatformError::GicAddress { board: board.name, tree: distributor, expected: layout.gicd() });
    }
    Ok(layout)
}

#[cfg(test)]
mod tests;
