//! Host tests of the event channels: a fake guest memory, a two-partition world that routes
//! sends and notices as the runtime will, and one file per area.

mod args;
mod delivery;
mod fuzz;
mod interdomain;
mod ops;
mod plan;
mod runtime;

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// Guest RAM at 0x4000_0000..+16 MiB; words not written read as zero.
pub struct FakeMemory {
    pub words: BTreeMap<u64, u32>,
    pub ram: core::ops::Range<u64>,
    /// Accesses to these addresses fail.
    pub broken: BTreeSet<u64>,
}

pub const RAM: u64 = 0x4000_0000;
/// Where the tests put `shared_info`.
pub const SHARED: u64 = RAM;
pub const SHARED_GFN: u64 = SHARED >> 12;

impl FakeMemory {
    pub fn new() -> Self {
        FakeMemory {
            words: BTreeMap::new(),
            ram: RAM..RAM + (16 << 20),
            broken: BTreeSet::new(),
        }
    }

    fn check(&self, address: u64) -> Result<(), MemoryError> {
        assert!(
            address.is_multiple_of(4),
            "the module must align before calling"
        );
        if !self.ram.contains(&address) || self.broken.contains(&address) {
            return Err(MemoryError::Unmapped { address });
        }
        Ok(())
    }

    pub fn word(&self, address: u64) -> u32 {
        self.words.get(&address).copied().unwrap_or(0)
    }

    pub fn set(&mut self, address: u64, value: u32) {
        self.words.insert(address, value);
    }

    /// Bit `bit` of a bitmap at `base`.
    pub fn bit(&self, base: u64, bit: u32) -> bool {
        self.word(base + 4 * u64::from(bit / 32)) & (1 << (bit % 32)) != 0
    }

    pub fn set_bit(&mut self, base: u64, bit: u32, on: bool) {
        let address = base + 4 * u64::from(bit / 32);
        let w = self.word(address);
        let mask = 1 << (bit % 32);
        self.set(address, if on { w | mask } else { w & !mask });
    }
}

impl EventMemory for FakeMemory {
    fn load(&mut self, address: u64) -> Result<u32, MemoryError> {
        self.check(address)?;
        Ok(self.word(address))
    }
    fn store(&mut self, address: u64, value: u32) -> Result<(), MemoryError> {
        self.check(address)?;
        self.set(address, value);
        Ok(())
    }
    fn fetch_or(&mut self, address: u64, bits: u32) -> Result<u32, MemoryError> {
        self.check(address)?;
        let old = self.word(address);
        self.set(address, old | bits);
        Ok(old)
    }
    fn fetch_and(&mut self, address: u64, bits: u32) -> Result<u32, MemoryError> {
        self.check(address)?;
        let old = self.word(address);
        self.set(address, old & bits);
        Ok(old)
    }
    fn compare_exchange(
        &mut self,
        address: u64,
        current: u32,
        new: u32,
    ) -> Result<u32, MemoryError> {
        self.check(address)?;
        let old = self.word(address);
        if old == current {
            self.set(address, new);
        }
        Ok(old)
    }
    fn is_ram_page(&mut self, page: u64) -> bool {
        page.is_multiple_of(4096) && self.ram.contains(&page) && page + 4096 <= self.ram.end
    }
}

/// Partitions, each with its table and memory, wired as the runtime will wire them.
pub struct World {
    pub tables: Vec<EventChannels>,
    pub mems: Vec<FakeMemory>,
    /// Upcalls raised so far, per partition.
    pub upcalls: Vec<Upcalls>,
    /// Memory faults are counted rather than failing the test (the hostile-guest tests).
    pub tolerate_faults: bool,
    pub faults: usize,
}

