//! The TOML authoring format: a document people write, compiled into Xen's dom0less binding
//! and recovered from it (`compile` and `decompile`). Needs the `cli` feature (std).

pub mod board_trees;
mod compile;
mod compile_layout;
mod compile_links;
mod decompile;
mod numbers;
pub mod overlay;

use std::collections::BTreeMap;
use std::string::String;
use std::vec::Vec;

use serde::{Deserialize, Serialize};

pub use compile::{compile, CompileError, Compiled};
pub use decompile::decompile;
pub use numbers::{format_address, format_size, parse_number};
pub use overlay::{overlay, OverlayError};

/// A whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// `"read-only"` refuses the hypervisor console's commands that change state
    /// (`bulkhead,console-control`); absent: `"read-write"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_control: Option<String>,
    /// `"off"` leaves the partitions' memory as the firmware left it at their first boot
    /// (`bulkhead,boot-scrub`, for firmware that already clears RAM); absent: `"on"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_scrub: Option<String>,
    /// Where modules without an address are placed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
    /// Explicit CPU pools.
    #[serde(default, rename = "pool", skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<PoolSpec>,
    /// Partitions in boot order.
    #[serde(default, rename = "partition")]
    pub partitions: Vec<PartitionSpec>,
    /// Static event channels between partitions.
    #[serde(default, rename = "channel", skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelSpec>,
    /// Static shared memory regions.
    #[serde(
        default,
        rename = "shared_memory",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub shared_memory: Vec<SharedSpec>,
}

/// Module placement.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// First address tried for modules without an `address` (default: RAM start + 128 MiB).
    pub module_base: Option<String>,
}

/// A CPU pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// Node name under `/chosen`.
    pub name: String,
    /// Logical CPU ids (positions in the host's `/cpus`).
    pub cpus: Vec<u32>,
    /// `null`, `credit2` (default) or `bulkhead,fixed-priority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
}

/// A partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// Node name under `/chosen`.
    pub name: String,
    /// Number of vCPUs.
    pub vcpus: u32,
    /// RAM size, e.g. `"128M"` (required unless `static_memory` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Fixed host RAM banks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_memory: Vec<RangeSpec>,
    /// Map guest physical = host physical (needs `static_memory`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct_map: bool,
    /// Name of a `[[pool]]`; default: the boot CPU's pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Virtual PL011 console.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub console: bool,
    /// `xen,enhanced`: `enabled`, `legacy`, `no-xenstore` or `disabled` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhanced: Option<String>,
    /// `nr_spis`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nr_spis: Option<u32>,
    /// Priority 0..=255 (higher first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: u8,
    /// Credit2 weight 1..=65535 (`bulkhead,weight`; absent: 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Credit2 cap in percent of one CPU (`bulkhead,cap`; absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<u32>,
    /// `stop` (default), `restart` or `halt-system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_crash: Option<String>,
    /// Crash restarts in a row before the partition stays stopped (`bulkhead,restart-limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_limit: Option<u32>,
    /// The first back-off before a limited crash restart, in ms (`bulkhead,restart-backoff-ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_backoff_ms: Option<u32>,
    /// Console-write deadline in ms (`bulkhead,heartbeat-ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u32>,
    /// Trap WFI/WFE to the hypervisor (`bulkhead,trap-wfi`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trap_wfi: bool,
    /// `virtual` (default) or `direct` (`bulkhead,irq-delivery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irq_delivery: Option<String>,
    /// The partitions it may share event channels with (`bulkhead,evtchn-peers`); absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evtchn_peers: Option<Vec<String>>,
    /// The kernel.
    pub kernel: ModuleSpec,
    /// The ramdisk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk: Option<ModuleSpec>,
    /// A partial device tree assigning devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_tree: Option<ModuleSpec>,
    /// `passthrough`: `enabled` or `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<String>,
    /// Per-vCPU affinity and priority.
    #[serde(default, rename = "vcpu", skip_serializing_if = "Vec::is_empty")]
    pub vcpu_settings: Vec<VcpuSpec>,
    /// `max_grant_frames`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_grant_frames: Option<u32>,
    /// `max_maptrack_frames`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_maptrack_frames: Option<u32>,
    /// `llc-colors`, e.g. `"0-3,8"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llc_colors: Option<String>,
    /// Other Xen domain properties, name to hex-encoded raw value, passed through verbatim.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub xen_properties: BTreeMap<String, String>,
}

fn is_zero(value: &u8) -> bool {
    *value == 0
}

/// A host address range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// Start, e.g. `"0x60000000"`.
    pub address: String,
    /// Size, e.g. `"256M"`.
    pub size: String,
}

/// A boot module.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSpec {
    /// File to load, relative to the TOML file; its length gives the size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Load address; computed when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Size; required without `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootargs: Option<String>,
}

/// Per-vCPU settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcpuSpec {
    /// vCPU id.
    pub id: u32,
    /// Allowed CPUs, e.g. `"2-3"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<String>,
    /// Priority override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

/// A static event channel: `"partition:port"` at each end.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// One end, e.g. `"domU1:10"`.
    pub a: String,
    /// The other end.
    pub b: String,
}

/// A static shared memory region.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSpec {
    /// `xen,shm-id` (at most 15 characters).
    pub id: String,
    /// Host address; the hypervisor chooses when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Size.
    pub size: String,
    /// Owning partition; default: the hypervisor owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Partition name to guest address.
    pub map: BTreeMap<String, String>,
}
