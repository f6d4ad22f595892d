//! Reads one `xen,domain` node's own properties.

use alloc::format;
use alloc::string::String;

use super::{parse_ranges, subnodes, DomainDraft, Reader};
use crate::devicetree::NodeId;
use crate::error::{ConfigError, Warning};
use crate::limits::{Limit, MAX_HEARTBEAT_MS, MAX_RESTART_BACKOFF_MS, MAX_STATIC_BANKS, MAX_VCPUS, MIN_HEARTBEAT_MS};
use crate::plan::{CrashPolicy, Enhanced, IrqDelivery};

/// Domain properties this crate acts on (Xen's binding plus `bulkhead,` extensions).
pub const MODELLED: &[&str] = &[
    "compatible",
    "#address-cells",
    "#size-cells",
    "memory",
    "cpus",
    "vpl011",
    "xen,static-mem",
    "#xen,static-mem-address-cells",
    "#xen,static-mem-size-cells",
    "direct-map",
    "domain-cpupool",
    "xen,enhanced",
    "nr_spis",
    "llc-colors",
    "max_grant_frames",
    "max_maptrack_frames",
    "passthrough",
    "phandle",
    "linux,phandle",
    "bulkhead,priority",
    "bulkhead,weight",
    "bulkhead,cap",
    "bulkhead,on-crash",
    "bulkhead,restart-limit",
    "bulkhead,restart-backoff-ms",
    "bulkhead,heartbeat-ms",
    "bulkhead,trap-wfi",
    "bulkhead,irq-delivery",
    "bulkhead,evtchn-peers",
];

/// Legal Xen domain properties that are kept but have no effect yet.
pub const LEGAL_UNMODELLED: &[&str] = &[
    "capabilities",
    "sve",
    "trap-unmapped-accesses",
    "xen,domain-p2m-mem-mb",
    "max_grant_version",
    "xen,sci_type",
    "v8r_el1_msa",
];

/// Reads a `bulkhead,priority` property (0..=255).
pub(super) fn priority(reader: &mut Reader<'_>, node: NodeId) -> Option<u8> {
    let value = reader.u32(node, "bulkhead,priority")?;
    match u8::try_from(value) {
        Ok(v) => Some(v),
        Err(_) => {
            reader.invalid(
                node,
                "bulkhead,priority",
                format!("{value}"),
                "a number from 0 to 255",
            );
            None
        }
    }
}

/// Reads a `bulkhead,weight` property (1..=65535).
fn weight(reader: &mut Reader<'_>, node: NodeId) -> Option<u16> {
    let value = reader.u32(node, "bulkhead,weight")?;
    match u16::try_from(value) {
        Ok(v) if v > 0 => Some(v),
        _ => {
            reader.invalid(
                node,
                "bulkhead,weight",
                format!("{value}"),
                "a number from 1 to 65535 (the default is 256)",
            );
            None
        }
    }
}

