//! Host tests of the hypercall layer against a fake machine: guest memory with a hole in it.

use super::abi::{errno, hvm, memory, number, sched, vcpu, version, DOMID_SELF};
use super::*;
use crate::portable::memory::AddressRange;
use alloc::vec;
use alloc::vec::Vec;

const RAM_IPA: u64 = 0x4000_0000;
const RAM_HOST: u64 = 0x8000_0000;
const RAM_SIZE: u64 = 0x10_0000;
/// A guest page whose stage-1 mapping is missing.
const HOLE: u64 = RAM_IPA + 0x5000;
/// The shared_info page's host address (outside the RAM bank).
const SHARED_INFO: u64 = 0x9000_0000;

struct Fake {
    ram: Vec<u8>,
    shared_info: Vec<u8>,
    console: Vec<u8>,
    mapped: Vec<u64>,
    upcalls: Vec<usize>,
    vcpus_up: u64,
    evtchn_calls: Vec<crate::portable::evtchn::args::Call>,
    /// Two partitions' grant tables with fake frames and stage 2 (this caller is domain 1).
    world: crate::portable::gnttab::tests::World,
    /// Reservation refusals reported for the log.
    refusals: Vec<crate::portable::gnttab::Refusal>,
    /// Ports that are pending; ports at or above 4096 are no ports.
    pending: Vec<u32>,
    /// Whether the vCPU polls now (begun and not cancelled).
    polling: bool,
    /// What a poll that waits waits for: its ports and deadline.
    waiting: Option<(super::PortSet, u64)>,
}

impl Fake {
    fn new() -> Self {
        Self { ram: vec![0; RAM_SIZE as usize], shared_info: vec![0; 4096], console: Vec::new(), mapped: Vec::new(), upcalls: Vec::new(), vcpus_up: 1, evtchn_calls: Vec::new(), world: crate::portable::gnttab::tests::World::new(2), refusals: Vec::new(), pending: Vec::new(), polling: false, waiting: None }
    }

    fn slot(&mut self, pa: u64, size: usize) -> &mut [u8] {
        if (SHARED_INFO..SHARED_INFO + 4096).contains(&pa) {
            let at = (pa - SHARED_INFO) as usize;
            return &mut self.shared_info[at..at + size];
        }
        assert!(pa >= RAM_HOST && pa + size as u64 <= RAM_HOST + RAM_SIZE, "access outside RAM at {pa:#x}");
        let at = (pa - RAM_HOST) as usize;
        &mut self.ram[at..at + size]
    }

    fn poke(&mut self, ipa: u64, bytes: &[u8]) {
        self.slot(ipa - RAM_IPA + RAM_HOST, bytes.len()).copy_from_slice(bytes);
    }

    fn peek(&mut self, ipa: u64, size: usize) -> Vec<u8> {
        self.slot(ipa - RAM_IPA + RAM_HOST, size).to_vec()
    }
}

impl GuestAccess for Fake {
    fn translate(&mut self, va: u64, _write: bool) -> Option<u64> {
        // The guest's own tables map its RAM 1:1 except the hole; other addresses reach
        // stage 2 untranslated (and fail the RAM check).
        if va & !0xfff == HOLE || va >= 1 << 48 {
            return None;
        }
        Some(if (RAM_IPA..RAM_IPA + RAM_SIZE).contains(&va) { va - RAM_IPA + RAM_HOST } else { va })
    }

    fn read_host(&mut self, pa: u64, buffer: &mut [u8]) {
        let len = buffer.len();
        buffer.copy_from_slice(self.slot(pa, len));
    }

    fn write_host(&mut self, pa: u64, bytes: &[u8]) {
        self.slot(pa, bytes.len()).copy_from_slice(bytes);
    }
}

impl Environment for Fake {
    fn console_write(&mut self, bytes: &[u8]) {
        self.console.extend_from_slice(bytes);
    }

    fn map_shared_info(&mut self, gfn: u64) -> Result<(), i64> {
        self.mapped.push(gfn);
        Ok(())
    }

    fn unmap_shared_info(&mut self, gfn: u64) -> Result<(), i64> {
        let at = self.mapped.iter().position(|&g| g == gfn).expect("unmapped where it was mapped");
        self.mapped.remove(at);
        Ok(())
    }

