//! What a guest learns from its device tree: console, PSCI conduit, memory, CPUs, the GIC
//! and the `/chosen` options.

use core::fmt;
use core::ops::ControlFlow;

use crate::fdt::{translate, Fdt, FdtError, Node, RegEntries, RegError, Visit};
use crate::format::Span;
use crate::psci::Conduit;

/// Most memory ranges a guest keeps.
pub const MAX_RANGES: usize = 8;
/// Most CPUs a guest knows about.
pub const MAX_CPUS: usize = 8;
/// The `/chosen` property the hypervisor sets to the number of the current boot.
pub const BOOT_COUNT_PROPERTY: &str = "bulkhead,boot-count";

/// What a device tree can lack or get wrong for a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError<'a> {
    /// The blob itself is malformed.
    Fdt(FdtError),
    /// A node's `reg` cannot be decoded.
    Reg { node: &'a str, error: RegError },
    /// A required node is missing.
    MissingNode { path: &'a str },
    /// A required property is missing.
    MissingProperty { node: &'a str, property: &'a str },
    /// A property has a value of the wrong shape.
    BadValue { node: &'a str, property: &'a str },
    /// `stdout-path` names an alias or node that does not exist.
    BadStdoutPath { path: &'a str },
    /// No node is compatible with an SBSA UART or a PL011.
    NoUart,
    /// No node is compatible with a GICv2 or GICv3.
    NoGic,
    /// The `/psci` `method` is neither `hvc` nor `smc`.
    BadPsciMethod { method: &'a str },
    /// More memory ranges or CPUs than the guest has room for.
    TooMany { what: &'static str, limit: usize },
    /// The tree lists no RAM or no CPU.
    NoneFound { what: &'static str },
}

impl From<FdtError> for ConfigError<'_> {
    fn from(error: FdtError) -> Self {
        Self::Fdt(error)
    }
}

impl fmt::Display for ConfigError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fdt(error) => write!(f, "{error}"),
            Self::Reg { node, error } => write!(f, "node `{node}`: bad reg: {error}"),
            Self::MissingNode { path } => write!(f, "device tree has no `{path}` node"),
            Self::MissingProperty { node, property } => {
                write!(f, "node `{node}` has no `{property}` property")
            }
            Self::BadValue { node, property } => {
                write!(f, "node `{node}` has a malformed `{property}` property")
            }
            Self::BadStdoutPath { path } => write!(f, "stdout-path `{path}` names no node"),
            Self::NoUart => f.write_str("device tree has no arm,sbsa-uart or arm,pl011 node"),
            Self::NoGic => {
                f.write_str("device tree has no arm,gic-v3, arm,cortex-a15-gic or arm,gic-400 node")
            }
            Self::BadPsciMethod { method } => {
                write!(f, "PSCI method `{method}` is neither hvc nor smc")
            }
            Self::TooMany { what, limit } => write!(f, "more than {limit} {what}"),
            Self::NoneFound { what } => write!(f, "device tree lists no {what}"),
        }
    }
}

/// The guest's RAM ranges, from the `/memory` nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    ranges: [Span; MAX_RANGES],
    count: usize,
}

impl Memory {
    /// The ranges, in tree order.
    pub fn ranges(&self) -> &[Span] {
        &self.ranges[..self.count]
    }
}

/// The guest's CPUs: the MPIDR affinity value of each `/cpus/cpu@N` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpus {
    mpidrs: [u64; MAX_CPUS],
    count: usize,
}

impl Cpus {
    /// The MPIDR of each CPU, in tree order.
    pub fn mpidrs(&self) -> &[u64] {
        &self.mpidrs[..self.count]
    }

    /// The position in [`Cpus::mpidrs`] of the CPU with this MPIDR affinity.
    pub fn index_of(&self, mpidr: u64) -> Option<usize> {
        self.mpidrs().iter().position(|&m| m == mpidr)
    }
}

/// The `/chosen` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chosen<'a> {
    /// The kernel command line; empty when absent.
    pub bootargs: &'a str,
    /// Which boot this is, counting from 1.
    pub boot_count: u32,
}

