//! Reads, validates and authors static partition configs in Xen's dom0less binding.
//!
//! The flow is parse, then validate, then a [`PartitionPlan`]: the only form of the
//! configuration the hypervisor core accepts. [`devicetree`] is a small safe DTB reader and
//! writer that the hypervisor also uses to read the host tree at boot.
#![no_std]
#![forbid(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;
#[cfg(feature = "cli")]
extern crate std;

pub mod devicetree;
mod error;
mod error_display;
mod findings;
pub mod host;
pub mod limits;
pub mod parse;
pub mod plan;
pub mod sort;
mod validate;

pub use error::{ConfigError, DirectRefusal, Region, Warning};
pub use findings::{MAX_ERRORS, MAX_WARNINGS};
pub use limits::Limit;
pub use plan::*;
pub use validate::{HostFacts, ModuleSource};
#[cfg(feature = "cli")]
pub mod authoring;
