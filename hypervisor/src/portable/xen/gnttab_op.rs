//! `grant_table_op` and the grant-table and reservation parts of `memory_op`: the guest's
//! argument structures read, the operation run on the partitions' grant tables
//! (`portable::gnttab`, reached through [`Environment::grants`]), the results written back,
//! and long calls continued over several traps as Xen's continuations do.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use super::abi::{errno, memory};
use super::guest_memory::{copy_from_guest, copy_to_guest};
use super::{Caller, Environment, Hypercall, Outcome};
use crate::portable::gnttab::abi::op;
use crate::portable::gnttab::args::{self, Reservation};
use crate::portable::gnttab::reservation::cmd;
use crate::portable::gnttab::{Direction, GrantStatus, Grants, Progress};

/// Requests of a batch (map, unmap, copy) handled per trap; the rest continue.
pub const GRANT_PIECE: u32 = 16;
/// `GNTTABOP_CONT_SHIFT`: the bits of `cmd` above it are a continuation's opaque value, which
/// only `cache_flush` uses.
const CONT_SHIFT: u32 = 12;
/// `struct gnttab_set_version` (`version` u32) and `struct gnttab_get_version` (`dom` u16,
/// pad, `version` u32 at 4).
const SET_VERSION_SIZE: usize = 4;
const GET_VERSION_SIZE: usize = 8;
/// `struct gnttab_get_status_frames`: `nr_frames` u32 @0, `dom` u16 @4, `status` i16 @6,
/// `frame_list` @8.
const GET_STATUS_FRAMES_SIZE: usize = 16;
const GET_STATUS_FRAMES_STATUS: usize = 6;
/// Frame numbers `setup_table` reads out per lock.
const SETUP_PIECE: usize = 64;
/// What `setup_table` lists for a frame mapped nowhere (Xen on Arm's `INVALID_GFN`).
const INVALID_GFN: u64 = u64::MAX;
/// `XENMEM_increase_reservation`.
const INCREASE_RESERVATION: u32 = 0;
/// Largest `nr_extents` whose continuation Xen can encode (`UINT_MAX >> MEMOP_EXTENT_SHIFT`).
const MAX_EXTENTS: u64 = (u32::MAX >> memory::EXTENT_SHIFT) as u64;

/// The caller's partition index (domain `n` is partition `n - 1`).
fn index(caller: &Caller<'_>) -> usize {
    usize::from(caller.domid.saturating_sub(1))
}

fn put_u16(bytes: &mut [u8], at: usize, value: u16) {
    if let Some(slot) = bytes.get_mut(at..at.saturating_add(2)) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = bytes.get_mut(at..at.saturating_add(4)) {
        slot.copy_from_slice(&value.to_le_bytes());
    }
}

fn put_status(bytes: &mut [u8], at: usize, status: GrantStatus) {
    put_u16(bytes, at, status.code() as u16);
}

/// Runs `f` on the locked grant tables and returns what it gives.
fn with_grants<R>(
    env: &mut impl Environment,
    f: impl FnOnce(
        &mut Grants,
        &mut dyn crate::portable::gnttab::GrantMemory,
        &mut dyn crate::portable::gnttab::Stage2,
    ) -> R,
) -> Option<R> {
    let mut f = Some(f);
    let mut result = None;
    env.grants(&mut |grants, mem, stage2| {
        if let Some(f) = f.take() {
            result = Some(f(grants, mem, stage2));
        }
    });
    result
}

/// `HYPERVISOR_grant_table_op(cmd, uop, count)`.
pub fn grant_table_op(env: &mut impl Environment, caller: &Caller<'_>, call: &Hypercall) -> Outcome {
    let [cmd, uop, count, ..] = call.args;
    // Both are C `unsigned int`s; a count that is negative as an `int` is refused first.
    let (cmd, count) = (cmd as u32, count as u32);
    if count > i32::MAX as u32 {
        return Outcome::Return(-errno::EINVAL);
    }
    let command = cmd & ((1 << CONT_SHIFT) - 1);
    if cmd >> CONT_SHIFT != 0 && command != op::CACHE_FLUSH {
        return Outcome::Return(-errno::EINVAL);
    }
    let single = |f: &mut dyn FnMut() -> i64| if count == 1 { f() } else { -errno::EINVAL };
    match command {
        op::MAP_GRANT_REF | op::UNMAP_GRANT_REF | op::UNMAP_AND_REPLACE | op::COPY => batch(env, caller, call, command, uop, count),
        op::SETUP_TABLE => Outcome::Return(single(&mut || setup_table(env, caller, uop))),
        op::QUERY_SIZE => Outcome::Return(single(&mut || query_size(env, caller, uop))),
        op::SET_VERSION => Outcome::Return(single(&mut || set_version(env, caller, uop))),
        op::GET_VERSION => Outcome::Return(single(&mut || get_version(env, caller, uop))),
        op::GET_STATUS_FRAMES => Outcome::Return(single(&mut || get_status_frames(env, caller, uop))),
        op::TRANSFER => Outcome::Return(Grants::transfer().to_return()),
        // dump_table is gone from Xen 4.17; swap_grant_ref and cache_flush are not offered
        // (docs/xen-abi.md lists them).
        _ => Outcome::Return(-errno::ENOSYS),
    }
}

