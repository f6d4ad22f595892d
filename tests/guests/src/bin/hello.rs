//! The hello guest.
#![no_std]
#![no_main]
