//! The reset guest.
#![no_std]
#![no_main]