pub(super) fn read_domain(reader: &mut Reader<'_>, node: NodeId) -> DomainDraft {
    let tree = reader.tree;
    let path = tree.path(node);
    let mut d = DomainDraft {
        node: Some(node),
        path: path.clone(),
        name: String::from(tree.node(node).name()),
        ..Default::default()
    };
    // First, so that a cap is listed before the findings of the other properties.
    read_static_mem(reader, node, &mut d);

    for property in tree.node(node).properties() {
        let name = property.name();
        if LEGAL_UNMODELLED.contains(&name) {
            // A node has each property once; a repeated name is kept once, so that the plan
            // holds at most one copy per legal name.
            if d.unsupported.iter().any(|p| p.name() == name) {
                continue;
            }
            reader.warnings.push(Warning::NotSupportedYet {
                node: path.clone(),
                property: String::from(name),
            });
            d.unsupported.push(property.clone());
        } else if !MODELLED.contains(&name) {
            reader.errors.push(ConfigError::UnknownProperty {
                node: path.clone(),
                property: String::from(name),
            });
        }
    }

    match reader.property(node, "memory") {
        None => reader.errors.push(ConfigError::MissingProperty {
            node: path.clone(),
            property: "memory",
        }),
        Some(p) if p.value().len() != 8 => reader.invalid(
            node,
            "memory",
            format!("{} bytes", p.value().len()),
            "a 64-bit number of KiB (two cells)",
        ),
        Some(p) => d.memory_kib = p.u64().unwrap_or(0),
    }
    match reader.u32(node, "cpus") {
        None if reader.property(node, "cpus").is_none() => {
            reader.errors.push(ConfigError::MissingProperty {
                node: path.clone(),
                property: "cpus",
            })
        }
        None => {}
        Some(n) if n == 0 || n as usize > MAX_VCPUS => reader.invalid(
            node,
            "cpus",
            format!("{n}"),
            "1 to 128 vCPUs (Xen's MAX_VIRT_CPUS on Arm)",
        ),
        Some(n) => d.vcpu_count = n,
    }
    d.vpl011 = reader.property(node, "vpl011").is_some();
    d.trap_wfi = reader.property(node, "bulkhead,trap-wfi").is_some();
    d.irq_delivery = match reader.string(node, "bulkhead,irq-delivery") {
        None => None,
        Some("virtual") => Some(IrqDelivery::Virtual),
        Some("direct") => Some(IrqDelivery::Direct),
        Some(other) => {
            reader.invalid(
                node,
                "bulkhead,irq-delivery",
                format!("\"{other}\""),
                "\"virtual\" (the default) or \"direct\"",
            );
            None
        }
    };
    d.evtchn_peers = reader
        .property(node, "bulkhead,evtchn-peers")
        .map(|p| p.strings().map(String::from).collect());
    d.direct_map = reader.property(node, "direct-map").is_some();
    d.enhanced = read_enhanced(reader, node);
    d.nr_spis = reader.u32(node, "nr_spis");
    d.max_grant_frames = reader.u32(node, "max_grant_frames");
    d.max_maptrack_frames = reader.u32(node, "max_maptrack_frames");
    if let Some(text) = reader.string(node, "llc-colors") {
        match parse_ranges(text) {
            Some(r) => d.llc_colors = r,
            None => reader.invalid(
                node,
                "llc-colors",
                format!("\"{text}\""),
                "a list like \"0-3,5\"",
            ),
        }
    }
    d.passthrough = match reader.string(node, "passthrough") {
        None => None,
        Some("enabled") => Some(true),
        Some("disabled") => Some(false),
        Some(other) => {
            reader.invalid(
                node,
                "passthrough",
                format!("\"{other}\""),
                "\"enabled\" or \"disabled\"",
            );
            None
        }
    };
    if let Some(handle) = reader.u32(node, "domain-cpupool") {
        if let Some(target) = reader.phandle(node, "domain-cpupool", handle) {
            if tree.node(target).is_compatible("xen,cpupool") {
                d.pool = Some(target);
            } else {
                reader.errors.push(ConfigError::WrongPhandleTarget {
                    node: path.clone(),
                    property: "domain-cpupool",
                    target: tree.path(target),
                    expected: "a node with compatible = \"xen,cpupool\"",
                });
            }
        }
    }
    d.priority = priority(reader, node).unwrap_or(0);
    d.weight = weight(reader, node);
    d.cap = reader.u32(node, "bulkhead,cap");
    d.crash_policy = match reader.string(node, "bulkhead,on-crash") {
        None => None,
        Some("stop") => Some(CrashPolicy::Stop),
        Some("restart") => Some(CrashPolicy::Restart),
        Some("halt-system") => Some(CrashPolicy::HaltSystem),
        Some(other) => {
            reader.invalid(
                node,
                "bulkhead,on-crash",
                format!("\"{other}\""),
                "\"stop\", \"restart\" or \"halt-system\"",
            );
            None
        }
    };
    d.restart_limit = reader.u32(node, "bulkhead,restart-limit");
    if let (Some(limit), crash) = (d.restart_limit, d.crash_policy) {
        if limit == 0 || crash != Some(CrashPolicy::Restart) {
            reader.invalid(
                node,
                "bulkhead,restart-limit",
                format!("{limit}"),
                "a number of restarts from 1, with bulkhead,on-crash = \"restart\" (the limit counts those restarts)",
            );
            d.restart_limit = None;
        }
    }
    d.restart_backoff_ms = reader.u32(node, "bulkhead,restart-backoff-ms");
    if let Some(base) = d.restart_backoff_ms {
        if !(1..=MAX_RESTART_BACKOFF_MS).contains(&base) || d.restart_limit.is_none() {
            reader.invalid(
                node,
                "bulkhead,restart-backoff-ms",
                format!("{base}"),
                "milliseconds from 1 to 60000, with bulkhead,restart-limit (the back-off grows between the limited restarts)",
            );
            d.restart_backoff_ms = None;
        }
    }
    d.heartbeat_ms = reader.u32(node, "bulkhead,heartbeat-ms");
    if let Some(ms) = d.heartbeat_ms {
        if !(MIN_HEARTBEAT_MS..=MAX_HEARTBEAT_MS).contains(&ms) {
            reader.invalid(
                node,
                "bulkhead,heartbeat-ms",
                format!("{ms}"),
                "milliseconds from 10 to 3600000 (1 hour) within which the partition must write to its console",
            );
            d.heartbeat_ms = None;
        }
    }
    let cells = domain_cells(reader, node);
    subnodes::read_subnodes(reader, node, cells, &mut d);
    d
}

