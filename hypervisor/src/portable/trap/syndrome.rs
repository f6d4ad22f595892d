//! The exception syndrome (`ESR_ELx`) as traps see it: the arch layer's one decoder.

pub use crate::arch::aarch64::esr::{Esr, ExceptionClass};
