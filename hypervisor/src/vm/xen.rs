//! Xen hypercalls on the machine: the `portable::xen` decisions made with the running vCPU's
//! address translation (`arch::aarch64::translate`), the partition's RAM, its console, its
//! live stage 2 and its vGIC, then turned into an [`Exit`] for `exits` to act on. Also the
//! partition-wide parts: shared_info unmapped on a restart, and watchdog expiry (noticed by
//! the partition's home CPU, `health`).

use crate::arch::aarch64::context::GuestRegisters;
use crate::arch::aarch64::{cpu, translate};
use crate::portable::memory::stage2::{MappingAttributes, Stage2Error};
use crate::portable::memory::AddressRange;
use crate::portable::partition::{Exit, Partition};
use crate::portable::psci::PowerState;
use crate::portable::trap::GeneralRegisters;
use crate::portable::vgic::VcpuId;
use crate::portable::xen::abi::{errno, layout::EVENT_CHANNEL_PPI, number, PAGE_SIZE};
use crate::portable::xen::guest_memory::{in_ram, ipa_to_host};
use crate::portable::evtchn::args::Call;
use crate::portable::evtchn::Errno;
use crate::portable::xen::{dispatch, Answer, Caller, Environment, GuestAccess, Hypercall, Outcome, PortSet, Shutdown};
use crate::log;
use crate::log::D;
use core::sync::atomic::Ordering;

use super::cpu_loop::Outcome as LoopOutcome;
use super::{console_op, crash, evtchn, interrupts, memory, restart_partition, stop_partition, PARTITIONS};

/// PSTATE.I, the IRQ mask (SPSR_EL2 bit 7).
const PSTATE_I: u64 = 1 << 7;

/// The machine as one hypercall of partition `p` sees it.
struct Machine<'a> {
    p: &'a Partition,
    /// The calling vCPU.
    vcpu: usize,
}

impl Machine<'_> {
    /// Whether host range `pa..pa + size` is the partition's RAM or its shared_info page:
    /// the only memory a hypercall reads or writes.
    fn allowed(&self, pa: u64, size: usize) -> bool {
        let size = size as u64;
        let shared = self.p.xen.shared_info;
        in_ram(&self.p.banks, pa, size) || (pa >= shared && pa.checked_add(size).is_some_and(|end| end <= shared + PAGE_SIZE))
    }
}

impl GuestAccess for Machine<'_> {
    fn translate(&mut self, va: u64, write: bool) -> Option<u64> {
        translate::guest_page(va, write)
    }

    fn read_host(&mut self, pa: u64, buffer: &mut [u8]) {
        if self.allowed(pa, buffer.len()) {
            // SAFETY: the range is the partition's RAM or shared_info page, identity mapped
            // read-write at EL2; the guest may change it meanwhile, which bytes tolerate.
            unsafe { core::ptr::copy_nonoverlapping(pa as *const u8, buffer.as_mut_ptr(), buffer.len()) };
        }
    }

    fn write_host(&mut self, pa: u64, bytes: &[u8]) {
        if self.allowed(pa, bytes.len()) {
            // SAFETY: as for `read_host`; nothing of the hypervisor lives there.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), pa as *mut u8, bytes.len()) };
        }
    }
}

impl Environment for Machine<'_> {
    fn console_write(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            super::health::alive(self.p);
        }
        let index = self.p.index;
        let _ = console_op(|mux, mut sink| {
            for &byte in bytes {
                let _ = mux.output(index, byte, &mut sink);
            }
        });
    }

    fn map_shared_info(&mut self, gfn: u64) -> Result<(), i64> {
        let ipa = gfn.checked_mul(PAGE_SIZE).ok_or(-errno::EINVAL)?;
        let page = AddressRange::new(self.p.xen.shared_info, PAGE_SIZE).ok_or(-errno::EINVAL)?;
        let frame = AddressRange::new(ipa, PAGE_SIZE).ok_or(-errno::EINVAL)?;
        // Over RAM, the RAM page goes away while shared_info is there (as on Xen).
        let ram = ipa_to_host(&self.p.banks, ipa, PAGE_SIZE);
        if ram.is_some() {
            memory::unmap_guest(self.p, frame).map_err(stage2_errno)?;
        }
        let mapped = memory::map_guest(self.p, ipa, page, MappingAttributes::RAM);
        if let (Err(_), Some(host)) = (mapped, ram) {
            restore_ram(self.p, ipa, host);
        }
        mapped.map_err(stage2_errno)
    }

    fn unmap_shared_info(&mut self, gfn: u64) -> Result<(), i64> {
        unmap_shared_info(self.p, gfn).map_err(stage2_errno)
    }

    fn raise_upcall(&mut self, vcpu: usize) {
        raise_upcall(self.p, vcpu);
    }

    fn event_channel(&mut self, call: Call) -> Result<Answer, Errno> {
        evtchn::op(self.p, call)
    }

    fn grants(&mut self, f: &mut dyn FnMut(&mut crate::portable::gnttab::Grants, &mut dyn crate::portable::gnttab::GrantMemory, &mut dyn crate::portable::gnttab::Stage2)) {
        super::gnttab::with(f);
    }

    fn reservation_refused(&mut self, refusal: crate::portable::gnttab::Refusal) {
        // A second's worth of counter ticks per window, shared with the abort reports.
        let window = cpu::counter_frequency().max(1);
        let admit = self.p.run.lock().reports.admit(cpu::counter(), window);
        if let crate::portable::partition::report_limit::Admit::Print { dropped } = admit {
            if dropped > 0 {
                log!("bulkhead: partition \"{}\": {} more reports were left out", self.p.name.as_str(), dropped);
            }
            log!("bulkhead: partition \"{}\": {}", self.p.name.as_str(), D(&refusal));
        }
    }

    fn now(&self) -> (u64, u64) {
        (cpu::counter(), cpu::counter_frequency())
    }

    fn poll_begin(&mut self) {
        self.p.xen.pollers.begin(self.vcpu);
    }

    fn port_pending(&mut self, port: u32) -> Result<bool, Errno> {
        evtchn::port_pending(self.p, port)
    }

    fn poll_cancel(&mut self) {
        self.p.xen.pollers.cancel(self.vcpu);
    }

    fn poll_wait(&mut self, ports: &PortSet, deadline: u64) {
        self.p.xen.pollers.wait(self.vcpu, ports, deadline);
    }
}

