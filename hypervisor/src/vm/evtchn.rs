//! Event channels on the machine: each partition's table (`Partition::evtchn`) reached
//! through its RAM and shared_info page, the `event_channel_op` calls run with the lock order
//! of `portable::evtchn`, upcalls raised through the vGIC, and the ports of a partition that
//! stops or restarts closed for its peers.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]

use core::sync::atomic::{AtomicU32, Ordering};

use crate::portable::evtchn::args::Call;
use crate::portable::evtchn::{bind_channel, bind_interdomain, resolve_domid, Effects, Errno, EventChannels, EventMemory, MemoryError, Pair, PeerClosed, PeerReset, Route};
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

/// Raises the upcalls of `fx` on partition `q`'s vCPUs (no table lock held), wakes its
/// vCPUs polling if a port became pending, and logs a fault. `raise` raises one on the
/// calling partition through its hypercall environment.
fn act(q: &Partition, fx: &Effects, raise: &mut dyn FnMut(usize)) {
    for vcpu in fx.upcalls.iter() {
        raise(usize::from(vcpu));
    }
    if fx.newly_pending {
        wake_pollers(q);
    }
    if let Some(fault) = fx.fault {
        log!("bulkhead: partition \"{}\": an event was lost: {}", q.name.as_str(), D(&fault));
    }
}

/// Raises the upcall PPI on vCPU `vcpu` of a partition other than the caller's: the vGIC
/// kicks or wakes it through the scheduler.
fn raise_remote(q: &Partition, vcpu: usize) {
    let effects = q.vgic.lock().inject(VcpuId(vcpu), EVENT_CHANNEL_PPI);
    if let Ok(effects) = effects {
        interrupts::act(q, vcpu, effects);
    }
}

/// Wakes the vCPUs of `q` waiting in `SCHEDOP_poll` (Xen's `evtchn_check_pollers`): a port
/// became pending, masked or not. The wake-up goes through the scheduler as an interrupt's
/// does; a vCPU not parked yet finds itself woken before it parks (the vGIC's change count,
/// [`crate::portable::xen::Pollers::take_woken`]).
fn wake_pollers(q: &Partition) {
    let woken = q.xen.pollers.wake_all();
    if woken == 0 {
        return;
    }
    // A vCPU between its last look at the change count and its park is caught by this.
    q.vgic.lock().wake_waiters();
    for vcpu in (0..64).filter(|v| woken & (1 << v) != 0) {
        super::sched::notify(q, vcpu);
    }
}

/// Whether port `port` of `p` is pending, for `SCHEDOP_poll` (-EINVAL: no such port).
pub fn port_pending(p: &Partition, port: u32) -> Result<bool, Errno> {
    let mut table = p.evtchn.lock();
    sync(p, &mut table);
    table.is_pending(port, &mut Ram::new(p))
}

fn partitions() -> &'static [Partition] {
    PARTITIONS.get().map_or(&[], |all| all.as_slice())
}

/// Runs one `event_channel_op` of partition `p`; `raise` raises an upcall on one of `p`'s vCPUs.
pub fn op(p: &Partition, call: Call, raise: &mut dyn FnMut(usize)) -> Result<Answer, Errno> {
    let all = partitions();
    let count = all.len();
    let mut fx = Effects::default();
    let mut mem = Ram::new(p);
    let answer = match call {
        Call::BindInterdomain { remote_dom, remote_port } => {
            let remote = resolve_domid(remote_dom, p.index, count)?;
            let port = if remote == p.index {
                let mut table = p.evtchn.lock();
                sync(p, &mut table);
                bind_interdomain(&mut Pair::Same(&mut table), 0, remote_port, &mut mem, &mut fx)?
            } else {
                let q = all.get(remote).ok_or(Errno::Esrch)?;
                // Lower partition index first.
                let (mut local, mut other) = if p.index < remote {
                    let local = p.evtchn.lock();
                    (local, q.evtchn.lock())
                } else {
                    let other = q.evtchn.lock();
                    (p.evtchn.lock(), other)
                };
                sync(p, &mut local);
                bind_interdomain(&mut Pair::Two { local: &mut local, remote: &mut other }, 0, remote_port, &mut mem, &mut fx)?
            };
            Answer::Port(port)
        }
        Call::Send { port } => {
            let route = {
                let mut table = p.evtchn.lock();
                sync(p, &mut table);
                table.send(port, &mut mem, &mut fx)?
            };
            if let Route::Remote(delivery) = route {
                if let Some(q) = all.get(delivery.partition) {
                    let mut remote_fx = Effects::default();
                    {
                        let mut table = q.evtchn.lock();
                        sync(q, &mut table);
                        table.deliver(&delivery, &mut Ram::new(q), &mut remote_fx);
                    }
                    act(q, &remote_fx, &mut |vcpu| raise_remote(q, vcpu));
                }
            }
            Answer::Done
        }
        Call::Close { port } => {
            let notice = {
                let mut table = p.evtchn.lock();
                sync(p, &mut table);
                table.close(port, &mut mem, &mut fx)?
            };
            if let Some(notice) = notice {
                peer_closed(all, &notice);
            }
            Answer::Done
        }
        Call::Reset { dom } => {
            EventChannels::reset_target(dom, p.index, count)?;
            let notice = {
                let mut table = p.evtchn.lock();
                sync(p, &mut table);
                table.reset(&mut mem, &mut fx)
            };
            peer_reset(all, &notice);
            Answer::Done
        }
        Call::ResetCont { dom } => {
            // Xen checks the domain as for a reset, then finds no reset in progress.
            EventChannels::reset_target(dom, p.index, count)?;
            return Err(Errno::Ebusy);
        }
        Call::Status { dom, port } => {
            let target = resolve_domid(dom, p.index, count)?;
            let q = all.get(target).ok_or(Errno::Esrch)?;
            let status = q.evtchn.lock().status(p.index, port)?;
            Answer::Status(status)
        }
        other => {
            let mut table = p.evtchn.lock();
            sync(p, &mut table);
            local(&mut table, p.index, other, &mut mem, &mut fx)?
        }
    };
    act(p, &fx, raise);
    Ok(answer)
}

