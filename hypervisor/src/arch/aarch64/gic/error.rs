//! Why a GIC operation was refused.

use core::fmt;

/// An error from the physical GIC or the virtual interface drivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// `Gic::init_distributor` ran before.
    AlreadyInitialised,
    /// A GIC frame address from the board data is not usable (zero).
    BadAddress { address: u64 },
    /// More CPUs than the driver keeps state for.
    TooManyCpus { count: usize, max: usize },
    /// A CPU index outside the CPU table given at initialisation.
    UnknownCpu { cpu: usize, count: usize },
    /// No redistributor frame reports this CPU's affinity in `GICR_TYPER`.
    NoRedistributor { cpu: usize, mpidr: u64 },
    /// `init_cpu` ran on a CPU whose MPIDR is not the table's for that index.
    WrongCpu {
        cpu: usize,
        expected: u64,
        actual: u64,
    },
    /// The INTID is not one the distributor implements (or is special, 1020 and up).
    NoSuchInterrupt { intid: u32, lines: u32 },
    /// The operation is for SPIs only (routing), and this is an SGI or PPI.
    NotShared { intid: u32 },
    /// GICv2 banks SGI and PPI registers per CPU: only the CPU itself can reach its own.
    BankedElsewhere {
        intid: u32,
        cpu: usize,
        current: usize,
    },
    /// SGI numbers are 0 to 15.
    NoSuchSgi { sgi: u32 },
    /// The target CPU has not run `init_cpu` yet, so its GICv2 CPU interface number is unknown.
    CpuNotInitialised { cpu: usize },
    /// The CPU's own interface number could not be read from `GICD_ITARGETSR0`.
    NoCpuInterfaceNumber { cpu: usize, targets: u32 },
    /// A GICv3 SGI target with Aff0 above 15 needs range selector support, which this GIC lacks.
    SgiTargetOutOfRange { mpidr: u64 },
    /// A list register index beyond what `ICH_VTR_EL2` / `GICH_VTR` report.
    NoListRegister { index: usize, count: usize },
    /// Direct interrupt delivery needs a GICv3 with one security state (`GICD_CTLR.DS`), so
    /// that EL2 may own Group 0.
    NoDirectDelivery { why: &'static str },
}

impl fmt::Display for GicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::AlreadyInitialised => write!(f, "the GIC distributor was already initialised"),
            Self::BadAddress { address } => write!(f, "GIC frame address {address:#x} is not usable"),
            Self::TooManyCpus { count, max } => {
                write!(f, "{count} CPUs, but the GIC driver keeps state for at most {max}")
            }
            Self::UnknownCpu { cpu, count } => {
                write!(f, "cpu {cpu} is not among the {count} CPUs the GIC was initialised with")
            }
            Self::NoRedistributor { cpu, mpidr } => {
                write!(f, "cpu {cpu}: no GICv3 redistributor frame has affinity {mpidr:#x} in GICR_TYPER")
            }
            Self::WrongCpu { cpu, expected, actual } => write!(
                f,
                "GIC CPU set-up for cpu {cpu} (MPIDR {expected:#x}) ran on the CPU with MPIDR {actual:#x}"
            ),
            Self::NoSuchInterrupt { intid, lines } => {
                write!(f, "INTID {intid} is not implemented: the distributor has {lines} interrupt lines")
            }
            Self::NotShared { intid } => write!(f, "INTID {intid} is an SGI or PPI, banked per CPU; routing and deactivation from any CPU take SPIs (INTID 32 and up) only"),
            Self::BankedElsewhere { intid, cpu, current } => write!(
                f,
                "INTID {intid} of cpu {cpu} is banked in that CPU's GICv2 registers; cpu {current} cannot reach them"
            ),
            Self::NoSuchSgi { sgi } => write!(f, "SGI {sgi} does not exist (SGIs are 0 to 15)"),
            Self::CpuNotInitialised { cpu } => {
                write!(f, "cpu {cpu} has not set up its GIC CPU interface yet")
            }
            Self::NoCpuInterfaceNumber { cpu, targets } => write!(
                f,
                "cpu {cpu}: GICD_ITARGETSR0 reads {targets:#010x}, which names no single CPU interface"
            ),
            Self::SgiTargetOutOfRange { mpidr } => write!(
                f,
                "cannot send an SGI to MPIDR {mpidr:#x}: Aff0 above 15 needs GICv3 range selector support"
            ),
            Self::NoListRegister { index, count } => {
                write!(f, "list register {index} does not exist: the virtual interface has {count}")
            }
            Self::NoDirectDelivery { why } => write!(f, "direct interrupt delivery is not possible here: {why}"),
        }
    }
}
