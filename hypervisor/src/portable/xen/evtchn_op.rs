//! `event_channel_op`: the guest's argument structure read, the operation handed to the
//! runtime (which holds the partitions' event-channel tables), and the answer written back.

use super::{guest_memory, Caller, Environment};
use crate::portable::evtchn::args::{self, Call};
use crate::portable::evtchn::{Errno, Status};

/// What an event-channel operation answers besides its return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Nothing to write back.
    Done,
    /// A new port (`alloc_unbound`, `bind_interdomain`, `bind_virq`, `bind_ipi`).
    Port(u32),
    /// `init_control`'s link width.
    LinkBits(u8),
    /// `status`.
    Status(Status),
}

/// The largest argument structure (`status`, `init_control`).
const LARGEST: usize = 24;

/// `HYPERVISOR_event_channel_op(cmd, arg)`: `cmd` is a C `int` (its low 32 bits); an unknown
/// one is -ENOSYS, an unreadable or unwritable `arg` -EFAULT; otherwise the runtime's answer,
/// copied back on success as Xen does.
pub fn event_channel_op(env: &mut impl Environment, caller: &Caller<'_>, cmd: u64, arg: u64) -> i64 {
    let cmd = cmd as u32;
    let Some(size) = args::size(cmd) else { return Errno::Enosys.to_return() };
    let mut bytes = [0u8; LARGEST];
    let Some(structure) = bytes.get_mut(..size) else { return Errno::Enosys.to_return() };
    if guest_memory::copy_from_guest(env, caller.banks, arg, structure).is_err() {
        return Errno::Efault.to_return();
    }
    let call = match Call::decode(cmd, structure) {
        Ok(call) => call,
        Err(errno) => return errno.to_return(),
    };
    let answer = match env.event_channel(call) {
        Ok(answer) => answer,
        Err(errno) => return errno.to_return(),
    };
    match answer {
        Answer::Done => return 0,
        Answer::Port(port) => args::write_port(cmd, structure, port),
        Answer::LinkBits(bits) => args::write_link_bits(structure, bits),
        Answer::Status(status) => args::write_status(structure, &status),
    }
    match guest_memory::copy_to_guest(env, caller.banks, arg, structure) {
        Ok(()) => 0,
        Err(_) => Errno::Efault.to_return(),
    }
}
