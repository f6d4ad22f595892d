//! The FIFO ABI: event words in guest array pages, a control block per vCPU with the READY
//! bitmap and a queue HEAD per priority, and the hypervisor's TAIL per queue (Xen's
//! `event_fifo.c`). Queue links are changed with compare-exchange on guest memory, because the
//! guest consumes the queues concurrently.

use alloc::boxed::Box;
use alloc::vec;

use super::abi::{self, fifo};
use super::error::Errno;
use super::memory::{self, compare_exchange, test, test_and_set, EventMemory, MemoryError};
use super::table::EventChannels;
use super::Effects;

/// One vCPU's FIFO state.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FifoVcpu {
    /// Address of its control block, once `init_control` gave it.
    pub control: Option<u64>,
    /// Last port linked on each priority's queue (0: empty).
    pub tails: [u32; fifo::QUEUES],
}

/// A partition's FIFO state, allocated with the table and switched on by `init_control`.
pub(super) struct Fifo {
    pub active: bool,
    /// Guest addresses of the event array pages, `pages` of them used.
    pub array: [u64; fifo::MAX_ARRAY_PAGES],
    pub pages: usize,
    pub vcpus: Box<[FifoVcpu]>,
}

impl Fifo {
    pub fn new(vcpus: usize) -> Self {
        Fifo {
            active: false,
            array: [0; fifo::MAX_ARRAY_PAGES],
            pages: 0,
            vcpus: vec![FifoVcpu::default(); vcpus].into_boxed_slice(),
        }
    }

    /// Back to the 2-level ABI (Xen's `evtchn_fifo_destroy`).
    pub fn deactivate(&mut self) {
        self.active = false;
        self.pages = 0;
        self.vcpus.fill(FifoVcpu::default());
    }

    /// Ports the event array covers.
    fn ports(&self) -> u32 {
        self.pages as u32 * fifo::WORDS_PER_PAGE
    }

    /// The address of a port's event word, if its page is there.
    pub fn word(&self, port: u32) -> Option<u64> {
        if port >= self.ports() {
            return None;
        }
        let page = self.array.get((port / fifo::WORDS_PER_PAGE) as usize)?;
        Some(page + 4 * u64::from(port % fifo::WORDS_PER_PAGE))
    }
}

/// A guest frame number as an address, if it names a page of the partition's RAM.
fn page_of(gfn: u64, mem: &mut impl EventMemory) -> Result<u64, Errno> {
    let address = gfn.checked_mul(abi::PAGE_SIZE).ok_or(Errno::Einval)?;
    if mem.is_ram_page(address) {
        Ok(address)
    } else {
        Err(Errno::Einval)
    }
}

impl EventChannels {
    /// `EVTCHNOP_init_control`: registers vCPU `vcpu`'s control block at `offset` in frame
    /// `gfn`; the first call switches the partition to FIFO. Answers the link width.
    pub fn init_control(
        &mut self,
        gfn: u64,
        offset: u32,
        vcpu: u32,
        mem: &mut impl EventMemory,
    ) -> Result<u8, Errno> {
        let vcpu = self.has_vcpu(vcpu).ok_or(Errno::Enoent)?;
        if u64::from(offset) > abi::PAGE_SIZE - fifo::CONTROL_BLOCK_SIZE
            || !offset.is_multiple_of(8)
        {
            return Err(Errno::Einval);
        }
        if !self.fifo.active {
            // A failure leaves the 2-level ABI in place, as Xen's error path does.
            let page = page_of(gfn, mem)?;
            self.fifo.deactivate();
            self.fifo.active = true;
            self.set_control(vcpu, page + u64::from(offset));
            self.setup_ports(mem);
        } else {
            let slot = self
                .fifo
                .vcpus
                .get(usize::from(vcpu))
                .ok_or(Errno::Enoent)?;
            if slot.control.is_some() {
                return Err(Errno::Einval);
            }
            let page = page_of(gfn, mem)?;
            self.set_control(vcpu, page + u64::from(offset));
        }
        Ok(fifo::LINK_BITS)
    }