/// Map, unmap and copy: `count` structures, each answered in its own `status`, up to
/// [`GRANT_PIECE`] per trap.
fn batch(env: &mut impl Environment, caller: &Caller<'_>, call: &Hypercall, command: u32, uop: u64, count: u32) -> Outcome {
    let size = match command {
        op::MAP_GRANT_REF => args::map::SIZE,
        op::COPY => args::copy::SIZE,
        _ => args::unmap::SIZE,
    };
    let me = index(caller);
    let piece = count.min(GRANT_PIECE);
    for i in 0..piece {
        let at = uop.wrapping_add(u64::from(i).wrapping_mul(size as u64));
        let mut bytes = [0u8; args::copy::SIZE];
        let Some(request) = bytes.get_mut(..size) else { return Outcome::Return(-errno::EFAULT) };
        if copy_from_guest(env, caller.banks, at, request).is_err() {
            return Outcome::Return(-errno::EFAULT);
        }
        let status_at = match command {
            op::MAP_GRANT_REF => {
                let req = args::map_request(request);
                let result = with_grants(env, |g, mem, s2| g.map(me, &req, &mut { mem }, &mut { s2 }));
                match result.unwrap_or(Err(GrantStatus::GeneralError)) {
                    Ok(handle) => {
                        put_u32(request, args::map::HANDLE, handle);
                        // Arm guests have no device mappings: dev_bus_addr stays as it was.
                        put_status(request, args::map::STATUS, GrantStatus::Okay);
                    }
                    Err(status) => put_status(request, args::map::STATUS, status),
                }
                None
            }
            op::COPY => {
                let req = args::copy_request(request);
                let result = with_grants(env, |g, mem, _| g.copy(me, &req, &mut { mem }));
                let status = match result.unwrap_or(Err(GrantStatus::GeneralError)) {
                    Ok(()) => GrantStatus::Okay,
                    Err(status) => status,
                };
                put_status(request, args::copy::STATUS, status);
                Some(args::copy::STATUS)
            }
            _ => {
                let req = args::unmap_request(request, command == op::UNMAP_AND_REPLACE);
                let result = with_grants(env, |g, mem, s2| g.unmap(me, &req, &mut { mem }, &mut { s2 }));
                let status = match result.unwrap_or(Err(GrantStatus::GeneralError)) {
                    Ok(()) => GrantStatus::Okay,
                    Err(status) => status,
                };
                put_status(request, args::unmap::STATUS, status);
                Some(args::unmap::STATUS)
            }
        };
        // Map writes the whole structure back; unmap and copy only their status, as Xen does.
        let written = match status_at {
            None => copy_to_guest(env, caller.banks, at, request),
            Some(field) => {
                let status = request.get(field..field.saturating_add(2)).unwrap_or(&[0, 0]);
                copy_to_guest(env, caller.banks, at.wrapping_add(field as u64), status)
            }
        };
        if written.is_err() {
            return Outcome::Return(-errno::EFAULT);
        }
    }
    if piece < count {
        let mut args = call.args;
        args[1] = uop.wrapping_add(u64::from(piece).wrapping_mul(size as u64));
        args[2] = u64::from(count.saturating_sub(piece));
        Outcome::Again { args }
    } else {
        Outcome::Return(0)
    }
}

fn setup_table(env: &mut impl Environment, caller: &Caller<'_>, uop: u64) -> i64 {
    let mut request = [0u8; args::setup_table::SIZE];
    if copy_from_guest(env, caller.banks, uop, &mut request).is_err() {
        return -errno::EFAULT;
    }
    let (dom, nr_frames, frame_list) = args::setup_table_request(&request);
    let me = index(caller);
    let grown = with_grants(env, |g, mem, _| g.setup_table(me, dom, nr_frames, &mut { mem }).map(|_| ()));
    let mut status = match grown.unwrap_or(Err(GrantStatus::GeneralError)) {
        Ok(()) => GrantStatus::Okay,
        Err(status) => status,
    };
    // Where each frame is mapped, read a piece at a time under the lock and written with it
    // let go (nothing is allocated on a trap; at most max_grant_frames, 4096, entries).
    let mut first = 0u32;
    while status == GrantStatus::Okay && first < nr_frames {
        let mut piece = [INVALID_GFN; SETUP_PIECE];
        let count = nr_frames.saturating_sub(first).min(SETUP_PIECE as u32);
        with_grants(env, |g, _, _| {
            if let Some(table) = g.table(me) {
                for (slot, i) in piece.iter_mut().zip(first..first.saturating_add(count)) {
                    *slot = table.frame_gfn(i).unwrap_or(INVALID_GFN);
                }
            }
        });
        for (slot, gfn) in piece.iter().take(count as usize).enumerate() {
            let i = u64::from(first).saturating_add(slot as u64);
            let at = frame_list.wrapping_add(i.wrapping_mul(8));
            if copy_to_guest(env, caller.banks, at, &gfn.to_le_bytes()).is_err() {
                status = GrantStatus::BadVirtAddr;
            }
        }
        first = first.saturating_add(count);
    }
    put_status(&mut request, args::setup_table::STATUS, status);
    let field = &request[args::setup_table::STATUS..args::setup_table::STATUS + 2];
    match copy_to_guest(env, caller.banks, uop.wrapping_add(args::setup_table::STATUS as u64), field) {
        Ok(()) => 0,
        Err(_) => -errno::EFAULT,
    }
}