    fn raise_upcall(&mut self, vcpu: usize) {
        self.upcalls.push(vcpu);
    }

    fn now(&self) -> (u64, u64) {
        (1000, 1000)
    }

    fn event_channel(&mut self, call: crate::portable::evtchn::args::Call) -> Result<super::Answer, crate::portable::evtchn::Errno> {
        self.evtchn_calls.push(call);
        match call {
            crate::portable::evtchn::args::Call::AllocUnbound { .. } => Ok(super::Answer::Port(5)),
            crate::portable::evtchn::args::Call::Send { port: 0 } => Err(crate::portable::evtchn::Errno::Einval),
            _ => Ok(super::Answer::Done),
        }
    }

    fn reservation_refused(&mut self, refusal: crate::portable::gnttab::Refusal) {
        self.refusals.push(refusal);
    }

    fn grants(
        &mut self,
        f: &mut dyn FnMut(&mut crate::portable::gnttab::Grants, &mut dyn crate::portable::gnttab::GrantMemory, &mut dyn crate::portable::gnttab::Stage2),
    ) {
        let world = &mut self.world;
        f(&mut world.grants, &mut world.mem, &mut world.s2);
    }

    fn poll_begin(&mut self) {
        assert!(!self.polling, "a poll begun twice");
        self.polling = true;
    }

    fn port_pending(&mut self, port: u32) -> Result<bool, crate::portable::evtchn::Errno> {
        assert!(self.polling, "ports are looked at after the poll begins");
        if port >= 4096 {
            return Err(crate::portable::evtchn::Errno::Einval);
        }
        Ok(self.pending.contains(&port))
    }

    fn poll_cancel(&mut self) {
        assert!(self.polling, "a poll cancelled that had not begun");
        self.polling = false;
    }

    fn poll_wait(&mut self, ports: &super::PortSet, deadline: u64) {
        assert!(self.polling, "a poll waits after it began");
        self.waiting = Some((*ports, deadline));
    }
}

fn banks() -> [GuestBank; 1] {
    [GuestBank { ipa: AddressRange::new(RAM_IPA, RAM_SIZE).unwrap(), host: RAM_HOST }]
}

fn call(fake: &mut Fake, state: &Mutex<XenState>, number: u64, args: &[u64]) -> Outcome {
    let banks = banks();
    let caller = Caller { domid: 1, domains: 2, vcpu: 0, vcpus: 2, banks: &banks, direct_mapped: false, vcpus_up: fake.vcpus_up };
    let mut a = [0u64; 5];
    a[..args.len()].copy_from_slice(args);
    dispatch(fake, &caller, state, &Hypercall { number, args: a })
}

fn ret(fake: &mut Fake, state: &Mutex<XenState>, number: u64, args: &[u64]) -> i64 {
    match call(fake, state, number, args) {
        Outcome::Return(rc) => rc,
        other => panic!("expected a return, got {other:?}"),
    }
}

fn state() -> Mutex<XenState> {
    Mutex::new(XenState::new(SHARED_INFO))
}

const BUF: u64 = RAM_IPA + 0x1000;

#[test]
fn xen_version_answers_as_xen_4_17() {
    let (mut f, s) = (Fake::new(), state());
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::VERSION]), 0x40011);
    // Only the low 32 bits of the command count.
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[1 << 32]), 0x40011);
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::CAPABILITIES, BUF]), 0);
    assert_eq!(&f.peek(BUF, 17), b"xen-3.0-aarch64 \0");
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::PAGESIZE, 0]), 4096);
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::PAGESIZE, BUF]), -errno::EINVAL);
    f.poke(BUF, &[0; 8]);
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::GET_FEATURES, BUF]), 0);
    assert_eq!(f.peek(BUF + 4, 4), 0x16005u32.to_le_bytes());
    f.poke(BUF, &1u32.to_le_bytes());
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::GET_FEATURES, BUF]), -errno::EINVAL);
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::COMMANDLINE, BUF]), 0);
    assert_eq!(&f.peek(BUF, 9), b"<denied>\0");
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::BUILD_ID, 0]), -errno::EPERM);
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[99, BUF]), -errno::ENOSYS);
}

