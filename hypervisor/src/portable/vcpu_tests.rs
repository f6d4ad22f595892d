//! The vCPU state machine: every allowed transition, the refused ones, and register round trips.

use super::*;
use crate::arch::aarch64::context::{FpRegisters, GuestRegisters};

fn patterned() -> VcpuRegisters {
    let mut registers = VcpuRegisters::at_entry(0x4008_0000, 0x4800_0000);
    for (i, x) in registers.general.x.iter_mut().enumerate() {
        *x = 0x1111_0000_0000_0000 | i as u64;
    }
    registers.general.pstate = 0x6000_03c5;
    registers.el1.tpidr_el1 = 0xfeed;
    registers.el1.cntv_cval = 0x1234_5678;
    registers.fp = FpRegisters { v: core::array::from_fn(|i| (i as u128) << 64 | 0xabcd), fpcr: 0x0300_0000, fpsr: 0x1f };
    registers.interface.vmcr = 0xf000_0001;
    registers
}

#[test]
fn a_fresh_start_runs_from_the_entry_with_reset_registers() {
    let mut vcpu = Vcpu::new();
    assert_eq!(vcpu.state(), VcpuState::Off);
    assert!(!vcpu.wants(0));
    vcpu.start(0x4008_0000, 0x4800_0000).unwrap();
    assert_eq!(vcpu.starts(), 1);
    assert!(vcpu.wants(3), "any CPU may take a starting vCPU");
    match vcpu.take(3).unwrap() {
        Taken::Fresh(registers) => {
            assert_eq!(registers.general, GuestRegisters::at_entry(0x4008_0000, 0x4800_0000));
            assert_eq!(registers, VcpuRegisters::at_entry(0x4008_0000, 0x4800_0000));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(vcpu.state(), VcpuState::Running { cpu: 3 });
}

#[test]
fn registers_round_trip_through_preemption() {
    let mut vcpu = Vcpu::new();
    vcpu.start(0x4008_0000, 0).unwrap();
    vcpu.take(1).unwrap();
    let registers = patterned();
    vcpu.preempt(1, &registers).unwrap();
    assert_eq!(vcpu.state(), VcpuState::Runnable);
    assert_eq!(vcpu.take(2).unwrap(), Taken::Saved(registers), "every register comes back");
    assert_eq!(vcpu.state(), VcpuState::Running { cpu: 2 });
}

#[test]
fn blocking_keeps_the_vcpu_on_its_cpu_until_woken() {
    let mut vcpu = Vcpu::new();
    vcpu.start(0, 0).unwrap();
    vcpu.take(1).unwrap();
    vcpu.block(1).unwrap();
    assert!(vcpu.wants(1) && !vcpu.wants(0), "only its own CPU resumes it");
    assert_eq!(vcpu.take(1).unwrap(), Taken::Resident);
    vcpu.block(1).unwrap();
    assert_eq!(vcpu.wake(), Wake::Kick { cpu: 1 }, "a vCPU blocked in place is resumed by its CPU");
    assert_eq!(vcpu.state(), VcpuState::Blocked { cpu: 1 });
}

#[test]
fn a_parked_vcpu_waits_off_its_cpu_and_any_cpu_resumes_it_once_woken() {
    let mut vcpu = Vcpu::new();
    vcpu.start(0, 0).unwrap();
    vcpu.take(1).unwrap();
    let registers = patterned();
    assert!(vcpu.park(0, &registers).is_err(), "only its own CPU parks it");
    vcpu.park(1, &registers).unwrap();
    assert_eq!(vcpu.state(), VcpuState::Waiting);
    assert_eq!(vcpu.holder(), None);
    assert!(!vcpu.wants(1) && !vcpu.wants(0), "a waiting vCPU is nobody's to take");
    assert!(vcpu.take(1).is_err());
    assert_eq!(vcpu.wake(), Wake::Runnable);
    assert_eq!(vcpu.wake(), Wake::Nothing, "a second wake changes nothing");
    assert_eq!(vcpu.take(0).unwrap(), Taken::Saved(registers), "every register comes back on another CPU");
    vcpu.block(0).unwrap();
    vcpu.park(0, &registers).unwrap();
    assert_eq!(vcpu.state(), VcpuState::Waiting, "a vCPU blocked in place can be parked too");
}

#[test]
fn a_stop_or_a_start_overrides_waiting() {
    let mut vcpu = Vcpu::new();
    vcpu.start(0, 0).unwrap();
    vcpu.take(1).unwrap();
    vcpu.park(1, &patterned()).unwrap();
    vcpu.start(0x8000, 7).unwrap();
    assert_eq!(vcpu.state(), VcpuState::Starting { pc: 0x8000, x0: 7 });
    assert_eq!(vcpu.wake(), Wake::Nothing);
    vcpu.take(2).unwrap();
    vcpu.park(2, &patterned()).unwrap();
    vcpu.stop();
    assert_eq!(vcpu.wake(), Wake::Nothing, "a stopped vCPU is not woken");
    assert_eq!(vcpu.state(), VcpuState::Off);
}

#[test]
fn refused_transitions_name_the_operation_and_state() {
    let mut vcpu = Vcpu::new();
    let error = vcpu.take(0).unwrap_err();
    assert_eq!(error, VcpuError { operation: "take", state: VcpuState::Off });
    assert_eq!(error.to_string(), "cannot take a vCPU that is Off");
    assert_eq!(vcpu.wake(), Wake::Nothing, "an off vCPU is not woken");
    assert!(vcpu.block(0).is_err());
    vcpu.start(0, 0).unwrap();
    assert!(vcpu.start(0, 0).is_err(), "a start not yet taken cannot start again");
    vcpu.take(0).unwrap();
    assert!(vcpu.take(1).is_err(), "a running vCPU cannot be taken by another CPU");
    assert!(vcpu.block(1).is_err(), "only its own CPU blocks it");
    assert!(vcpu.preempt(1, &patterned()).is_err());
}

#[test]
fn stop_and_leave() {
    let mut vcpu = Vcpu::new();
    vcpu.start(0, 0).unwrap();
    vcpu.take(2).unwrap();
    vcpu.leave(3);
    assert_eq!(vcpu.state(), VcpuState::Running { cpu: 2 }, "another CPU's leave changes nothing");
    vcpu.leave(2);
    assert_eq!(vcpu.state(), VcpuState::Off);
    vcpu.start(0x10, 0).unwrap();
    vcpu.take(2).unwrap();
    vcpu.stop();
    assert_eq!(vcpu.state(), VcpuState::Stopping { cpu: 2 }, "stopped, but CPU 2 has not let go");
    assert_eq!(vcpu.holder(), Some(2));
    assert!(!vcpu.held_by(2, vcpu.starts()), "CPU 2 sees the stop at its next exit");
    assert!(vcpu.start(0x20, 0).is_err(), "no start before the old CPU lets go (a stale CPU_ON of the old run)");
    assert!(!vcpu.wants(2));
    vcpu.leave(2);
    assert_eq!(vcpu.state(), VcpuState::Off);
    assert_eq!(vcpu.holder(), None);
    vcpu.start(0x20, 0).unwrap();
    vcpu.leave(2);
    assert_eq!(vcpu.state(), VcpuState::Starting { pc: 0x20, x0: 0 }, "a restart is not undone by the old CPU leaving");
    assert_eq!(vcpu.starts(), 3);
}

#[test]
fn a_blocked_vcpu_that_is_stopped_is_held_until_its_cpu_lets_go() {
    let mut vcpu = Vcpu::new();
    vcpu.start(0, 0).unwrap();
    vcpu.take(1).unwrap();
    vcpu.block(1).unwrap();
    vcpu.stop();
    assert_eq!(vcpu.holder(), Some(1));
    assert!(vcpu.take(1).is_err(), "the waking CPU does not resume it");
    assert_eq!(vcpu.wake(), Wake::Kick { cpu: 1 }, "a wake only hurries its CPU out");
    vcpu.leave(1);
    assert_eq!(vcpu.holder(), None);
    let mut off = Vcpu::new();
    off.stop();
    assert_eq!(off.state(), VcpuState::Off, "a vCPU no CPU holds stops at once");
}

#[test]
fn a_cpu_notices_a_new_start_of_the_vcpu_it_holds() {
    let mut vcpu = Vcpu::new();
    vcpu.start(0x10, 0).unwrap();
    vcpu.take(1).unwrap();
    let starts = vcpu.starts();
    assert!(vcpu.held_by(1, starts));
    assert!(!vcpu.held_by(0, starts));
    // The guest switched this vCPU off and another vCPU switched it on again before CPU 1
    // let go: CPU 1 sees it is no longer its start, and the new start is kept.
    vcpu.start(0x20, 7).unwrap();
    assert!(!vcpu.held_by(1, starts));
    vcpu.leave(1);
    assert_eq!(vcpu.take(1).unwrap(), Taken::Fresh(VcpuRegisters::at_entry(0x20, 7)));
}

#[test]
fn a_virtual_timer_deadline_is_its_compare_value_plus_the_counter_offset() {
    assert_eq!(virtual_timer_deadline(0b001, 1_000, 50), Some(1_050));
    assert_eq!(virtual_timer_deadline(0b000, 1_000, 50), None, "disabled");
    assert_eq!(virtual_timer_deadline(0b011, 1_000, 50), None, "masked");
    assert_eq!(virtual_timer_deadline(0b101, 1_000, 50), Some(1_050), "ISTATUS set: already due");
    assert_eq!(virtual_timer_deadline(0b001, u64::MAX, 2), Some(1), "wraps by intent");
}
