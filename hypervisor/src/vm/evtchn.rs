//! Event channels on the machine: the partitions as `portable::evtchn::runtime` sees them
//! (which runs each `event_channel_op` with the lock order of `portable::evtchn`, host-tested):
//! each partition's table (`Partition::evtchn`) reached through its RAM and shared_info page,
//! upcalls raised through the vGIC, pollers woken through the scheduler.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::sync::atomic::{AtomicU32, Ordering};

use dom0less_config::plan::EventChannel;
use locks::Mutex;

use crate::portable::evtchn::args::Call;
use crate::portable::evtchn::runtime::{self, Machine};
use crate::portable::evtchn::{Errno, EventChannels, EventMemory, MemoryError, StaticChannelError};
use crate::portable::partition::Partition;
use crate::portable::vgic::VcpuId;
use crate::portable::xen::abi::{layout::EVENT_CHANNEL_PPI, PAGE_SIZE};
use crate::portable::xen::guest_memory::{in_ram, ipa_to_host};
use crate::portable::xen::Answer;
use crate::log;
use crate::log::D;

use super::{interrupts, PARTITIONS};

/// Addresses with this bit are host addresses (the shared_info page, registered vcpu_info
/// structures); the others are guest physical addresses (FIFO control blocks and event
/// arrays). No guest physical address and no host address of RAM has bit 63.
const HOST: u64 = 1 << 63;

/// One partition's memory as its event channels see it.
///
/// Invariant: a word is accessed only inside the partition's own RAM banks or its shared_info
/// page, 4-byte aligned; never the hypervisor's memory or another partition's.
pub struct Ram<'a> {
    p: &'a Partition,
}

impl<'a> Ram<'a> {
    /// The memory of partition `p`.
    pub fn new(p: &'a Partition) -> Self {
        Self { p }
    }

    /// The word at `address` (tagged host address or guest physical), checked.
    fn word(&self, address: u64) -> Result<&'a AtomicU32, MemoryError> {
        if !address.is_multiple_of(4) {
            return Err(MemoryError::Misaligned { address });
        }
        let host = if address & HOST != 0 {
            let host = address & !HOST;
            let shared = self.p.xen.shared_info;
            let in_shared = host >= shared && host.checked_add(4).is_some_and(|end| shared.checked_add(PAGE_SIZE).is_some_and(|page_end| end <= page_end));
            if !in_shared && !in_ram(&self.p.banks, host, 4) {
                return Err(MemoryError::Unmapped { address });
            }
            host
        } else {
            ipa_to_host(&self.p.banks, address, 4).ok_or(MemoryError::Unmapped { address })?
        };
        // SAFETY: `host` is 4-byte aligned and lies in the partition's RAM or its shared_info
        // page, which the hypervisor maps read-write (identity) for the partition's lifetime,
        // which is the hypervisor's; the guest accesses the same words concurrently, which is
        // why every access is atomic.
        Ok(unsafe { AtomicU32::from_ptr(host as *mut u32) })
    }
}

impl EventMemory for Ram<'_> {
    fn load(&mut self, address: u64) -> Result<u32, MemoryError> {
        Ok(self.word(address)?.load(Ordering::Acquire))
    }
    fn store(&mut self, address: u64, value: u32) -> Result<(), MemoryError> {
        self.word(address)?.store(value, Ordering::Release);
        Ok(())
    }
    fn fetch_or(&mut self, address: u64, bits: u32) -> Result<u32, MemoryError> {
        Ok(self.word(address)?.fetch_or(bits, Ordering::AcqRel))
    }
    fn fetch_and(&mut self, address: u64, bits: u32) -> Result<u32, MemoryError> {
        Ok(self.word(address)?.fetch_and(bits, Ordering::AcqRel))
    }
    fn compare_exchange(&mut self, address: u64, current: u32, new: u32) -> Result<u32, MemoryError> {
        let word = self.word(address)?;
        Ok(word.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire).unwrap_or_else(|found| found))
    }
    fn is_ram_page(&mut self, page: u64) -> bool {
        page.is_multiple_of(PAGE_SIZE) && ipa_to_host(&self.p.banks, page, PAGE_SIZE).is_some()
    }
}