/// Reads `/chosen`; the node itself may be absent.
pub fn chosen<'a>(fdt: &Fdt<'a>) -> Result<Chosen<'a>, ConfigError<'a>> {
    let Some(node) = fdt.find("/chosen")? else {
        return Ok(Chosen {
            bootargs: "",
            boot_count: 1,
        });
    };
    let bootargs = node.string_property("bootargs")?.unwrap_or("");
    let boot_count = match node.property(BOOT_COUNT_PROPERTY)? {
        None => 1,
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        Some(_) => {
            return Err(ConfigError::BadValue {
                node: "/chosen",
                property: BOOT_COUNT_PROPERTY,
            })
        }
    };
    Ok(Chosen {
        bootargs,
        boot_count,
    })
}

/// The PSCI conduit, from `/psci` `method`.
pub fn psci_conduit<'a>(fdt: &Fdt<'a>) -> Result<Conduit, ConfigError<'a>> {
    let node = fdt
        .find("/psci")?
        .ok_or(ConfigError::MissingNode { path: "/psci" })?;
    let method = node
        .string_property("method")?
        .ok_or(ConfigError::MissingProperty {
            node: "/psci",
            property: "method",
        })?;
    Conduit::from_method(method).ok_or(ConfigError::BadPsciMethod { method })
}

/// The RAM ranges of every root node whose `device_type` is `memory`; empty ranges are left out.
pub fn memory<'a>(fdt: &Fdt<'a>) -> Result<Memory, ConfigError<'a>> {
    let root = fdt.root()?;
    let cells = root.cells()?;
    let mut memory = Memory {
        ranges: [Span { start: 0, size: 0 }; MAX_RANGES],
        count: 0,
    };
    for node in root.children() {
        let node = node?;
        if node.string_property("device_type")? != Some("memory") {
            continue;
        }
        for (start, size) in reg_entries(&node, cells)?.filter(|&(_, size)| size != 0) {
            let slot = memory.ranges.get_mut(memory.count);
            let slot = slot.ok_or(ConfigError::TooMany {
                what: "memory ranges",
                limit: MAX_RANGES,
            })?;
            *slot = Span { start, size };
            memory.count += 1;
        }
    }
    if memory.count == 0 {
        return Err(ConfigError::NoneFound { what: "memory" });
    }
    Ok(memory)
}

/// The CPUs under `/cpus` whose `device_type` is `cpu`.
pub fn cpus<'a>(fdt: &Fdt<'a>) -> Result<Cpus, ConfigError<'a>> {
    let parent = fdt
        .find("/cpus")?
        .ok_or(ConfigError::MissingNode { path: "/cpus" })?;
    let cells = parent.cells()?;
    let mut cpus = Cpus {
        mpidrs: [0; MAX_CPUS],
        count: 0,
    };
    for node in parent.children() {
        let node = node?;
        if node.string_property("device_type")? != Some("cpu") {
            continue;
        }
        let (mpidr, _) = reg_entries(&node, cells)?
            .next()
            .ok_or(ConfigError::BadValue {
                node: node.name(),
                property: "reg",
            })?;
        let slot = cpus.mpidrs.get_mut(cpus.count);
        *slot.ok_or(ConfigError::TooMany {
            what: "CPUs",
            limit: MAX_CPUS,
        })? = mpidr;
        cpus.count += 1;
    }
    if cpus.count == 0 {
        return Err(ConfigError::NoneFound { what: "CPUs" });
    }
    Ok(cpus)
}

/// The physical address of the console UART: the node `/chosen` `stdout-path` names (through
/// `/aliases` if needed), else the first enabled node compatible with `arm,sbsa-uart` or
/// `arm,pl011`.
pub fn uart_address<'a>(fdt: &Fdt<'a>) -> Result<u64, ConfigError<'a>> {
    let stdout = match fdt.find("/chosen")? {
        Some(chosen) => chosen.string_property("stdout-path")?,
        None => None,
    };
    let result = match stdout {
        Some(stdout) => {
            let target = stdout_node(fdt, stdout)?;
            fdt.walk(|visit| match visit.node.same_as(&target) {
                true => ControlFlow::Break(device_address(visit)),
                false => ControlFlow::Continue(()),
            })?
        }
        None => fdt.walk(|visit| match is_uart(&visit.node) {
            Ok(true) => ControlFlow::Break(device_address(visit)),
            Ok(false) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(Err(error)),
        })?,
    };
    result.unwrap_or(Err(ConfigError::NoUart))
}

