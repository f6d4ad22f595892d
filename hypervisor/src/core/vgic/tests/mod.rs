//! Host tests of the vGIC: encodings, register emulation and the list-register state machine.

mod list_register;
