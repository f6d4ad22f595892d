//! The AArch64 EL2 layer: entry, exception vectors, the EL2 MMU, CPUs, console and power.
//! The only place with assembly and system-register access; `context`, `layout`, `reach`, `esr`,
//! `set_way` and `zeroing` are pure and build on the host for tests.

pub mod context;
pub mod esr;
pub mod gic;
pub mod layout;
pub mod reach;
pub mod set_way;
pub mod zeroing;

#[cfg(target_os = "none")]
pub mod cpu;
#[cfg(target_os = "none")]
pub mod entry;
#[cfg(target_os = "none")]
pub mod exceptions;
#[cfg(target_os = "none")]
pub mod fatal;
#[cfg(target_os = "none")]
pub mod guest;
#[cfg(target_os = "none")]
pub mod memory;
#[cfg(target_os = "none")]
pub mod mmu;
#[cfg(target_os = "none")]
pub mod power;
#[cfg(target_os = "none")]
pub mod smp;
#[cfg(target_os = "none")]
pub mod timer;
#[cfg(target_os = "none")]
pub mod tlb;
#[cfg(target_os = "none")]
pub mod translate;
#[cfg(target_os = "none")]
pub mod uart;
#[cfg(target_os = "none")]
pub mod vcpu_context;
#[cfg(target_os = "none")]
pub mod world;
