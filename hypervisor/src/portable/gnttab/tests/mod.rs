//! Host tests of the grant tables: fake grant frames, fake RAM, a fake stage 2, and a world of
//! partitions driven as the runtime will drive them.

mod control;
mod copy;
mod fuzz;
mod growth;
mod lifecycle;
mod map;
mod reservation;

use std::collections::{BTreeMap, BTreeSet};

use super::abi::{gtf, ENTRY_SIZE, PAGE_SIZE};
use super::*;
use crate::portable::memory::page_pool::fake::HeapPages;
use crate::portable::memory::page_pool::PageSource;
use core::ptr::NonNull;

/// Guest RAM of every partition: 1 MiB at 0x4000_0000.
pub const RAM: u64 = 0x4000_0000;
pub const RAM_PAGES: u64 = 256;
pub const RAM_GFN: u64 = RAM / PAGE_SIZE;

/// Host address of partition `p`'s RAM.
pub fn host_base(p: usize) -> u64 {
    0x1_0000_0000 + (p as u64) * 0x10_0000
}

/// Grant frames (per partition, by byte offset) and host RAM (by byte address).
#[derive(Default)]
pub struct FakeMemory {
    pub table: BTreeMap<(usize, u64), u32>,
    pub bytes: BTreeMap<u64, u8>,
    /// Grant frames backed, by (partition, index).
    pub frames: BTreeSet<(usize, u32)>,
    /// Pages the tables grew by (their bookkeeping; frames are counted in `frames`).
    pub pages: HeapPages,
    /// Refuse to back more frames than this per partition (a cap or host RAM run out).
    pub frame_limit: Option<u32>,
    /// Values the "guest" writes over a word on each compare-exchange (a racing guest).
    pub racing: Option<(usize, u64)>,
}

impl FakeMemory {
    pub fn word(&self, p: usize, offset: u64) -> u32 {
        self.table.get(&(p, offset)).copied().unwrap_or(0)
    }

    /// Writes a v1 entry as a granting guest does.
    pub fn grant(&mut self, p: usize, gref: u32, flags: u16, domid: u16, frame: u32) {
        let at = u64::from(gref) * ENTRY_SIZE;
        self.table
            .insert((p, at), u32::from(flags) | u32::from(domid) << 16);
        self.table.insert((p, at + 4), frame);
    }

    pub fn flags(&self, p: usize, gref: u32) -> u16 {
        self.word(p, u64::from(gref) * ENTRY_SIZE) as u16
    }

    fn check(&self, p: usize, offset: u64) -> Result<(), MemoryError> {
        assert!(
            offset.is_multiple_of(4),
            "unaligned table access {offset:#x}"
        );
        assert!(
            self.frames.contains(&(p, (offset / PAGE_SIZE) as u32)),
            "table access {offset:#x} of partition {p} outside the frames it has"
        );
        Ok(())
    }

    /// Frames partition `p` has backed.
    pub fn frames_of(&self, p: usize) -> usize {
        self.frames.iter().filter(|(q, _)| *q == p).count()
    }

    pub fn byte(&self, address: u64) -> u8 {
        self.bytes.get(&address).copied().unwrap_or(0)
    }
}

// SAFETY: the heap pages' promises.
unsafe impl PageSource for FakeMemory {
    fn take_page(&mut self, owner: usize) -> Option<NonNull<u8>> {
        self.pages.take_page(owner)
    }
    unsafe fn give_page(&mut self, owner: usize, page: NonNull<u8>) {
        // SAFETY: passed on.
        unsafe { self.pages.give_page(owner, page) }
    }
}

impl GrantMemory for FakeMemory {
    fn add_frame(&mut self, p: usize, index: u32) -> Result<(), MemoryError> {
        if self.frames.contains(&(p, index)) {
            return Ok(());
        }
        if self.frame_limit.is_some_and(|limit| self.frames_of(p) as u32 >= limit) {
            return Err(MemoryError::NoPage { partition: p, index });
        }
        self.frames.insert((p, index));
        // A new frame is zeroed.
        for offset in (u64::from(index) * PAGE_SIZE..u64::from(index + 1) * PAGE_SIZE).step_by(4) {
            self.table.remove(&(p, offset));
        }
        Ok(())
    }
    fn remove_frames(&mut self, p: usize, first: u32) {
        self.frames.retain(|&(q, i)| q != p || i < first);
    }
    fn load(&mut self, p: usize, offset: u64) -> Result<u32, MemoryError> {
        self.check(p, offset)?;
        Ok(self.word(p, offset))
    }
    fn compare_exchange(
        &mut self,
        p: usize,
        offset: u64,
        current: u32,
        new: u32,
    ) -> Result<u32, MemoryError> {
        self.check(p, offset)?;
        if self.racing == Some((p, offset)) {
            // The guest flips its readonly bit between every read and update.
            let w = self.word(p, offset) ^ u32::from(gtf::PWT);
            self.table.insert((p, offset), w);
        }
        let old = self.word(p, offset);
        if old == current {
            self.table.insert((p, offset), new);
        }
        Ok(old)
    }
    fn fetch_and(&mut self, p: usize, offset: u64, bits: u32) -> Result<u32, MemoryError> {
        self.check(p, offset)?;
        let old = self.word(p, offset);
        self.table.insert((p, offset), old & bits);
        Ok(old)
    }
    fn copy(&mut self, from: Span, to: Span, len: u16) -> Result<(), MemoryError> {
        assert!(u64::from(from.offset) + u64::from(len) <= PAGE_SIZE);
        assert!(u64::from(to.offset) + u64::from(len) <= PAGE_SIZE);
        for i in 0..u64::from(len) {
            let b = self.byte(from.frame.address() + u64::from(from.offset) + i);
            self.bytes
                .insert(to.frame.address() + u64::from(to.offset) + i, b);
        }
        Ok(())
    }
}

