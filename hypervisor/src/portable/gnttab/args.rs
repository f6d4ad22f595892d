//! The guest's argument structures as Xen 4.17 lays them out on arm64 (little-endian, guest
//! handles 8 bytes), read from the bytes the dispatch copies in, and where the results go.

use super::copy::{CopyPtr, CopyRequest};
use super::ops::{MapRequest, UnmapRequest};
use crate::portable::xen::guest_memory::{u16_at, u32_at, u64_at};

/// `struct gnttab_map_grant_ref`: 32 bytes; `status` (i16) at 18, `handle` (u32) at 20,
/// `dev_bus_addr` (u64) at 24.
pub mod map {
    pub const SIZE: usize = 32;
    pub const STATUS: usize = 18;
    pub const HANDLE: usize = 20;
    pub const DEV_BUS_ADDR: usize = 24;
}

/// `struct gnttab_unmap_grant_ref`: 24 bytes, `status` at 20 (and
/// `gnttab_unmap_and_replace`, whose `new_addr` sits where `dev_bus_addr` is).
pub mod unmap {
    pub const SIZE: usize = 24;
    pub const STATUS: usize = 20;
}

/// `struct gnttab_copy`: 40 bytes, `status` at 36.
pub mod copy {
    pub const SIZE: usize = 40;
    pub const STATUS: usize = 36;
}

/// `struct gnttab_setup_table`: `dom` at 0, `nr_frames` at 4, `status` at 8, `frame_list`
/// (guest handle of u64) at 16; 24 bytes.
pub mod setup_table {
    pub const SIZE: usize = 24;
    pub const STATUS: usize = 8;
    pub const FRAME_LIST: usize = 16;
}

/// `struct gnttab_query_size`: `dom` at 0, `nr_frames` at 4, `max_nr_frames` at 8, `status`
/// at 12; 16 bytes.
pub mod query_size {
    pub const SIZE: usize = 16;
    pub const NR_FRAMES: usize = 4;
    pub const MAX_NR_FRAMES: usize = 8;
    pub const STATUS: usize = 12;
}

/// `struct xen_memory_reservation`: `extent_start` (handle) at 0, `nr_extents` at 8,
/// `extent_order` at 16, `mem_flags` at 20, `domid` at 24; 32 bytes.
pub mod reservation {
    pub const SIZE: usize = 32;
}

pub fn map_request(b: &[u8]) -> MapRequest {
    MapRequest {
        host_addr: u64_at(b, 0),
        flags: u32_at(b, 8),
        gref: u32_at(b, 12),
        dom: u16_at(b, 16),
    }
}

/// An unmap; `replace` reads `gnttab_unmap_and_replace` (its `new_addr`), otherwise the
/// `dev_bus_addr` at the same place is ignored, as on Arm.
pub fn unmap_request(b: &[u8], replace: bool) -> UnmapRequest {
    UnmapRequest {
        host_addr: u64_at(b, 0),
        new_addr: if replace { u64_at(b, 8) } else { 0 },
        handle: u32_at(b, 16),
    }
}

fn copy_ptr(b: &[u8], at: usize) -> CopyPtr {
    CopyPtr {
        value: u64_at(b, at),
        domid: u16_at(b, at.saturating_add(8)),
        offset: u16_at(b, at.saturating_add(10)),
    }
}

pub fn copy_request(b: &[u8]) -> CopyRequest {
    CopyRequest {
        source: copy_ptr(b, 0),
        dest: copy_ptr(b, 16),
        len: u16_at(b, 32),
        flags: u16_at(b, 34),
    }
}

/// `setup_table`: (dom, nr_frames, frame_list).
pub fn setup_table_request(b: &[u8]) -> (u16, u32, u64) {
    (
        u16_at(b, 0),
        u32_at(b, 4),
        u64_at(b, setup_table::FRAME_LIST),
    )
}

/// A reservation call's arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub extent_start: u64,
    pub nr_extents: u64,
    pub extent_order: u32,
    pub mem_flags: u32,
    pub domid: u16,
}

pub fn reservation(b: &[u8]) -> Reservation {
    Reservation {
        extent_start: u64_at(b, 0),
        nr_extents: u64_at(b, 8),
        extent_order: u32_at(b, 16),
        mem_flags: u32_at(b, 20),
        domid: u16_at(b, 24),
    }
}
