//! Tests of the PSCI and SMCCC answers, including the refusals guests rely on.

use super::*;
use crate::portable::psci::function::SYSTEM_RESET2;

const ENTRY: u64 = 0x4008_0000;

fn call<const N: usize>(power: &mut PowerStates<N>, caller: usize, x: [u64; 4]) -> Action {
    handle(power, caller, Arguments { x }).unwrap()
}

fn cpu_on_64<const N: usize>(power: &mut PowerStates<N>, target: u64) -> Action {
    call(power, 0, [u64::from(CPU_ON_64), target, ENTRY, 0xc0ffee])
}

#[test]
fn versions() {
    let mut power = PowerStates::<4>::new(1).unwrap();
    assert_eq!(
        call(&mut power, 0, [u64::from(id::PSCI_VERSION), 0, 0, 0]),
        Action::Return(0x1_0001)
    );
    assert_eq!(
        call(&mut power, 0, [u64::from(id::SMCCC_VERSION), 0, 0, 0]),
        Action::Return(0x1_0001)
    );
    // The function ID is w0: the upper half of x0 is ignored.
    let noisy = 0xffff_ffff_0000_0000 | u64::from(id::PSCI_VERSION);
    assert_eq!(
        call(&mut power, 0, [noisy, 0, 0, 0]),
        Action::Return(0x1_0001)
    );
}

#[test]
fn features() {
    let mut power = PowerStates::<4>::new(1).unwrap();
    let features = |power: &mut PowerStates<4>, queried: u32| {
        call(
            power,
            0,
            [u64::from(id::PSCI_FEATURES), u64::from(queried), 0, 0],
        )
    };
    assert_eq!(
        features(&mut power, CPU_ON_64),
        Action::Return(status::SUCCESS)
    );
    assert_eq!(features(&mut power, id::CPU_SUSPEND), Action::Return(0));
    assert_eq!(
        features(&mut power, id::SMCCC_VERSION),
        Action::Return(status::SUCCESS)
    );
    assert_eq!(
        features(&mut power, SYSTEM_RESET2),
        Action::Return(status::NOT_SUPPORTED)
    );
    assert_eq!(
        features(&mut power, id::MIGRATE),
        Action::Return(status::NOT_SUPPORTED)
    );
    // PSCI_VERSION exists only in its SMC32 form.
    assert_eq!(
        features(&mut power, id::PSCI_VERSION + id::SMC64),
        Action::Return(status::NOT_SUPPORTED)
    );
}

#[test]
fn spectre_workarounds_are_not_supported() {
    let mut power = PowerStates::<4>::new(1).unwrap();
    for workaround in [
        id::SMCCC_ARCH_WORKAROUND_1,
        id::SMCCC_ARCH_WORKAROUND_2,
        id::SMCCC_ARCH_WORKAROUND_3,
    ] {
        let answer = call(
            &mut power,
            0,
            [
                u64::from(id::SMCCC_ARCH_FEATURES),
                u64::from(workaround),
                0,
                0,
            ],
        );
        assert_eq!(answer, Action::Return(status::NOT_SUPPORTED));
    }
    let answer = call(
        &mut power,
        0,
        [
            u64::from(id::SMCCC_ARCH_FEATURES),
            u64::from(id::SMCCC_ARCH_FEATURES),
            0,
            0,
        ],
    );
    assert_eq!(answer, Action::Return(status::SUCCESS));
}

#[test]
fn unknown_calls_are_not_supported() {
    let mut power = PowerStates::<4>::new(2).unwrap();
    // A silicon-partner call, SYSTEM_RESET2, MIGRATE_INFO_UP_CPU and a yielding call.
    for function in [
        0xc200_0001,
        SYSTEM_RESET2,
        id::MIGRATE_INFO_UP_CPU,
        0x0400_0000,
    ] {
        assert_eq!(
            call(&mut power, 0, [u64::from(function), 0, 0, 0]),
            Action::Return(status::NOT_SUPPORTED)
        );
    }
    assert_eq!(power.states(), &[PowerState::On, PowerState::Off]);
}

#[test]
fn migrate_info_type_says_not_required() {
    let mut power = PowerStates::<4>::new(1).unwrap();
    let answer = call(&mut power, 0, [u64::from(id::MIGRATE_INFO_TYPE), 0, 0, 0]);
    assert_eq!(answer, Action::Return(2));
}

#[test]
fn cpu_on_starts_then_reports_pending_then_already_on() {
    let mut power = PowerStates::<4>::new(2).unwrap();
    let started = cpu_on_64(&mut power, 1);
    assert_eq!(
        started,
        Action::StartVcpu {
            vcpu: 1,
            entry: ENTRY,
            context_id: 0xc0ffee
        }
    );
    assert_eq!(started.caller_x0(), Some(status::SUCCESS));
    assert_eq!(power.state(1), Ok(PowerState::OnPending));
    assert_eq!(cpu_on_64(&mut power, 1), Action::Return(status::ON_PENDING));
    power.mark_running(1).unwrap();
    assert_eq!(cpu_on_64(&mut power, 1), Action::Return(status::ALREADY_ON));
}

#[test]
fn cpu_on_of_the_running_boot_vcpu_is_already_on() {
    let mut power = PowerStates::<4>::new(2).unwrap();
    assert_eq!(cpu_on_64(&mut power, 0), Action::Return(status::ALREADY_ON));
}

