//! The EL2 exception vectors and the hypervisor's own exceptions (the fatal path). Exceptions
//! from guests end `world::run` instead (`vectors.s`).

use super::esr::Esr;
use aarch64_cpu::registers::{ESR_EL2, FAR_EL2, TPIDRRO_EL0};
use core::arch::global_asm;
use tock_registers::interfaces::Readable;

/// Registers saved on exception entry, in the order `vectors.s` stores them.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    /// x0..x30.
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    _pad: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE == 272 && FRAME_SIZE.is_multiple_of(16));

global_asm!(
    include_str!("vectors.s"),
    frame_size = const FRAME_SIZE,
    max_cpus = const super::entry::MAX_CPUS,
    fault_stack_shift = const super::entry::FAULT_STACK_SHIFT,
);

/// Which vector was taken (the index of the 0x80-byte entry in the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vector {
    CurrentSp0(Kind),
    CurrentSpx(Kind),
    LowerAarch64(Kind),
    LowerAarch32(Kind),
}

/// The exception type within a group of vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Synchronous,
    Irq,
    Fiq,
    SError,
}

impl Vector {
    fn from_index(index: u64) -> Self {
        let kind = match index & 3 {
            0 => Kind::Synchronous,
            1 => Kind::Irq,
            2 => Kind::Fiq,
            _ => Kind::SError,
        };
        match index >> 2 {
            0 => Vector::CurrentSp0(kind),
            1 => Vector::CurrentSpx(kind),
            2 => Vector::LowerAarch64(kind),
            _ => Vector::LowerAarch32(kind),
        }
    }
}

/// Called by `vectors.s` with the saved frame and the vector's index, for exceptions taken
/// at EL2: the hypervisor's own faults, or a source it never enabled.
#[unsafe(no_mangle)]
extern "C" fn handle_exception(frame: &mut TrapFrame, index: u64) {
    let vector = Vector::from_index(index);
    // The vector left the stack pointer of the faulting code in TPIDRRO_EL0.
    let sp = TPIDRRO_EL0.get();
    super::fatal::exception_report(vector, Esr(ESR_EL2.get()), FAR_EL2.get(), sp, frame)
}
