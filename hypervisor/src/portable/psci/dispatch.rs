//! Answers a guest's SMCCC call (HVC or SMC, immediate 0) as PSCI 1.1 over SMCCC 1.1.
//!
//! Each call becomes an [`Action`] for the caller to carry out; the vCPU power states of
//! the partition are updated here. CPU_SUSPEND is treated as a standby request (like WFI),
//! as DEN0022 5.4 permits: the call returns SUCCESS when the vCPU wakes.

use super::function::{self as id, status, FunctionId};
use super::power::{vcpu_affinity, PowerError, PowerState, PowerStates, AFFINITY_MASK};

/// What the hypervisor does after a guest's SMCCC call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write the value to the caller's `x0` and resume it.
    Return(u64),
    /// Start `vcpu` of the same partition at `entry` in EL1h, MMU and caches off, with
    /// `x0 = context_id` (DEN0022 6.4); write SUCCESS to the caller's `x0` and resume it.
    /// Call [`PowerStates::mark_running`] when the vCPU first enters the guest.
    StartVcpu {
        /// The vCPU index within the partition.
        vcpu: usize,
        /// The guest's entry point.
        entry: u64,
        /// The value for the new vCPU's `x0`.
        context_id: u64,
    },
    /// Wait like WFI until an interrupt is pending for the caller, then resume it with
    /// `x0 = 0` (SUCCESS).
    Suspend,
    /// The caller is now off: never resume it until a CPU_ON starts it afresh.
    StopVcpu,
    /// Stop the whole partition (SYSTEM_OFF, or CPU_OFF of its last running vCPU).
    StopPartition,
    /// Restart the partition: scrub its memory, reload its modules from their pristine
    /// copies and start vCPU 0 at its boot entry (SYSTEM_RESET).
    ResetPartition,
}

impl Action {
    /// The value the calling vCPU gets in `x0` when it resumes, if it resumes.
    pub const fn caller_x0(self) -> Option<u64> {
        match self {
            Self::Return(value) => Some(value),
            Self::StartVcpu { .. } | Self::Suspend => Some(status::SUCCESS),
            Self::StopVcpu | Self::StopPartition | Self::ResetPartition => None,
        }
    }
}

/// The registers of an SMCCC call: `x0` (function ID in `w0`) to `x3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arguments {
    /// `x0` to `x3` at the call.
    pub x: [u64; 4],
}

/// Handles one SMCCC call from vCPU `caller` of the partition whose states are `power`.
///
/// The only error is a `caller` outside the table, a hypervisor bug rather than a guest's.
pub fn handle<const N: usize>(
    power: &mut PowerStates<N>,
    caller: usize,
    arguments: Arguments,
) -> Result<Action, PowerError> {
    power.state(caller)?;
    if let Some(value) = query(arguments) {
        return Ok(Action::Return(value));
    }
    let function = FunctionId(arguments.x[0] as u32);
    let [_, x1, x2, x3] = arguments.x.map(|value| function.argument(value));
    let action = match function.0 {
        id::CPU_SUSPEND | CPU_SUSPEND_64 => Action::Suspend,
        id::CPU_OFF => cpu_off(power, caller)?,
        id::CPU_ON | CPU_ON_64 => cpu_on(power, x1, x2, x3),
        id::AFFINITY_INFO | AFFINITY_INFO_64 => Action::Return(affinity_info(power, x1, x2)),
        id::SYSTEM_OFF => {
            power.power_off();
            Action::StopPartition
        }
        id::SYSTEM_RESET => {
            power.reset();
            Action::ResetPartition
        }
        _ => Action::Return(status::NOT_SUPPORTED),
    };
    Ok(action)
}

/// The answer to a call that only asks about the interface (SMCCC_VERSION,
/// SMCCC_ARCH_FEATURES, PSCI_VERSION, PSCI_FEATURES, MIGRATE_INFO_TYPE): the same for every
/// caller, whatever the power states, so the trap fast path answers it without the
/// partition's lock. `None` for every other function.
pub fn query(arguments: Arguments) -> Option<u64> {
    let function = FunctionId(arguments.x[0] as u32);
    let x1 = function.argument(arguments.x[1]);
    match function.0 {
        id::SMCCC_VERSION => Some(id::SMCCC_VERSION_1_1),
        id::SMCCC_ARCH_FEATURES => Some(arch_features(x1 as u32)),
        id::PSCI_VERSION => Some(id::PSCI_VERSION_1_1),
        id::PSCI_FEATURES => Some(psci_features(x1 as u32)),
        id::MIGRATE_INFO_TYPE => Some(status::MIGRATE_NOT_REQUIRED),
        _ => None,
    }
}

