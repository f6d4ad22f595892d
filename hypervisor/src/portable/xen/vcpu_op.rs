//! `vcpu_op`: what Xen 4.17 on Arm offers, `VCPUOP_register_vcpu_info` and
//! `VCPUOP_register_runstate_memory_area`; every other command (`is_up`,
//! `get_runstate_info`, the timers...) is -EINVAL there and here.

use super::abi::{errno, vcpu, PAGE_SIZE};
use super::guest_memory::{ipa_to_host, read_struct, u32_at, u64_at};
use super::state::{VcpuInfo, XenState};
use super::{Caller, Environment};
use locks::Mutex;

/// `vcpu_op(cmd, vcpuid, arg)`. The command is a C `int` and the vCPU an `unsigned int`.
pub fn vcpu_op(env: &mut impl Environment, caller: &Caller<'_>, state: &Mutex<XenState>, cmd: u64, vcpuid: u64, arg: u64) -> i64 {
    let target = (vcpuid & 0xffff_ffff) as usize;
    if target >= caller.vcpus {
        return -errno::ENOENT;
    }
    match u64::from(cmd as u32) {
        vcpu::REGISTER_VCPU_INFO => register_vcpu_info(env, caller, state, target, arg),
        vcpu::REGISTER_RUNSTATE_MEMORY_AREA => {
            let Ok(area) = read_struct::<{ vcpu::RUNSTATE_AREA_SIZE }>(env, caller.banks, arg) else {
                return -errno::EFAULT;
            };
            // Xen accepts any address here (it checks when it writes, and ignores failures).
            if let Some(slot) = state.lock().runstate_area.get_mut(target) {
                *slot = Some(u64_at(&area, 0));
            }
            0
        }
        _ => -errno::EINVAL,
    }
}

/// Moves vCPU `target`'s vcpu_info to the guest frame and offset in `arg`: the old contents
/// (vCPU 0's slot in shared_info, else zeros) are copied there, then every event is marked
/// pending (selector all ones, upcall pending) and the upcall raised, as Xen does so that
/// nothing raised before the move is lost.
fn register_vcpu_info(env: &mut impl Environment, caller: &Caller<'_>, state: &Mutex<XenState>, target: usize, arg: u64) -> i64 {
    let Ok(request) = read_struct::<{ vcpu::REGISTER_VCPU_INFO_SIZE }>(env, caller.banks, arg) else {
        return -errno::EFAULT;
    };
    let gfn = u64_at(&request, 0);
    let offset = u32_at(&request, 8);
    if u64::from(offset) > PAGE_SIZE - vcpu::VCPU_INFO_SIZE || u64::from(offset) % vcpu::VCPU_INFO_ALIGN != 0 {
        return -errno::ENXIO;
    }
    let mut xen = state.lock();
    if xen.vcpu_info.get(target).copied().flatten().is_some() {
        return -errno::EINVAL;
    }
    // On yourself, or on another vCPU that is down.
    if target != caller.vcpu && caller.vcpus_up & (1 << (target % 64)) != 0 {
        return -errno::EINVAL;
    }
    let Some(host) = gfn.checked_mul(PAGE_SIZE).and_then(|ipa| ipa_to_host(caller.banks, ipa + u64::from(offset), vcpu::VCPU_INFO_SIZE)) else {
        return -errno::EINVAL;
    };
    let mut contents = [0u8; vcpu::VCPU_INFO_SIZE as usize];
    if let Some(old) = xen.vcpu_info_host(target) {
        env.read_host(old, &mut contents);
    }
    contents[0] = 1;
    let selector = vcpu::VCPU_INFO_PENDING_SEL as usize;
    contents[selector..selector + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    env.write_host(host, &contents);
    if let Some(slot) = xen.vcpu_info.get_mut(target) {
        *slot = Some(VcpuInfo { gfn, offset, host });
    }
    drop(xen);
    env.raise_upcall(target);
    0
}
