//! One partition's grant table: its size, where its frames are mapped, the active entries
//! (which of its grants are pinned, by whom, to which page), its maptrack (the mappings it
//! holds of other partitions' grants) and its RAM pages.
//!
//! It grows with use, as Xen's: a table starts with one grant frame and one page of active
//! entries, gains a frame and its page of active entries each time the guest asks for more
//! frames (up to `max_grant_frames`), and a page of 256 maptrack entries each time a map finds
//! no free handle (up to `max_maptrack_frames`, and no more than the partition has RAM pages).
//! The pages come from the machine's [`PageSource`] charged to the partition, and go back when
//! the partition stops. Only the lists of page pointers are allocated when it is built.

use alloc::collections::TryReserveError;
use alloc::vec::Vec;

use super::abi::{self, ENTRIES_PER_FRAME, MAPTRACK_PER_FRAME, PAGE_SIZE};
use super::memory::GrantMemory;
use super::physmap::{Bank, BankError, Physmap};
use crate::portable::memory::page_pool::PageSource;
use crate::portable::memory::paged::{Paged, Zeroable};

/// A pinned grant of this table (Xen's `active_grant_entry`, host pins only: Arm guests have
/// no device mappings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Active {
    /// The partition the pins belong to (all pins of one entry are one partition's).
    pub mapper: u16,
    /// Writable and read-only pins (maps and copies in progress).
    pub write_pins: u8,
    pub read_pins: u8,
    /// The granter's guest frame, read from the entry when it was first pinned.
    pub gfn: u32,
}

// SAFETY: integers only.
unsafe impl Zeroable for Active {}

impl Active {
    pub fn pinned(&self) -> bool {
        self.write_pins != 0 || self.read_pins != 0
    }
}

/// One mapping this partition holds (Xen's `grant_mapping`); the handle is its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The granting partition and its grant reference.
    pub granter: usize,
    pub gref: u32,
    /// `GNTMAP_readonly` was asked.
    pub readonly: bool,
    /// The guest frame of this partition where the page is mapped.
    pub gfn: u64,
}

/// One maptrack entry, 16 bytes as Xen's `grant_mapping` (256 to a page): a mapping, or a
/// free handle linking to the next free one.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(super) struct Slot {
    gfn: u64,
    /// The grant reference of a mapping; the next free handle of a free slot.
    gref_or_next: u32,
    granter: u16,
    flags: u16,
}

// SAFETY: integers only.
unsafe impl Zeroable for Slot {}

const SLOT_USED: u16 = 1;
const SLOT_READONLY: u16 = 2;
/// The end of the free-handle list.
const NO_HANDLE: u32 = u32::MAX;

impl Slot {
    fn mapping(&self) -> Option<Mapping> {
        (self.flags & SLOT_USED != 0).then_some(Mapping {
            granter: usize::from(self.granter),
            gref: self.gref_or_next,
            readonly: self.flags & SLOT_READONLY != 0,
            gfn: self.gfn,
        })
    }
}

/// Why a table could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    Bank(BankError),
    /// The heap could not hold the lists of page pointers.
    Heap,
}

impl From<BankError> for TableError {
    fn from(error: BankError) -> Self {
        TableError::Bank(error)
    }
}

impl From<TryReserveError> for TableError {
    fn from(_: TryReserveError) -> Self {
        TableError::Heap
    }
}

impl core::fmt::Display for TableError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Bank(error) => write!(f, "{error}"),
            Self::Heap => write!(f, "the hypervisor's heap has no room for the grant table's page lists: use fewer partitions or smaller max_grant_frames/max_maptrack_frames"),
        }
    }
}

/// Sizes from the partition's config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `max_grant_frames` (Xen's default 64).
    pub max_grant_frames: u32,
    /// `max_maptrack_frames` (Xen's default 1024).
    pub max_maptrack_frames: u32,
}

impl Limits {
    /// The plan's values, Xen's defaults where absent.
    pub fn from_plan(max_grant_frames: Option<u32>, max_maptrack_frames: Option<u32>) -> Self {
        Limits {
            max_grant_frames: max_grant_frames.unwrap_or(abi::DEFAULT_MAX_GRANT_FRAMES),
            max_maptrack_frames: max_maptrack_frames.unwrap_or(abi::DEFAULT_MAX_MAPTRACK_FRAMES),
        }
    }
}

