//! Hardware-specific code: the only place with assembly and system-register access.
pub mod aarch64;
