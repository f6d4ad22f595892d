//! The physical GIC (v2 and v3) and the GIC virtual interface: the hardware layer under the
//! vGIC model in `portable::vgic`.
//!
//! Register values and their decoders (`regs`, `virtual_regs`) are pure and host-tested; the
//! drivers exist only in the bare-metal build. After [`Gic::init_distributor`] on the boot CPU
//! and [`Gic::init_cpu`] on each CPU, everything is safe to call from any CPU:
//!
//! - per interrupt: [`Gic::set_enabled`], [`Gic::set_priority`], [`Gic::set_trigger`],
//!   [`Gic::route_spi`] (SGIs and PPIs name the CPU; GICv2 reaches only the caller's own);
//! - handling: [`Gic::acknowledge`], [`Gic::end_of_interrupt`] (priority drop only: EOImode 1),
//!   [`Gic::deactivate`];
//! - kicks: [`Gic::send_sgi`] to a CPU by index;
//! - [`Gic::virtual_interface`] for list registers, `HCR`, `MISR`, `EISR`, `ELRSR` and the
//!   `VMCR` / active-priority save and restore around a vCPU switch.
//!
//! Checked on QEMU `virt` (GICv2 and GICv3) and `raspi4b`: self and cross-CPU SGIs, the EL2
//! timer PPI staying active after the priority drop until `deactivate`, the maintenance PPI
//! (25) on underflow, list register, `ELRSR`, `VMCR` round trips.
//!
//! Invariant: every interrupt is Group 1 (Group 0 on a GICv2 without Security Extensions) and
//! targets exactly one CPU; an acknowledged interrupt stays active until `deactivate`, or until
//! the guest deactivates the virtual interrupt it is mapped to by a list register's `HW` bit.

mod error;
pub mod regs;
pub mod virtual_regs;
pub mod walk;

pub use error::GicError;

#[cfg(target_os = "none")]
pub mod direct;
#[cfg(target_os = "none")]
mod frame;
#[cfg(target_os = "none")]
mod gich;
#[cfg(target_os = "none")]
mod physical;
#[cfg(target_os = "none")]
mod sysreg;
#[cfg(target_os = "none")]
mod v2;
#[cfg(target_os = "none")]
mod v3;
#[cfg(target_os = "none")]
mod virtual_interface;

#[cfg(target_os = "none")]
pub use physical::Gic;
#[cfg(target_os = "none")]
pub use v3::GicV3;
#[cfg(target_os = "none")]
pub use virtual_interface::VirtualInterface;

#[cfg(test)]
mod tests;
