//! The EL2 exception vectors and the Rust side of the trap path.

use super::esr::Esr;
use aarch64_cpu::registers::{ESR_EL2, FAR_EL2};
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

impl TrapFrame {
    /// The frame that enters a vCPU: everything zero but x0, the PC and PSTATE.
    pub const fn for_entry(pc: u64, spsr: u64, x0: u64) -> Self {
        let mut x = [0; 31];
        x[0] = x0;
        Self { x, elr: pc, spsr, _pad: 0 }
    }
}

impl crate::core::trap::GeneralRegisters for TrapFrame {
    fn x(&self, index: usize) -> u64 {
        self.x.get(index).copied().unwrap_or(0)
    }

    fn set_x(&mut self, index: usize, value: u64) {
        if let Some(x) = self.x.get_mut(index) {
            *x = value;
        }
    }
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE == 272 && FRAME_SIZE.is_multiple_of(16));

global_asm!(include_str!("vectors.s"), frame_size = const FRAME_SIZE);

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

/// Called by `vectors.s` with the saved frame and the vector's index.
#[unsafe(no_mangle)]
extern "C" fn handle_exception(frame: &mut TrapFrame, index: u64) {
    let vector = Vector::from_index(index);
    let esr = Esr(ESR_EL2.get());
    let far = FAR_EL2.get();
    match vector {
        Vector::LowerAarch64(Kind::Synchronous) => crate::vm::guest_sync(frame, esr.0, far, super::guest::hpfar_el2()),
        Vector::LowerAarch64(Kind::Irq) => crate::vm::guest_irq(),
        // Anything else is the hypervisor's own fault, or a source it never enabled.
        _ => super::fatal::exception_report(vector, esr, far, frame),
    }
}
