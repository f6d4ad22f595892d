//! A partition's guest-physical RAM as the grant tables and the reservation calls see it:
//! its banks (guest frame to host frame, fixed at build), and which pages are present, given
//! back (ballooned out) or holding another partition's granted page.
//!
//! Memory stays static: a page given back with `XENMEM_decrease_reservation` keeps its host
//! frame, reserved for this partition, and `XENMEM_populate_physmap` maps that same frame back.

use alloc::vec::Vec;
use core::fmt;

use super::abi::{MAX_EXTENT_ORDER, PAGE_SIZE};
use super::memory::{Access, HostFrame, Stage2};

/// One RAM bank: `size` bytes at guest address `guest`, backed at host address `host`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bank {
    pub guest: u64,
    pub host: u64,
    pub size: u64,
}

/// The state of one guest page of RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Page {
    /// The partition's own host frame is mapped.
    Populated,
    /// Given back: nothing is mapped (the host frame stays reserved).
    Ballooned,
    /// Another partition's granted page is mapped here (a maptrack entry names it).
    Granted,
}

/// Why a reservation call stopped at an extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The extent order is above what a domU may use.
    ExtentOrder { order: u32 },
    /// The frame is not in the partition's RAM.
    NotRam { gfn: u64 },
    /// `decrease_reservation` of a page that is not present.
    NotPopulated { gfn: u64 },
    /// `populate_physmap` of a page that is present: it would take more than the
    /// partition's configured memory.
    Exhausted { gfn: u64 },
    /// The page holds a grant mapping: unmap it first.
    GrantMapped { gfn: u64 },
    /// The stage-2 table had no room.
    Stage2 { gfn: u64 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExtentOrder { order } => write!(
                f,
                "reservation extent order {order} refused: a partition may use orders 0 to \
                 {MAX_EXTENT_ORDER}"
            ),
            Self::NotRam { gfn } => write!(
                f,
                "guest frame {gfn:#x} is not the partition's RAM: reservation calls work only \
                 inside its configured memory banks"
            ),
            Self::NotPopulated { gfn } => write!(
                f,
                "decrease_reservation of guest frame {gfn:#x}, which is already given back"
            ),
            Self::Exhausted { gfn } => write!(
                f,
                "populate_physmap at guest frame {gfn:#x} refused: the page is present and the \
                 partition's memory is static; give a page back first or raise its `memory`"
            ),
            Self::GrantMapped { gfn } => write!(
                f,
                "guest frame {gfn:#x} holds a grant mapping: unmap the grant before giving the \
                 page back"
            ),
            Self::Stage2 { gfn } => write!(
                f,
                "stage-2 table full while mapping guest frame {gfn:#x}: the partition's table \
                 pages ran out"
            ),
        }
    }
}

/// Why a bank list cannot describe a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BankError {
    pub bank: Bank,
}

impl fmt::Display for BankError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Bank { guest, host, size } = self.bank;
        write!(
            f,
            "RAM bank guest {guest:#x} host {host:#x} size {size:#x} is not 4 KiB aligned or \
             wraps: build partitions from the validated plan"
        )
    }
}

#[derive(Clone, Copy, Debug)]
struct Span {
    first_gfn: u64,
    pages: u64,
    host_frame: u64,
    first_index: usize,
}

/// One partition's RAM pages.
#[derive(Debug)]
pub struct Physmap {
    spans: Vec<Span>,
    pages: Vec<Page>,
    populated: u64,
}

impl Physmap {
    /// Every page of the banks starts present, as the partition is built.
    pub fn new(banks: &[Bank]) -> Result<Self, BankError> {
        let mut spans = Vec::with_capacity(banks.len());
        let mut total: usize = 0;
        for &bank in banks {
            let aligned = [bank.guest, bank.host, bank.size]
                .iter()
                .all(|v| v.is_multiple_of(PAGE_SIZE));
            let fits = bank.guest.checked_add(bank.size).is_some()
                && bank.host.checked_add(bank.size).is_some();
            if !aligned || !fits {
                return Err(BankError { bank });
            }
            let pages = bank.size / PAGE_SIZE;
            let count = usize::try_from(pages).map_err(|_| BankError { bank })?;
            spans.push(Span {
                first_gfn: bank.guest / PAGE_SIZE,
                pages,
                host_frame: bank.host / PAGE_SIZE,
                first_index: total,
            });
            total = total.checked_add(count).ok_or(BankError { bank })?;
        }
        let mut pages = Vec::new();
        pages.resize(total, Page::Populated);
        Ok(Physmap {
            spans,
            pages,
            populated: total as u64,
        })
    }

    fn locate(&self, gfn: u64) -> Option<(usize, HostFrame)> {
        self.spans.iter().find_map(|s| {
            let within = gfn.checked_sub(s.first_gfn).filter(|&i| i < s.pages)?;
            let index = s.first_index.checked_add(usize::try_from(within).ok()?)?;
            let host = s.host_frame.checked_add(within)?.checked_mul(PAGE_SIZE)?;
            Some((index, HostFrame::new(host)))
        })
    }

    /// The state of a RAM page; `None` outside the banks.
    pub fn page(&self, gfn: u64) -> Option<Page> {
        let (index, _) = self.locate(gfn)?;
        self.pages.get(index).copied()
    }

