//! Boots QEMU scenarios and checks their consoles against expected lines with a deadline.
#![forbid(unsafe_code)]

pub mod command;
pub mod defmt;
pub mod diagnosis;
pub mod matcher;
pub mod runner;
pub mod scenario;
pub mod scenarios;
pub mod suite;

pub use runner::{run_scenario, Outcome, Prepared, RunConfig};
pub use scenario::{Dtb, Expect, ExpectedExit, Hypervisor, PartitionConfig, Scenario};
pub use suite::{run_all, run_each, Summary};
