//! One partition's grant table: its size, where its frames are mapped, the active entries
//! (which of its grants are pinned, by whom, to which page), its maptrack (the mappings it
//! holds of other partitions' grants) and its RAM pages. Everything is sized when the
//! partition is built and never grows.

use alloc::vec;
use alloc::vec::Vec;

use super::abi::{self, ENTRIES_PER_FRAME, MAPTRACK_PER_FRAME, PAGE_SIZE};
use super::physmap::{Bank, BankError, Physmap};

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
    pub(super) max_frames: u32,
    pub(super) frames: u32,
    /// Where each frame is mapped in the partition (guest frame), if anywhere.
    pub(super) frame_gfns: Vec<Option<u64>>,
    pub(super) active: Vec<Active>,
    pub(super) maptrack: Vec<Option<Mapping>>,
    pub(super) free_handles: Vec<u32>,
    pub(super) physmap: Physmap,
    /// Partitions whose grants it may map or copy, one bit per partition index.
    pub(super) peers: u64,
}

impl GrantTable {
    /// A table of `limits.max_grant_frames` frames at most (1 to start with, as Xen), and room
    /// for `max_maptrack_frames * 256` mappings, but no more than the partition has RAM pages:
    /// each mapping occupies one of them.
    ///
    /// The grant frames (4 KiB each, `max_grant_frames` of them) are the runtime's, reached
    /// through [`super::GrantMemory`].
    pub fn new(limits: Limits, banks: &[Bank]) -> Result<Self, BankError> {
        let physmap = Physmap::new(banks)?;
        let max_frames = limits
            .max_grant_frames
            .min((abi::WINDOW_SIZE / PAGE_SIZE) as u32);
        let entries = (max_frames as usize).saturating_mul(ENTRIES_PER_FRAME as usize);
        let handles = u64::from(limits.max_maptrack_frames)
            .saturating_mul(u64::from(MAPTRACK_PER_FRAME))
            .min(physmap.total_pages())
            .min(u64::from(u32::MAX));
        let handles = handles as usize;
        Ok(GrantTable {
            max_frames,
            frames: abi::INITIAL_FRAMES.min(max_frames),
            frame_gfns: vec![None; max_frames as usize],
            active: vec![Active::default(); entries],
            maptrack: vec![None; handles],
            // Handle 0 is taken first, then 1, ...
            free_handles: (0..handles as u32).rev().collect(),
            physmap,
            peers: u64::MAX,
        })
    }

    /// Host bytes the table's bookkeeping takes (active entries, maptrack, free handles, frame
    /// addresses, page states), with room for the allocator's rounding: what the runtime
    /// carves from host RAM for it. The grant frames themselves
    /// (`max_grant_frames * 4096` bytes) are counted apart.
    pub fn bookkeeping_bytes(limits: Limits, banks: &[Bank]) -> u64 {
        let (max_frames, handles, pages) = Self::sizes(limits, banks);
        let size = |n: u64, one: usize| n.saturating_mul(one as u64);
        // Each allocation may be rounded up to its alignment and a free-list node.
        let slack = 64;
        [
            size(max_frames, core::mem::size_of::<Option<u64>>()),
            size(max_frames, core::mem::size_of::<Active>())
                .saturating_mul(u64::from(ENTRIES_PER_FRAME)),
            size(handles, core::mem::size_of::<Option<Mapping>>()),
            size(handles, core::mem::size_of::<u32>()),
            size(banks.len() as u64, 64),
            pages.max(8),
        ]
        .iter()
        .fold(0u64, |sum, bytes| {
            sum.saturating_add(*bytes).saturating_add(slack)
        })
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

    /// How many mappings it can hold.
    pub fn maptrack_capacity(&self) -> usize {
        self.maptrack.len()
    }

    /// A mapping by handle.
    pub fn mapping(&self, handle: u32) -> Option<Mapping> {
        self.maptrack.get(handle as usize).copied().flatten()
    }

    /// Every mapping held, with its handle.
    pub fn mappings(&self) -> impl Iterator<Item = (u32, Mapping)> + '_ {
        self.maptrack
            .iter()
            .enumerate()
            .filter_map(|(h, m)| Some((h as u32, (*m)?)))
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

    pub(super) fn take_handle(&mut self) -> Option<u32> {
        self.free_handles.pop()
    }

    pub(super) fn put_handle(&mut self, handle: u32) {
        if let Some(slot) = self.maptrack.get_mut(handle as usize) {
            *slot = None;
            self.free_handles.push(handle);
        }
    }
}
