//! A partition's guest-physical RAM as the grant tables and the reservation calls see it:
//! its banks (guest frame to host frame, fixed at build), and which pages are present, given
//! back (ballooned out) or holding another partition's granted page.
//!
//! Memory stays static: a page given back with `XENMEM_decrease_reservation` keeps its host
//! frame, reserved for this partition, and `XENMEM_populate_physmap` maps that same frame back.
//!
//! Page states take a byte each, in pages of 4096 states taken from the machine's
//! [`PageSource`] only where a page leaves the present state: a partition that gives nothing
//! back and maps no grant holds none (an absent page of states reads as all present).

use alloc::vec::Vec;
use core::fmt;

use super::abi::{MAX_EXTENT_ORDER, PAGE_SIZE};
use super::memory::{Access, HostFrame, Stage2};
use crate::portable::memory::page_pool::PageSource;
use crate::portable::memory::paged::{Paged, Zeroable};

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
    Populated = 0,
    /// Given back: nothing is mapped (the host frame stays reserved).
    Ballooned = 1,
    /// Another partition's granted page is mapped here (a maptrack entry names it).
    Granted = 2,
}

// SAFETY: a one-byte enum whose zero is `Populated`, a variant with no fields.
unsafe impl Zeroable for Page {}

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
    /// No page of host RAM to record the page's state in.
    NoStatePage { gfn: u64 },
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
            Self::NoStatePage { gfn } => write!(
                f,
                "no page of host RAM to record the state of guest frame {gfn:#x}: the \
                 partition's cap or the board's free RAM ran out"
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
    states: Paged<Page>,
    total: u64,
    populated: u64,
}

impl Physmap {
    /// Every page of the banks starts present, as the partition is built.
    pub fn new(banks: &[Bank]) -> Result<Self, super::table::TableError> {
        let mut spans = Vec::with_capacity(banks.len());
        let mut total: usize = 0;
        for &bank in banks {
            let aligned = [bank.guest, bank.host, bank.size]
                .iter()
                .all(|v| v.is_multiple_of(PAGE_SIZE));
            let fits = bank.guest.checked_add(bank.size).is_some()
                && bank.host.checked_add(bank.size).is_some();
            if !aligned || !fits {
                return Err(BankError { bank }.into());
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
        let states = Paged::new(Self::max_state_pages(total as u64) as usize)?;
        Ok(Physmap {
            spans,
            states,
            total: total as u64,
            populated: total as u64,
        })
    }

    /// Pages of states `pages` RAM pages may need.
    pub fn max_state_pages(pages: u64) -> u64 {
        pages.div_ceil(Paged::<Page>::PER_PAGE as u64)
    }

    /// Pages of states it holds.
    pub fn state_pages(&self) -> usize {
        self.states.present_pages()
    }

    /// Gives back its pages of states once every page is present again (a partition that
    /// stops, after [`Physmap::restore`]).
    pub(super) fn release_states(&mut self, source: &mut impl PageSource, owner: usize) {
        if self.populated == self.total {
            self.states.release_from(0, source, owner);
        }
    }

    /// The guest frame of state `index`.
    fn gfn_of(&self, index: usize) -> Option<u64> {
        self.spans.iter().find_map(|s| {
            let within = index.checked_sub(s.first_index)?;
            let within = u64::try_from(within).ok().filter(|&w| w < s.pages)?;
            s.first_gfn.checked_add(within)
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
        Some(self.states.get(index).copied().unwrap_or(Page::Populated))
    }

    /// The host frame of a present RAM page (Xen's `get_page_from_gfn` for RAM): the only
    /// way a granter's page becomes a [`HostFrame`].
    pub fn present_frame(&self, gfn: u64) -> Option<HostFrame> {
        let (index, frame) = self.locate(gfn)?;
        let state = self.states.get(index).copied().unwrap_or(Page::Populated);
        (state == Page::Populated).then_some(frame)
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

    /// Records page `gfn`'s state; false (and nothing changed) if no page of states could be
    /// had for it.
    #[must_use]
    pub(super) fn set(&mut self, gfn: u64, to: Page, source: &mut impl PageSource, owner: usize) -> bool {
        let Some((index, _)) = self.locate(gfn) else {
            return true;
        };
        let Some(chunk) = index.checked_div(Paged::<Page>::PER_PAGE) else {
            return false;
        };
        if !self.states.has_page(chunk) {
            if to == Page::Populated {
                return true;
            }
            if !self.states.ensure(chunk, source, owner) {
                return false;
            }
        }
        let Some(page) = self.states.get_mut(index) else {
            return false;
        };
        let was = core::mem::replace(page, to);
        match (was == Page::Populated, to == Page::Populated) {
            (true, false) => self.populated = self.populated.saturating_sub(1),
            (false, true) => self.populated = self.populated.saturating_add(1),
            _ => {}
        }
        true
    }

    /// Pages of RAM the partition has (`XENMEM_maximum_reservation`).
    pub fn total_pages(&self) -> u64 {
        self.total
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
        source: &mut impl PageSource,
    ) -> Result<(), Refusal> {
        for page in Self::extent(gfn, order)? {
            match self.page(page) {
                None => return Err(Refusal::NotRam { gfn: page }),
                Some(Page::Ballooned) => return Err(Refusal::NotPopulated { gfn: page }),
                Some(Page::Granted) => return Err(Refusal::GrantMapped { gfn: page }),
                Some(Page::Populated) => {
                    // The state first: a page unmapped must be known as given back.
                    if !self.set(page, Page::Ballooned, source, partition) {
                        return Err(Refusal::NoStatePage { gfn: page });
                    }
                    stage2.unmap(partition, page);
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
        source: &mut impl PageSource,
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
                    // Its page of states is there: the page was given back before.
                    let _ = self.set(undo, Page::Ballooned, source, partition);
                }
                return Err(Refusal::Stage2 { gfn: page });
            }
            // Present again: a state page is there (it was given back), nothing is taken.
            let _ = self.set(page, Page::Populated, source, partition);
        }
        Ok(())
    }

    /// Maps every page that is not present back to its own frame (a partition that stops
    /// gets its banks back as they were built). Grant mappings must be gone already.
    /// Visits only the pages of states it holds (none when every page is present: the usual
    /// stop, and every first load); walking every page cost 5.3 M instructions for 896 MiB.
    pub fn restore(
        &mut self,
        partition: usize,
        stage2: &mut impl Stage2,
        source: &mut impl PageSource,
    ) -> Result<(), Refusal> {
        if self.populated == self.total {
            return Ok(());
        }
        let per_page = Paged::<Page>::PER_PAGE;
        for chunk in 0..self.states.max_pages() {
            if !self.states.has_page(chunk) {
                continue;
            }
            let first = chunk.saturating_mul(per_page);
            for index in first..first.saturating_add(per_page) {
                if self.states.get(index).is_none_or(|&p| p == Page::Populated) {
                    continue;
                }
                let Some(gfn) = self.gfn_of(index) else {
                    continue;
                };
                let Some((_, frame)) = self.locate(gfn) else {
                    continue;
                };
                stage2
                    .map(partition, gfn, frame, Access::ReadWrite)
                    .map_err(|_| Refusal::Stage2 { gfn })?;
                let _ = self.set(gfn, Page::Populated, source, partition);
            }
        }
        Ok(())
    }
}
