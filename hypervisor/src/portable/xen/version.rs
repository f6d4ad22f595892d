//! `xen_version`: what Xen 4.17 answers a dom0less domU (with the default XSM policy), with
//! our own build's names where Xen gives its own (extraversion, compile information,
//! changeset).

use super::abi::version::{self as command, CAPABILITIES_SIZE, CHANGESET_SIZE, COMPILE_INFO_FIELDS, EXTRAVERSION_SIZE, HANDLE_SIZE};
use super::abi::{errno, feature, PAGE_SIZE};
use super::guest_memory::{copy_from_guest, copy_to_guest, GuestAccess};
use super::Caller;

/// The Xen version we implement the interface of: 4.17.
pub const MAJOR: u64 = 4;
pub const MINOR: u64 = 17;
/// `XENVER_extraversion`.
pub const EXTRAVERSION_TEXT: &str = "-bulkhead";
/// `XENVER_capabilities`: 64-bit guests only (no AArch32 guests here, so no `xen-3.0-armv7l`).
pub const CAPABILITIES_TEXT: &str = "xen-3.0-aarch64 ";
/// `XENVER_changeset`.
pub const CHANGESET_TEXT: &str = concat!("bulkhead ", env!("CARGO_PKG_VERSION"));
/// `XENVER_compile_info`: compiler, compiled by, domain, date.
pub const COMPILE_INFO_TEXT: [&str; 4] = ["rustc", "bulkhead", "", ""];
/// What Xen puts in place of information a domU may not see.
pub const DENIED: &str = "<denied>";
/// `XENVER_platform_parameters`: `virt_start`, Xen's own `HYPERVISOR_VIRT_START` on arm64.
pub const VIRT_START: u64 = 0x20_0000;

/// The feature bits of submap 0 for a domU: auto-translated (the guest sees its own physical
/// address space), SMCCC, and whether its memory is mapped 1:1.
pub fn features(direct_mapped: bool) -> u32 {
    let mapping = if direct_mapped { feature::DIRECT_MAPPED } else { feature::NOT_DIRECT_MAPPED };
    [feature::MEMORY_OP_VNODE_SUPPORTED, feature::WRITABLE_PAGE_TABLES, feature::AUTO_TRANSLATED_PHYSMAP, feature::ARM_SMCCC_SUPPORTED, mapping]
        .iter()
        .fold(0, |bits, bit| bits | (1 << bit))
}

/// A NUL-padded copy of `text` in `N` bytes (always NUL-terminated).
fn padded<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let length = text.len().min(N - 1);
    out[..length].copy_from_slice(&text.as_bytes()[..length]);
    out
}

/// Writes `bytes` to the guest buffer at `va`: 0, or -EFAULT.
fn give(access: &mut impl GuestAccess, caller: &Caller<'_>, va: u64, bytes: &[u8]) -> i64 {
    match copy_to_guest(access, caller.banks, va, bytes) {
        Ok(()) => 0,
        Err(_) => -errno::EFAULT,
    }
}

/// The answer to the `xen_version` commands that touch no guest memory (`XENVER_version`,
/// `XENVER_pagesize`, `XENVER_build_id`): the same for every caller, so the trap fast path
/// answers them. `None` for the others.
pub fn query(cmd: u64, arg: u64) -> Option<i64> {
    match u64::from(cmd as u32) {
        command::VERSION => Some(((MAJOR << 16) | MINOR) as i64),
        command::PAGESIZE => Some(if arg == 0 { PAGE_SIZE as i64 } else { -errno::EINVAL }),
        command::BUILD_ID => Some(-errno::EPERM),
        _ => None,
    }
}

/// `xen_version(cmd, arg)`. The command is a C `int`: only its low 32 bits count.
pub fn xen_version(access: &mut impl GuestAccess, caller: &Caller<'_>, cmd: u64, arg: u64) -> i64 {
    if let Some(answer) = query(cmd, arg) {
        return answer;
    }
    match u64::from(cmd as u32) {
        command::EXTRAVERSION => give(access, caller, arg, &padded::<EXTRAVERSION_SIZE>(EXTRAVERSION_TEXT)),
        command::COMPILE_INFO => {
            let mut info = [0u8; 144];
            let mut at = 0;
            for (text, size) in COMPILE_INFO_TEXT.iter().zip(COMPILE_INFO_FIELDS) {
                let field = &mut info[at..at + size];
                let length = text.len().min(size - 1);
                field[..length].copy_from_slice(&text.as_bytes()[..length]);
                at += size;
            }
            give(access, caller, arg, &info)
        }
        command::CAPABILITIES => give(access, caller, arg, &padded::<CAPABILITIES_SIZE>(CAPABILITIES_TEXT)),
        command::CHANGESET => give(access, caller, arg, &padded::<CHANGESET_SIZE>(CHANGESET_TEXT)),
        command::PLATFORM_PARAMETERS => give(access, caller, arg, &VIRT_START.to_le_bytes()),
        command::GET_FEATURES => {
            let mut info = [0u8; 8];
            if copy_from_guest(access, caller.banks, arg, &mut info).is_err() {
                return -errno::EFAULT;
            }
            let index = u32::from_le_bytes([info[0], info[1], info[2], info[3]]);
            if index != 0 {
                return -errno::EINVAL;
            }
            info[4..].copy_from_slice(&features(caller.direct_mapped).to_le_bytes());
            give(access, caller, arg, &info)
        }
        command::GUEST_HANDLE => give(access, caller, arg, &[0u8; HANDLE_SIZE]),
        // A domU is denied the command line: Xen copies "<denied>" and its NUL.
        command::COMMANDLINE => {
            let mut denied = [0u8; 9];
            denied[..8].copy_from_slice(DENIED.as_bytes());
            give(access, caller, arg, &denied)
        }
        _ => -errno::ENOSYS,
    }
}