fn read_enhanced(reader: &mut Reader<'_>, node: NodeId) -> Option<Enhanced> {
    let p = reader.property(node, "xen,enhanced")?;
    if p.is_empty() {
        return Some(Enhanced::Enabled);
    }
    match reader.string(node, "xen,enhanced")? {
        "" | "enabled" => Some(Enhanced::Enabled),
        "legacy" => Some(Enhanced::Legacy),
        "disabled" => Some(Enhanced::Disabled),
        "no-xenstore" => Some(Enhanced::NoXenstore),
        other => {
            reader.invalid(
                node,
                "xen,enhanced",
                format!("\"{other}\""),
                "\"enabled\", \"legacy\", \"no-xenstore\" or \"disabled\"",
            );
            None
        }
    }
}

/// The domain's `#address-cells`/`#size-cells`, required because sub-nodes have `reg`.
fn domain_cells(reader: &mut Reader<'_>, node: NodeId) -> Option<(u32, u32)> {
    let path = reader.tree.path(node);
    let get = |reader: &mut Reader<'_>, name: &'static str| {
        if reader.property(node, name).is_none() {
            reader.errors.push(ConfigError::MissingProperty {
                node: path.clone(),
                property: name,
            });
            return None;
        }
        let value = reader.u32(node, name)?;
        if value > 2 || (name == "#address-cells" && value == 0) {
            reader.invalid(
                node,
                name,
                format!("{value}"),
                "1 or 2 (0 allowed for #size-cells)",
            );
            return None;
        }
        Some(value)
    };
    let address = get(reader, "#address-cells");
    let size = get(reader, "#size-cells");
    Some((address?, size?))
}

/// `xen,static-mem` uses `#xen,static-mem-*-cells` when present (Xen before 4.18), else the
/// cell counts inherited from the domain's parent.
fn read_static_mem(reader: &mut Reader<'_>, node: NodeId, d: &mut DomainDraft) {
    let Some(p) = reader.property(node, "xen,static-mem") else {
        return;
    };
    let tree = reader.tree;
    let parent = tree.node(node).parent().unwrap_or(tree.root());
    let inherited = |name: &str, default: u32| {
        let mut at = Some(parent);
        while let Some(n) = at {
            if let Some(v) = tree.node(n).property(name).and_then(|p| p.u32().ok()) {
                return v;
            }
            at = tree.node(n).parent();
        }
        default
    };
    let address = reader
        .u32(node, "#xen,static-mem-address-cells")
        .unwrap_or_else(|| inherited("#address-cells", 2));
    let size = reader
        .u32(node, "#xen,static-mem-size-cells")
        .unwrap_or_else(|| inherited("#size-cells", 1));
    // Count the banks before decoding them, so that thousands cost no allocation.
    let entry_bytes = (address as usize)
        .saturating_add(size as usize)
        .saturating_mul(4);
    let count = p.value().len().checked_div(entry_bytes).unwrap_or(0);
    if count > MAX_STATIC_BANKS {
        reader.errors.push(ConfigError::TooMany {
            node: d.path.clone(),
            limit: Limit::StaticMemoryBanks,
            count,
        });
        return;
    }
    match reader.ranges(node, p, address, size) {
        Some(banks) if !banks.is_empty() => d.static_mem = Some(banks),
        Some(_) => reader.invalid(
            node,
            "xen,static-mem",
            String::from("<>"),
            "at least one (address, size) bank",
        ),
        None => {}
    }
}