/// Raises the event-channel upcall PPI on vCPU `vcpu` of `p`, kicking or waking it.
fn raise_upcall(p: &Partition, vcpu: usize) {
    let effects = p.vgic.lock().inject(VcpuId(vcpu), EVENT_CHANNEL_PPI);
    if let Ok(effects) = effects {
        interrupts::act(p, vcpu, effects);
    }
}

/// The errno a stage-2 change that failed gives the guest.
fn stage2_errno(error: Stage2Error) -> i64 {
    match error {
        Stage2Error::AlreadyMapped { .. } => -errno::EBUSY,
        Stage2Error::OutOfTablePages { .. } => -errno::ENOMEM,
        _ => -errno::EINVAL,
    }
}

/// Unmaps the shared_info page from guest frame `gfn` and maps back the RAM page it covered,
/// if any (Xen leaves a hole there: the guest gets its page back here instead).
fn unmap_shared_info(p: &Partition, gfn: u64) -> Result<(), Stage2Error> {
    let Some(frame) = gfn.checked_mul(PAGE_SIZE).and_then(|ipa| AddressRange::new(ipa, PAGE_SIZE)) else {
        return Ok(());
    };
    memory::unmap_guest(p, frame)?;
    if let Some(host) = ipa_to_host(&p.banks, frame.start(), PAGE_SIZE) {
        restore_ram(p, frame.start(), host);
    }
    Ok(())
}

/// Maps the RAM page at `ipa` (host `host`) back into the partition.
fn restore_ram(p: &Partition, ipa: u64, host: u64) {
    let restored = AddressRange::new(host, PAGE_SIZE).map(|page| memory::map_guest(p, ipa, page, MappingAttributes::RAM));
    if !matches!(restored, Some(Ok(()))) {
        log!("bulkhead: partition \"{}\": its RAM page at {:#x} could not be mapped back after shared_info", p.name.as_str(), ipa);
    }
}

/// Answers the Xen hypercall vCPU `vcpu` of `p` made (its registers are `regs`, the PC past
/// the `hvc`); returns what the vCPU does next.
pub fn hypercall(p: &Partition, vcpu: usize, regs: &mut GuestRegisters) -> Exit {
    let call = Hypercall::from_registers(regs);
    let domains = PARTITIONS.get().map_or(0, |all| all.len());
    // Only vcpu_op needs to know which vCPUs are up (a look at the PSCI states).
    let vcpus_up = if call.number == number::VCPU_OP {
        let run = p.run.lock();
        run.power.states().iter().enumerate().filter(|(_, s)| **s != PowerState::Off).fold(0u64, |up, (i, _)| up | (1 << (i % 64)))
    } else {
        0
    };
    let caller = Caller {
        domid: p.domid(),
        domains: u16::try_from(domains).unwrap_or(u16::MAX),
        vcpu,
        vcpus: p.vcpu_count(),
        banks: &p.banks,
        direct_mapped: p.xen.direct_mapped,
        vcpus_up,
    };
    let outcome = dispatch(&mut Machine { p, vcpu }, &caller, &p.xen.state, &call);
    if call.number == number::SCHED_OP {
        let earliest = p.xen.state.lock().watchdogs.iter().flatten().copied().min().unwrap_or(u64::MAX);
        if p.xen.watchdog.swap(earliest, Ordering::AcqRel) != earliest {
            // The partition's home CPU follows the new deadline at once.
            super::health::watchdog_changed(p);
        }
    }
    match outcome {
        Outcome::Return(value) => {
            regs.set_x(0, value as u64);
            Exit::Resume
        }
        Outcome::Again { args } => {
            for (i, value) in args.into_iter().enumerate() {
                regs.set_x(i, value);
            }
            // Back onto the `hvc`, which the guest executes again with the new arguments.
            regs.pc = regs.pc.wrapping_sub(4);
            Exit::Resume
        }
        Outcome::Yield => {
            regs.set_x(0, 0);
            Exit::Yield
        }
        Outcome::Block { unmask } => {
            regs.set_x(0, 0);
            if unmask {
                regs.pstate &= !PSTATE_I;
            }
            Exit::Wait { interrupt: true }
        }
        Outcome::Shutdown(how) => {
            regs.set_x(0, 0);
            Exit::Shutdown(how)
        }
    }
}