fn query_size(env: &mut impl Environment, caller: &Caller<'_>, uop: u64) -> i64 {
    let mut request = [0u8; args::query_size::SIZE];
    if copy_from_guest(env, caller.banks, uop, &mut request).is_err() {
        return -errno::EFAULT;
    }
    let dom = u16::from_le_bytes([request[0], request[1]]);
    let me = index(caller);
    match with_grants(env, |g, _, _| g.query_size(me, dom)).unwrap_or(Err(GrantStatus::GeneralError)) {
        Ok(size) => {
            put_u32(&mut request, args::query_size::NR_FRAMES, size.frames);
            put_u32(&mut request, args::query_size::MAX_NR_FRAMES, size.max_frames);
            put_status(&mut request, args::query_size::STATUS, GrantStatus::Okay);
        }
        Err(status) => put_status(&mut request, args::query_size::STATUS, status),
    }
    match copy_to_guest(env, caller.banks, uop, &request) {
        Ok(()) => 0,
        Err(_) => -errno::EFAULT,
    }
}

fn set_version(env: &mut impl Environment, caller: &Caller<'_>, uop: u64) -> i64 {
    let mut request = [0u8; SET_VERSION_SIZE];
    if copy_from_guest(env, caller.banks, uop, &mut request).is_err() {
        return -errno::EFAULT;
    }
    let rc = match Grants::set_version(u32::from_le_bytes(request)) {
        Ok(_) => 0,
        Err(e) => e.to_return(),
    };
    // The table's version (always 1) is written back whatever the answer, as Xen does.
    match copy_to_guest(env, caller.banks, uop, &1u32.to_le_bytes()) {
        Ok(()) => rc,
        Err(_) => -errno::EFAULT,
    }
}

fn get_version(env: &mut impl Environment, caller: &Caller<'_>, uop: u64) -> i64 {
    let mut request = [0u8; GET_VERSION_SIZE];
    if copy_from_guest(env, caller.banks, uop, &mut request).is_err() {
        return -errno::EFAULT;
    }
    match caller.domain(u16::from_le_bytes([request[0], request[1]])) {
        super::Domain::None => return -errno::ESRCH,
        super::Domain::Other => return -errno::EPERM,
        super::Domain::Caller => {}
    }
    put_u32(&mut request, 4, 1);
    match copy_to_guest(env, caller.banks, uop, &request) {
        Ok(()) => 0,
        Err(_) => -errno::EFAULT,
    }
}

fn get_status_frames(env: &mut impl Environment, caller: &Caller<'_>, uop: u64) -> i64 {
    let mut request = [0u8; GET_STATUS_FRAMES_SIZE];
    if copy_from_guest(env, caller.banks, uop, &mut request).is_err() {
        return -errno::EFAULT;
    }
    let dom = u16::from_le_bytes([request[4], request[5]]);
    let me = index(caller);
    let status = with_grants(env, |g, _, _| g.get_status_frames(me, dom)).unwrap_or(GrantStatus::GeneralError);
    put_status(&mut request, GET_STATUS_FRAMES_STATUS, status);
    let field = &request[GET_STATUS_FRAMES_STATUS..GET_STATUS_FRAMES_STATUS + 2];
    match copy_to_guest(env, caller.banks, uop.wrapping_add(GET_STATUS_FRAMES_STATUS as u64), field) {
        Ok(()) => 0,
        Err(_) => -errno::EFAULT,
    }
}

/// `XENMEM_add_to_physmap` with `XENMAPSPACE_grant_table`: frame `idx` of the caller's table
/// at guest frame `gpfn` (domain and map-space checks done by the caller).
pub fn add_grant_frame(env: &mut impl Environment, caller: &Caller<'_>, idx: u64, gpfn: u64) -> i64 {
    let me = index(caller);
    match with_grants(env, |g, mem, s2| g.map_table_frame(me, idx, gpfn, &mut { s2 }, &mut { mem })) {
        Some(Ok(())) => 0,
        Some(Err(e)) => e.to_return(),
        None => -errno::ENOSYS,
    }
}

