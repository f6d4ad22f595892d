//! The `null` scheduler: one vCPU pinned to each CPU for its whole life. A CPU runs its vCPU
//! whenever it is runnable and idles otherwise; there is no tick and no choice to make.

use alloc::vec;
use alloc::vec::Vec;

use super::table::{State, Table};
use super::{SchedError, VcpuRef};

/// The vCPU of each CPU.
#[derive(Debug)]
pub struct Null {
    /// Indexed by slot: the index of the vCPU pinned there.
    resident: Vec<Option<usize>>,
}

impl Null {
    pub fn new(slots: usize) -> Self {
        Self {
            resident: vec![None; slots],
        }
    }

    /// Gives the CPU of `slot` to vCPU `index`, or names the vCPU that has it.
    pub fn claim(
        &mut self,
        table: &Table,
        vcpu: VcpuRef,
        slot: Option<usize>,
        index: usize,
    ) -> Result<(), SchedError> {
        let Some(slot) = slot else { return Ok(()) };
        let cpu = table.cpu(slot).unwrap_or(usize::MAX);
        let Some(resident) = self.resident.get_mut(slot) else {
            return Err(SchedError::PinnedOutsidePool { vcpu, cpu });
        };
        if let Some(other) = resident.and_then(|i| table.entries.get(i)) {
            return Err(SchedError::CpuTaken {
                vcpu,
                cpu,
                other: other.vcpu,
            });
        }
        *resident = Some(index);
        Ok(())
    }

    /// The CPU of `slot` runs its vCPU if that is runnable.
    pub fn pick(&self, table: &mut Table, slot: usize, now: u64) -> Option<usize> {
        if let Some(current) = table.current(slot) {
            table.settle(current, now);
            return Some(current);
        }
        let i = self.resident.get(slot).copied().flatten()?;
        if table.entries.get(i)?.state != State::Queued {
            return None;
        }
        table.run(i, slot, now);
        Some(i)
    }
}

/// vCPU `i` becomes runnable: its CPU, idle until now, should pick it.
pub fn wake(table: &mut Table, i: usize, now: u64) -> Option<usize> {
    table.set(i, State::Queued, now, false);
    let slot = table.entries.get(i)?.pinned?;
    table.busy(slot).is_none().then_some(slot)
}
