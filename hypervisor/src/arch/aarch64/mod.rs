//! The AArch64 EL2 layer.