/// One partition's grant table.
#[derive(Debug)]
pub struct GrantTable {
    /// The partition (its index): the owner its pages are charged to.
    pub(super) owner: usize,
    pub(super) max_frames: u32,
    pub(super) frames: u32,
    /// Where each frame is mapped in the partition (guest frame), if anywhere.
    pub(super) frame_gfns: Vec<Option<u64>>,
    /// A page of active entries per grant frame.
    pub(super) active: Paged<Active>,
    pub(super) maptrack: Paged<Slot>,
    /// Handles a map may take: at most this many (`max_maptrack_frames` × 256, capped at the
    /// partition's RAM pages).
    pub(super) handle_limit: u32,
    /// The first free handle of the maptrack's pages ([`NO_HANDLE`]: grow first).
    pub(super) free_handle: u32,
    pub(super) physmap: Physmap,
    /// Partitions whose grants it may map or copy, one bit per partition index.
    pub(super) peers: u64,
}

impl GrantTable {
    /// The table of partition `owner`: `limits.max_grant_frames` frames at most, and room for
    /// `max_maptrack_frames * 256` mappings, but no more than the partition has RAM pages
    /// (each mapping occupies one of them). It has no frame until [`GrantTable::grow`] (the
    /// runtime grows it to Xen's one initial frame before the partition starts).
    pub fn new(owner: usize, limits: Limits, banks: &[Bank]) -> Result<Self, TableError> {
        let physmap = Physmap::new(banks)?;
        let (max_frames, handles, _) = Self::sizes(limits, banks);
        let handles = u32::try_from(handles).unwrap_or(u32::MAX);
        let maptrack_pages = handles.div_ceil(MAPTRACK_PER_FRAME) as usize;
        let max_frames = u32::try_from(max_frames).unwrap_or(0);
        let mut frame_gfns = Vec::new();
        frame_gfns.try_reserve_exact(max_frames as usize)?;
        frame_gfns.resize(max_frames as usize, None);
        Ok(GrantTable {
            owner,
            max_frames,
            frames: 0,
            frame_gfns,
            active: Paged::new(max_frames as usize)?,
            maptrack: Paged::new(maptrack_pages)?,
            handle_limit: handles,
            free_handle: NO_HANDLE,
            physmap,
            peers: u64::MAX,
        })
    }

    /// The most pages the table may take from the machine at once: a grant frame and a page
    /// of active entries per frame, the maptrack's pages, and the page states of its RAM.
    pub fn page_cap(limits: Limits, banks: &[Bank]) -> usize {
        let (frames, handles, pages) = Self::sizes(limits, banks);
        let maptrack = handles.div_ceil(u64::from(MAPTRACK_PER_FRAME));
        let states = Physmap::max_state_pages(pages);
        usize::try_from(frames.saturating_mul(2).saturating_add(maptrack).saturating_add(states)).unwrap_or(usize::MAX)
    }

    /// (grant frames at most, maptrack handles, RAM pages) for these limits and banks.
    fn sizes(limits: Limits, banks: &[Bank]) -> (u64, u64, u64) {
        let pages = banks
            .iter()
            .fold(0u64, |n, b| n.saturating_add(b.size / PAGE_SIZE));
        let max_frames = u64::from(limits.max_grant_frames).min(abi::WINDOW_SIZE / PAGE_SIZE);
        let handles = u64::from(limits.max_maptrack_frames)
            .saturating_mul(u64::from(MAPTRACK_PER_FRAME))
            .min(pages)
            .min(u64::from(u32::MAX));
        (max_frames, handles, pages)
    }

    /// Grows the table to `frames` frames (nothing if it has that many): each new frame gets
    /// a page of host RAM and a page of active entries. All or nothing: if the machine has no
    /// page left (the partition's cap, or host RAM), what this call took is given back and the
    /// table keeps its size (Xen's `gnttab_grow_table`). The caller checks `max_frames`.
    pub fn grow(&mut self, frames: u32, mem: &mut impl GrantMemory) -> bool {
        let old = self.frames;
        if frames <= old {
            return true;
        }
        if frames > self.max_frames {
            return false;
        }
        for index in old..frames {
            let backed = self.active.ensure(index as usize, mem, self.owner) && mem.add_frame(self.owner, index).is_ok();
            if !backed {
                self.active.release_from(old as usize, mem, self.owner);
                mem.remove_frames(self.owner, old);
                return false;
            }
        }
        self.frames = frames;
        true
    }

    /// Back to `frames` frames (or fewer if it has fewer), every pin and mapping gone: the
    /// frames and pages past them, every maptrack page and the RAM page states are given back,
    /// and the active entries left are cleared. For a partition that stops, once its
    /// mappings are gone both ways and its RAM is mapped back.
    pub(super) fn shrink(&mut self, frames: u32, mem: &mut impl GrantMemory) {
        let frames = frames.min(self.frames);
        self.active.release_from(frames as usize, mem, self.owner);
        self.active.clear();
        mem.remove_frames(self.owner, frames);
        self.frames = frames;
        self.maptrack.release_from(0, mem, self.owner);
        self.free_handle = NO_HANDLE;
        self.physmap.release_states(mem, self.owner);
    }

