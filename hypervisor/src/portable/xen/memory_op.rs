//! `memory_op`: `XENMEM_add_to_physmap` and `XENMEM_add_to_physmap_batch` for the map spaces
//! a partition uses, `XENMAPSPACE_shared_info` and `XENMAPSPACE_grant_table` (the other
//! spaces get the errors Xen 4.17 gives a domU), `XENMEM_remove_from_physmap` for the
//! shared_info page and grant-table frames, and the reservation calls (`gnttab_op`). Every other `memory_op`
//! command is -ENOSYS.

use super::abi::{errno, memory, INVALID_GFN};
use super::guest_memory::{copy_from_guest, copy_to_guest, read_struct, u16_at, u32_at, u64_at};
use super::state::XenState;
use super::{Caller, Domain, Environment, Hypercall, Outcome};
use locks::Mutex;

/// Entries of a batch handled per trap; the rest continue, as Xen's continuations do.
pub const BATCH_PIECE: u64 = 64;
/// `EILSEQ` and `EOVERFLOW`, which only these commands return.
const EILSEQ: i64 = 84;
const EOVERFLOW: i64 = 75;

/// `memory_op(cmd, arg)`: the low 6 bits of `cmd` are the command, the rest the extent a
/// continuation starts at.
pub fn memory_op(env: &mut impl Environment, caller: &Caller<'_>, state: &Mutex<XenState>, call: &Hypercall) -> Outcome {
    let [cmd, arg, ..] = call.args;
    let start = cmd >> memory::EXTENT_SHIFT;
    match cmd & memory::COMMAND_MASK {
        memory::ADD_TO_PHYSMAP => Outcome::Return(add_to_physmap(env, caller, state, start, arg)),
        memory::ADD_TO_PHYSMAP_BATCH => match add_to_physmap_batch(env, caller, state, start, arg) {
            Batch::Done(rc) => Outcome::Return(rc),
            // The guest executes the call again from the next extent.
            Batch::Continue(next) => {
                let mut args = call.args;
                args[0] = memory::ADD_TO_PHYSMAP_BATCH | (next << memory::EXTENT_SHIFT);
                Outcome::Again { args }
            }
        },
        memory::REMOVE_FROM_PHYSMAP => Outcome::Return(remove_from_physmap(env, caller, state, start, arg)),
        _ => super::gnttab_op::reservation(env, caller, call).unwrap_or(Outcome::Return(-errno::ENOSYS)),
    }
}

/// `XENMEM_remove_from_physmap`, in Xen 4.17's order: no continuation (-EINVAL), the
/// structure (-EFAULT), the domain (-ESRCH; another domU -EPERM), then the frame. The frame
/// shared_info is mapped at, or a frame of the caller's grant table, is unmapped (0), and
/// `add_to_physmap` may map it again. A frame of the partition's RAM is refused (-EPERM; Xen takes the page out of the domain, but a
/// partition's memory is fixed by its config); a frame with nothing there is -ENOENT.
fn remove_from_physmap(env: &mut impl Environment, caller: &Caller<'_>, state: &Mutex<XenState>, start: u64, arg: u64) -> i64 {
    if start != 0 {
        return -errno::EINVAL;
    }
    let Ok(request) = read_struct::<{ memory::REMOVE_FROM_PHYSMAP_SIZE }>(env, caller.banks, arg) else {
        return -errno::EFAULT;
    };
    let (domid, gpfn) = (u16_at(&request, 0), u64_at(&request, 8));
    match caller.domain(domid) {
        Domain::None => return -errno::ESRCH,
        Domain::Other => return -errno::EPERM,
        Domain::Caller => {}
    }
    {
        let mut xen = state.lock();
        if xen.shared_info_gfn == Some(gpfn) {
            return match env.unmap_shared_info(gpfn) {
                Ok(()) => {
                    xen.shared_info_gfn = None;
                    0
                }
                Err(e) => e,
            };
        }
    }
    // Taken after the Xen state's lock is released: the grant lock is never taken inside it.
    if super::gnttab_op::remove_grant_frame(env, caller, gpfn) {
        return 0;
    }
    let ram = gpfn.checked_mul(super::abi::PAGE_SIZE).is_some_and(|ipa| super::guest_memory::ipa_to_host(caller.banks, ipa, super::abi::PAGE_SIZE).is_some());
    if ram {
        -errno::EPERM
    } else {
        -errno::ENOENT
    }
}

/// How a domain argument and map space pass Xen's checks for a domU: `Ok` or the errno.
fn permitted(caller: &Caller<'_>, domid: u16, space: u32) -> Result<(), i64> {
    match caller.domain(domid) {
        Domain::None => Err(-errno::ESRCH),
        // Only the hardware domain maps device memory into itself.
        _ if space == memory::SPACE_DEV_MMIO => Err(-errno::EACCES),
        Domain::Other => Err(-errno::EPERM),
        Domain::Caller => Ok(()),
    }
}

