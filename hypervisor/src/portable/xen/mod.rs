//! Xen's hypercall ABI for arm64 guests: decoding `hvc #0xea1`, and the hypercalls a guest
//! written for Xen uses to find and talk to its hypervisor (`xen_version`, `console_io`,
//! `hvm_op` parameters, `vcpu_op` vcpu_info registration, `memory_op` shared_info mapping,
//! `sched_op`, `grant_table_op` and the reservation calls), answered as Xen 4.17 answers a dom0less domU. Pure: the machine (guest
//! address translation, host memory, the console, stage 2, the vGIC) is reached through
//! [`Environment`], so all of it is tested on the host.
//!
//! The call: number in x16, arguments in x0-x4, result in x0 (negative Xen errno values on
//! failure). Guest buffers are guest virtual addresses ([`guest_memory`]).

pub mod abi;
mod evtchn_op;
mod gnttab_op;
pub mod guest_memory;
mod hvm_op;
mod memory_op;
mod partition;
mod poll;
mod sched_op;
mod state;
mod vcpu_op;
mod version;

pub use evtchn_op::Answer;
pub use guest_memory::{Fault, GuestAccess};
pub use partition::{XenPartition, HYPERVISOR_NODE};
pub use poll::{system_time_to_counter, PortSet, Pollers};
pub use state::{VcpuInfo, XenState};

use crate::portable::guest::boot::GuestBank;
use crate::portable::trap::GeneralRegisters;
use abi::{errno, number};
use locks::Mutex;

/// One hypercall as the guest made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hypercall {
    /// x16.
    pub number: u64,
    /// x0 to x4.
    pub args: [u64; 5],
}

impl Hypercall {
    /// Reads the call from the trapped vCPU's registers.
    pub fn from_registers(regs: &impl GeneralRegisters) -> Self {
        Self { number: regs.x(16), args: [regs.x(0), regs.x(1), regs.x(2), regs.x(3), regs.x(4)] }
    }
}

/// How a shutting-down guest wants to end (`SCHEDOP_shutdown` reasons, as we act on them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// `SHUTDOWN_poweroff`, and the reasons that mean "stop" without a toolstack (suspend,
    /// soft reset, unknown ones).
    Poweroff { reason: u32 },
    /// `SHUTDOWN_reboot`: restart the partition.
    Reboot,
    /// `SHUTDOWN_crash`: the partition's crash policy.
    Crash,
    /// `SHUTDOWN_watchdog`, or a watchdog that expired: the partition's crash policy.
    Watchdog,
}

/// What the hypervisor does after a hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Put this in x0 and resume the guest.
    Return(i64),
    /// Put these in x0-x4 and execute the `hvc` again (a call done in pieces, as Xen's
    /// continuations): no guest value can make one trap last long.
    Again { args: [u64; 5] },
    /// x0 = 0; give the CPU to another vCPU if one waits (`SCHEDOP_yield`).
    Yield,
    /// x0 = 0; wait as a trapped WFI does (`SCHEDOP_block`, `SCHEDOP_poll`). With
    /// `unmask`, the guest resumes with IRQs unmasked (PSTATE.I clear), as Xen on Arm does
    /// for `SCHEDOP_block`, so the interrupt that woke it is taken at once.
    Block { unmask: bool },
    /// The partition shuts down.
    Shutdown(Shutdown),
}

/// Who makes the call: the partition's domain id and shape.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// Its domain id (1, 2, ... in `/chosen` order, as Xen dom0less numbers domUs).
    pub domid: u16,
    /// How many domains exist (ids 1 to `domains`); there is no domain 0.
    pub domains: u16,
    /// The calling vCPU.
    pub vcpu: usize,
    /// The partition's vCPU count.
    pub vcpus: usize,
    /// The partition's RAM.
    pub banks: &'a [GuestBank],
    /// Its RAM is mapped 1:1 (`direct-map`).
    pub direct_mapped: bool,
    /// Bit `n` set: vCPU `n` is up (PSCI on or starting). Only `vcpu_op` reads it (Xen lets
    /// a vCPU register the vcpu_info of another only while that one is down).
    pub vcpus_up: u64,
}

impl Caller<'_> {
    /// How a domain id argument resolves: the caller, another domain, or none.
    pub fn domain(&self, domid: u16) -> Domain {
        if domid == abi::DOMID_SELF || domid == self.domid {
            Domain::Caller
        } else if domid >= 1 && domid <= self.domains {
            Domain::Other
        } else {
            Domain::None
        }
    }
}

/// A domain id argument, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    Caller,
    /// Another partition: a domU may not act on it (Xen's XSM says -EPERM).
    Other,
    /// No such domain (-ESRCH).
    None,
}