#[test]
fn bad_buffers_are_efault_never_a_panic() {
    let (mut f, s) = (Fake::new(), state());
    for address in [0, HOLE, HOLE - 4, RAM_IPA + RAM_SIZE - 4, u64::MAX - 3, 1 << 60, SHARED_INFO] {
        for command in [version::EXTRAVERSION, version::COMPILE_INFO, version::CAPABILITIES, version::GET_FEATURES, version::GUEST_HANDLE] {
            assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[command, address]), -errno::EFAULT, "{command} at {address:#x}");
        }
    }
}

#[test]
fn a_buffer_across_pages_is_copied_piece_by_piece() {
    let (mut f, s) = (Fake::new(), state());
    let at = RAM_IPA + 0x2000 - 5;
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::CAPABILITIES, at]), 0);
    assert_eq!(&f.peek(at, 16), b"xen-3.0-aarch64 ");
    // The second page is the hole: the part before it is written, the call fails.
    assert_eq!(ret(&mut f, &s, number::XEN_VERSION, &[version::CAPABILITIES, HOLE - 3]), -errno::EFAULT);
}

#[test]
fn console_writes_go_out_in_pieces() {
    let (mut f, s) = (Fake::new(), state());
    let text: Vec<u8> = (0..600u32).map(|i| b'a' + (i % 26) as u8).collect();
    f.poke(BUF, &text);
    let mut args = [abi::console::WRITE, 600, BUF, 0, 0];
    let mut traps = 0;
    loop {
        traps += 1;
        match call(&mut f, &s, number::CONSOLE_IO, &args) {
            Outcome::Again { args: next } => args = next,
            Outcome::Return(rc) => {
                assert_eq!(rc, 0);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(traps, 3);
    assert_eq!(f.console, text);
    assert_eq!(ret(&mut f, &s, number::CONSOLE_IO, &[abi::console::WRITE, 4, HOLE]), -errno::EFAULT);
    assert_eq!(ret(&mut f, &s, number::CONSOLE_IO, &[abi::console::READ, 4, BUF]), 0);
    assert_eq!(ret(&mut f, &s, number::CONSOLE_IO, &[abi::console::READ, 1 << 31, BUF]), -abi::errno::E2BIG);
    assert_eq!(ret(&mut f, &s, number::CONSOLE_IO, &[7, 4, BUF]), -errno::ENOSYS);
    assert_eq!(ret(&mut f, &s, number::CONSOLE_IO, &[abi::console::WRITE, 0, 0]), 0);
}

fn hvm_param(f: &mut Fake, domid: u16, index: u32) {
    let mut p = [0u8; 16];
    p[0..2].copy_from_slice(&domid.to_le_bytes());
    p[4..8].copy_from_slice(&index.to_le_bytes());
    p[8..16].copy_from_slice(&0x55u64.to_le_bytes());
    f.poke(BUF, &p);
}

#[test]
fn hvm_params_are_absent_and_read_only() {
    let (mut f, s) = (Fake::new(), state());
    for index in [hvm::CALLBACK_IRQ, hvm::STORE_PFN, hvm::STORE_EVTCHN, hvm::CONSOLE_PFN, hvm::CONSOLE_EVTCHN] {
        hvm_param(&mut f, DOMID_SELF, index);
        assert_eq!(ret(&mut f, &s, number::HVM_OP, &[hvm::GET_PARAM, BUF]), 0);
        assert_eq!(f.peek(BUF + 8, 8), [0; 8]);
        assert_eq!(ret(&mut f, &s, number::HVM_OP, &[hvm::SET_PARAM, BUF]), -errno::EPERM);
    }
    hvm_param(&mut f, 1, hvm::MONITOR_RING_PFN);
    assert_eq!(ret(&mut f, &s, number::HVM_OP, &[hvm::GET_PARAM, BUF]), -errno::EPERM);
    hvm_param(&mut f, 1, 1000);
    assert_eq!(ret(&mut f, &s, number::HVM_OP, &[hvm::GET_PARAM, BUF]), -errno::EINVAL);
    hvm_param(&mut f, 2, hvm::CALLBACK_IRQ);
    assert_eq!(ret(&mut f, &s, number::HVM_OP, &[hvm::GET_PARAM, BUF]), -errno::EPERM);
    hvm_param(&mut f, 3, hvm::CALLBACK_IRQ);
    assert_eq!(ret(&mut f, &s, number::HVM_OP, &[hvm::GET_PARAM, BUF]), -errno::ESRCH);
    assert_eq!(ret(&mut f, &s, number::HVM_OP, &[hvm::GET_PARAM, HOLE]), -errno::EFAULT);
    assert_eq!(ret(&mut f, &s, number::HVM_OP, &[7, BUF]), -errno::ENOSYS);
}

fn vcpu_info_request(f: &mut Fake, gfn: u64, offset: u32) {
    let mut r = [0u8; 16];
    r[0..8].copy_from_slice(&gfn.to_le_bytes());
    r[8..12].copy_from_slice(&offset.to_le_bytes());
    f.poke(BUF, &r);
}

#[test]
fn vcpu_info_moves_once_with_everything_pending() {
    let (mut f, s) = (Fake::new(), state());
    f.shared_info[16] = 0xab;
    let target = RAM_IPA + 0x3000;
    vcpu_info_request(&mut f, target >> 12, 64);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 0, BUF]), 0);
    let info = f.peek(target + 64, 48);
    assert_eq!(info[0], 1);
    assert_eq!(info[8..16], [0xff; 8]);
    assert_eq!(info[16], 0xab, "vCPU 0's old contents come from shared_info");
    assert_eq!(f.upcalls, [0]);
    assert_eq!(s.lock().vcpu_info_host(0), Some(target + 64 - RAM_IPA + RAM_HOST));
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 0, BUF]), -errno::EINVAL);
    vcpu_info_request(&mut f, target >> 12, 4096 - 40);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 1, BUF]), -errno::ENXIO);
    vcpu_info_request(&mut f, target >> 12, 4);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 1, BUF]), -errno::ENXIO);
    vcpu_info_request(&mut f, 0x10, 0);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 1, BUF]), -errno::EINVAL);
    vcpu_info_request(&mut f, u64::MAX, 0);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 1, BUF]), -errno::EINVAL);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 2, BUF]), -errno::ENOENT);
    // Another vCPU's, only while it is down.
    vcpu_info_request(&mut f, target >> 12, 128);
    f.vcpus_up = 0b11;
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 1, BUF]), -errno::EINVAL);
    f.vcpus_up = 0b01;
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 1, BUF]), 0);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_VCPU_INFO, 1, HOLE]), -errno::EFAULT);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::IS_UP, 0, 0]), -errno::EINVAL);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::GET_RUNSTATE_INFO, 0, BUF]), -errno::EINVAL);
    assert_eq!(ret(&mut f, &s, number::VCPU_OP, &[vcpu::REGISTER_RUNSTATE_MEMORY_AREA, 0, BUF]), 0);
}

