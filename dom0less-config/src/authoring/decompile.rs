//! Recovers the TOML form of a validated plan.

use std::collections::BTreeMap;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use super::{
    format_address, format_size, ChannelSpec, Document, ModuleSpec, PartitionSpec, PoolSpec,
    RangeSpec, SharedSpec, VcpuSpec,
};
use crate::limits::{DEFAULT_RESTART_BACKOFF_MS, DEFAULT_WEIGHT};
use crate::plan::{CrashPolicy, Enhanced, Memory, Module, PartitionPlan};

fn module(m: &Module) -> ModuleSpec {
    ModuleSpec {
        file: None,
        address: Some(format_address(m.range.start())),
        size: Some(format_size(m.range.size())),
        bootargs: m.bootargs.clone(),
    }
}

fn ranges(values: &[(u32, u32)]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|(l, h)| {
            if l == h {
                l.to_string()
            } else {
                format!("{l}-{h}")
            }
        })
        .collect();
    parts.join(",")
}

/// Collapses sorted CPU indices into `(low, high)` runs.
fn runs(values: &[usize]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for v in values {
        let v = *v as u32;
        match out.last_mut() {
            Some((_, high)) if *high + 1 == v => *high = v,
            _ => out.push((v, v)),
        }
    }
    out
}

fn pool_name(name: &str) -> Option<String> {
    name.strip_prefix("/chosen/").map(String::from)
}

/// The document that compiles back to `plan` (module files become address and size).
pub fn decompile(plan: &PartitionPlan) -> Document {
    let pools = plan
        .pools
        .iter()
        .filter_map(|p| {
            Some(PoolSpec {
                name: pool_name(&p.name)?,
                cpus: p.cpus.iter().map(|c| *c as u32).collect(),
                scheduler: Some(String::from(p.scheduler.name())),
            })
        })
        .collect();
    let mut partitions = Vec::new();
    for p in &plan.partitions {
        let (memory, static_memory, direct_map) = match &p.memory {
            Memory::Allocated { bytes } => (Some(format_size(*bytes)), Vec::new(), false),
            Memory::Static { banks, direct_map } => (
                None,
                banks
                    .iter()
                    .map(|b| RangeSpec {
                        address: format_address(b.start()),
                        size: format_size(b.size()),
                    })
                    .collect(),
                *direct_map,
            ),
        };
        let vcpu_settings = p
            .vcpus
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.affinity.is_empty() || v.priority != p.priority)
            .map(|(id, v)| VcpuSpec {
                id: id as u32,
                affinity: (!v.affinity.is_empty()).then(|| ranges(&runs(&v.affinity))),
                priority: (v.priority != p.priority).then_some(v.priority),
            })
            .collect();
        let enhanced = match p.enhanced {
            Enhanced::Disabled => None,
            Enhanced::Enabled => Some("enabled"),
            Enhanced::Legacy => Some("legacy"),
            Enhanced::NoXenstore => Some("no-xenstore"),
        };
        let xen_properties: BTreeMap<String, String> = p
            .unsupported
            .iter()
            .map(|prop| {
                (
                    String::from(prop.name()),
                    prop.value().iter().map(|b| format!("{b:02x}")).collect(),
                )
            })
            .collect();
        partitions.push(PartitionSpec {
            name: p.name.clone(),
            vcpus: p.vcpu_count,
            memory,
            static_memory,
            direct_map,
            pool: plan
                .pools
                .get(p.pool)
                .and_then(|pool| pool_name(&pool.name)),
            console: p.vpl011,
            enhanced: enhanced.map(String::from),
            nr_spis: p.nr_spis,
            priority: p.priority,
            weight: (p.weight != DEFAULT_WEIGHT).then_some(p.weight),
            cap: (p.cap_percent != 0).then_some(p.cap_percent),
            restart_limit: p.restart_limit,
            restart_backoff_ms: p.restart_backoff_ms.filter(|&ms| ms != DEFAULT_RESTART_BACKOFF_MS),
            heartbeat_ms: p.heartbeat_ms,
            on_crash: (p.crash_policy != CrashPolicy::Stop)
                .then(|| String::from(p.crash_policy.name())),
            trap_wfi: p.trap_wfi,
            irq_delivery: (p.irq_delivery != crate::plan::IrqDelivery::Virtual)
                .then(|| String::from(p.irq_delivery.name())),
            evtchn_peers: p.evtchn_peers.as_ref().map(|peers| {
                peers
                    .iter()
                    .filter_map(|&i| plan.partitions.get(i).map(|o| o.name.clone()))
                    .collect()
            }),
            kernel: module(&p.kernel),
            ramdisk: p.ramdisk.as_ref().map(module),
            device_tree: p.device_tree.as_ref().map(module),
            passthrough: p
                .passthrough
                .enabled
                .map(|e| String::from(if e { "enabled" } else { "disabled" })),
            vcpu_settings,
            max_grant_frames: p.max_grant_frames,
            max_maptrack_frames: p.max_maptrack_frames,
            llc_colors: (!p.llc_colors.is_empty()).then(|| ranges(&p.llc_colors)),
            xen_properties,
        });
    }
    let mut channels = Vec::new();
    for (i, p) in plan.partitions.iter().enumerate() {
        for c in &p.event_channels {
            if (i, c.port) < (c.remote_partition, c.remote_port) {
                let remote = plan
                    .partitions
                    .get(c.remote_partition)
                    .map_or("", |r| r.name.as_str());
                channels.push(ChannelSpec {
                    a: format!("{}:{}", p.name, c.port),
                    b: format!("{remote}:{}", c.remote_port),
                });
            }
        }
    }
    let shared_memory = plan
        .shared_regions
        .iter()
        .enumerate()
        .map(|(index, r)| SharedSpec {
            id: r.id.clone(),
            host: r.host.map(|h| format_address(h.start())),
            size: format_size(r.size),
            owner: r
                .owner
                .and_then(|o| plan.partitions.get(o))
                .map(|p| p.name.clone()),
            map: plan
                .partitions
                .iter()
                .flat_map(|p| {
                    p.shared_memory
                        .iter()
                        .filter(move |m| m.region == index)
                        .map(move |m| (p.name.clone(), format_address(m.guest_address)))
                })
                .collect(),
        })
        .collect();
    Document {
        console_control: plan.console_read_only.then(|| String::from("read-only")),
        boot_scrub: plan.skip_boot_scrub.then(|| String::from("off")),
        layout: None,
        pools,
        partitions,
        channels,
        shared_memory,
    }
}
