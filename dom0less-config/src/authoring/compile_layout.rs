//! Computes load addresses for modules given without one.

use std::vec::Vec;

use super::compile::{CompileError, PendingModule};
use super::{parse_number, Document};
use crate::devicetree::{AddressRange, Tree};
use crate::host::HostInfo;

/// Kernels are placed on 2 MiB boundaries (the arm64 Image boot protocol); other modules on pages.
const KERNEL_ALIGN: u64 = 2 << 20;
const PAGE: u64 = 4 << 10;
/// Default distance of the first module from the start of RAM, leaving room for the hypervisor.
const DEFAULT_OFFSET: u64 = 128 << 20;

fn align_up(value: u64, align: u64) -> Option<u64> {
    value.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// The range a claim covers; one that wraps past 2^64 claims everything from its start (the
/// validator refuses it later, naming its start and size).
fn claim(start: u64, size: u64) -> Option<AddressRange> {
    AddressRange::new(start, size).or(AddressRange::from_bounds(start, u64::MAX))
}

/// Everything already claimed: static memory, shared memory, reserved memory, fixed modules.
fn used_ranges(doc: &Document, info: &HostInfo, modules: &[PendingModule]) -> Vec<AddressRange> {
    let mut used: Vec<AddressRange> = info.reserved.iter().map(|r| r.range).collect();
    for p in &doc.partitions {
        for r in &p.static_memory {
            if let (Some(a), Some(s)) = (parse_number(&r.address), parse_number(&r.size)) {
                used.extend(claim(a, s));
            }
        }
    }
    for s in &doc.shared_memory {
        if let (Some(a), Some(size)) = (
            s.host.as_deref().and_then(parse_number),
            parse_number(&s.size),
        ) {
            used.extend(claim(a, size));
        }
    }
    used.extend(
        modules
            .iter()
            .filter_map(|m| m.address.and_then(|a| claim(a, m.size))),
    );
    used
}

/// Gives every module without an address the first free, aligned spot at or above the base.
pub(super) fn place(
    doc: &Document,
    info: &HostInfo,
    _tree: &Tree,
    mut modules: Vec<PendingModule>,
) -> Result<Vec<PendingModule>, CompileError> {
    let mut used = used_ranges(doc, info, &modules);
    let base = match doc.layout.as_ref().and_then(|l| l.module_base.as_deref()) {
        Some(text) => parse_number(text).ok_or_else(|| CompileError::BadNumber {
            field: "layout.module_base".into(),
            value: text.into(),
        })?,
        None => info
            .ram
            .first()
            .map_or(0, |r| r.start().saturating_add(DEFAULT_OFFSET)),
    };
    for m in modules.iter_mut().filter(|m| m.address.is_none()) {
        let align = if m.kind == "kernel" {
            KERNEL_ALIGN
        } else {
            PAGE
        };
        let size = align_up(m.size.max(1), PAGE).unwrap_or(u64::MAX);
        let mut found = None;
        for bank in &info.ram {
            let mut at = align_up(base.max(bank.start()), align);
            while let Some(start) = at {
                let Some(candidate) = AddressRange::new(start, size) else {
                    break;
                };
                if !bank.contains_range(&candidate) {
                    break;
                }
                match used.iter().find(|u| u.overlaps(&candidate)) {
                    Some(u) => at = align_up(u.end(), align),
                    None => {
                        found = Some(candidate);
                        break;
                    }
                }
            }
            if found.is_some() {
                break;
            }
        }
        let Some(spot) = found else {
            let partition = doc
                .partitions
                .get(m.partition)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            return Err(CompileError::NoRoomForModule {
                partition,
                module: m.kind,
                size: m.size,
            });
        };
        m.address = Some(spot.start());
        used.push(spot);
    }
    Ok(modules)
}
