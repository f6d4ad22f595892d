//! SMC Calling Convention function identifiers and the PSCI and SMCCC constants used here.
//!
//! Arm DEN0028 (SMCCC) section 2.5: bit 31 is 1 for a fast call, bit 30 is 1 for the SMC64
//! convention, bits \[29:24\] name the owning service, bits \[15:0\] the function number.
//! Arm DEN0022 (PSCI 1.1) section 5.1 lists the PSCI function IDs and 5.2 the return codes.

/// The service owning a function ID (SMCCC table 6-1 "Allocation of values").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// 0: Arm architecture calls (`SMCCC_VERSION`, `SMCCC_ARCH_*`).
    Architecture,
    /// 1: CPU service calls.
    Cpu,
    /// 2: silicon partner service calls.
    SiliconPartner,
    /// 3: OEM service calls.
    Oem,
    /// 4: standard secure service calls (PSCI lives here).
    StandardSecure,
    /// 5: standard hypervisor service calls.
    StandardHypervisor,
    /// 6: vendor-specific hypervisor service calls.
    VendorHypervisor,
    /// 7 to 47: vendor EL3 monitor calls and reserved ranges.
    Reserved(u8),
    /// 48 to 49: trusted application calls.
    TrustedApplication,
    /// 50 to 63: trusted OS calls.
    TrustedOs,
}

/// A 32-bit SMCCC function identifier (passed in `w0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionId(pub u32);

impl FunctionId {
    /// Bit 31: a fast (atomic) call rather than a yielding one.
    pub const fn is_fast_call(self) -> bool {
        self.0 & (1 << 31) != 0
    }

    /// Bit 30: the SMC64/HVC64 convention (64-bit arguments and results).
    pub const fn is_smc64(self) -> bool {
        self.0 & (1 << 30) != 0
    }

    /// Bits \[29:24\]: the owning service.
    pub const fn owner(self) -> Owner {
        match (self.0 >> 24) & 0x3f {
            0 => Owner::Architecture,
            1 => Owner::Cpu,
            2 => Owner::SiliconPartner,
            3 => Owner::Oem,
            4 => Owner::StandardSecure,
            5 => Owner::StandardHypervisor,
            6 => Owner::VendorHypervisor,
            48..=49 => Owner::TrustedApplication,
            50..=63 => Owner::TrustedOs,
            other => Owner::Reserved(other as u8),
        }
    }

    /// Bits \[15:0\]: the function number within its service.
    pub const fn number(self) -> u16 {
        (self.0 & 0xffff) as u16
    }

    /// Masks an argument or result to the width of this call's convention.
    pub const fn argument(self, value: u64) -> u64 {
        if self.is_smc64() {
            value
        } else {
            value & 0xffff_ffff
        }
    }
}

/// `SMCCC_VERSION` (SMCCC 1.1 and later).
pub const SMCCC_VERSION: u32 = 0x8000_0000;
/// `SMCCC_ARCH_FEATURES`.
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
/// `SMCCC_ARCH_SOC_ID` (SMCCC 1.2).
pub const SMCCC_ARCH_SOC_ID: u32 = 0x8000_0002;
/// `SMCCC_ARCH_WORKAROUND_1` (Spectre variant 2, CVE-2017-5715).
pub const SMCCC_ARCH_WORKAROUND_1: u32 = 0x8000_8000;
/// `SMCCC_ARCH_WORKAROUND_2` (Spectre variant 4, CVE-2018-3639).
pub const SMCCC_ARCH_WORKAROUND_2: u32 = 0x8000_7fff;
/// `SMCCC_ARCH_WORKAROUND_3` (Spectre-BHB, CVE-2022-23960).
pub const SMCCC_ARCH_WORKAROUND_3: u32 = 0x8000_3fff;
/// The version this hypervisor implements: SMCCC 1.1 (major in \[30:16\], minor in \[15:0\]).
pub const SMCCC_VERSION_1_1: u64 = 0x1_0001;

