//! Memory checks: alignment, sizes, containment in RAM, overlaps and free RAM.

use alloc::string::String;
use alloc::vec::Vec;

use super::HostFacts;
use crate::devicetree::AddressRange;
use crate::error::{ConfigError, Region};
use crate::findings::Errors;
use crate::host::HostInfo;
use crate::parse::DomainDraft;
use crate::plan::SharedRegion;

const PAGE: u64 = 0x1000;

/// One memory user.
struct User {
    node: String,
    property: &'static str,
    range: AddressRange,
    region: Region,
    /// The domain a module belongs to (`None` for other users).
    module_of: Option<usize>,
}

fn aligned(range: &AddressRange) -> bool {
    range.is_aligned(PAGE)
}

fn in_ram(info: &HostInfo, range: &AddressRange) -> bool {
    info.ram.iter().any(|bank| bank.contains_range(range))
}

pub(super) fn check(
    info: &HostInfo,
    host: &HostFacts<'_>,
    drafts: &[DomainDraft],
    shared: &[SharedRegion],
    errors: &mut Errors,
) {
    // Modules come first so that an overlap with a module is reported against the module.
    let mut users: Vec<User> = drafts
        .iter()
        .enumerate()
        .flat_map(|(i, d)| [&d.kernel, &d.ramdisk, &d.device_tree].map(|m| (i, m)))
        .filter_map(|(i, m)| m.as_ref().map(|m| (i, m)))
        .map(|(i, m)| User {
            node: m.path.clone(),
            property: "reg",
            range: m.range,
            region: Region::Module {
                node: m.path.clone(),
            },
            module_of: Some(i),
        })
        .collect();
    let mut dynamic: u64 = 0;
    for d in drafts {
        let bytes = d.memory_kib.checked_mul(1024);
        if bytes.is_none() {
            errors.push(ConfigError::InvalidValue {
                node: d.path.clone(),
                property: String::from("memory"),
                value: alloc::format!("{} KiB", d.memory_kib),
                expected: "a size below 2^64 bytes",
            });
        }
        match &d.static_mem {
            Some(banks) => {
                let total = banks.iter().fold(0u64, |s, b| s.saturating_add(b.size()));
                if bytes != Some(total) {
                    errors.push(ConfigError::StaticMemorySizeMismatch {
                        domain: d.path.clone(),
                        memory_kib: d.memory_kib,
                        static_bytes: total,
                    });
                }
                for bank in banks {
                    let node = d.path.clone();
                    users.push(User {
                        node: node.clone(),
                        property: "xen,static-mem",
                        range: *bank,
                        region: Region::StaticMemory { node },
                        module_of: None,
                    });
                }
            }
            None => {
                dynamic = dynamic.saturating_add(bytes.unwrap_or(u64::MAX));
                if d.direct_map {
                    errors.push(ConfigError::DirectMapWithoutStaticMemory {
                        domain: d.path.clone(),
                    });
                }
            }
        }
    }
    for r in shared {
        if let Some(range) = r.host {
            users.push(User {
                node: alloc::format!("shared memory \"{}\"", r.id),
                property: "xen,shared-mem",
                range,
                region: Region::SharedMemory { id: r.id.clone() },
                module_of: None,
            });
        }
    }
    // With the caps on domains, banks and shared memory, there are at most a few thousand
    // users, so comparing every pair is bounded; past the error cap a pair is only counted.
    for u in &users {
        let needs_alignment = !matches!(u.region, Region::Module { .. });
        if needs_alignment && !aligned(&u.range) {
            errors.push(ConfigError::Misaligned {
                node: u.node.clone(),
                property: u.property,
                range: u.range,
            });
        }
        if !in_ram(info, &u.range) {
            errors.push(ConfigError::OutsideRam {
                node: u.node.clone(),
                property: u.property,
                range: u.range,
            });
        }
    }
    for (i, u) in users.iter().enumerate() {
        for other in &users[..i] {
            // One module loaded once and used by several domains (each gets its own copy),
            // as Xen boots it: the same range exactly, in different domains.
            let shared_module = matches!((u.module_of, other.module_of), (Some(a), Some(b)) if a != b)
                && u.range == other.range;
            if u.range.overlaps(&other.range) && !shared_module {
                errors.push_with(|| ConfigError::MemoryOverlap {
                    node: u.node.clone(),
                    range: u.range,
                    other: other.region.clone(),
                    other_range: other.range,
                });
            }
        }
        if !host.hypervisor.is_empty() && u.range.overlaps(&host.hypervisor) {
            errors.push_with(|| ConfigError::MemoryOverlap {
                node: u.node.clone(),
                range: u.range,
                other: Region::Hypervisor,
                other_range: host.hypervisor,
            });
        }
        for r in &info.reserved {
            if u.range.overlaps(&r.range) {
                errors.push_with(|| ConfigError::MemoryOverlap {
                    node: u.node.clone(),
                    range: u.range,
                    other: Region::Reserved {
                        source: r.source.clone(),
                    },
                    other_range: r.range,
                });
            }
        }
    }
    let mut taken: Vec<AddressRange> = users.iter().map(|u| u.range).collect();
    taken.extend(info.reserved.iter().map(|r| r.range));
    if !host.hypervisor.is_empty() {
        taken.push(host.hypervisor);
    }
    let free = free_bytes(&info.ram, &taken);
    if dynamic > free {
        errors.push(ConfigError::OutOfMemory {
            requested: dynamic,
            free,
        });
    }
}

/// RAM bytes not covered by any of `taken` (which may overlap each other).
fn free_bytes(ram: &[AddressRange], taken: &[AddressRange]) -> u64 {
    let mut free = 0u64;
    for bank in ram {
        let bank_end = bank.end();
        let mut cuts: Vec<(u64, u64)> = taken
            .iter()
            .filter(|t| t.overlaps(bank))
            .map(|t| (t.start().max(bank.start()), t.end().min(bank_end)))
            .collect();
        crate::sort::sort(&mut cuts);
        let mut cursor = bank.start();
        for (start, end) in cuts {
            if start > cursor {
                free = free.saturating_add(start - cursor);
            }
            cursor = cursor.max(end);
        }
        free = free.saturating_add(bank_end.saturating_sub(cursor));
    }
    free
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_bytes_subtracts_overlapping_cuts_once() {
        let range = |start, size| AddressRange::new(start, size).expect("no wrap");
        let ram = [range(0x1000, 0x9000)];
        let taken = [
            range(0x2000, 0x2000),
            range(0x3000, 0x2000),
            range(0x0, 0x1800),
        ];
        assert_eq!(free_bytes(&ram, &taken), 0x9000 - 0x800 - 0x3000);
    }
}
