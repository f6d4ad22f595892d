//! Reads, validates and authors static partition configs in Xen's dom0less binding.
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;