    fn set_control(&mut self, vcpu: u16, address: u64) {
        if let Some(slot) = self.fifo.vcpus.get_mut(usize::from(vcpu)) {
            slot.control = Some(address);
        }
    }

    /// Xen's `setup_ports`: every bound port keeps its 2-level pending state (raised again
    /// when its array page arrives) and gets the default priority.
    fn setup_ports(&mut self, mem: &mut impl EventMemory) {
        for port in 1..self.valid {
            let pending = self.is_pending_2l(port, mem).unwrap_or(false);
            if let Some(channel) = self.channels.get_mut(port as usize) {
                channel.fifo_pending |= pending;
                channel.priority = fifo::PRIORITY_DEFAULT;
                channel.last_queue = (0, 0);
            }
        }
    }

    /// `EVTCHNOP_expand_array`: adds the next event array page; events raised for its ports
    /// while it was missing are raised now.
    pub fn expand_array(
        &mut self,
        gfn: u64,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<(), Errno> {
        if !self.fifo.active {
            return Err(Errno::Eopnotsupp);
        }
        let slot = self.fifo.pages;
        if slot >= fifo::MAX_ARRAY_PAGES {
            return Err(Errno::Enospc);
        }
        let page = page_of(gfn, mem)?;
        self.fifo.array[slot] = page;
        let first = self.fifo.ports();
        self.fifo.pages = slot + 1;
        for port in first..self.fifo.ports().min(self.valid) {
            let Some(channel) = self.channels.get_mut(port as usize) else {
                break;
            };
            if channel.fifo_pending {
                channel.fifo_pending = false;
                let vcpu = channel.notify_vcpu;
                if let Err(e) = self.set_pending_fifo(vcpu, port, mem, fx) {
                    fx.fault(e);
                }
            }
        }
        Ok(())
    }

    /// `EVTCHNOP_set_priority` on a bound port, FIFO only.
    pub fn set_priority(&mut self, port: u32, priority: u32) -> Result<(), Errno> {
        let fifo = self.fifo.active;
        let channel = self.channel_mut(port).ok_or(Errno::Einval)?;
        if !fifo {
            return Err(Errno::Enosys);
        }
        if !channel.binding.usable() {
            return Err(Errno::Eacces);
        }
        if priority > u32::from(fifo::PRIORITY_MIN) {
            return Err(Errno::Einval);
        }
        channel.priority = priority as u8;
        Ok(())
    }

    /// Marks a port pending and links it on its vCPU's queue for its priority (Xen's
    /// `evtchn_fifo_set_pending`; the table's lock stands for Xen's queue locks).
    pub(super) fn set_pending_fifo(
        &mut self,
        vcpu: u16,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<(), MemoryError> {
        let Some(word) = self.fifo.word(port) else {
            if let Some(channel) = self.channels.get_mut(port as usize) {
                channel.fifo_pending = true;
            }
            return Ok(());
        };
        let Some(channel) = self.channels.get(port as usize).copied() else {
            return Ok(());
        };
        let Some(control) = self
            .fifo
            .vcpus
            .get(usize::from(vcpu))
            .and_then(|v| v.control)
        else {
            // The guest must not unmask an event before it has a control block: drop it.
            return Ok(());
        };
        let priority = channel.priority.min(fifo::PRIORITY_MIN);
        if !test_and_set(mem, word, fifo::PENDING)? {
            fx.became_pending(port);
        }
        if test(mem, word, fifo::MASKED)? || test_and_set(mem, word, fifo::LINKED)? {
            return Ok(());
        }
        // If this port was the tail of the queue it was last on, that queue is empty now.
        let (old_vcpu, old_priority) = channel.last_queue;
        if let Some(old) = self.fifo.vcpus.get_mut(usize::from(old_vcpu)) {
            let tail = &mut old.tails[usize::from(old_priority) % fifo::QUEUES];
            if *tail == port {
                *tail = 0;
            }
        }
        if let Some(channel) = self.channels.get_mut(port as usize) {
            channel.last_queue = (vcpu, priority);
        }
        let tail = self
            .fifo
            .vcpus
            .get(usize::from(vcpu))
            .map_or(0, |v| v.tails[usize::from(priority)]);
        let linked = match self.fifo.word(tail).filter(|_| tail != 0) {
            Some(tail_word) => set_link(mem, tail_word, port)?,
            None => false,
        };
        if !linked {
            memory::store(
                mem,
                control + fifo::CONTROL_HEAD + 4 * u64::from(priority),
                port,
            )?;
        }
        if let Some(v) = self.fifo.vcpus.get_mut(usize::from(vcpu)) {
            v.tails[usize::from(priority)] = port;
        }
        if !linked && !test_and_set(mem, control + fifo::CONTROL_READY, u32::from(priority))? {
            self.mark_events_pending(vcpu, mem, fx)?;
        }
        Ok(())
    }

    /// Clears MASKED and links the port again if it is pending.
    pub(super) fn unmask_fifo(
        &mut self,
        vcpu: u16,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<(), MemoryError> {
        let Some(word) = self.fifo.word(port) else {
            return Ok(());
        };
        memory::test_and_clear(mem, word, fifo::MASKED)?;
        if test(mem, word, fifo::PENDING)? {
            self.set_pending_fifo(vcpu, port, mem, fx)?;
        }
        Ok(())
    }

    /// Clears PENDING only: the guest unlinks and skips events that are not pending.
    pub(super) fn clear_pending_fifo(
        &mut self,
        port: u32,
        mem: &mut impl EventMemory,
    ) -> Result<(), MemoryError> {
        let Some(word) = self.fifo.word(port) else {
            return Ok(());
        };
        memory::test_and_clear(mem, word, fifo::PENDING).map(|_| ())
    }

    /// Whether a port is still LINKED on a queue (it cannot be allocated again until the guest
    /// unlinks it).
    pub(super) fn is_busy_fifo(
        &self,
        port: u32,
        mem: &mut impl EventMemory,
    ) -> Result<bool, MemoryError> {
        match self.fifo.word(port) {
            Some(word) => test(mem, word, fifo::LINKED),
            None => Ok(false),
        }
    }
}

/// Sets the LINK field of the tail's word to `link` if the tail is still LINKED; says whether
/// it did (if not, the queue was empty and the new port becomes its head). The guest may only
/// set or clear MASKED, clear PENDING, or clear LINKED meanwhile; BUSY keeps it from unmasking,
/// so a few attempts suffice. After them the link is taken as made, as Xen does.
fn set_link(mem: &mut impl EventMemory, word: u64, link: u32) -> Result<bool, MemoryError> {
    const LINKED: u32 = 1 << fifo::LINKED;
    const BUSY: u32 = 1 << fifo::BUSY;
    let try_link = |mem: &mut _, w: u32| -> Result<Result<bool, u32>, MemoryError> {
        if w & LINKED == 0 {
            return Ok(Ok(false));
        }
        let new = (w & !(BUSY | fifo::LINK_MASK)) | (link & fifo::LINK_MASK);
        let found = compare_exchange(mem, word, w, new)?;
        Ok(if found == w { Ok(true) } else { Err(found) })
    };
    let w = memory::load(mem, word)?;
    if let Ok(done) = try_link(mem, w)? {
        return Ok(done);
    }
    test_and_set(mem, word, fifo::BUSY)?;
    let mut w = memory::load(mem, word)?;
    for _ in 0..4 {
        match try_link(mem, w)? {
            Ok(true) => return Ok(true),
            Ok(false) => {
                memory::test_and_clear(mem, word, fifo::BUSY)?;
                return Ok(false);
            }
            Err(found) => w = found,
        }
    }
    memory::test_and_clear(mem, word, fifo::BUSY)?;
    Ok(true)
}