fn physmap(f: &mut Fake, domid: u16, space: u32, idx: u64, gpfn: u64) {
    let mut r = [0u8; 24];
    r[0..2].copy_from_slice(&domid.to_le_bytes());
    r[4..8].copy_from_slice(&space.to_le_bytes());
    r[8..16].copy_from_slice(&idx.to_le_bytes());
    r[16..24].copy_from_slice(&gpfn.to_le_bytes());
    f.poke(BUF, &r);
}

#[test]
fn shared_info_is_mapped_once() {
    let (mut f, s) = (Fake::new(), state());
    let add = |f: &mut Fake| ret(f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP, BUF]);
    physmap(&mut f, DOMID_SELF, memory::SPACE_SHARED_INFO, 1, 0x40010);
    assert_eq!(add(&mut f), -errno::EINVAL);
    physmap(&mut f, DOMID_SELF, memory::SPACE_SHARED_INFO, 0, u64::MAX);
    assert_eq!(add(&mut f), -errno::EINVAL);
    physmap(&mut f, 3, memory::SPACE_SHARED_INFO, 0, 0x40010);
    assert_eq!(add(&mut f), -errno::ESRCH);
    physmap(&mut f, 2, memory::SPACE_SHARED_INFO, 0, 0x40010);
    assert_eq!(add(&mut f), -errno::EPERM);
    physmap(&mut f, 1, memory::SPACE_SHARED_INFO, 0, 0x40010);
    assert_eq!(add(&mut f), 0);
    assert_eq!(f.mapped, [0x40010]);
    physmap(&mut f, 1, memory::SPACE_SHARED_INFO, 0, 0x40011);
    assert_eq!(add(&mut f), -errno::EBUSY);
    // A grant frame goes only into the grant-table window (tests/gnttab.rs).
    for (space, rc) in [(memory::SPACE_GRANT_TABLE, -errno::EINVAL), (memory::SPACE_GMFN, -errno::ENOSYS), (memory::SPACE_GMFN_RANGE, -errno::ENOSYS), (memory::SPACE_GMFN_FOREIGN, -errno::ENOSYS), (memory::SPACE_DEV_MMIO, -errno::EACCES), (77, -errno::ENOSYS)] {
        physmap(&mut f, DOMID_SELF, space, 0, 0x40020);
        f.poke(BUF + 2, &1u16.to_le_bytes());
        assert_eq!(add(&mut f), rc, "space {space}");
    }
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP, HOLE]), -errno::EFAULT);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP | (1 << 30), BUF]), -errno::EDOM);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[50, BUF]), -errno::ENOSYS);
    assert_eq!(s.lock().reset(), Some(0x40010));
    assert_eq!(s.lock().shared_info_gfn, None);
}

