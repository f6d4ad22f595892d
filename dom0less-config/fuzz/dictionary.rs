//! What the mutations write: the binding's property names and values, and words that sit
//! on the edges of lengths, offsets, tokens and caps.

/// Property names the binding gives meaning to.
pub const NAMES: &[&str] = &[
    "compatible",
    "reg",
    "phandle",
    "#address-cells",
    "#size-cells",
    "memory",
    "cpus",
    "xen,static-mem",
    "hard-affinity",
    "cpupool-cpus",
    "cpupool-sched",
    "domain-cpupool",
    "xen,evtchn",
    "xen,shared-mem",
    "xen,shm-id",
    "role",
    "id",
    "llc-colors",
    "ranges",
    "interrupts",
    "xen,reg",
    "xen,path",
    "device_type",
    "bulkhead,priority",
    "xen,enhanced",
    "passthrough",
    "bootargs",
    "direct-map",
    "#xen,static-mem-address-cells",
    "sve",
];

/// String values the binding gives meaning to.
pub const STRINGS: &[&str] = &[
    "0-3,5",
    "0-255",
    "0-256",
    "0-4000000000",
    "3-1",
    "null",
    "credit2",
    "owner",
    "cpu",
    "memory",
    "xen,domain",
    "xen,cpupool",
    "xen,vcpu",
    "xen,evtchn-v1",
    "multiboot,kernel",
    "multiboot,module",
    "multiboot,device-tree",
    "xen,domain-shared-memory-v1",
    "no-xenstore",
    "/soc/serial@7e201400",
    "",
];

/// Words worth writing over lengths, offsets, tokens and cells.
pub const WORDS: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    9,
    0x10,
    0x40,
    0x41,
    0x80,
    0x81,
    0x100,
    0x101,
    0x1000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffc,
    0xffff_ffff,
];

/// Names for added nodes.
pub const NODE_NAMES: &[&str] = &["vcpu", "evtchn@1", "pool", "domU9", "shm"];