/// What a guest frame of a partition maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapped {
    Ram(HostFrame, Access),
    TableFrame(u32),
}

/// Every partition's stage 2, starting with each RAM page mapped to its own frame.
pub struct FakeStage2 {
    pub entries: BTreeMap<(usize, u64), Mapped>,
    pub unmaps: usize,
    /// Refuse maps (a full table).
    pub full: bool,
}

impl FakeStage2 {
    pub fn new(partitions: usize) -> Self {
        let mut entries = BTreeMap::new();
        for p in 0..partitions {
            for i in 0..RAM_PAGES {
                let frame = HostFrame::new(host_base(p) + i * PAGE_SIZE);
                entries.insert((p, RAM_GFN + i), Mapped::Ram(frame, Access::ReadWrite));
            }
        }
        FakeStage2 {
            entries,
            unmaps: 0,
            full: false,
        }
    }

    pub fn at(&self, p: usize, gfn: u64) -> Option<Mapped> {
        self.entries.get(&(p, gfn)).copied()
    }
}

impl Stage2 for FakeStage2 {
    fn map(
        &mut self,
        p: usize,
        gfn: u64,
        frame: HostFrame,
        access: Access,
    ) -> Result<(), Stage2Error> {
        if self.full {
            return Err(Stage2Error);
        }
        self.entries.insert((p, gfn), Mapped::Ram(frame, access));
        Ok(())
    }
    fn map_table_frame(&mut self, p: usize, gfn: u64, index: u32) -> Result<(), Stage2Error> {
        if self.full {
            return Err(Stage2Error);
        }
        self.entries.insert((p, gfn), Mapped::TableFrame(index));
        Ok(())
    }
    fn unmap(&mut self, p: usize, gfn: u64) {
        self.unmaps += 1;
        self.entries.remove(&(p, gfn));
    }
}

/// Partitions with their tables, memory and stage 2.
pub struct World {
    pub grants: Grants,
    pub mem: FakeMemory,
    pub s2: FakeStage2,
}

pub const DOM1: u16 = 1;
pub const DOM2: u16 = 2;

impl World {
    pub fn new(n: usize) -> Self {
        Self::with_limits(n, Limits::from_plan(None, None))
    }

    pub fn with_limits(n: usize, limits: Limits) -> Self {
        let tables = (0..n)
            .map(|p| {
                let bank = Bank {
                    guest: RAM,
                    host: host_base(p),
                    size: RAM_PAGES * PAGE_SIZE,
                };
                GrantTable::new(p, limits, &[bank]).unwrap()
            })
            .collect();
        let mut world = World {
            grants: Grants::new(tables),
            mem: FakeMemory::default(),
            s2: FakeStage2::new(n),
        };
        for p in 0..n {
            if limits.max_grant_frames > 0 {
                assert!(world.grants.start_table(p, &mut world.mem));
            }
        }
        world
    }

    /// Partition `granter` grants its page `page` (index in its RAM) to `to` as `gref`.
    pub fn grant(&mut self, granter: usize, gref: u32, to: usize, page: u64, readonly: bool) {
        let flags = gtf::PERMIT_ACCESS | if readonly { gtf::READONLY } else { 0 };
        self.mem.grant(
            granter,
            gref,
            flags,
            Grants::domid(to),
            (RAM_GFN + page) as u32,
        );
    }

    pub fn map(
        &mut self,
        p: usize,
        dom: u16,
        gref: u32,
        at_page: u64,
        flags: u32,
    ) -> Result<u32, GrantStatus> {
        let req = MapRequest {
            host_addr: (RAM_GFN + at_page) * PAGE_SIZE,
            flags,
            gref,
            dom,
        };
        self.grants.map(p, &req, &mut self.mem, &mut self.s2)
    }

    pub fn unmap(&mut self, p: usize, handle: u32, at_page: u64) -> Result<(), GrantStatus> {
        let req = UnmapRequest {
            host_addr: (RAM_GFN + at_page) * PAGE_SIZE,
            handle,
            new_addr: 0,
        };
        self.grants.unmap(p, &req, &mut self.mem, &mut self.s2)
    }

    pub fn copy(&mut self, p: usize, req: CopyRequest) -> Result<(), GrantStatus> {
        self.grants.copy(p, &req, &mut self.mem)
    }

    pub fn stop(&mut self, p: usize) -> Revoked {
        self.grants.stop(p, &mut self.mem, &mut self.s2).unwrap()
    }

    /// Host address of a partition's RAM page.
    pub fn host(&self, p: usize, page: u64) -> u64 {
        host_base(p) + page * PAGE_SIZE
    }
}