const CPU_SUSPEND_64: u32 = id::CPU_SUSPEND + id::SMC64;
const CPU_ON_64: u32 = id::CPU_ON + id::SMC64;
const AFFINITY_INFO_64: u32 = id::AFFINITY_INFO + id::SMC64;

/// PSCI_FEATURES (DEN0022 5.16): SUCCESS for each implemented function. For CPU_SUSPEND
/// the value is its feature flags, 0: original power_state format, platform-coordinated.
/// SMCCC_VERSION is listed because callers discover SMCCC 1.1 through this query.
fn psci_features(queried: u32) -> u64 {
    match queried {
        id::PSCI_VERSION
        | id::CPU_SUSPEND
        | CPU_SUSPEND_64
        | id::CPU_OFF
        | id::CPU_ON
        | CPU_ON_64
        | id::AFFINITY_INFO
        | AFFINITY_INFO_64
        | id::MIGRATE_INFO_TYPE
        | id::SYSTEM_OFF
        | id::SYSTEM_RESET
        | id::PSCI_FEATURES
        | id::SMCCC_VERSION => status::SUCCESS,
        _ => status::NOT_SUPPORTED,
    }
}

/// SMCCC_ARCH_FEATURES (DEN0028 7.3): the architecture calls implemented. The Spectre
/// workarounds are NOT_SUPPORTED: the hypervisor has no firmware mitigation to run on
/// the guest's behalf (QEMU's `virt` machine has no EL3), and answering SUCCESS would make
/// guests issue calls that protect nothing.
fn arch_features(queried: u32) -> u64 {
    match queried {
        id::SMCCC_VERSION | id::SMCCC_ARCH_FEATURES => status::SUCCESS,
        _ => status::NOT_SUPPORTED,
    }
}

fn cpu_off<const N: usize>(
    power: &mut PowerStates<N>,
    caller: usize,
) -> Result<Action, PowerError> {
    power.set_state(caller, PowerState::Off)?;
    Ok(if power.all_off() {
        Action::StopPartition
    } else {
        Action::StopVcpu
    })
}

/// CPU_ON (DEN0022 5.6): the target is named by its affinity; an entry point that cannot
/// hold an A64 instruction (not 4-byte aligned) is INVALID_ADDRESS.
fn cpu_on<const N: usize>(
    power: &mut PowerStates<N>,
    target: u64,
    entry: u64,
    context_id: u64,
) -> Action {
    let Some(vcpu) = power.vcpu_of(target) else {
        return Action::Return(status::INVALID_PARAMETERS);
    };
    match power.state(vcpu) {
        Ok(PowerState::Off) => {}
        Ok(PowerState::On) => return Action::Return(status::ALREADY_ON),
        Ok(PowerState::OnPending) => return Action::Return(status::ON_PENDING),
        Err(_) => return Action::Return(status::INVALID_PARAMETERS),
    }
    if entry & 0b11 != 0 {
        return Action::Return(status::INVALID_ADDRESS);
    }
    if power.set_state(vcpu, PowerState::OnPending).is_err() {
        return Action::Return(status::INVALID_PARAMETERS);
    }
    Action::StartVcpu {
        vcpu,
        entry,
        context_id,
    }
}

/// AFFINITY_INFO (DEN0022 5.7): ON if any vCPU matching `target` above
/// `lowest_level` is on, ON_PENDING if one is starting, OFF otherwise.
fn affinity_info<const N: usize>(power: &PowerStates<N>, target: u64, lowest_level: u64) -> u64 {
    let mask = match lowest_level {
        0 => AFFINITY_MASK,
        1 => AFFINITY_MASK & !0xff,
        2 => AFFINITY_MASK & !0xffff,
        3 => AFFINITY_MASK & !0xff_ffff,
        _ => return status::INVALID_PARAMETERS,
    };
    if target & !AFFINITY_MASK != 0 {
        return status::INVALID_PARAMETERS;
    }
    let mut matched = false;
    let mut pending = false;
    for (index, state) in power.states().iter().enumerate() {
        if vcpu_affinity(index) & mask != target & mask {
            continue;
        }
        matched = true;
        match state {
            PowerState::On => return status::AFFINITY_ON,
            PowerState::OnPending => pending = true,
            PowerState::Off => {}
        }
    }
    match (matched, pending) {
        (false, _) => status::INVALID_PARAMETERS,
        (true, true) => status::AFFINITY_ON_PENDING,
        (true, false) => status::AFFINITY_OFF,
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