#[test]
fn a_batch_reports_each_frame_and_continues_in_pieces() {
    let (mut f, s) = (Fake::new(), state());
    let (idxs, gpfns, errs) = (RAM_IPA + 0x8000, RAM_IPA + 0x9000, RAM_IPA + 0xa000);
    let count = 100u16;
    let mut r = [0u8; 32];
    r[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
    r[2..4].copy_from_slice(&(memory::SPACE_GMFN as u16).to_le_bytes());
    r[4..6].copy_from_slice(&count.to_le_bytes());
    r[8..16].copy_from_slice(&idxs.to_le_bytes());
    r[16..24].copy_from_slice(&gpfns.to_le_bytes());
    r[24..32].copy_from_slice(&errs.to_le_bytes());
    f.poke(BUF, &r);
    let mut args = [memory::ADD_TO_PHYSMAP_BATCH, BUF, 0, 0, 0];
    let mut traps = 0;
    while let Outcome::Again { args: next } = call(&mut f, &s, number::MEMORY_OP, &args) {
        args = next;
        traps += 1;
        assert!(traps < 10);
    }
    assert_eq!(traps, 1);
    let errors = f.peek(errs, 400);
    assert!(errors.chunks(4).all(|e| i32::from_le_bytes([e[0], e[1], e[2], e[3]]) == -38));
    // A range is not a batch space.
    f.poke(BUF + 2, &(memory::SPACE_GMFN_RANGE as u16).to_le_bytes());
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP_BATCH, BUF]), -errno::EOPNOTSUPP);
    // Foreign frames from a domU: itself by DOMID_SELF, another domain, no domain.
    f.poke(BUF + 2, &(memory::SPACE_GMFN_FOREIGN as u16).to_le_bytes());
    f.poke(BUF + 4, &3u16.to_le_bytes());
    for (foreign, rc) in [(DOMID_SELF, -errno::EINVAL), (2, -errno::EPERM), (9, -errno::ESRCH), (1, -errno::ESRCH)] {
        f.poke(BUF + 6, &foreign.to_le_bytes());
        assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP_BATCH, BUF]), 0);
        assert_eq!(f.peek(errs, 4), (rc as i32).to_le_bytes(), "foreign {foreign}");
    }
    f.poke(BUF + 16, &HOLE.to_le_bytes());
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP_BATCH, BUF]), -errno::EFAULT);
}

