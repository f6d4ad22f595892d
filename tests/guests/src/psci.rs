//! PSCI function numbers and result decoding (Arm DEN0022, "Arm Power State Coordination
//! Interface", sections 5.1 and 5.2). The calls themselves are in the runtime.

use core::fmt;

use crate::format::Version;

/// `PSCI_VERSION`.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// `CPU_OFF`.
pub const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON`, SMC64 calling convention.
pub const CPU_ON: u32 = 0xc400_0003;
/// `AFFINITY_INFO`, SMC64 calling convention.
pub const AFFINITY_INFO: u32 = 0xc400_0004;
/// `SYSTEM_OFF`.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// `SYSTEM_RESET`.
pub const SYSTEM_RESET: u32 = 0x8400_0009;

/// The instruction that carries a PSCI call, from the `/psci` node's `method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`: the hypervisor answers.
    Hvc,
    /// `smc #0`: the secure monitor (or a hypervisor trapping SMC) answers.
    Smc,
}

impl Conduit {
    /// Reads a `method` property value.
    pub fn from_method(method: &str) -> Option<Self> {
        match method {
            "hvc" => Some(Self::Hvc),
            "smc" => Some(Self::Smc),
            _ => None,
        }
    }
}

/// A PSCI error return code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciError {
    NotSupported,
    InvalidParameters,
    Denied,
    AlreadyOn,
    OnPending,
    InternalFailure,
    NotPresent,
    Disabled,
    InvalidAddress,
    /// A negative value the specification does not define.
    Unknown(i32),
}

impl PsciError {
    /// Decodes a negative return value.
    pub fn from_code(code: i32) -> Self {
        match code {
            -1 => Self::NotSupported,
            -2 => Self::InvalidParameters,
            -3 => Self::Denied,
            -4 => Self::AlreadyOn,
            -5 => Self::OnPending,
            -6 => Self::InternalFailure,
            -7 => Self::NotPresent,
            -8 => Self::Disabled,
            -9 => Self::InvalidAddress,
            other => Self::Unknown(other),
        }
    }
}

impl fmt::Display for PsciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::NotSupported => "not supported",
            Self::InvalidParameters => "invalid parameters",
            Self::Denied => "denied",
            Self::AlreadyOn => "already on",
            Self::OnPending => "on pending",
            Self::InternalFailure => "internal failure",
            Self::NotPresent => "not present",
            Self::Disabled => "disabled",
            Self::InvalidAddress => "invalid address",
            Self::Unknown(code) => return write!(f, "unknown PSCI error {code}"),
        };
        f.write_str(text)
    }
}

/// Interprets the return value of a call that returns 0 or an error (`CPU_ON`).
pub fn status(value: u64) -> Result<(), PsciError> {
    match value as u32 as i32 {
        0 => Ok(()),
        code => Err(PsciError::from_code(code)),
    }
}

/// Decodes `PSCI_VERSION`'s return value: major in bits [31:16], minor in [15:0].
pub fn version(value: u64) -> Result<Version, PsciError> {
    let value = value as u32;
    if (value as i32) < 0 {
        return Err(PsciError::from_code(value as i32));
    }
    Ok(Version {
        major: (value >> 16) as u16,
        minor: value as u16,
    })
}

/// The state `AFFINITY_INFO` reports for a CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityState {
    On,
    Off,
    OnPending,
}

/// Decodes `AFFINITY_INFO`'s return value.
pub fn affinity_state(value: u64) -> Result<AffinityState, PsciError> {
    match value as u32 as i32 {
        0 => Ok(AffinityState::On),
        1 => Ok(AffinityState::Off),
        2 => Ok(AffinityState::OnPending),
        code if code < 0 => Err(PsciError::from_code(code)),
        code => Err(PsciError::Unknown(code)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn decodes_results() {
        assert_eq!(version(0x0001_0001), Ok(Version { major: 1, minor: 1 }));
        assert_eq!(version(0xffff_ffff), Err(PsciError::NotSupported));
        assert_eq!(status(0), Ok(()));
        assert_eq!(status(0xffff_fffc), Err(PsciError::AlreadyOn));
        assert_eq!(status(u64::MAX - 8), Err(PsciError::InvalidAddress));
        assert_eq!(affinity_state(1), Ok(AffinityState::Off));
        assert_eq!(affinity_state(2), Ok(AffinityState::OnPending));
        assert_eq!(affinity_state(7), Err(PsciError::Unknown(7)));
        assert_eq!(
            affinity_state(u64::MAX - 1),
            Err(PsciError::InvalidParameters)
        );
        assert_eq!(
            PsciError::from_code(-42).to_string(),
            "unknown PSCI error -42"
        );
        assert_eq!(Conduit::from_method("hvc"), Some(Conduit::Hvc));
        assert_eq!(Conduit::from_method("spin-table"), None);
    }
}