fn add_to_physmap(env: &mut impl Environment, caller: &Caller<'_>, state: &Mutex<XenState>, start: u64, arg: u64) -> i64 {
    if start > u64::from(u16::MAX) {
        return -errno::EDOM;
    }
    let Ok(request) = read_struct::<{ memory::ADD_TO_PHYSMAP_SIZE }>(env, caller.banks, arg) else {
        return -errno::EFAULT;
    };
    let (domid, size, space, idx, gpfn) = (u16_at(&request, 0), u64::from(u16_at(&request, 2)), u32_at(&request, 4), u64_at(&request, 8), u64_at(&request, 16));
    // Foreign frames are only mapped through the batch.
    if space == memory::SPACE_GMFN_FOREIGN {
        return -errno::ENOSYS;
    }
    if let Err(e) = permitted(caller, domid, space) {
        return e;
    }
    if gpfn == INVALID_GFN {
        return -errno::EINVAL;
    }
    if space != memory::SPACE_GMFN_RANGE {
        return add_one(env, state, space, idx, gpfn, caller);
    }
    if size < start {
        return -EILSEQ;
    }
    if gpfn.checked_add(size).is_none() || idx.checked_add(size).is_none() {
        return -EOVERFLOW;
    }
    // Each frame of a range is a plain guest frame, which Arm does not move: -ENOSYS at the
    // first, or 0 for an empty range.
    if size > start {
        add_one(env, state, memory::SPACE_GMFN, idx + start, gpfn + start, caller)
    } else {
        0
    }
}

/// Where a batch stands after one trap.
enum Batch {
    Done(i64),
    Continue(u64),
}

fn add_to_physmap_batch(env: &mut impl Environment, caller: &Caller<'_>, state: &Mutex<XenState>, start: u64, arg: u64) -> Batch {
    if start > u64::from(u16::MAX) {
        return Batch::Done(-errno::EDOM);
    }
    let Ok(request) = read_struct::<{ memory::ADD_TO_PHYSMAP_BATCH_SIZE }>(env, caller.banks, arg) else {
        return Batch::Done(-errno::EFAULT);
    };
    let (domid, space, size) = (u16_at(&request, 0), u32::from(u16_at(&request, 2)), u64::from(u16_at(&request, 4)));
    let foreign = u16_at(&request, 6);
    let (idxs, gpfns, errs) = (u64_at(&request, 8), u64_at(&request, 16), u64_at(&request, 24));
    if space == memory::SPACE_GMFN_RANGE {
        return Batch::Done(-errno::EOPNOTSUPP);
    }
    if let Err(e) = permitted(caller, domid, space) {
        return Batch::Done(e);
    }
    if size < start {
        return Batch::Done(-EILSEQ);
    }
    if size == start {
        return Batch::Done(if start == 0 { 0 } else { -EILSEQ });
    }
    let end = size.min(start + BATCH_PIECE);
    for extent in start..end {
        let mut idx = [0u8; 8];
        let mut gpfn = [0u8; 8];
        if copy_from_guest(env, caller.banks, idxs.wrapping_add(extent * 8), &mut idx).is_err()
            || copy_from_guest(env, caller.banks, gpfns.wrapping_add(extent * 8), &mut gpfn).is_err()
        {
            return Batch::Done(-errno::EFAULT);
        }
        let gpfn = u64::from_le_bytes(gpfn);
        if gpfn == INVALID_GFN {
            return Batch::Done(-errno::EINVAL);
        }
        let rc = if space == memory::SPACE_GMFN_FOREIGN {
            foreign_frame(caller, foreign)
        } else {
            add_one(env, state, space, u64::from_le_bytes(idx), gpfn, caller)
        };
        if copy_to_guest(env, caller.banks, errs.wrapping_add(extent * 4), &(rc as i32).to_le_bytes()).is_err() {
            return Batch::Done(-errno::EFAULT);
        }
    }
    if end < size {
        Batch::Continue(end)
    } else {
        Batch::Done(0)
    }
}

/// A foreign frame for a domU: its own id names no other domain (-ESRCH), `DOMID_SELF` is
/// itself (-EINVAL), another domain is refused (-EPERM), and a missing one is -ESRCH.
fn foreign_frame(caller: &Caller<'_>, domid: u16) -> i64 {
    if domid == super::abi::DOMID_SELF {
        -errno::EINVAL
    } else if domid == caller.domid || caller.domain(domid) == Domain::None {
        -errno::ESRCH
    } else {
        -errno::EPERM
    }
}

/// Maps one frame of `space` at `gpfn`.
fn add_one(env: &mut impl Environment, state: &Mutex<XenState>, space: u32, idx: u64, gpfn: u64, caller: &Caller<'_>) -> i64 {
    match space {
        memory::SPACE_SHARED_INFO => {
            if idx != 0 {
                return -errno::EINVAL;
            }
            let mut xen = state.lock();
            // Mapped once; the guest must unmap it before mapping it elsewhere (Xen's rule).
            if xen.shared_info_gfn.is_some() {
                return -errno::EBUSY;
            }
            match env.map_shared_info(gpfn) {
                Ok(()) => {
                    xen.shared_info_gfn = Some(gpfn);
                    0
                }
                Err(e) => e,
            }
        }
        memory::SPACE_GRANT_TABLE => super::gnttab_op::add_grant_frame(env, caller, idx, gpfn),
        memory::SPACE_DEV_MMIO => -errno::EACCES,
        // Plain frames: Arm has none to move.
        _ => -errno::ENOSYS,
    }
}