/// Answers the Xen hypercall vCPU `vcpu` of `p` made on CPU `cpu` and says what the loop does
/// next: kept out of the common trap path, which it leaves before taking any lock.
#[inline(never)]
pub fn answer(cpu: usize, p: &Partition, vcpu: usize, regs: &mut GuestRegisters) -> LoopOutcome {
    match hypercall(p, vcpu, regs) {
        Exit::Yield => LoopOutcome::Yield,
        Exit::Wait { interrupt: true } => LoopOutcome::Block,
        Exit::Shutdown(how) => shutdown(p, cpu, how),
        _ => LoopOutcome::Resume,
    }
}

/// Acts on a partition's `SCHEDOP_shutdown`: power off stops it, reboot restarts it, crash
/// and watchdog apply its crash policy.
#[cold]
pub fn shutdown(p: &Partition, cpu: usize, how: Shutdown) -> LoopOutcome {
    // What the guest printed before it asked comes out before the hypervisor's line.
    super::output::flush(p.index);
    match how {
        Shutdown::Poweroff { reason } => {
            log!("bulkhead: partition \"{}\" shut itself down (Xen SCHEDOP_shutdown, reason {})", p.name.as_str(), D(&reason));
            stop_partition(p);
        }
        Shutdown::Reboot => restart_partition(p),
        Shutdown::Crash => {
            log!("bulkhead: partition \"{}\" reported a crash (Xen SCHEDOP_shutdown, SHUTDOWN_crash)", p.name.as_str());
            crash(p, cpu, format_args!("it reported a crash (Xen SCHEDOP_shutdown, SHUTDOWN_crash)"));
        }
        Shutdown::Watchdog => {
            log!("bulkhead: partition \"{}\" reported a watchdog expiry (Xen SCHEDOP_shutdown, SHUTDOWN_watchdog)", p.name.as_str());
            crash(p, cpu, format_args!("it reported a watchdog expiry (Xen SCHEDOP_shutdown, SHUTDOWN_watchdog)"));
        }
    }
    LoopOutcome::Leave
}

/// Applies the crash policy if one of the partition's `SCHEDOP_watchdog` timers has expired
/// at counter value `now`: called by the partition's home CPU (`health::poll`), whose health
/// timer is armed for the earliest deadline, so the expiry is noticed on time wherever the
/// partition's vCPUs are: running on any CPU (with their interrupts masked too: the health
/// timer is the hypervisor's), parked, or waiting. The watchdogs are cleared under the Xen
/// state's lock, so one look acts, once. Returns whether it acted.
#[cold]
#[inline(never)]
pub fn watchdog_expired(p: &Partition, now: u64) -> bool {
    let expired = {
        let mut state = p.xen.state.lock();
        let Some(id) = state.expired_watchdog(now) else { return false };
        let deadline = state.watchdogs.get(id).copied().flatten().unwrap_or(now);
        // The run it watched ends: no other look acts on it again.
        state.watchdogs = [None; crate::portable::xen::abi::sched::WATCHDOGS];
        p.xen.watchdog.store(u64::MAX, Ordering::Release);
        (id, deadline)
    };
    let (id, deadline) = expired;
    let late = now.saturating_sub(deadline).saturating_mul(1_000_000) / cpu::counter_frequency().max(1);
    super::output::flush(p.index);
    log!("bulkhead: partition \"{}\": its Xen watchdog {} expired ({} us after its deadline); applying its crash policy", p.name.as_str(), (id + 1), late);
    super::apply_crash_policy(p, format_args!("its Xen watchdog {} expired", id + 1));
    true
}

/// Forgets what the partition registered with the Xen interface (before it starts again),
/// unmapping its shared_info page and giving the RAM under it back; its event-channel ports
/// close (its peers see them closed), then, with shared_info clean, its static channels are
/// bound again (an event sent on them from then on waits, pending, for the new run).
pub fn reset(p: &Partition) {
    evtchn::close_all(p);
    let mapped = p.xen.state.lock().reset();
    p.xen.clear_shared_info();
    p.xen.watchdog.store(u64::MAX, Ordering::Relaxed);
    p.xen.pollers.reset();
    if let Some(gfn) = mapped {
        if let Err(error) = unmap_shared_info(p, gfn) {
            log!("bulkhead: partition \"{}\": its shared_info page at guest frame {:#x} could not be unmapped: {}", p.name.as_str(), gfn, D(&error));
        }
    }
    evtchn::bind_static(p);
}
