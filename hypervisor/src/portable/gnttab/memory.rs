//! What the grant tables need from the machine: atomic access to each partition's grant-table
//! frames, byte copies between granted pages, and changes to stage 2.
//!
//! Host frames reach the runtime only as [`HostFrame`], which only [`super::Physmap`] makes,
//! from a partition's own RAM banks: no operation can name hypervisor memory or a page that
//! was not granted.

use core::fmt;
use core::ptr::NonNull;

use crate::portable::memory::page_pool::PageSource;

/// A 4 KiB page of some partition's RAM, by host physical address.
///
/// Invariant: page-aligned and inside the RAM banks of the partition whose [`super::Physmap`]
/// made it (the plan keeps those banks apart from the hypervisor and every other partition).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostFrame(u64);

impl HostFrame {
    /// Only the physmap makes frames.
    pub(super) const fn new(address: u64) -> Self {
        HostFrame(address)
    }

    /// The page's host physical address.
    pub const fn address(self) -> u64 {
        self.0
    }
}

/// Part of a page: `offset + len` is at most 4096 (the module checks before it asks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub frame: HostFrame,
    pub offset: u16,
}

/// Why the machine refused an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The grant-table frames of `partition` have no word at `offset`.
    Table { partition: usize, offset: u64 },
    /// A copy between pages failed.
    Copy { from: u64, to: u64 },
    /// No page of host RAM for grant frame `index` of `partition` (its cap, or host RAM, ran
    /// out).
    NoPage { partition: usize, index: u32 },
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Table { partition, offset } => write!(
                f,
                "grant-table word at offset {offset:#x} of partition {partition} is not backed: \
                 the table must be grown to a frame before its entries are used"
            ),
            Self::Copy { from, to } => write!(
                f,
                "grant copy from host {from:#x} to {to:#x} failed: both must be RAM pages the \
                 hypervisor maps"
            ),
            Self::NoPage { partition, index } => write!(
                f,
                "no page of host RAM for grant frame {index} of partition {partition}: its \
                 cap or the board's free RAM ran out; lower its max_grant_frames"
            ),
        }
    }
}

/// The grant-table frames of every partition (pages the hypervisor owns and lets the guest map
/// at the grant-table window), copies between granted pages, and the pages the tables grow by
/// (its [`PageSource`], charged to a partition).
///
/// Table offsets are byte offsets from the start of the partition's first frame, 4-byte
/// aligned and below the frames the table has (checked by the module). Each call is one atomic
/// access: the guest changes the same words concurrently.
pub trait GrantMemory: PageSource {
    /// Backs grant frame `index` of `partition` with a zeroed page of host RAM charged to it
    /// (a frame already backed is kept as it is).
    fn add_frame(&mut self, partition: usize, index: u32) -> Result<(), MemoryError>;
    /// Gives back the grant frames `first..` of `partition`.
    fn remove_frames(&mut self, partition: usize, first: u32);
    /// Reads a word.
    fn load(&mut self, partition: usize, offset: u64) -> Result<u32, MemoryError>;
    /// Writes `new` if the word holds `current`; returns the value found either way.
    fn compare_exchange(
        &mut self,
        partition: usize,
        offset: u64,
        current: u32,
        new: u32,
    ) -> Result<u32, MemoryError>;
    /// ANDs `bits` into a word; returns the previous value.
    fn fetch_and(&mut self, partition: usize, offset: u64, bits: u32) -> Result<u32, MemoryError>;
    /// Copies `len` bytes between two pages (the spans do not cross their page).
    fn copy(&mut self, from: Span, to: Span, len: u16) -> Result<(), MemoryError>;
}

/// How a page is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadOnly,
    ReadWrite,
}

/// The stage-2 table refused a change (no table page left).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2Error;

/// Changes to partitions' stage-2 tables, made by the runtime while the grant lock is held
/// (so that no unmap can overtake the map it undoes).
///
/// `unmap` must leave no stale translation: invalidate the IPA for the partition's VMID on
/// every CPU (TLBI IPAS2E1IS, then VMALLE1IS, DSB ISH) before it returns.
pub trait Stage2 {
    /// Maps a page of RAM (the partition's own, or a granted one) at guest frame `gfn`,
    /// replacing the partition's own page if it is there (a grant mapped over present RAM).
    fn map(
        &mut self,
        partition: usize,
        gfn: u64,
        frame: HostFrame,
        access: Access,
    ) -> Result<(), Stage2Error>;
    /// Maps grant-table frame `index` of the partition's own table at guest frame `gfn`.
    fn map_table_frame(
        &mut self,
        partition: usize,
        gfn: u64,
        index: u32,
    ) -> Result<(), Stage2Error>;
    /// Removes the page at guest frame `gfn`, with TLB maintenance.
    fn unmap(&mut self, partition: usize, gfn: u64);
}

// SAFETY: the borrowed source keeps its own promises.
unsafe impl<T: PageSource + ?Sized> PageSource for &mut T {
    fn take_page(&mut self, owner: usize) -> Option<NonNull<u8>> {
        (**self).take_page(owner)
    }
    unsafe fn give_page(&mut self, owner: usize, page: NonNull<u8>) {
        // SAFETY: the caller's promise, passed on.
        unsafe { (**self).give_page(owner, page) }
    }
}

/// A borrowed grant memory is one too (the runtime hands the operations trait objects).
impl<T: GrantMemory + ?Sized> GrantMemory for &mut T {
    fn add_frame(&mut self, partition: usize, index: u32) -> Result<(), MemoryError> {
        (**self).add_frame(partition, index)
    }
    fn remove_frames(&mut self, partition: usize, first: u32) {
        (**self).remove_frames(partition, first)
    }
    fn load(&mut self, partition: usize, offset: u64) -> Result<u32, MemoryError> {
        (**self).load(partition, offset)
    }
    fn compare_exchange(
        &mut self,
        partition: usize,
        offset: u64,
        current: u32,
        new: u32,
    ) -> Result<u32, MemoryError> {
        (**self).compare_exchange(partition, offset, current, new)
    }
    fn fetch_and(&mut self, partition: usize, offset: u64, bits: u32) -> Result<u32, MemoryError> {
        (**self).fetch_and(partition, offset, bits)
    }
    fn copy(&mut self, from: Span, to: Span, len: u16) -> Result<(), MemoryError> {
        (**self).copy(from, to, len)
    }
}

/// A borrowed stage 2 is one too.
impl<T: Stage2 + ?Sized> Stage2 for &mut T {
    fn map(
        &mut self,
        partition: usize,
        gfn: u64,
        frame: HostFrame,
        access: Access,
    ) -> Result<(), Stage2Error> {
        (**self).map(partition, gfn, frame, access)
    }
    fn map_table_frame(
        &mut self,
        partition: usize,
        gfn: u64,
        index: u32,
    ) -> Result<(), Stage2Error> {
        (**self).map_table_frame(partition, gfn, index)
    }
    fn unmap(&mut self, partition: usize, gfn: u64) {
        (**self).unmap(partition, gfn)
    }
}
