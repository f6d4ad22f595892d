//! The isolation guest.
#![no_std]
#![no_main]
