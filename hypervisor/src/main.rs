//! The bare-metal hypervisor image. Everything lives in the library: the entry point
//! (`_start` in `arch/aarch64/entry.s`), the boot flow and the panic handler.
#![no_std]
#![no_main]

extern crate hypervisor;
