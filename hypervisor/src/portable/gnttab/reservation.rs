//! The reservation commands of `HYPERVISOR_memory_op` over a partition's static memory:
//! `XENMEM_decrease_reservation`, `XENMEM_populate_physmap` (a call's extents, read one by one
//! from the guest's list, in bounded pieces), `XENMEM_current_reservation` and
//! `XENMEM_maximum_reservation`.

use super::abi::DOMID_SELF;
use super::args::Reservation;
use super::memory::{GrantMemory, Stage2};
use super::ops::Grants;
use super::physmap::Refusal;
use crate::portable::evtchn::Errno;

/// `XENMEM_*` command numbers handled here.
pub mod cmd {
    pub const DECREASE_RESERVATION: u32 = 1;
    pub const CURRENT_RESERVATION: u32 = 3;
    pub const MAXIMUM_RESERVATION: u32 = 4;
    pub const POPULATE_PHYSMAP: u32 = 6;
}

/// Extents handled in one trap; the dispatch continues the call from `done` (Xen's
/// continuation), so no guest value makes a trap long.
pub const EXTENTS_PER_TRAP: u64 = 64;

/// Which way a reservation call goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Decrease,
    Populate,
}

/// How far a call got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every extent up to `nr_extents` is done: the call returns `done` (= `nr_extents`).
    Finished { done: u64 },
    /// `done` extents are done and more remain: continue from `done`.
    Continue { done: u64 },
    /// Stopped at extent `done` (the call returns `done`); the refusal is for the log.
    Stopped { done: u64, refusal: Option<Refusal> },
}

impl Grants {
    /// Runs extents `start..` of a reservation call for `caller`. `extent(i)` reads the
    /// guest's i-th frame number (`None`: unreadable, the call stops there, as on Xen).
    ///
    /// Another domain is -EPERM (a domU adjusts only itself), an unknown one -ESRCH; an
    /// extent order above 9 stops the call at once, as Xen returns the extents done.
    #[allow(clippy::too_many_arguments)]
    pub fn reservation(
        &mut self,
        caller: usize,
        direction: Direction,
        args: &Reservation,
        start: u64,
        mut extent: impl FnMut(u64) -> Option<u64>,
        stage2: &mut impl Stage2,
        mem: &mut impl GrantMemory,
    ) -> Result<Progress, Errno> {
        let target = self.by_any_id(caller, args.domid).ok_or(Errno::Esrch)?;
        if target != caller {
            return Err(Errno::Eperm);
        }
        let physmap = self
            .tables
            .get_mut(caller)
            .ok_or(Errno::Esrch)?
            .physmap_mut();
        let end = args.nr_extents.min(start.saturating_add(EXTENTS_PER_TRAP));
        let mut done = start;
        while done < end {
            let Some(gfn) = extent(done) else {
                return Ok(Progress::Stopped {
                    done,
                    refusal: None,
                });
            };
            let result = match direction {
                Direction::Decrease => {
                    physmap.decrease(caller, gfn, args.extent_order, stage2, &mut *mem)
                }
                Direction::Populate => {
                    physmap.populate(caller, gfn, args.extent_order, stage2, &mut *mem)
                }
            };
            if let Err(refusal) = result {
                return Ok(Progress::Stopped {
                    done,
                    refusal: Some(refusal),
                });
            }
            done = done.saturating_add(1);
        }
        Ok(if done >= args.nr_extents {
            Progress::Finished {
                done: args.nr_extents.max(start),
            }
        } else {
            Progress::Continue { done }
        })
    }

    /// `XENMEM_current_reservation` (`current`) or `XENMEM_maximum_reservation`: pages present
    /// now, or pages of RAM configured, of the caller; another domain is -EPERM, an unknown
    /// one -ESRCH.
    pub fn reservation_pages(
        &self,
        caller: usize,
        domid: u16,
        current: bool,
    ) -> Result<u64, Errno> {
        let target = if domid == DOMID_SELF {
            Some(caller)
        } else {
            self.by_id(domid)
        };
        match target {
            None => Err(Errno::Esrch),
            Some(t) if t != caller => Err(Errno::Eperm),
            Some(t) => {
                let pm = self.tables.get(t).ok_or(Errno::Esrch)?.physmap();
                Ok(if current {
                    pm.present_pages()
                } else {
                    pm.total_pages()
                })
            }
        }
    }
}
