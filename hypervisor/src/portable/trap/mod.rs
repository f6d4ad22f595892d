//! Decoding of guest traps taken to EL2 and the values that reflect a fault back into the guest.
//!
//! Everything here is a pure function on plain numbers read from `ESR_EL2`, `FAR_EL2`,
//! `HPFAR_EL2` and `SPSR_EL2`; the aarch64 layer reads those registers and applies the results.
//! The field layouts follow the Arm Architecture Reference Manual for A-profile (DDI 0487),
//! section D13 (the `ESR_ELx` description and its per-class ISS encodings) and section D1.10
//! (exception entry).

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod data_abort;
pub mod inject;
pub mod instruction;
pub mod registers;
pub mod syndrome;

pub use data_abort::{fault_ipa, DataAbort, DataAbortError, FaultStatus, MmioAccess};
pub use inject::{external_abort, EntryFeatures, GuestState, InjectError, Injection};
pub use instruction::{Call, CallError, Conduit, WaitKind};
pub use registers::{GeneralRegisters, Register, RegisterFile};
pub use syndrome::{ExceptionClass, Esr};