#[test]
fn cpu_on_outside_the_partition_is_invalid() {
    let mut power = PowerStates::<4>::new(2).unwrap();
    // vCPU 2 does not exist; 0x100 is Aff1 = 1; bit 31 is not an affinity bit.
    for target in [2, 0x100, 0x8000_0001, 1 << 32] {
        assert_eq!(
            cpu_on_64(&mut power, target),
            Action::Return(status::INVALID_PARAMETERS)
        );
    }
    assert_eq!(power.states(), &[PowerState::On, PowerState::Off]);
}

#[test]
fn cpu_on_with_a_misaligned_entry_is_an_invalid_address() {
    let mut power = PowerStates::<4>::new(2).unwrap();
    let answer = call(&mut power, 0, [u64::from(CPU_ON_64), 1, ENTRY + 2, 0]);
    assert_eq!(answer, Action::Return(status::INVALID_ADDRESS));
    assert_eq!(power.state(1), Ok(PowerState::Off));
}

#[test]
fn smc32_cpu_on_ignores_the_upper_halves() {
    let mut power = PowerStates::<4>::new(2).unwrap();
    let noisy = 0xdead_beef_0000_0000;
    let answer = call(
        &mut power,
        0,
        [u64::from(id::CPU_ON), noisy | 1, noisy | ENTRY, noisy | 7],
    );
    assert_eq!(
        answer,
        Action::StartVcpu {
            vcpu: 1,
            entry: ENTRY,
            context_id: 7
        }
    );
}

#[test]
fn cpu_off_stops_the_vcpu_and_the_last_one_stops_the_partition() {
    let mut power = PowerStates::<4>::new(2).unwrap();
    cpu_on_64(&mut power, 1);
    power.mark_running(1).unwrap();
    assert_eq!(
        call(&mut power, 1, [u64::from(id::CPU_OFF), 0, 0, 0]),
        Action::StopVcpu
    );
    assert_eq!(power.state(1), Ok(PowerState::Off));
    let last = call(&mut power, 0, [u64::from(id::CPU_OFF), 0, 0, 0]);
    assert_eq!(last, Action::StopPartition);
    assert_eq!(last.caller_x0(), None);
}

#[test]
fn affinity_info_reports_each_state() {
    let mut power = PowerStates::<32>::new(18).unwrap();
    let info = |power: &mut PowerStates<32>, target: u64, level: u64| {
        call(power, 0, [u64::from(AFFINITY_INFO_64), target, level, 0])
    };
    assert_eq!(info(&mut power, 0, 0), Action::Return(status::AFFINITY_ON));
    assert_eq!(info(&mut power, 1, 0), Action::Return(status::AFFINITY_OFF));
    cpu_on_64(&mut power, 0x101);
    assert_eq!(
        info(&mut power, 0x101, 0),
        Action::Return(status::AFFINITY_ON_PENDING)
    );
    // Level 1: the whole cluster Aff1 = 1 (vCPUs 16 and 17).
    assert_eq!(
        info(&mut power, 0x100, 1),
        Action::Return(status::AFFINITY_ON_PENDING)
    );
    power.mark_running(17).unwrap();
    assert_eq!(
        info(&mut power, 0x1ff, 1),
        Action::Return(status::AFFINITY_ON)
    );
    // No such vCPU, no such cluster, no such level.
    assert_eq!(
        info(&mut power, 0x102, 0),
        Action::Return(status::INVALID_PARAMETERS)
    );
    assert_eq!(
        info(&mut power, 0x200, 1),
        Action::Return(status::INVALID_PARAMETERS)
    );
    assert_eq!(
        info(&mut power, 0, 4),
        Action::Return(status::INVALID_PARAMETERS)
    );
}

#[test]
fn system_off_stops_the_partition() {
    let mut power = PowerStates::<4>::new(2).unwrap();
    cpu_on_64(&mut power, 1);
    assert_eq!(
        call(&mut power, 1, [u64::from(id::SYSTEM_OFF), 0, 0, 0]),
        Action::StopPartition
    );
    assert!(power.all_off());
}

#[test]
fn system_reset_while_secondaries_are_on_returns_to_the_boot_state() {
    let mut power = PowerStates::<4>::new(3).unwrap();
    cpu_on_64(&mut power, 1);
    power.mark_running(1).unwrap();
    cpu_on_64(&mut power, 2);
    // vCPU 1 asks for the reset while vCPU 2 is still pending.
    assert_eq!(
        call(&mut power, 1, [u64::from(id::SYSTEM_RESET), 0, 0, 0]),
        Action::ResetPartition
    );
    assert_eq!(
        power.states(),
        &[PowerState::On, PowerState::Off, PowerState::Off]
    );
    // After the restart the secondaries can be started again.
    assert!(matches!(
        cpu_on_64(&mut power, 1),
        Action::StartVcpu { vcpu: 1, .. }
    ));
}

#[test]
fn cpu_suspend_waits_then_succeeds() {
    let mut power = PowerStates::<4>::new(1).unwrap();
    let action = call(
        &mut power,
        0,
        [u64::from(CPU_SUSPEND_64), 0x1_0000, ENTRY, 0],
    );
    assert_eq!(action, Action::Suspend);
    assert_eq!(action.caller_x0(), Some(0));
}

#[test]
fn a_caller_outside_the_partition_is_a_hypervisor_error() {
    let mut power = PowerStates::<4>::new(1).unwrap();
    assert_eq!(
        handle(
            &mut power,
            3,
            Arguments {
                x: [u64::from(id::PSCI_VERSION), 0, 0, 0]
            }
        ),
        Err(PowerError::NoSuchVcpu { vcpu: 3, count: 1 })
    );
}
