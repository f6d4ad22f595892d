//! One partition's event-channel table: port states, the valid range, VIRQ bindings, the
//! registered `shared_info` and `vcpu_info` addresses and the FIFO state, all sized when the
//! partition is built.

use alloc::boxed::Box;
use alloc::vec;

use super::abi::{self, fifo};
use super::error::Errno;
use super::fifo::Fifo;
use super::memory::{EventMemory, MemoryError};

/// What a port is bound to (Xen's `ECS_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Free,
    /// Port 0.
    Reserved,
    /// Waiting for `remote_domid` to bind to it.
    Unbound {
        remote_domid: u16,
    },
    /// Connected to `port` of partition `partition`, bound while that partition's epoch was
    /// `epoch`.
    Interdomain {
        partition: usize,
        port: u32,
        epoch: u64,
    },
    Virq {
        virq: u32,
    },
    Ipi,
}

impl Binding {
    /// Xen's `evtchn_usable`: bound to something.
    pub(super) const fn usable(self) -> bool {
        !matches!(self, Self::Free | Self::Reserved)
    }
}

/// One port.
#[derive(Clone, Copy, Debug)]
pub(super) struct Channel {
    pub binding: Binding,
    /// The vCPU its events go to.
    pub notify_vcpu: u16,
    /// FIFO priority (0 highest).
    pub priority: u8,
    /// FIFO: raised while its event-array page was missing; re-raised when the page comes.
    pub fifo_pending: bool,
    /// FIFO: the queue (vCPU, priority) it was last linked on.
    pub last_queue: (u16, u8),
}

impl Channel {
    const FREE: Channel = Channel {
        binding: Binding::Free,
        notify_vcpu: 0,
        priority: fifo::PRIORITY_DEFAULT,
        fifo_pending: false,
        last_queue: (0, 0),
    };
}

/// Which partitions may connect to this one: a bit per partition index (the config allows at
/// most 64 partitions). Everyone by default, as Xen with `xsm=dummy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peers(pub u64);

impl Peers {
    /// Any partition.
    pub const ALL: Peers = Peers(u64::MAX);

    /// The plan's `evtchn_peers` of a partition: `None` admits any partition.
    pub fn from_plan(peers: Option<&[usize]>) -> Peers {
        match peers {
            None => Peers::ALL,
            Some(list) => Peers(list.iter().filter(|&&i| i < 64).fold(0, |bits, &i| bits | 1 << i)),
        }
    }

    /// Whether partition `index` may connect ([`Peers::ALL`] admits any index, even one that
    /// names no partition, as Xen does not check `remote_dom` when allocating).
    pub const fn allows(self, index: usize) -> bool {
        self.0 == u64::MAX || (index < 64 && self.0 & (1 << index) != 0)
    }
}

/// The event channels of one partition.
///
/// Invariant: `channels.len()` is a multiple of [`abi::PORTS_PER_BUCKET`] above `max_port`,
/// `valid <= channels.len()`, and `virqs` and `vcpu_info` have one entry per vCPU. Nothing here
/// grows after [`EventChannels::new`]: every guest-driven operation is bounded by the port count.
pub struct EventChannels {
    pub(super) partition: usize,
    pub(super) vcpu_count: u16,
    pub(super) max_port: u32,
    /// Ports below are valid (Xen's `valid_evtchns`, grown a bucket at a time).
    pub(super) valid: u32,
    pub(super) channels: Box<[Channel]>,
    /// Per vCPU, the port bound to each VIRQ (0 for none).
    pub(super) virqs: Box<[[u32; abi::virq::COUNT as usize]]>,
    pub(super) peers: Peers,
    /// Bumped when every port closes at once (reset, stop): bindings carry the peer's epoch.
    pub(super) epoch: u64,
    pub(super) shared_info: Option<u64>,
    pub(super) vcpu_info: Box<[Option<u64>]>,
    pub(super) fifo: Fifo,
}

impl EventChannels {
    /// Channel slots for ports up to `max_port`: whole buckets, as Xen grows them.
    fn channel_slots(max_port: u32) -> u32 {
        let max_port = max_port.min(abi::FIFO_PORTS - 1);
        (max_port / abi::PORTS_PER_BUCKET + 1) * abi::PORTS_PER_BUCKET
    }

