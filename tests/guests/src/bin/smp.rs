//! The smp guest.
#![no_std]
#![no_main]
