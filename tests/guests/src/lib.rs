//! Small bare-metal guests that test the hypervisor from inside a partition.
#![no_std]