/// `PSCI_VERSION`.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// `CPU_SUSPEND`, SMC32 form (the SMC64 form adds 0x4000_0000 to each ID that has one).
pub const CPU_SUSPEND: u32 = 0x8400_0001;
/// `CPU_OFF`.
pub const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON`, SMC32 form.
pub const CPU_ON: u32 = 0x8400_0003;
/// `AFFINITY_INFO`, SMC32 form.
pub const AFFINITY_INFO: u32 = 0x8400_0004;
/// `MIGRATE`, SMC32 form.
pub const MIGRATE: u32 = 0x8400_0005;
/// `MIGRATE_INFO_TYPE`.
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// `MIGRATE_INFO_UP_CPU`, SMC32 form.
pub const MIGRATE_INFO_UP_CPU: u32 = 0x8400_0007;
/// `SYSTEM_OFF`.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// `SYSTEM_RESET`.
pub const SYSTEM_RESET: u32 = 0x8400_0009;
/// `PSCI_FEATURES`.
pub const PSCI_FEATURES: u32 = 0x8400_000a;
/// `SYSTEM_RESET2`, SMC32 form (PSCI 1.1, not implemented here).
pub const SYSTEM_RESET2: u32 = 0x8400_0012;
/// The offset from an SMC32 PSCI ID to its SMC64 form.
pub const SMC64: u32 = 0x4000_0000;
/// The version this hypervisor implements: PSCI 1.1 (major in \[31:16\], minor in \[15:0\]).
pub const PSCI_VERSION_1_1: u64 = 0x1_0001;

/// PSCI return codes (DEN0022 table 5-2), as the 64-bit register values a caller sees.
pub mod status {
    /// `SUCCESS`.
    pub const SUCCESS: u64 = 0;
    /// `NOT_SUPPORTED` (-1), also SMCCC's answer to an unknown function.
    pub const NOT_SUPPORTED: u64 = -1i64 as u64;
    /// `INVALID_PARAMETERS` (-2).
    pub const INVALID_PARAMETERS: u64 = -2i64 as u64;
    /// `DENIED` (-3).
    pub const DENIED: u64 = -3i64 as u64;
    /// `ALREADY_ON` (-4).
    pub const ALREADY_ON: u64 = -4i64 as u64;
    /// `ON_PENDING` (-5).
    pub const ON_PENDING: u64 = -5i64 as u64;
    /// `INVALID_ADDRESS` (-9).
    pub const INVALID_ADDRESS: u64 = -9i64 as u64;
    /// `AFFINITY_INFO`: at least one matching core is on.
    pub const AFFINITY_ON: u64 = 0;
    /// `AFFINITY_INFO`: every matching core is off.
    pub const AFFINITY_OFF: u64 = 1;
    /// `AFFINITY_INFO`: a matching core is being switched on.
    pub const AFFINITY_ON_PENDING: u64 = 2;
    /// `MIGRATE_INFO_TYPE`: no Trusted OS needs migration.
    pub const MIGRATE_NOT_REQUIRED: u64 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psci_ids_decode_as_standard_secure_fast_calls() {
        let cpu_on_64 = FunctionId(CPU_ON + SMC64);
        assert_eq!(cpu_on_64.0, 0xc400_0003);
        assert!(cpu_on_64.is_fast_call());
        assert!(cpu_on_64.is_smc64());
        assert_eq!(cpu_on_64.owner(), Owner::StandardSecure);
        assert_eq!(cpu_on_64.number(), 3);
        assert!(!FunctionId(SYSTEM_OFF).is_smc64());
    }

    #[test]
    fn owners_cover_the_whole_field() {
        assert_eq!(FunctionId(SMCCC_VERSION).owner(), Owner::Architecture);
        assert_eq!(FunctionId(0x8600_0000).owner(), Owner::VendorHypervisor);
        assert_eq!(FunctionId(0x8700_0000).owner(), Owner::Reserved(7));
        assert_eq!(FunctionId(0xb100_0000).owner(), Owner::TrustedApplication);
        assert_eq!(FunctionId(0xbf00_0000).owner(), Owner::TrustedOs);
        // A yielding call (bit 31 clear).
        assert!(!FunctionId(0x0400_0000).is_fast_call());
    }

    #[test]
    fn smc32_arguments_lose_their_upper_half() {
        assert_eq!(
            FunctionId(CPU_ON).argument(0xffff_ffff_8000_0000),
            0x8000_0000
        );
        assert_eq!(
            FunctionId(CPU_ON + SMC64).argument(0x1_8000_0000),
            0x1_8000_0000
        );
    }

    #[test]
    fn return_codes_are_sign_extended() {
        assert_eq!(status::NOT_SUPPORTED, 0xffff_ffff_ffff_ffff);
        assert_eq!(status::ALREADY_ON, 0xffff_ffff_ffff_fffc);
        assert_eq!(status::INVALID_ADDRESS as i64, -9);
    }
}
