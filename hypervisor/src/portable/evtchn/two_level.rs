//! The 2-level ABI: pending and mask bitmaps in `shared_info`, a selector bit per 64-bit word
//! of them in each `vcpu_info` (Xen's `event_2l.c`).

use super::abi::{shared_info, vcpu_info};
use super::memory::{test, test_and_clear, test_and_set, EventMemory, MemoryError};
use super::table::EventChannels;
use super::Effects;

impl EventChannels {
    /// Marks `port` pending; if it was not and is unmasked, sets its selector bit in the
    /// vCPU's `vcpu_info` and, if that was clear, the upcall.
    pub(super) fn set_pending_2l(
        &mut self,
        vcpu: u16,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<(), MemoryError> {
        let Some(shared) = self.shared_info else {
            return Ok(());
        };
        if test_and_set(mem, shared + shared_info::EVTCHN_PENDING, port)? {
            return Ok(());
        }
        fx.became_pending(port);
        if !test(mem, shared + shared_info::EVTCHN_MASK, port)? {
            self.select_2l(vcpu, port, mem, fx)?;
        }
        Ok(())
    }

    /// Sets the selector bit for `port` and raises the upcall if it was clear.
    fn select_2l(
        &mut self,
        vcpu: u16,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<(), MemoryError> {
        let Some(info) = self.vcpu_info_address(vcpu) else {
            return Ok(());
        };
        if !test_and_set(mem, info + vcpu_info::PENDING_SEL, port / 64)? {
            self.mark_events_pending(vcpu, mem, fx)?;
        }
        Ok(())
    }

    /// Clears the mask bit; if it was set and the port is pending, selects it as a new event.
    pub(super) fn unmask_2l(
        &mut self,
        vcpu: u16,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<(), MemoryError> {
        let Some(shared) = self.shared_info else {
            return Ok(());
        };
        if test_and_clear(mem, shared + shared_info::EVTCHN_MASK, port)?
            && test(mem, shared + shared_info::EVTCHN_PENDING, port)?
        {
            self.select_2l(vcpu, port, mem, fx)?;
        }
        Ok(())
    }

    /// Clears the pending bit.
    pub(super) fn clear_pending_2l(
        &mut self,
        port: u32,
        mem: &mut impl EventMemory,
    ) -> Result<(), MemoryError> {
        let Some(shared) = self.shared_info else {
            return Ok(());
        };
        test_and_clear(mem, shared + shared_info::EVTCHN_PENDING, port).map(|_| ())
    }

    /// Whether the pending bit is set (read when switching to FIFO).
    pub(super) fn is_pending_2l(
        &self,
        port: u32,
        mem: &mut impl EventMemory,
    ) -> Result<bool, MemoryError> {
        let Some(shared) = self.shared_info else {
            return Ok(false);
        };
        test(mem, shared + shared_info::EVTCHN_PENDING, port)
    }

    /// Xen's `vcpu_mark_events_pending`: sets `evtchn_upcall_pending`; a 0 to 1 change raises
    /// the upcall interrupt.
    pub(super) fn mark_events_pending(
        &mut self,
        vcpu: u16,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<(), MemoryError> {
        let Some(info) = self.vcpu_info_address(vcpu) else {
            return Ok(());
        };
        if !test_and_set(mem, info + vcpu_info::UPCALL_PENDING, 0)? {
            fx.upcalls.insert(vcpu);
        }
        Ok(())
    }
}