    /// The heap bytes [`EventChannels::new`] takes for `vcpu_count` vCPUs and `max_port`
    /// (the boot sizes the heap from the plan before building the tables).
    pub fn heap_bytes(vcpu_count: u16, max_port: u32) -> usize {
        let vcpus = usize::from(vcpu_count);
        let per_vcpu = core::mem::size_of::<[u32; abi::virq::COUNT as usize]>()
            + core::mem::size_of::<Option<u64>>()
            + core::mem::size_of::<super::fifo::FifoVcpu>();
        (Self::channel_slots(max_port) as usize).saturating_mul(core::mem::size_of::<Channel>()).saturating_add(vcpus.saturating_mul(per_vcpu))
    }

    /// The heap bytes this table's slices hold (what [`EventChannels::heap_bytes`] predicts).
    #[cfg(test)]
    pub fn heap_bytes_held(&self) -> usize {
        core::mem::size_of_val(&*self.channels)
            + core::mem::size_of_val(&*self.virqs)
            + core::mem::size_of_val(&*self.vcpu_info)
            + core::mem::size_of_val(&*self.fifo.vcpus)
    }

    /// The table of partition `partition` (index in `/chosen` order; its domain id is one
    /// more) with `vcpu_count` vCPUs and ports up to `max_port` ([`abi::DEFAULT_MAX_PORT`] as
    /// Xen 4.17 gives dom0less DomUs). Allocates everything the table will ever use.
    pub fn new(partition: usize, vcpu_count: u16, max_port: u32) -> Self {
        let len = Self::channel_slots(max_port);
        let max_port = max_port.min(abi::FIFO_PORTS - 1);
        let vcpus = usize::from(vcpu_count);
        let mut table = EventChannels {
            partition,
            vcpu_count,
            max_port,
            valid: 0,
            channels: vec![Channel::FREE; len as usize].into_boxed_slice(),
            virqs: vec![[0; abi::virq::COUNT as usize]; vcpus].into_boxed_slice(),
            peers: Peers::ALL,
            epoch: 0,
            shared_info: None,
            vcpu_info: vec![None; vcpus].into_boxed_slice(),
            fifo: Fifo::new(vcpus),
        };
        table.reinitialise();
        table
    }

