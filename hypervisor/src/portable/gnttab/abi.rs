//! Xen's grant-table ABI as Xen 4.17 defines it (`public/grant_table.h`, `public/memory.h`):
//! operation numbers, the v1 entry layout, flag bits, status codes and defaults.

/// `GNTTABOP_*` operation numbers.
pub mod op {
    pub const MAP_GRANT_REF: u32 = 0;
    pub const UNMAP_GRANT_REF: u32 = 1;
    pub const SETUP_TABLE: u32 = 2;
    pub const DUMP_TABLE: u32 = 3;
    pub const TRANSFER: u32 = 4;
    pub const COPY: u32 = 5;
    pub const QUERY_SIZE: u32 = 6;
    pub const UNMAP_AND_REPLACE: u32 = 7;
    pub const SET_VERSION: u32 = 8;
    pub const GET_STATUS_FRAMES: u32 = 9;
    pub const GET_VERSION: u32 = 10;
    pub const SWAP_GRANT_REF: u32 = 11;
    pub const CACHE_FLUSH: u32 = 12;
}

/// `GTF_*`: the `flags` half-word of a v1 entry.
pub mod gtf {
    pub const INVALID: u16 = 0;
    pub const PERMIT_ACCESS: u16 = 1;
    pub const ACCEPT_TRANSFER: u16 = 2;
    pub const TRANSITIVE: u16 = 3;
    pub const TYPE_MASK: u16 = 3;
    pub const READONLY: u16 = 1 << 2;
    pub const READING: u16 = 1 << 3;
    pub const WRITING: u16 = 1 << 4;
    pub const PWT: u16 = 1 << 5;
    pub const PCD: u16 = 1 << 6;
    pub const PAT: u16 = 1 << 7;
    pub const SUB_PAGE: u16 = 1 << 8;
}

/// `GNTMAP_*`: the `flags` of a map request.
pub mod gntmap {
    pub const DEVICE_MAP: u32 = 1 << 0;
    pub const HOST_MAP: u32 = 1 << 1;
    pub const READONLY: u32 = 1 << 2;
    pub const APPLICATION_MAP: u32 = 1 << 3;
    pub const CONTAINS_PTE: u32 = 1 << 4;
}

/// `GNTCOPY_*`: which side of a copy is a grant reference.
pub mod gntcopy {
    pub const SOURCE_GREF: u16 = 1 << 0;
    pub const DEST_GREF: u16 = 1 << 1;
}

/// `DOMID_SELF`.
pub const DOMID_SELF: u16 = 0x7ff0;

/// Size of one v1 entry: `flags` (u16), `domid` (u16), `frame` (u32).
pub const ENTRY_SIZE: u64 = 8;
/// A grant-table frame, and any granted page.
pub const PAGE_SIZE: u64 = 4096;
/// v1 entries per grant-table frame.
pub const ENTRIES_PER_FRAME: u32 = 512;
/// Xen's maptrack entries per maptrack frame (`struct grant_mapping` is 16 bytes).
pub const MAPTRACK_PER_FRAME: u32 = 256;
/// Xen 4.17's `gnttab_max_frames` default, which a dom0less domU gets without
/// `max_grant_frames`.
pub const DEFAULT_MAX_GRANT_FRAMES: u32 = 64;
/// Xen 4.17's `gnttab_max_maptrack_frames` default.
pub const DEFAULT_MAX_MAPTRACK_FRAMES: u32 = 1024;
/// Frames a table has before the guest grows it (`INITIAL_NR_GRANT_FRAMES`).
pub const INITIAL_FRAMES: u32 = 1;
/// Xen retries a compare-exchange on a guest-shared entry this many times, then gives up
/// (`_set_status_v1`: the guest may race it, but not for ever).
pub const CMPXCHG_TRIES: u32 = 5;
/// A pin counter refuses another pin once it reaches this (Xen's 8-bit counters with their
/// top bit as the overflow guard).
pub const PIN_LIMIT: u8 = 0x80;
/// Largest extent order a domU may use in reservation calls (`CONFIG_DOMU_MAX_ORDER`).
pub const MAX_EXTENT_ORDER: u32 = 9;
/// Xen on Arm's `INVALID_GFN`, written by `setup_table` for a frame not mapped anywhere.
pub const INVALID_GFN: u64 = u64::MAX;
/// The guest address window for grant-table frames (`GUEST_GNTTAB_BASE`/`SIZE`), which the
/// `/hypervisor` node announces.
pub const WINDOW_BASE: u64 = 0x3800_0000;
pub const WINDOW_SIZE: u64 = 0x0100_0000;
/// `XENMAPIDX_grant_table_status`: asks for a v2 status frame.
pub const MAPIDX_STATUS: u64 = 0x8000_0000;

/// `GNTST_*`: the per-operation status a guest reads back (`int16_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i16)]
pub enum GrantStatus {
    Okay = 0,
    GeneralError = -1,
    BadDomain = -2,
    BadGntref = -3,
    BadHandle = -4,
    BadVirtAddr = -5,
    BadDevAddr = -6,
    NoDeviceSpace = -7,
    PermissionDenied = -8,
    BadPage = -9,
    BadCopyArg = -10,
    AddressTooBig = -11,
    Eagain = -12,
    NoSpace = -13,
}

impl GrantStatus {
    /// The value written into the request's `status` field.
    pub const fn code(self) -> i16 {
        self as i16
    }
}