/// The guest's interrupt controller and where its frames are (their first `reg` entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gic {
    /// A GICv2: distributor and CPU interface.
    V2 { distributor: u64, cpu_interface: u64 },
    /// A GICv3: distributor and the first redistributor.
    V3 { distributor: u64, redistributor: u64 },
}

/// The first node compatible with a GICv3 (`arm,gic-v3`) or a GICv2 (`arm,cortex-a15-gic`,
/// `arm,gic-400`), with the addresses of its first two `reg` entries.
pub fn gic<'a>(fdt: &Fdt<'a>) -> Result<Gic, ConfigError<'a>> {
    let found = fdt.walk(|visit| {
        let v3 = match visit.node.is_compatible("arm,gic-v3") {
            Ok(v3) => v3,
            Err(error) => return ControlFlow::Break(Err(error.into())),
        };
        let v2 = match (visit.node.is_compatible("arm,cortex-a15-gic"), visit.node.is_compatible("arm,gic-400")) {
            (Ok(a), Ok(b)) => a || b,
            (Err(error), _) | (_, Err(error)) => return ControlFlow::Break(Err(error.into())),
        };
        if !v3 && !v2 {
            return ControlFlow::Continue(());
        }
        ControlFlow::Break(gic_frames(visit).map(|(first, second)| match v3 {
            true => Gic::V3 { distributor: first, redistributor: second },
            false => Gic::V2 { distributor: first, cpu_interface: second },
        }))
    })?;
    found.unwrap_or(Err(ConfigError::NoGic))
}

fn gic_frames<'a>(visit: &Visit<'a, '_>) -> Result<(u64, u64), ConfigError<'a>> {
    let node = visit.node.name();
    let mut entries = reg_entries(&visit.node, visit.parent_cells())?;
    let malformed = ConfigError::BadValue { node, property: "reg" };
    let (first, _) = entries.next().ok_or(malformed)?;
    let (second, _) = entries.next().ok_or(malformed)?;
    Ok((first, second))
}

fn stdout_node<'a>(fdt: &Fdt<'a>, stdout: &'a str) -> Result<Node<'a>, ConfigError<'a>> {
    let name = stdout.split(':').next().unwrap_or(stdout);
    let path = if name.starts_with('/') {
        name
    } else {
        let aliases = fdt.find("/aliases")?;
        let alias = match aliases {
            Some(aliases) => aliases.string_property(name)?,
            None => None,
        };
        alias.ok_or(ConfigError::BadStdoutPath { path: stdout })?
    };
    fdt.find(path)?
        .ok_or(ConfigError::BadStdoutPath { path: stdout })
}

fn is_uart<'a>(node: &Node<'a>) -> Result<bool, ConfigError<'a>> {
    let enabled = matches!(node.string_property("status")?, None | Some("okay" | "ok"));
    Ok(enabled && (node.is_compatible("arm,sbsa-uart")? || node.is_compatible("arm,pl011")?))
}

fn device_address<'a>(visit: &Visit<'a, '_>) -> Result<u64, ConfigError<'a>> {
    let node = visit.node.name();
    let (address, _) = reg_entries(&visit.node, visit.parent_cells())?
        .next()
        .ok_or(ConfigError::BadValue {
            node,
            property: "reg",
        })?;
    translate(address, visit.ancestors).map_err(|error| ConfigError::Reg { node, error })
}

fn reg_entries<'a>(
    node: &Node<'a>,
    cells: crate::fdt::Cells,
) -> Result<RegEntries<'a>, ConfigError<'a>> {
    let name = node.name();
    let reg = node.property("reg")?.ok_or(ConfigError::MissingProperty {
        node: name,
        property: "reg",
    })?;
    RegEntries::new(reg, cells).map_err(|error| ConfigError::Reg { node: name, error })
}

#[cfg(test)]
mod tests;