    /// The host frame of a present RAM page (Xen's `get_page_from_gfn` for RAM): the only
    /// way a granter's page becomes a [`HostFrame`].
    pub fn present_frame(&self, gfn: u64) -> Option<HostFrame> {
        let (index, frame) = self.locate(gfn)?;
        (self.pages.get(index) == Some(&Page::Populated)).then_some(frame)
    }

    /// The host frame of a RAM page whatever its state (a pinned grant keeps its page even
    /// when the granter gives it back: the frame stays reserved for the granter).
    pub(super) fn frame_of(&self, gfn: u64) -> Option<HostFrame> {
        self.locate(gfn).map(|(_, frame)| frame)
    }

    /// Whether a host frame is one of this partition's RAM pages.
    pub fn owns(&self, frame: HostFrame) -> bool {
        let f = frame.address() / PAGE_SIZE;
        self.spans
            .iter()
            .any(|s| f.checked_sub(s.host_frame).is_some_and(|i| i < s.pages))
    }

    pub(super) fn set(&mut self, gfn: u64, to: Page) {
        let Some((index, _)) = self.locate(gfn) else {
            return;
        };
        let Some(page) = self.pages.get_mut(index) else {
            return;
        };
        let was = core::mem::replace(page, to);
        match (was == Page::Populated, to == Page::Populated) {
            (true, false) => self.populated = self.populated.saturating_sub(1),
            (false, true) => self.populated = self.populated.saturating_add(1),
            _ => {}
        }
    }

    /// Bytes its page states and spans hold on the heap.
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        self.pages
            .capacity()
            .saturating_add(self.spans.capacity().saturating_mul(core::mem::size_of::<Span>()))
    }

    /// Pages of RAM the partition has (`XENMEM_maximum_reservation`).
    pub fn total_pages(&self) -> u64 {
        self.pages.len() as u64
    }

    /// Pages present (`XENMEM_current_reservation`).
    pub fn present_pages(&self) -> u64 {
        self.populated
    }

    fn extent(gfn: u64, order: u32) -> Result<impl Iterator<Item = u64>, Refusal> {
        if order > MAX_EXTENT_ORDER {
            return Err(Refusal::ExtentOrder { order });
        }
        let end = gfn.checked_add(1 << order).ok_or(Refusal::NotRam { gfn })?;
        Ok(gfn..end)
    }

    /// `XENMEM_decrease_reservation` of one extent: each page is unmapped from stage 2 in
    /// turn; the first that cannot be stops the call (the pages before it stay given back, as
    /// on Xen).
    pub fn decrease(
        &mut self,
        partition: usize,
        gfn: u64,
        order: u32,
        stage2: &mut impl Stage2,
    ) -> Result<(), Refusal> {
        for page in Self::extent(gfn, order)? {
            match self.page(page) {
                None => return Err(Refusal::NotRam { gfn: page }),
                Some(Page::Ballooned) => return Err(Refusal::NotPopulated { gfn: page }),
                Some(Page::Granted) => return Err(Refusal::GrantMapped { gfn: page }),
                Some(Page::Populated) => {
                    stage2.unmap(partition, page);
                    self.set(page, Page::Ballooned);
                }
            }
        }
        Ok(())
    }

    /// `XENMEM_populate_physmap` of one extent: all of it or none, each page mapped back to
    /// its own host frame.
    pub fn populate(
        &mut self,
        partition: usize,
        gfn: u64,
        order: u32,
        stage2: &mut impl Stage2,
    ) -> Result<(), Refusal> {
        for page in Self::extent(gfn, order)? {
            match self.page(page) {
                None => return Err(Refusal::NotRam { gfn: page }),
                Some(Page::Ballooned) => {}
                Some(Page::Populated) => return Err(Refusal::Exhausted { gfn: page }),
                Some(Page::Granted) => return Err(Refusal::GrantMapped { gfn: page }),
            }
        }
        for page in Self::extent(gfn, order)? {
            let Some((_, frame)) = self.locate(page) else {
                continue;
            };
            if stage2
                .map(partition, page, frame, Access::ReadWrite)
                .is_err()
            {
                for undo in gfn..page {
                    stage2.unmap(partition, undo);
                    self.set(undo, Page::Ballooned);
                }
                return Err(Refusal::Stage2 { gfn: page });
            }
            self.set(page, Page::Populated);
        }
        Ok(())
    }

    /// Maps every page that is not present back to its own frame (a partition that stops
    /// gets its banks back as they were built). Grant mappings must be gone already.
    /// Costs nothing when every page is present (the usual stop, and every first load): the
    /// walk over each page (about 23 instructions a page, 5.3 M for 896 MiB) is done only
    /// when the count of present pages says some are missing.
    pub fn restore(&mut self, partition: usize, stage2: &mut impl Stage2) -> Result<(), Refusal> {
        if self.populated == self.total_pages() {
            return Ok(());
        }
        for s in self.spans.clone() {
            for i in 0..s.pages {
                let gfn = s.first_gfn.saturating_add(i);
                if self.page(gfn) == Some(Page::Populated) {
                    continue;
                }
                let Some((_, frame)) = self.locate(gfn) else {
                    continue;
                };
                stage2
                    .map(partition, gfn, frame, Access::ReadWrite)
                    .map_err(|_| Refusal::Stage2 { gfn })?;
                self.set(gfn, Page::Populated);
            }
        }
        Ok(())
    }
}