#[test]
fn sched_op_maps_reasons_and_keeps_watchdogs() {
    let (mut f, s) = (Fake::new(), state());
    assert_eq!(call(&mut f, &s, number::SCHED_OP, &[sched::YIELD, 0]), Outcome::Yield);
    assert_eq!(call(&mut f, &s, number::SCHED_OP, &[sched::BLOCK, 0]), Outcome::Block { unmask: true });
    for (reason, expected) in [(0, Shutdown::Poweroff { reason: 0 }), (1, Shutdown::Reboot), (3, Shutdown::Crash), (4, Shutdown::Watchdog), (0x103, Shutdown::Crash), (2, Shutdown::Poweroff { reason: 2 })] {
        f.poke(BUF, &(reason as u32).to_le_bytes());
        assert_eq!(call(&mut f, &s, number::SCHED_OP, &[sched::SHUTDOWN, BUF]), Outcome::Shutdown(expected));
    }
    assert_eq!(call(&mut f, &s, number::SCHED_OP, &[sched::SHUTDOWN, HOLE]), Outcome::Return(-errno::EFAULT));
    let mut poll = [0u8; 24];
    poll[8..12].copy_from_slice(&200u32.to_le_bytes());
    f.poke(BUF, &poll);
    assert_eq!(call(&mut f, &s, number::SCHED_OP, &[sched::POLL, BUF]), Outcome::Return(-errno::EINVAL));
    poll[0..8].copy_from_slice(&HOLE.to_le_bytes());
    poll[8..12].copy_from_slice(&1u32.to_le_bytes());
    f.poke(BUF, &poll);
    assert_eq!(call(&mut f, &s, number::SCHED_OP, &[sched::POLL, BUF]), Outcome::Return(-errno::EFAULT));
    assert!(!f.polling, "an error ends the poll");
    let watchdog = |f: &mut Fake, id: u32, timeout: u32| {
        f.poke(BUF, &id.to_le_bytes());
        f.poke(BUF + 4, &timeout.to_le_bytes());
        ret(f, &s, number::SCHED_OP, &[sched::WATCHDOG, BUF])
    };
    assert_eq!(watchdog(&mut f, 0, 10), 1);
    assert_eq!(watchdog(&mut f, 0, 10), 2);
    assert_eq!(watchdog(&mut f, 0, 10), -errno::ENOSPC);
    assert_eq!(watchdog(&mut f, 3, 10), -errno::EINVAL);
    assert_eq!(watchdog(&mut f, 2, 0), 0);
    assert_eq!(watchdog(&mut f, 2, 5), -errno::EINVAL);
    assert_eq!(s.lock().watchdogs, [Some(1000 + 10 * 1000), None]);
    assert_eq!(s.lock().expired_watchdog(10_999), None);
    assert_eq!(s.lock().expired_watchdog(11_000), Some(0));
    assert_eq!(watchdog(&mut f, u32::MAX, u32::MAX), -errno::EINVAL);
    f.poke(BUF, &[0u8; 8]);
    assert_eq!(ret(&mut f, &s, number::SCHED_OP, &[sched::REMOTE_SHUTDOWN, BUF]), -errno::ESRCH);
    f.poke(BUF, &1u16.to_le_bytes());
    assert_eq!(ret(&mut f, &s, number::SCHED_OP, &[sched::REMOTE_SHUTDOWN, BUF]), -errno::EPERM);
    assert_eq!(ret(&mut f, &s, number::SCHED_OP, &[99, BUF]), -errno::ENOSYS);
}

#[test]
fn unknown_and_unimplemented_calls_are_enosys() {
    let (mut f, s) = (Fake::new(), state());
    for n in [0, 6, number::PHYSDEV_OP, number::SYSCTL, number::DOMCTL, 100, u64::MAX] {
        assert_eq!(ret(&mut f, &s, n, &[0, 0]), -errno::ENOSYS, "hypercall {n}");
    }
}

