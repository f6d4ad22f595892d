//! `sched_op`: yield, block, poll, shutdown (with its reason), the watchdog, and Xen's answers
//! to a domU for the rest.

use super::abi::{errno, sched, DOMID_SELF};
use super::guest_memory::{copy_from_guest, read_struct, u16_at, u32_at, u64_at};
use super::state::XenState;
use super::poll::{system_time_to_counter, PortSet};
use super::{Caller, Domain, Environment, Outcome, Shutdown};
use locks::Mutex;

/// What a `SCHEDOP_shutdown` reason means here. Xen keeps only the low 8 bits. Without a
/// toolstack, suspend, soft reset and unknown reasons leave the domain shut down on Xen:
/// they stop the partition.
pub fn shutdown(reason: u32) -> Shutdown {
    match reason & 0xff {
        sched::REASON_POWEROFF => Shutdown::Poweroff { reason: sched::REASON_POWEROFF },
        sched::REASON_REBOOT => Shutdown::Reboot,
        sched::REASON_CRASH => Shutdown::Crash,
        sched::REASON_WATCHDOG => Shutdown::Watchdog,
        other => Shutdown::Poweroff { reason: other },
    }
}

/// `sched_op(cmd, arg)`. The command is a C `int`.
pub fn sched_op(env: &mut impl Environment, caller: &Caller<'_>, state: &Mutex<XenState>, cmd: u64, arg: u64) -> Outcome {
    let fault = Outcome::Return(-errno::EFAULT);
    match u64::from(cmd as u32) {
        sched::YIELD => Outcome::Yield,
        sched::BLOCK => Outcome::Block { unmask: true },
        sched::SHUTDOWN => match read_struct::<4>(env, caller.banks, arg) {
            Ok(reason) => Outcome::Shutdown(shutdown(u32_at(&reason, 0))),
            Err(_) => fault,
        },
        // The code would be for a toolstack; there is none to read it.
        sched::SHUTDOWN_CODE => match read_struct::<4>(env, caller.banks, arg) {
            Ok(_) => Outcome::Return(0),
            Err(_) => fault,
        },
        sched::POLL => poll(env, caller, arg),
        sched::REMOTE_SHUTDOWN => match read_struct::<8>(env, caller.banks, arg) {
            // Looked up by id only (`DOMID_SELF` names nothing here); a domU may shut down
            // no domain, itself included, this way.
            Ok(request) => {
                let domid = u16_at(&request, 0);
                Outcome::Return(if domid == DOMID_SELF || caller.domain(domid) == Domain::None { -errno::ESRCH } else { -errno::EPERM })
            }
            Err(_) => fault,
        },
        sched::WATCHDOG => match read_struct::<8>(env, caller.banks, arg) {
            Ok(request) => Outcome::Return(watchdog(&mut state.lock(), env.now(), u32_at(&request, 0), u32_at(&request, 4))),
            Err(_) => fault,
        },
        sched::PIN_OVERRIDE => Outcome::Return(-errno::EPERM),
        _ => Outcome::Return(-errno::ENOSYS),
    }
}

/// `SCHEDOP_poll`, in Xen 4.17's order (`do_poll`): more than 128 ports -EINVAL; the vCPU is
/// marked polling, then each port is read (-EFAULT) and looked at (-EINVAL for no port; 0 at
/// once if pending, masked or not). With none pending, the timeout (`struct sched_poll`'s
/// third field: an absolute system time in ns, 0 for none) is looked at: one already past
/// returns 0 at once (Xen blocks and its timer wakes the vCPU straight away: the same answer);
/// otherwise the vCPU waits as for `SCHEDOP_block`, without unmasking, until one of its ports
/// becomes pending, the timeout passes or an interrupt comes, and returns 0.
fn poll(env: &mut impl Environment, caller: &Caller<'_>, arg: u64) -> Outcome {
    let Ok(request) = read_struct::<{ sched::POLL_SIZE }>(env, caller.banks, arg) else {
        return Outcome::Return(-errno::EFAULT);
    };
    let (ports, count, timeout) = (u64_at(&request, 0), u32_at(&request, 8), u64_at(&request, 16));
    if count > sched::POLL_MAX_PORTS {
        return Outcome::Return(-errno::EINVAL);
    }
    env.poll_begin();
    let mut wanted = PortSet::EMPTY;
    let mut port = [0u8; 4];
    for i in 0..u64::from(count) {
        let looked = match copy_from_guest(env, caller.banks, ports.wrapping_add(i * 4), &mut port) {
            Err(_) => Err(-errno::EFAULT),
            Ok(()) => {
                let number = u32::from_le_bytes(port);
                wanted.insert(number);
                env.port_pending(number).map_err(|e| e.to_return())
            }
        };
        match looked {
            Ok(false) => {}
            Ok(true) => {
                env.poll_cancel();
                return Outcome::Return(0);
            }
            Err(rc) => {
                env.poll_cancel();
                return Outcome::Return(rc);
            }
        }
    }
    let deadline = match timeout {
        0 => u64::MAX,
        ns => {
            let (now, frequency) = env.now();
            let deadline = system_time_to_counter(ns, frequency);
            if deadline <= now {
                env.poll_cancel();
                return Outcome::Return(0);
            }
            deadline
        }
    };
    env.poll_wait(&wanted, deadline);
    Outcome::Block { unmask: false }
}

/// `SCHEDOP_watchdog(id, timeout)` at counter value `now` (`ticks` a second): id 0 creates a
/// watchdog and returns its id (1 or 2; -ENOSPC when both exist); a known id is kicked with a
/// new timeout in seconds, or destroyed with timeout 0; an unknown id is -EINVAL.
pub fn watchdog(xen: &mut XenState, (now, ticks): (u64, u64), id: u32, timeout: u32) -> i64 {
    let deadline = now.saturating_add(u64::from(timeout).saturating_mul(ticks));
    if id as usize > sched::WATCHDOGS {
        return -errno::EINVAL;
    }
    if id == 0 {
        return match xen.watchdogs.iter().position(Option::is_none) {
            Some(free) => {
                xen.watchdogs[free] = Some(deadline);
                free as i64 + 1
            }
            None => -errno::ENOSPC,
        };
    }
    let slot = &mut xen.watchdogs[id as usize - 1];
    if slot.is_none() {
        return -errno::EINVAL;
    }
    *slot = if timeout == 0 { None } else { Some(deadline) };
    0
}
