//! `hvm_op`: `HVMOP_get_param` and `HVMOP_set_param`, as Xen 4.17 answers a dom0less domU
//! without xenstore. Every parameter a domU may read is zero there (no xenstore or PV console
//! page, no event channel for them, and `HVM_PARAM_CALLBACK_IRQ` unset: the upcall is
//! described by the device tree), and a domU may set none of them on itself.

use super::abi::{errno, hvm};
use super::guest_memory::{copy_to_guest, read_struct, u16_at, u32_at, GuestAccess};
use super::{Caller, Domain};

/// Whether a domU may read parameter `index` of itself: `Ok` or the errno.
fn readable(index: u32) -> Result<(), i64> {
    match index {
        hvm::CALLBACK_IRQ | hvm::STORE_PFN | hvm::STORE_EVTCHN | hvm::CONSOLE_PFN | hvm::CONSOLE_EVTCHN => Ok(()),
        hvm::MONITOR_RING_PFN => Err(-errno::EPERM),
        _ => Err(-errno::EINVAL),
    }
}

/// Whether a domU may set parameter `index` of itself: never (the toolstack's parameters
/// give -EPERM, the rest -EINVAL).
fn writable(index: u32) -> i64 {
    match index {
        hvm::CALLBACK_IRQ | hvm::STORE_PFN | hvm::STORE_EVTCHN | hvm::CONSOLE_PFN | hvm::CONSOLE_EVTCHN | hvm::MONITOR_RING_PFN => -errno::EPERM,
        _ => -errno::EINVAL,
    }
}

/// The value of a readable parameter: all are absent (zero) for a partition without xenstore.
const fn value(_index: u32) -> u64 {
    0
}

/// `hvm_op(op, arg)` with `arg` a `struct xen_hvm_param`.
pub fn hvm_op(access: &mut impl GuestAccess, caller: &Caller<'_>, op: u64, arg: u64) -> i64 {
    if op != hvm::SET_PARAM && op != hvm::GET_PARAM {
        return -errno::ENOSYS;
    }
    let Ok(mut param) = read_struct::<{ hvm::PARAM_SIZE }>(access, caller.banks, arg) else {
        return -errno::EFAULT;
    };
    match caller.domain(u16_at(&param, 0)) {
        Domain::Caller => {}
        Domain::Other => return -errno::EPERM,
        Domain::None => return -errno::ESRCH,
    }
    let index = u32_at(&param, 4);
    if op == hvm::SET_PARAM {
        return writable(index);
    }
    if let Err(e) = readable(index) {
        return e;
    }
    param[8..16].copy_from_slice(&value(index).to_le_bytes());
    match copy_to_guest(access, caller.banks, arg, &param) {
        Ok(()) => 0,
        Err(_) => -errno::EFAULT,
    }
}