/// `XENMEM_remove_from_physmap` of guest frame `gpfn`: whether a frame of the caller's grant
/// table was mapped there (and is now unmapped).
pub fn remove_grant_frame(env: &mut impl Environment, caller: &Caller<'_>, gpfn: u64) -> bool {
    let me = index(caller);
    with_grants(env, |g, _, s2| g.unmap_table_frame(me, gpfn, &mut { s2 })).unwrap_or(false)
}

/// The reservation commands of `memory_op`; `None` for any other command. As on Xen, an
/// increase, decrease or populate call returns how many extents it did (`start` when its
/// arguments are refused); the counts return pages or an errno.
pub fn reservation(env: &mut impl Environment, caller: &Caller<'_>, call: &Hypercall) -> Option<Outcome> {
    let [command, arg, ..] = call.args;
    let start = command >> memory::EXTENT_SHIFT;
    let direction = match (command & memory::COMMAND_MASK) as u32 {
        cmd::CURRENT_RESERVATION | cmd::MAXIMUM_RESERVATION => return Some(Outcome::Return(count_pages(env, caller, command, arg))),
        cmd::DECREASE_RESERVATION => Direction::Decrease,
        cmd::POPULATE_PHYSMAP => Direction::Populate,
        // Memory is static: nothing is ever added (no extent done).
        INCREASE_RESERVATION => return Some(Outcome::Return(i64::try_from(start).unwrap_or(i64::MAX))),
        _ => return None,
    };
    Some(extents(env, caller, call, direction, start, arg))
}

fn count_pages(env: &mut impl Environment, caller: &Caller<'_>, command: u64, arg: u64) -> i64 {
    if command >> memory::EXTENT_SHIFT != 0 {
        return -errno::EINVAL;
    }
    let mut domid = [0u8; 2];
    if copy_from_guest(env, caller.banks, arg, &mut domid).is_err() {
        return -errno::EFAULT;
    }
    let current = (command & memory::COMMAND_MASK) as u32 == cmd::CURRENT_RESERVATION;
    let me = index(caller);
    match with_grants(env, |g, _, _| g.reservation_pages(me, u16::from_le_bytes(domid), current)) {
        Some(Ok(pages)) => i64::try_from(pages).unwrap_or(i64::MAX),
        Some(Err(e)) => e.to_return(),
        None => -errno::ENOSYS,
    }
}

fn extents(env: &mut impl Environment, caller: &Caller<'_>, call: &Hypercall, direction: Direction, start: u64, arg: u64) -> Outcome {
    let done = |n: u64| Outcome::Return(i64::try_from(n).unwrap_or(i64::MAX));
    let mut request = [0u8; args::reservation::SIZE];
    if copy_from_guest(env, caller.banks, arg, &mut request).is_err() {
        return done(start);
    }
    let reservation: Reservation = args::reservation(&request);
    if reservation.nr_extents > MAX_EXTENTS || start >= reservation.nr_extents {
        return done(start);
    }
    // The guest's frame list, read one entry at a time with the lock let go between pieces
    // (reading guest memory takes no grant lock).
    let mut list = [0u64; crate::portable::gnttab::reservation::EXTENTS_PER_TRAP as usize];
    let end = reservation.nr_extents.min(start.saturating_add(list.len() as u64));
    let mut readable = end;
    for (slot, i) in list.iter_mut().zip(start..end) {
        let mut gfn = [0u8; 8];
        let at = reservation.extent_start.wrapping_add(i.wrapping_mul(8));
        if copy_from_guest(env, caller.banks, at, &mut gfn).is_err() {
            readable = i;
            break;
        }
        *slot = u64::from_le_bytes(gfn);
    }
    let me = index(caller);
    let progress = with_grants(env, |g, mem, s2| {
        g.reservation(me, direction, &reservation, start, |i| if i < readable { i.checked_sub(start).and_then(|k| list.get(k as usize)).copied() } else { None }, &mut { s2 }, &mut { mem })
    });
    match progress {
        Some(Ok(Progress::Continue { done: next })) => {
            let mut args = call.args;
            args[0] = (call.args[0] & memory::COMMAND_MASK) | (next << memory::EXTENT_SHIFT);
            Outcome::Again { args }
        }
        Some(Ok(Progress::Stopped { done: n, refusal })) => {
            if let Some(refusal) = refusal {
                env.reservation_refused(refusal);
            }
            done(n)
        }
        Some(Ok(Progress::Finished { done: n })) => done(n),
        Some(Err(_)) | None => done(start),
    }
}
