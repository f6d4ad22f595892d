//! Partition memory: host frame allocation, stage-2 tables, VTCR_EL2, VMIDs and scrubbing.
//!
//! Everything here is portable: the hypervisor supplies physical memory access and table pages
//! through traits ([`physical::PhysicalMemory`], [`stage2::TablePageSource`]), and host tests
//! supply heap-backed fakes.

pub mod frames;
pub mod identity_pages;
pub mod page_pool;
pub mod paged;
pub mod physical;
pub mod range;
pub mod stack_use;
pub mod stage2;
pub mod vmid;
pub mod vtcr;

pub use range::{AddressRange, BLOCK_1G, BLOCK_2M, PAGE_SIZE};