/// What the hypercalls need of the hypervisor besides guest memory.
pub trait Environment: GuestAccess {
    /// Writes guest bytes to the partition's console.
    fn console_write(&mut self, bytes: &[u8]);
    /// Maps the partition's shared_info page at guest frame `gfn` in its stage 2 (over RAM
    /// if there is RAM there). Errors are Xen errno values.
    fn map_shared_info(&mut self, gfn: u64) -> Result<(), i64>;
    /// Unmaps the partition's shared_info page from guest frame `gfn`, where it is mapped,
    /// putting back the RAM page it covered if there is one. Errors are Xen errno values.
    fn unmap_shared_info(&mut self, gfn: u64) -> Result<(), i64>;
    /// Raises the event-channel upcall (PPI 31) on vCPU `vcpu` of the partition.
    fn raise_upcall(&mut self, vcpu: usize);
    /// The counter (CNTPCT) now, and its ticks per second, for watchdogs and poll timeouts.
    fn now(&self) -> (u64, u64);
    /// Performs one decoded `event_channel_op` on the partitions' event-channel tables,
    /// raising the upcalls it causes (`portable::evtchn`, with its lock order).
    fn event_channel(&mut self, call: crate::portable::evtchn::args::Call) -> Result<Answer, crate::portable::evtchn::Errno>;
    /// A reservation call of the partition stopped at a page it may not give back or take
    /// (`refusal` says which and why), for the log; by default nothing is said.
    fn reservation_refused(&mut self, _refusal: crate::portable::gnttab::Refusal) {}
    /// Runs `f` once on every partition's grant tables, locked, with the machine's grant
    /// frames and live stage 2 (`portable::gnttab`, with its lock order).
    fn grants(
        &mut self,
        f: &mut dyn FnMut(&mut crate::portable::gnttab::Grants, &mut dyn crate::portable::gnttab::GrantMemory, &mut dyn crate::portable::gnttab::Stage2),
    );
    /// `SCHEDOP_poll` begins for the calling vCPU: from now on a port of its partition that
    /// becomes pending wakes it ([`Pollers`]).
    fn poll_begin(&mut self);
    /// Whether `port` of the caller's partition is pending (bound or not, masked or not);
    /// -EINVAL for a number that is no port of its table, -EFAULT if the event word cannot be
    /// read.
    fn port_pending(&mut self, port: u32) -> Result<bool, crate::portable::evtchn::Errno>;
    /// The poll returns without waiting.
    fn poll_cancel(&mut self);
    /// The poll found none of its ports pending: the calling vCPU waits (after this call
    /// returns [`Outcome::Block`]) until one of `ports` becomes pending or the counter reaches
    /// `deadline` (`u64::MAX`: no timeout), whichever comes first, or an interrupt comes.
    fn poll_wait(&mut self, ports: &PortSet, deadline: u64);
}

/// The answer to a hypercall that needs nothing of the partition, its state or guest memory
/// (`xen_version`'s version, page size and build id), the same as [`dispatch`] gives: the
/// trap fast path answers these. `None` for every other call.
pub fn stateless(call: &Hypercall) -> Option<i64> {
    match call.number {
        number::XEN_VERSION => version::query(call.args[0], call.args[1]),
        _ => None,
    }
}

/// Answers one hypercall. `state` is the partition's Xen state (taken only by the calls that
/// need it: never by `xen_version`).
pub fn dispatch(env: &mut impl Environment, caller: &Caller<'_>, state: &Mutex<XenState>, call: &Hypercall) -> Outcome {
    let [a0, a1, a2, _, _] = call.args;
    match call.number {
        number::XEN_VERSION => Outcome::Return(version::xen_version(env, caller, a0, a1)),
        number::CONSOLE_IO => console_io(env, caller, call),
        number::HVM_OP => Outcome::Return(hvm_op::hvm_op(env, caller, a0, a1)),
        number::VCPU_OP => Outcome::Return(vcpu_op::vcpu_op(env, caller, state, a0, a1, a2)),
        number::MEMORY_OP => memory_op::memory_op(env, caller, state, call),
        number::SCHED_OP => sched_op::sched_op(env, caller, state, a0, a1),
        number::EVENT_CHANNEL_OP => Outcome::Return(evtchn_op::event_channel_op(env, caller, a0, a1)),
        number::GRANT_TABLE_OP => gnttab_op::grant_table_op(env, caller, call),
        // physdev_op, sysctl, domctl and every other number: not implemented.
        _ => Outcome::Return(-errno::ENOSYS),
    }
}

/// Bytes `CONSOLEIO_write` takes per trap; a longer write continues with the rest.
pub const CONSOLE_PIECE: usize = 256;

/// `console_io`: a write goes to the partition's console and returns 0 once every byte is
/// written (Debian's Xen 4.17 accepts a domU's write and returns 0 too, but shows it only at
/// its debug log level); a read finds nothing (0: the guest's input is its virtual UART's),
/// as on Xen for a domU; other commands are -ENOSYS. Counts are C `unsigned int`s.
fn console_io(env: &mut impl Environment, caller: &Caller<'_>, call: &Hypercall) -> Outcome {
    let [command, count, buffer, _, _] = call.args;
    let count = count & 0xffff_ffff;
    match command & 0xffff_ffff {
        abi::console::WRITE => {}
        abi::console::READ if count > i32::MAX as u64 => return Outcome::Return(-errno::E2BIG),
        abi::console::READ => return Outcome::Return(0),
        _ => return Outcome::Return(-errno::ENOSYS),
    }
    if count == 0 {
        return Outcome::Return(0);
    }
    let length = (count as usize).min(CONSOLE_PIECE);
    let mut bytes = [0u8; CONSOLE_PIECE];
    if guest_memory::copy_from_guest(env, caller.banks, buffer, &mut bytes[..length]).is_err() {
        return Outcome::Return(-errno::EFAULT);
    }
    env.console_write(&bytes[..length]);
    let left = count - length as u64;
    if left == 0 {
        Outcome::Return(0)
    } else {
        Outcome::Again { args: [command, left, buffer.wrapping_add(length as u64), call.args[3], call.args[4]] }
    }
}

#[cfg(test)]
mod tests;