#[test]
fn the_hypervisor_node_is_as_xen_writes_it() {
    use crate::portable::guest::dtb::{build, GuestDtbSpec};
    use crate::portable::guest::layout::GicVersion;
    let ram = [AddressRange::new(RAM_IPA, RAM_SIZE).unwrap()];
    let spec = GuestDtbSpec { name: "p", vcpus: 1, memory: &ram, gic: GicVersion::V3, vpl011: false, bootargs: None, initrd: None, boot_count: 1, extra_nodes: &[HYPERVISOR_NODE], shared_memory: &[] };
    let blob = build(&spec).unwrap();
    let tree = fdt::Fdt::new_unaligned(&blob).unwrap();
    let node = tree.find_node("/hypervisor").unwrap();
    let property = |name: &str| node.raw_property(name).unwrap().value.to_vec();
    assert_eq!(property("compatible"), b"xen,xen-4.17\0xen,xen\0");
    assert_eq!(property("reg"), [0, 0, 0, 0, 0x38, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(property("interrupts"), [0, 0, 0, 1, 0, 0, 0, 15, 0, 0, 0xf, 8]);
    assert_eq!(property("interrupt-parent"), 65000u32.to_be_bytes());
}

#[test]
fn event_channel_op_decodes_the_call_and_writes_the_answer_back() {
    use crate::portable::evtchn::args::Call;
    let (mut f, s) = (Fake::new(), state());
    // EVTCHNOP_alloc_unbound (6): dom = DOMID_SELF, remote_dom = 2, port written at 4.
    f.poke(BUF, &[0xf0, 0x7f, 2, 0, 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(ret(&mut f, &s, number::EVENT_CHANNEL_OP, &[6, BUF]), 0);
    assert_eq!(f.peek(BUF, 8), [0xf0, 0x7f, 2, 0, 5, 0, 0, 0]);
    assert_eq!(f.evtchn_calls, [Call::AllocUnbound { dom: 0x7ff0, remote_dom: 2 }]);
    // EVTCHNOP_send (4) of port 0: the runtime's errno, nothing written.
    f.poke(BUF, &[0, 0, 0, 0]);
    assert_eq!(ret(&mut f, &s, number::EVENT_CHANNEL_OP, &[4, BUF]), -errno::EINVAL);
    // An unknown command, a bad buffer.
    assert_eq!(ret(&mut f, &s, number::EVENT_CHANNEL_OP, &[99, BUF]), -errno::ENOSYS);
    // The command is a C int: upper bits are dropped, as Xen's do_event_channel_op sees it.
    assert_eq!(ret(&mut f, &s, number::EVENT_CHANNEL_OP, &[1 << 32 | 4, BUF]), -errno::EINVAL);
    assert_eq!(ret(&mut f, &s, number::EVENT_CHANNEL_OP, &[4, 0]), -errno::EFAULT);
    assert_eq!(f.evtchn_calls.len(), 3);
}

#[test]
fn poll_returns_at_once_for_a_pending_port_and_waits_otherwise() {
    let (mut f, s) = (Fake::new(), state());
    let ports = BUF + 64;
    let poll = |f: &mut Fake, list: &[u32]| {
        for (i, port) in list.iter().enumerate() {
            f.poke(ports + 4 * i as u64, &port.to_le_bytes());
        }
        let mut request = [0u8; 24];
        request[..8].copy_from_slice(&ports.to_le_bytes());
        request[8..12].copy_from_slice(&(list.len() as u32).to_le_bytes());
        f.poke(BUF, &request);
        call(f, &s, number::SCHED_OP, &[sched::POLL, BUF])
    };
    // Nothing pending: the vCPU waits, still polling, IRQs left as they are.
    assert_eq!(poll(&mut f, &[3, 5]), Outcome::Block { unmask: false });
    assert!(f.polling);
    f.polling = false;
    // The second port pending: 0 at once, the poll over.
    f.pending = vec![5];
    assert_eq!(poll(&mut f, &[3, 5]), Outcome::Return(0));
    assert!(!f.polling);
    // A port that is none: -EINVAL, unless a pending one comes first (Xen's order).
    assert_eq!(poll(&mut f, &[9000, 5]), Outcome::Return(-errno::EINVAL));
    assert_eq!(poll(&mut f, &[5, 9000]), Outcome::Return(0));
    assert!(!f.polling);
    // No ports: waits (for an interrupt).
    assert_eq!(poll(&mut f, &[]), Outcome::Block { unmask: false });
}

/// Polls `list` with `timeout` (system time, ns); the fake's counter is at 1000, 1 kHz.
fn poll_with_timeout(f: &mut Fake, s: &Mutex<XenState>, list: &[u32], timeout: u64) -> Outcome {
    let ports = BUF + 64;
    for (i, port) in list.iter().enumerate() {
        f.poke(ports + 4 * i as u64, &port.to_le_bytes());
    }
    let mut request = [0u8; 24];
    request[..8].copy_from_slice(&ports.to_le_bytes());
    request[8..12].copy_from_slice(&(list.len() as u32).to_le_bytes());
    request[16..].copy_from_slice(&timeout.to_le_bytes());
    f.poke(BUF, &request);
    f.polling = false;
    f.waiting = None;
    call(f, s, number::SCHED_OP, &[sched::POLL, BUF])
}

#[test]
fn poll_waits_for_its_own_ports_until_its_timeout() {
    let (mut f, s) = (Fake::new(), state());
    // No timeout (0): the vCPU waits for its two ports and nothing else, with no deadline.
    assert_eq!(poll_with_timeout(&mut f, &s, &[3, 70], 0), Outcome::Block { unmask: false });
    let (ports, deadline) = f.waiting.expect("the poll waits");
    assert_eq!(deadline, u64::MAX);
    assert!(ports.contains(3) && ports.contains(70));
    assert!(!ports.contains(4) && !ports.contains(69) && !ports.contains(1));
    // 2 s of system time is counter value 2000 at 1 kHz: after now (1000), so it waits.
    assert_eq!(poll_with_timeout(&mut f, &s, &[7], 2_000_000_000), Outcome::Block { unmask: false });
    assert_eq!(f.waiting.map(|(_, d)| d), Some(2000));
    assert!(f.polling);
    // A timeout at or before now returns 0 at once, the poll over, whatever the ports.
    for past in [1, 1_000_000_000] {
        assert_eq!(poll_with_timeout(&mut f, &s, &[7], past), Outcome::Return(0));
        assert!(!f.polling && f.waiting.is_none());
    }
    // The ports are looked at before the timeout (Xen's order): a bad port is still -EINVAL.
    assert_eq!(poll_with_timeout(&mut f, &s, &[9000], 1), Outcome::Return(-errno::EINVAL));
    f.pending = vec![7];
    assert_eq!(poll_with_timeout(&mut f, &s, &[7], 2_000_000_000), Outcome::Return(0));
    assert!(f.waiting.is_none());
    // The largest timeout saturates: no deadline the counter can reach.
    assert_eq!(poll_with_timeout(&mut f, &s, &[8], u64::MAX), Outcome::Block { unmask: false });
    assert_eq!(f.waiting.map(|(_, d)| d), Some(u64::MAX / 1_000_000));
}

#[test]
fn remove_from_physmap_takes_shared_info_away_so_it_can_be_mapped_again() {
    let (mut f, s) = (Fake::new(), state());
    let remove = |f: &mut Fake, domid: u16, gpfn: u64| {
        let mut request = [0u8; 16];
        request[..2].copy_from_slice(&domid.to_le_bytes());
        request[8..].copy_from_slice(&gpfn.to_le_bytes());
        f.poke(BUF + 256, &request);
        ret(f, &s, number::MEMORY_OP, &[memory::REMOVE_FROM_PHYSMAP, BUF + 256])
    };
    let (ram_gfn, empty_gfn) = (RAM_IPA >> 12, 0x1000_0000 >> 12);
    // Nothing mapped yet: a RAM frame is refused, an empty frame has nothing to remove.
    assert_eq!(remove(&mut f, DOMID_SELF, ram_gfn), -errno::EPERM);
    assert_eq!(remove(&mut f, DOMID_SELF, empty_gfn), -errno::ENOENT);
    physmap(&mut f, DOMID_SELF, memory::SPACE_SHARED_INFO, 0, ram_gfn + 16);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP, BUF]), 0);
    // Domain checks come first, then the frame.
    assert_eq!(remove(&mut f, 7, ram_gfn + 16), -errno::ESRCH);
    assert_eq!(remove(&mut f, 2, ram_gfn + 16), -errno::EPERM);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[memory::REMOVE_FROM_PHYSMAP, HOLE]), -errno::EFAULT);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[memory::REMOVE_FROM_PHYSMAP | 1 << 6, BUF + 256]), -errno::EINVAL);
    assert_eq!(f.mapped, [ram_gfn + 16]);
    // The caller's own id works as DOMID_SELF does.
    assert_eq!(remove(&mut f, 1, ram_gfn + 16), 0);
    assert!(f.mapped.is_empty());
    assert_eq!(s.lock().shared_info_gfn, None);
    // Mapped again elsewhere, where add_to_physmap said -EBUSY before the removal.
    physmap(&mut f, DOMID_SELF, memory::SPACE_SHARED_INFO, 0, ram_gfn + 20);
    assert_eq!(ret(&mut f, &s, number::MEMORY_OP, &[memory::ADD_TO_PHYSMAP, BUF]), 0);
    assert_eq!(f.mapped, [ram_gfn + 20]);
}

mod gnttab;