/// Brings the table's view of shared_info and the vCPUs' vcpu_info up to date with the
/// partition's Xen state (registrations happen in `vcpu_op`). Called with the table locked.
fn sync(p: &Partition, table: &mut EventChannels) {
    let _ = table.set_shared_info(Some(p.xen.shared_info | HOST));
    let state = p.xen.state.lock();
    for vcpu in 0..p.vcpu_count() {
        let (Some(host), Ok(index)) = (state.vcpu_info_host(vcpu), u16::try_from(vcpu)) else { continue };
        let _ = table.set_vcpu_info(index, host | HOST);
    }
}

/// The machine's partitions, as the runtime layer (`portable::evtchn::runtime`) sees them.
struct Board;

impl Machine for Board {
    type Memory<'a> = Ram<'a>;

    fn count(&self) -> usize {
        partitions().len()
    }

    fn table(&self, partition: usize) -> Option<&Mutex<EventChannels>> {
        partitions().get(partition).map(|p| &p.evtchn)
    }

    fn memory(&self, partition: usize) -> Option<Ram<'_>> {
        partitions().get(partition).map(Ram::new)
    }

    fn sync(&self, partition: usize, table: &mut EventChannels) {
        if let Some(p) = partitions().get(partition) {
            sync(p, table);
        }
    }

    fn raise(&self, partition: usize, vcpu: usize) {
        let Some(q) = partitions().get(partition) else { return };
        let effects = q.vgic.lock().inject(VcpuId(vcpu), EVENT_CHANNEL_PPI);
        if let Ok(effects) = effects {
            interrupts::act(q, vcpu, effects);
        }
    }

    fn wake_pollers(&self, partition: usize, port: Option<u32>) {
        if let Some(q) = partitions().get(partition) {
            wake_pollers(q, port);
        }
    }

    fn lost(&self, partition: usize, fault: MemoryError) {
        if let Some(q) = partitions().get(partition) {
            log!("bulkhead: partition \"{}\": an event was lost: {}", q.name.as_str(), D(&fault));
        }
    }

    fn static_channels(&self, partition: usize) -> &[EventChannel] {
        partitions().get(partition).map_or(&[], |p| p.static_channels.as_slice())
    }

    fn not_bound_again(&self, partition: usize, port: u32, error: StaticChannelError) {
        if let Some(p) = partitions().get(partition) {
            log!("bulkhead: partition \"{}\": static event channel port {} not bound again: {}", p.name.as_str(), port, D(&error));
        }
    }
}

/// Wakes the vCPUs of `q` waiting in `SCHEDOP_poll` for `port` (Xen's
/// `evtchn_check_pollers`; `None`: several ports, every poller): it became pending, masked or
/// not. The wake-up goes through the scheduler as an interrupt's does; a vCPU not parked yet
/// finds itself woken before it parks (the vGIC's change count,
/// [`crate::portable::xen::Pollers::take_woken`]).
fn wake_pollers(q: &Partition, port: Option<u32>) {
    let woken = q.xen.pollers.wake(port);
    if woken == 0 {
        return;
    }
    // A vCPU between its last look at the change count and its park is caught by this.
    q.vgic.lock().wake_waiters();
    for vcpu in (0..64).filter(|&v| woken & (1u64 << v) != 0) {
        super::sched::notify(q, vcpu);
    }
}

fn partitions() -> &'static [Partition] {
    PARTITIONS.get().map_or(&[], |all| all.as_slice())
}

/// Runs one `event_channel_op` of partition `p`.
pub fn op(p: &Partition, call: Call) -> Result<Answer, Errno> {
    runtime::op(&Board, p.index, call)
}

/// Whether port `port` of `p` is pending, for `SCHEDOP_poll` (-EINVAL: no port in use).
pub fn port_pending(p: &Partition, port: u32) -> Result<bool, Errno> {
    runtime::port_pending(&Board, p.index, port)
}

/// Closes every port of a partition that stopped or is about to start again: its peers' ends
/// go unbound (waiting for it, as after Xen's close).
pub fn close_all(p: &Partition) {
    runtime::close_all(&Board, p.index);
}

/// Binds the static channels of a partition about to (re)start again (its ports were closed
/// when it stopped, or by [`close_all`] just before). Called once its shared_info page is
/// clean: an event a peer sends from here on stays pending for the new run.
pub fn bind_static(p: &Partition) {
    runtime::rebind_static(&Board, p.index);
}