    /// Back to a new domain's state (port 0 reserved, 2-level ABI, nothing registered), with a
    /// new epoch.
    pub(super) fn reinitialise(&mut self) {
        self.channels.fill(Channel::FREE);
        self.virqs.fill([0; abi::virq::COUNT as usize]);
        self.vcpu_info.fill(None);
        self.shared_info = None;
        self.fifo.deactivate();
        self.valid = abi::PORTS_PER_BUCKET.min(self.channels.len() as u32);
        if let Some(zero) = self.channels.first_mut() {
            zero.binding = Binding::Reserved;
        }
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// The partition index.
    pub fn partition(&self) -> usize {
        self.partition
    }

    /// The Xen domain id of a partition index: 1, 2, ... in `/chosen` order.
    pub fn domid_of(partition: usize) -> u16 {
        u16::try_from(partition + 1).unwrap_or(u16::MAX)
    }

    /// This partition's domain id.
    pub fn domid(&self) -> u16 {
        Self::domid_of(self.partition)
    }

    /// The highest port.
    pub fn max_port(&self) -> u32 {
        self.max_port
    }

    /// The current epoch (see [`super::PeerReset`]).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Restricts which partitions may bind to this one (a refusal is -EPERM).
    pub fn set_peers(&mut self, peers: Peers) {
        self.peers = peers;
    }

    /// Where `shared_info` is in the address space of the partition's [`EventMemory`]. Xen
    /// allocates it with the domain, so the runtime gives it before the partition starts;
    /// 2-level events raised while it is absent are lost.
    pub fn set_shared_info(&mut self, address: Option<u64>) -> Result<(), MemoryError> {
        if let Some(address) = address {
            if !address.is_multiple_of(abi::PAGE_SIZE) {
                return Err(MemoryError::Misaligned { address });
            }
            if address.checked_add(abi::PAGE_SIZE).is_none() {
                return Err(MemoryError::Unmapped { address });
            }
        }
        self.shared_info = address;
        Ok(())
    }

    /// Where vCPU `vcpu`'s `vcpu_info` is (`VCPUOP_register_vcpu_info`). Until it registers one,
    /// vCPU 0 uses the one in `shared_info`, and the others have none: events still become
    /// pending, but their selector and upcall go nowhere (Xen points them at a shared dummy).
    pub fn set_vcpu_info(&mut self, vcpu: u16, address: u64) -> Result<(), Errno> {
        let slot = self
            .vcpu_info
            .get_mut(usize::from(vcpu))
            .ok_or(Errno::Enoent)?;
        // Aligned, and its fields' addresses cannot wrap.
        if !address.is_multiple_of(8) || address.checked_add(abi::vcpu_info::SIZE).is_none() {
            return Err(Errno::Einval);
        }
        *slot = Some(address);
        Ok(())
    }

    /// The `vcpu_info` of a vCPU: registered, or the legacy one for vCPU 0.
    pub(super) fn vcpu_info_address(&self, vcpu: u16) -> Option<u64> {
        match self.vcpu_info.get(usize::from(vcpu)).copied().flatten() {
            Some(address) => Some(address),
            None if vcpu == 0 => self.shared_info,
            None => None,
        }
    }

    /// Whether the FIFO ABI is in use.
    pub fn is_fifo(&self) -> bool {
        self.fifo.active
    }

    /// The binding of a port, if it is in the valid range.
    pub fn binding(&self, port: u32) -> Option<Binding> {
        self.channel(port).map(|c| c.binding)
    }

    pub(super) fn channel(&self, port: u32) -> Option<&Channel> {
        if port < self.valid {
            self.channels.get(port as usize)
        } else {
            None
        }
    }

    pub(super) fn channel_mut(&mut self, port: u32) -> Option<&mut Channel> {
        if port < self.valid {
            self.channels.get_mut(port as usize)
        } else {
            None
        }
    }

    /// Ports the current ABI can name (Xen's `max_evtchns`).
    fn abi_ports(&self) -> u32 {
        if self.fifo.active {
            abi::FIFO_PORTS
        } else {
            abi::TWO_LEVEL_PORTS
        }
    }

    /// Xen's `evtchn_allocate_port`: claims `port` if it is in range, free and not still
    /// linked on a FIFO queue, growing the valid range to cover it.
    pub(super) fn allocate_port(
        &mut self,
        port: u32,
        mem: &mut impl EventMemory,
    ) -> Result<(), Errno> {
        if port > self.max_port || port >= self.abi_ports() {
            return Err(Errno::Enospc);
        }
        if port < self.valid {
            let free = self
                .channels
                .get(port as usize)
                .is_some_and(|c| c.binding == Binding::Free);
            if !free || self.is_busy(port, mem) {
                return Err(Errno::Ebusy);
            }
        } else {
            let len = self.channels.len() as u32;
            self.valid = ((port / abi::PORTS_PER_BUCKET + 1) * abi::PORTS_PER_BUCKET).min(len);
        }
        Ok(())
    }

    /// Xen's `get_free_port`: the lowest port that can be allocated.
    pub(super) fn free_port(&mut self, mem: &mut impl EventMemory) -> Result<u32, Errno> {
        for port in 0..=self.max_port {
            match self.allocate_port(port, mem) {
                Ok(()) => return Ok(port),
                Err(Errno::Ebusy) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Errno::Enospc)
    }

    /// `port` if non-zero (allocated), else the lowest free port.
    pub(super) fn get_port(&mut self, port: u32, mem: &mut impl EventMemory) -> Result<u32, Errno> {
        if port != 0 {
            self.allocate_port(port, mem).map(|()| port)
        } else {
            self.free_port(mem)
        }
    }

    /// Binds a claimed port (Xen's state change plus `evtchn_port_init`).
    pub(super) fn bind(&mut self, port: u32, binding: Binding, notify_vcpu: u16) {
        if let Some(channel) = self.channels.get_mut(port as usize) {
            channel.binding = binding;
            channel.notify_vcpu = notify_vcpu;
            channel.priority = fifo::PRIORITY_DEFAULT;
        }
    }

    /// Xen's `evtchn_free`: clears the pending bit, then the port is free and bound to vCPU 0.
    pub(super) fn free(&mut self, port: u32, mem: &mut impl EventMemory, fx: &mut super::Effects) {
        self.clear_pending(port, mem, fx);
        if let Some(channel) = self.channels.get_mut(port as usize) {
            channel.binding = Binding::Free;
            channel.notify_vcpu = 0;
            channel.fifo_pending = false;
        }
    }

    /// Whether the vCPU index exists (Xen's `domain_vcpu`).
    pub(super) fn has_vcpu(&self, vcpu: u32) -> Option<u16> {
        u16::try_from(vcpu).ok().filter(|&v| v < self.vcpu_count)
    }
}

impl core::fmt::Debug for EventChannels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EventChannels")
            .field("partition", &self.partition)
            .field("valid", &self.valid)
            .field("epoch", &self.epoch)
            .field("fifo", &self.fifo.active)
            .finish_non_exhaustive()
    }
}