    /// Pages the table holds now (grant frames, active entries, maptrack, RAM page states).
    pub fn pages_held(&self) -> usize {
        (self.frames as usize)
            .saturating_add(self.active.present_pages())
            .saturating_add(self.maptrack.present_pages())
            .saturating_add(self.physmap.state_pages())
    }

    /// Admits only these partitions (bit per index) as granters for maps and copies.
    pub fn set_peers(&mut self, peers: u64) {
        self.peers = peers;
    }

    /// Grant-table frames in use (`nr_frames` of `query_size`).
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// The most frames the table may grow to.
    pub fn max_frames(&self) -> u32 {
        self.max_frames
    }

    /// Valid grant references: `0..entries()`.
    pub fn entries(&self) -> u32 {
        self.frames.saturating_mul(ENTRIES_PER_FRAME)
    }

    /// How many mappings it can hold now, without growing.
    pub fn maptrack_capacity(&self) -> usize {
        self.maptrack.present_pages().saturating_mul(MAPTRACK_PER_FRAME as usize)
    }

    /// How many mappings it may ever hold.
    pub fn maptrack_limit(&self) -> u32 {
        self.handle_limit
    }

    /// A mapping by handle.
    pub fn mapping(&self, handle: u32) -> Option<Mapping> {
        self.maptrack.get(handle as usize)?.mapping()
    }

    /// Every mapping held, with its handle.
    pub fn mappings(&self) -> impl Iterator<Item = (u32, Mapping)> + '_ {
        self.maptrack
            .slots()
            .filter_map(|(h, slot)| Some((u32::try_from(h).ok()?, slot.mapping()?)))
    }

    /// Pins on one of its grants: (partition, writable pins, read-only pins).
    pub fn pins(&self, gref: u32) -> Option<(usize, u8, u8)> {
        let a = self.active.get(gref as usize)?;
        a.pinned()
            .then(|| (usize::from(a.mapper), a.write_pins, a.read_pins))
    }

    /// The partition's RAM pages.
    pub fn physmap(&self) -> &Physmap {
        &self.physmap
    }

    /// The partition's RAM pages, for the reservation calls.
    pub fn physmap_mut(&mut self) -> &mut Physmap {
        &mut self.physmap
    }

    /// Where grant frame `index` is mapped (`setup_table`'s frame list).
    pub fn frame_gfn(&self, index: u32) -> Option<u64> {
        self.frame_gfns.get(index as usize).copied().flatten()
    }

    /// A free handle, growing the maptrack by a page when none is free (Xen's
    /// `get_maptrack_handle`); `None` at its limit or when the machine has no page.
    pub(super) fn take_handle(&mut self, mem: &mut impl PageSource) -> Option<u32> {
        if self.free_handle == NO_HANDLE {
            self.grow_maptrack(mem)?;
        }
        let handle = self.free_handle;
        let slot = self.maptrack.get_mut(handle as usize)?;
        self.free_handle = slot.gref_or_next;
        *slot = Slot::default();
        Some(handle)
    }

    fn grow_maptrack(&mut self, mem: &mut impl PageSource) -> Option<()> {
        let page = self.maptrack.present_pages();
        let first = u32::try_from(page.checked_mul(MAPTRACK_PER_FRAME as usize)?).ok()?;
        if first >= self.handle_limit || !self.maptrack.ensure(page, mem, self.owner) {
            return None;
        }
        let end = first.saturating_add(MAPTRACK_PER_FRAME).min(self.handle_limit);
        // Handle `first` is taken first, then `first + 1`, ...
        for handle in first..end {
            let next = handle.saturating_add(1);
            if let Some(slot) = self.maptrack.get_mut(handle as usize) {
                slot.gref_or_next = if next < end { next } else { NO_HANDLE };
            }
        }
        self.free_handle = first;
        Some(())
    }

    /// Records the mapping at a handle [`take_handle`](Self::take_handle) gave.
    pub(super) fn set_mapping(&mut self, handle: u32, mapping: Mapping) {
        if let Some(slot) = self.maptrack.get_mut(handle as usize) {
            *slot = Slot {
                gfn: mapping.gfn,
                gref_or_next: mapping.gref,
                granter: u16::try_from(mapping.granter).unwrap_or(u16::MAX),
                flags: SLOT_USED | if mapping.readonly { SLOT_READONLY } else { 0 },
            };
        }
    }

    pub(super) fn put_handle(&mut self, handle: u32) {
        let next = self.free_handle;
        if let Some(slot) = self.maptrack.get_mut(handle as usize) {
            *slot = Slot { gref_or_next: next, ..Slot::default() };
            self.free_handle = handle;
        }
    }
}
