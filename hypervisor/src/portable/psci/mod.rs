//! Guest PSCI over the SMC Calling Convention: function IDs, vCPU power states, answers.
//!
//! A guest calls with HVC or SMC (immediate 0); the aarch64 layer decodes the trap
//! ([`crate::portable::trap::Call`]) and passes `x0` to `x3` to [`handle`], then carries out the
//! returned [`Action`]. References: Arm DEN0022 (PSCI 1.1) and DEN0028 (SMCCC 1.1 and later).

#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

pub mod dispatch;
pub mod function;
pub mod power;

pub use dispatch::{handle, query, Action, Arguments};
pub use function::{status, FunctionId, Owner};
pub use power::{vcpu_affinity, vmpidr_el2, PowerError, PowerState, PowerStates};