/// The operations that only touch the caller's table.
fn local(table: &mut EventChannels, caller: usize, call: Call, mem: &mut Ram<'_>, fx: &mut Effects) -> Result<Answer, Errno> {
    Ok(match call {
        Call::AllocUnbound { dom, remote_dom } => {
            let partitions = partitions().len();
            if resolve_domid(dom, caller, partitions)? != caller {
                return Err(Errno::Eperm);
            }
            Answer::Port(table.alloc_unbound(caller, remote_dom, mem)?)
        }
        Call::BindVirq { virq, vcpu } => Answer::Port(table.bind_virq(virq, vcpu, mem)?),
        Call::BindIpi { vcpu } => Answer::Port(table.bind_ipi(vcpu, mem)?),
        Call::BindVcpu { port, vcpu } => {
            table.bind_vcpu(port, vcpu)?;
            Answer::Done
        }
        Call::Unmask { port } => {
            table.unmask(port, mem, fx)?;
            Answer::Done
        }
        Call::InitControl { control_gfn, offset, vcpu } => Answer::LinkBits(table.init_control(control_gfn, offset, vcpu, mem)?),
        Call::ExpandArray { array_gfn } => {
            table.expand_array(array_gfn, mem, fx)?;
            Answer::Done
        }
        Call::SetPriority { port, priority } => {
            table.set_priority(port, priority)?;
            Answer::Done
        }
        // Handled by `op` with the locks they need.
        Call::BindInterdomain { .. } | Call::Send { .. } | Call::Close { .. } | Call::Reset { .. } | Call::ResetCont { .. } | Call::Status { .. } => {
            return Err(Errno::Enosys)
        }
    })
}

/// Applies a close notice to the peer's table.
fn peer_closed(all: &[Partition], notice: &PeerClosed) {
    if let Some(q) = all.get(notice.partition) {
        q.evtchn.lock().peer_closed(notice);
    }
}

/// Applies a reset notice to every other partition's table, one lock at a time.
fn peer_reset(all: &[Partition], notice: &PeerReset) {
    for q in all.iter().filter(|q| q.index != notice.partition) {
        q.evtchn.lock().peer_reset(notice);
    }
}

/// Closes every port of a partition that stopped or is about to start again: its peers' ends
/// go unbound (waiting for it, as after Xen's close).
pub fn close_all(p: &Partition) {
    let notice = p.evtchn.lock().stop();
    peer_reset(partitions(), &notice);
}

/// Closes every port of a partition about to (re)start and binds its static channels again.
pub fn restart(p: &Partition) {
    close_all(p);
    let all = partitions();
    for channel in &p.static_channels {
        let remote = channel.remote_partition;
        let bound = if remote == p.index {
            // Listed from both ends: bound once, from the lower port.
            if channel.port > channel.remote_port {
                continue;
            }
            bind_channel(Pair::Same(&mut p.evtchn.lock()), channel.port, channel.remote_port)
        } else if let Some(q) = all.get(remote) {
            let (mut local, mut other) = if p.index < remote {
                let local = p.evtchn.lock();
                (local, q.evtchn.lock())
            } else {
                let other = q.evtchn.lock();
                (p.evtchn.lock(), other)
            };
            bind_channel(Pair::Two { local: &mut local, remote: &mut other }, channel.port, channel.remote_port)
        } else {
            continue;
        };
        if let Err(error) = bound {
            log!("bulkhead: partition \"{}\": static event channel port {} not bound again: {}", p.name.as_str(), channel.port, D(&error));
        }
    }
}
