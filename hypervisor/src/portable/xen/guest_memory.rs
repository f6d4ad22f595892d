//! Guest buffers as Xen's arm64 ABI passes them: guest virtual addresses, translated by the
//! calling vCPU's own stage 1 and stage 2 (the arch layer's `AT S12E1R`/`AT S12E1W`), checked
//! to lie in the partition's RAM, and copied page by page. Any failure is `Fault`, which the
//! hypercalls answer with -EFAULT.
//!
//! Invariant: a byte is read or written only at a host address inside one of the calling
//! partition's RAM banks (never the hypervisor's memory, another partition's or a device),
//! and no copy is longer than [`MAX_COPY`], so a guest value cannot make a copy run long.

use super::abi::PAGE_SIZE;
use crate::portable::guest::boot::GuestBank;

/// The longest buffer one copy handles (the largest fixed structure is 1 KiB; `console_io`
/// works in smaller pieces).
pub const MAX_COPY: usize = 4096;

/// A guest address could not be read or written (unmapped, not RAM, too long, wrapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault;

/// What the hypercalls need of the machine to reach guest memory.
pub trait GuestAccess {
    /// The host physical address the calling vCPU reaches at virtual address `va` for a read
    /// (or, with `write`, a write) at EL1, through its stage 1 and stage 2; `None` on a fault.
    fn translate(&mut self, va: u64, write: bool) -> Option<u64>;
    /// Copies host physical memory at `pa` into `buffer`. Callers only pass ranges that
    /// [`in_ram`] accepted; implementations check again.
    fn read_host(&mut self, pa: u64, buffer: &mut [u8]);
    /// Copies `bytes` to host physical memory at `pa` (same contract as `read_host`).
    fn write_host(&mut self, pa: u64, bytes: &[u8]);
}

/// Whether the host range `pa..pa + size` lies inside one of `banks`.
pub fn in_ram(banks: &[GuestBank], pa: u64, size: u64) -> bool {
    let Some(end) = pa.checked_add(size) else { return false };
    banks.iter().any(|bank| bank.host <= pa && bank.host.checked_add(bank.ipa.size()).is_some_and(|bank_end| end <= bank_end))
}

/// The host address of guest physical range `ipa..ipa + size`, if it lies in one bank.
pub fn ipa_to_host(banks: &[GuestBank], ipa: u64, size: u64) -> Option<u64> {
    let end = ipa.checked_add(size)?;
    banks
        .iter()
        .find(|bank| bank.ipa.start() <= ipa && end <= bank.ipa.end())
        .and_then(|bank| bank.host.checked_add(ipa - bank.ipa.start()))
}

/// The next page-bounded piece of a copy at `va` with `left` bytes to go: its host address
/// (translated and checked to be RAM) and its length.
fn piece(access: &mut impl GuestAccess, banks: &[GuestBank], va: u64, left: usize, write: bool) -> Result<(u64, usize), Fault> {
    let in_page = va % PAGE_SIZE;
    let length = left.min((PAGE_SIZE - in_page) as usize);
    let page = access.translate(va - in_page, write).ok_or(Fault)?;
    let pa = page.checked_add(in_page).ok_or(Fault)?;
    if !in_ram(banks, pa, length as u64) {
        return Err(Fault);
    }
    Ok((pa, length))
}

/// Reads `buffer.len()` bytes of guest memory at virtual address `va`.
pub fn copy_from_guest(access: &mut impl GuestAccess, banks: &[GuestBank], va: u64, buffer: &mut [u8]) -> Result<(), Fault> {
    if buffer.len() > MAX_COPY || va.checked_add(buffer.len() as u64).is_none() {
        return Err(Fault);
    }
    let mut done = 0;
    while done < buffer.len() {
        let address = va + done as u64;
        let (pa, length) = piece(access, banks, address, buffer.len() - done, false)?;
        access.read_host(pa, &mut buffer[done..done + length]);
        done += length;
    }
    Ok(())
}

/// Writes `bytes` to guest memory at virtual address `va`. A fault part way leaves the
/// pieces before it written, as on Xen.
pub fn copy_to_guest(access: &mut impl GuestAccess, banks: &[GuestBank], va: u64, bytes: &[u8]) -> Result<(), Fault> {
    if bytes.len() > MAX_COPY || va.checked_add(bytes.len() as u64).is_none() {
        return Err(Fault);
    }
    let mut done = 0;
    while done < bytes.len() {
        let address = va + done as u64;
        let (pa, length) = piece(access, banks, address, bytes.len() - done, true)?;
        access.write_host(pa, &bytes[done..done + length]);
        done += length;
    }
    Ok(())
}

/// Reads a guest structure of `N` bytes at `va`.
pub fn read_struct<const N: usize>(access: &mut impl GuestAccess, banks: &[GuestBank], va: u64) -> Result<[u8; N], Fault> {
    let mut bytes = [0u8; N];
    copy_from_guest(access, banks, va, &mut bytes)?;
    Ok(bytes)
}

/// Little-endian fields of a structure copied from a guest; a field past the end of `bytes`
/// reads as zero (never a panic).
pub fn u16_at(bytes: &[u8], offset: usize) -> u16 {
    let mut b = [0u8; 2];
    if let Some(field) = bytes.get(offset..offset.saturating_add(2)) {
        b.copy_from_slice(field);
    }
    u16::from_le_bytes(b)
}

/// See [`u16_at`].
pub fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(field) = bytes.get(offset..offset.saturating_add(4)) {
        b.copy_from_slice(field);
    }
    u32::from_le_bytes(b)
}

/// See [`u16_at`].
pub fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(field) = bytes.get(offset..offset.saturating_add(8)) {
        b.copy_from_slice(field);
    }
    u64::from_le_bytes(b)
}