impl World {
    /// `n` partitions of `vcpus` vCPUs, each with `shared_info` registered.
    pub fn new(n: usize, vcpus: u16) -> Self {
        let tables = (0..n)
            .map(|i| {
                let mut t = EventChannels::new(i, vcpus, abi::DEFAULT_MAX_PORT);
                t.set_shared_info(Some(SHARED)).unwrap();
                t
            })
            .collect();
        World {
            tables,
            mems: (0..n).map(|_| FakeMemory::new()).collect(),
            upcalls: vec![Upcalls::default(); n],
            tolerate_faults: false,
            faults: 0,
        }
    }

    fn record(&mut self, p: usize, fx: Effects) {
        if fx.fault.is_some() {
            assert!(self.tolerate_faults, "partition {p}: unexpected memory fault {:?}", fx.fault);
            self.faults += 1;
        }
        self.upcalls[p].0 |= fx.upcalls.0;
    }

    /// Takes the upcalls raised for a partition.
    pub fn take_upcalls(&mut self, p: usize) -> Upcalls {
        core::mem::take(&mut self.upcalls[p])
    }

    pub fn alloc_unbound(&mut self, p: usize, dom: u16, remote_dom: u16) -> Result<u32, Errno> {
        let target = resolve_domid(dom, p, self.tables.len())?;
        self.tables[target].alloc_unbound(p, remote_dom, &mut self.mems[target])
    }

    pub fn bind_interdomain(
        &mut self,
        p: usize,
        remote_dom: u16,
        remote_port: u32,
    ) -> Result<u32, Errno> {
        let r = resolve_domid(remote_dom, p, self.tables.len())?;
        let mut fx = Effects::default();
        let result = if r == p {
            bind_interdomain(
                &mut Pair::Same(&mut self.tables[p]),
                0,
                remote_port,
                &mut self.mems[p],
                &mut fx,
            )
        } else {
            let (local, remote) = two(&mut self.tables, p, r);
            bind_interdomain(
                &mut Pair::Two { local, remote },
                0,
                remote_port,
                &mut self.mems[p],
                &mut fx,
            )
        };
        self.record(p, fx);
        result
    }

    pub fn send(&mut self, p: usize, port: u32) -> Result<Route, Errno> {
        let mut fx = Effects::default();
        let route = self.tables[p].send(port, &mut self.mems[p], &mut fx);
        self.record(p, fx);
        if let Ok(Route::Remote(d)) = route {
            let mut fx = Effects::default();
            self.tables[d.partition].deliver(&d, &mut self.mems[d.partition], &mut fx);
            self.record(d.partition, fx);
        }
        route
    }

    pub fn close(&mut self, p: usize, port: u32) -> Result<(), Errno> {
        let mut fx = Effects::default();
        let notice = self.tables[p].close(port, &mut self.mems[p], &mut fx);
        self.record(p, fx);
        if let Some(n) = notice? {
            self.tables[n.partition].peer_closed(&n);
        }
        Ok(())
    }

    pub fn reset(&mut self, p: usize) {
        let mut fx = Effects::default();
        let notice = self.tables[p].reset(&mut self.mems[p], &mut fx);
        self.record(p, fx);
        for t in &mut self.tables {
            t.peer_reset(&notice);
        }
    }

    pub fn stop(&mut self, p: usize) {
        let notice = self.tables[p].stop();
        for t in &mut self.tables {
            t.peer_reset(&notice);
        }
    }

    pub fn unmask(&mut self, p: usize, port: u32) -> Result<(), Errno> {
        let mut fx = Effects::default();
        let r = self.tables[p].unmask(port, &mut self.mems[p], &mut fx);
        self.record(p, fx);
        r
    }

    pub fn status(&self, p: usize, port: u32) -> Status {
        self.tables[p].status(p, port).unwrap()
    }
}

/// Two distinct tables of a slice, mutably.
pub fn two(
    tables: &mut [EventChannels],
    a: usize,
    b: usize,
) -> (&mut EventChannels, &mut EventChannels) {
    assert_ne!(a, b);
    if a < b {
        let (low, high) = tables.split_at_mut(b);
        (&mut low[a], &mut high[0])
    } else {
        let (low, high) = tables.split_at_mut(a);
        (&mut high[0], &mut low[b])
    }
}
