//! Direct interrupt delivery (`bulkhead,irq-delivery = "direct"`): a partition alone on its
//! CPUs takes its Group 1 interrupts from the physical GICv3 at its own EL1, with no exit,
//! while the hypervisor keeps its own interrupts on those CPUs (the kick SGI, the EL2 timer,
//! the health timer, maintenance) as Group 0, taken at EL2 as FIQs. ARCHITECTURE.md, "Direct
//! interrupt delivery", gives the architecture's rules this rests on and what it guarantees.
//!
//! The distributor and redistributors stay emulated: the guest's enables and priorities for
//! the private interrupts it may own (SGIs 1 to 15 and the virtual timer's PPI 27) are copied
//! to its CPU's physical redistributor after each of its trapped GIC accesses, and its
//! `ICC_SGI1R_EL1` writes (which trap while HCR_EL2.FMO is set) become physical Group 1 SGIs
//! to its own vCPUs' CPUs only.
//!
//! Taking a CPU back: a guest can hold off the hypervisor's Group 0 on its own CPU by claiming
//! an active priority in `ICC_AP1R0_EL1` (no Armv8.0 trap catches the write). So a direct
//! partition's health deadlines are watched from the boot CPU ([`watcher`]), and a stopped
//! vCPU whose CPU has not let go [`FORCE_AFTER_MS`] after its kick is forced out from the
//! waiting CPU ([`force_exit`]): the partition's stage 2 is withdrawn and its VMID's TLB
//! entries invalidated everywhere, so the guest's next instruction fetch exits to EL2, where
//! its CPU lets go and puts its Group 1 state (the claimed priority included) back to reset.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::arch::aarch64::gic::{direct as cpu_interface, Gic, GicError};
use crate::arch::aarch64::gic::virtual_regs::{Hcr, VirtualCpuState};
use crate::arch::aarch64::timer::{self, EL2_TIMER_PPI, HEALTH_TIMER_PPI};
use crate::log;
use crate::log::D;
use crate::portable::partition::Partition;
use crate::portable::vcpu::VcpuState;
use crate::portable::vgic::{VcpuId, VcpuSet, MAINTENANCE_PPI, VIRTUAL_TIMER_PPI};

use super::interrupts::KICK_SGI;
use super::per_cpu;

/// The private interrupts the hypervisor keeps on a direct CPU, as Group 0.
const HYPERVISOR_PRIVATE: [u32; 4] = [KICK_SGI, MAINTENANCE_PPI, EL2_TIMER_PPI, HEALTH_TIMER_PPI];
/// The private interrupts a direct guest may own (bit n: INTID n): SGIs 1 to 15 (SGI 0 is the
/// hypervisor's kick) and the virtual timer's PPI.
const GUEST_PRIVATE: u32 = 0xfffe | (1 << VIRTUAL_TIMER_PPI);
/// The most urgent priority a guest's interrupt gets: below the hypervisor's (0x80), so that
/// a Group 0 interrupt preempts a guest in its interrupt handler.
const GUEST_PRIORITY_FLOOR: u8 = 0x90;

/// CPUs set up for direct delivery (bit n: CPU n); kicks to them are Group 0 SGIs.
static DIRECT_CPUS: AtomicU64 = AtomicU64::new(0);

/// The CPU that watches the direct partitions' health deadlines: the boot CPU, which the
/// validator keeps out of every direct pool.
static WATCHER: AtomicUsize = AtomicUsize::new(0);

/// How long a direct CPU may take to let go of a stopped vCPU after its kick before the
/// partition's stage 2 is withdrawn to force it out ([`force_exit`]). On hardware a CPU that
/// takes its Group 0 kick lets go within microseconds. On QEMU without `-icount` (one host
/// thread per CPU, four CPUs on two host cores shared with builds) the `virt-gicv3-direct`
/// guest that masks only PSTATE let go 7.5 to 18 ms after its kick (debug and release
/// builds), and once had not within 20 ms: the host's scheduling, not the guest's. A forced
/// exit of a CPU that was about to let go anyway costs only the TLB maintenance and one
/// stage-2 fault, but its log line blames the guest, so the bound leaves room for such a host.
pub const FORCE_AFTER_MS: u64 = 100;

fn gic() -> &'static Gic {
    Gic::get().expect("the GIC is set up before any guest runs")
}

/// Whether CPU `cpu` runs a direct partition.
pub fn is_direct_cpu(cpu: usize) -> bool {
    cpu < 64 && DIRECT_CPUS.load(Ordering::SeqCst) & (1 << cpu) != 0
}

/// Checked at boot, before any partition starts: the GIC can deliver directly (a GICv3 with
/// one security state), or the error that says why not. Notes the direct partitions' CPUs,
/// whose kicks from now on go both ways ([`kick`]).
pub fn check(partitions: &[Partition]) -> Result<(), GicError> {
    if partitions.iter().any(|p| p.direct) {
        gic().direct()?;
    }
    for &cpu in partitions.iter().filter(|p| p.direct).flat_map(|p| p.vcpu_cpus.iter()) {
        if cpu < 64 {
            DIRECT_CPUS.fetch_or(1 << cpu, Ordering::SeqCst);
        }
    }
    WATCHER.store(crate::arch::aarch64::cpu::index(), Ordering::SeqCst);
    Ok(())
}

/// The CPU that owns a direct partition's health deadlines (its heartbeat, its Xen
/// watchdogs, a crash restart's back-off): the boot CPU, where [`check`] ran. Its own guests
/// take their interrupts through EL2 (no direct partition runs there), so no guest can hold
/// off its health timer, while a direct guest can hold off its own CPU's.
pub fn watcher() -> usize {
    WATCHER.load(Ordering::Relaxed)
}

/// Forces the vCPUs of direct partition `p` that a CPU still holds although they are stopped
/// out of their guests, from this CPU, `waited_ms` after their kick: its stage 2 is withdrawn
/// (every root entry invalid, `Stage2Table::withdraw`) and its VMID's TLB entries invalidated
/// on every CPU of the Inner Shareable domain, so that each of its CPUs takes a stage-2 fault
/// to EL2 at its guest's next instruction fetch, whatever the guest masked or claimed, and
/// lets go there (`cpu_loop::run_vcpu`: a vCPU no longer held leaves without its exit being
/// handled, and `reset_cpu` clears the active priorities it claimed). [`give_back`] restores
/// the table once every vCPU has left. Does nothing if the table is withdrawn already, or if
/// no vCPU is stopping any more: looked at under the table's lock, which `give_back` takes
/// too, so a run started meanwhile (only after a `give_back`) is never withdrawn from.
pub fn force_exit(p: &Partition, waited_ms: u64) {
    let (holder, withdrawn) = {
        let mut table = p.stage2.lock();
        let stopping = p.vcpus.iter().enumerate().find_map(|(vcpu, slot)| match slot.lock().state() {
            VcpuState::Stopping { cpu } => Some((vcpu, cpu)),
            _ => None,
        });
        let Some(holder) = stopping else { return };
        if table.withdrawn() {
            return;
        }
        (holder, table.withdraw())
    };
    // SAFETY: `vttbr_el2` is this partition's own (its table and VMID); this CPU runs at EL2
    // with interrupts masked and does not enter a guest before the call puts its own VTTBR_EL2
    // back (`tlb::invalidate_guest` says why its own guest's state is safe meanwhile).
    unsafe { crate::arch::aarch64::tlb::invalidate_guest(p.vttbr_el2) };
    let (vcpu, cpu) = holder;
    log!(
        "bulkhead: partition \"{}\" vcpu {} has not left cpu {} {} ms after its kick (a direct guest can hold off the hypervisor's interrupts on its CPU); withdrew its stage 2 (root entries: {}) to force it out",
        p.name.as_str(),
        vcpu,
        cpu,
        waited_ms,
        withdrawn
    );
}

/// After every vCPU of `p` has left its CPU: its stage 2 as it was before a [`force_exit`]
/// (entries becoming valid again need no TLB maintenance). Nothing if none happened.
pub fn give_back(p: &Partition) {
    p.stage2.lock().give_back();
}

/// Sets up the calling CPU, `cpu`, for its direct partition, once, before it first runs it:
/// the hypervisor's private interrupts move to Group 0 (its kick SGI included: from now on
/// kicks to it are sent as Group 0), the guest's are disabled in Group 1 at a priority below
/// the hypervisor's, EOImode 0 (the guest's `ICC_EOIR1_EL1` must deactivate: its
/// `ICC_DIR_EL1` is the virtual one), Group 0 enabled, Group 1 at its reset state.
pub fn prepare_cpu(cpu: usize) -> Result<(), GicError> {
    let v3 = gic().direct()?;
    for intid in HYPERVISOR_PRIVATE {
        v3.set_private_group(intid, cpu, true)?;
    }
    v3.clear_private(cpu, GUEST_PRIVATE)?;
    for intid in (0..32).filter(|i| GUEST_PRIVATE & (1 << i) != 0) {
        v3.set_private_group(intid, cpu, false)?;
        v3.set_priority(intid, cpu, GUEST_PRIORITY_FLOOR)?;
    }
    cpu_interface::set_eoi_split(false);
    cpu_interface::enable_group0(true);
    cpu_interface::reset_group1();
    take_group0();
    Ok(())
}

/// Kicks direct CPU `cpu`: the kick SGI as Group 1 and as Group 0. The GIC forwards an SGI
/// only to a target that has it in the group it was sent for (IHI 0069H.b §12.2, the
/// descriptions of `ICC_SGI0R_EL1` and `ICC_SGI1R_EL1`: with one security state an
/// `ICC_SGI1R_EL1` SGI reaches Group 1 only, an `ICC_SGI0R_EL1` one Group 0 only), so exactly one of them arrives whether or not `prepare_cpu` has moved the CPU's
/// SGI 0 to Group 0 yet, and a kick (a start, a health deadline to arm) is never lost.
pub fn kick(cpu: usize) {
    let gic = gic();
    let _ = gic.send_sgi(KICK_SGI, cpu);
    if let Ok(v3) = gic.direct() {
        let _ = v3.send_sgi_group0(KICK_SGI, cpu);
    }
}

/// Puts the calling CPU's Group 1 state back to reset for a vCPU starting afresh, or after
/// its vCPU left: the guest's private interrupts disabled, not pending, not active, Group 1
/// disabled with no active priority, its virtual timer off, and the virtual CPU interface
/// (whose `ICV_*` registers the guest's Group 0 and common accesses reach) reset and
/// disabled: a direct partition gets no virtual interrupts.
pub fn reset_cpu(cpu: usize) {
    let gic = gic();
    if let Ok(v3) = gic.direct() {
        let _ = v3.clear_private(cpu, GUEST_PRIVATE);
    }
    cpu_interface::reset_group1();
    timer::disable_virtual_timer();
    let vif = gic.virtual_interface();
    vif.clear_lrs();
    vif.restore(&VirtualCpuState::default());
    vif.set_hcr(Hcr::enabled().with(Hcr::ENABLE, false));
    MIRRORED[cpu.min(MIRRORED.len() - 1)].store(0, Ordering::Relaxed);
}

/// What each direct CPU's physical redistributor holds enabled of the guest's private
/// interrupts (bit n: INTID n), so that a mirror writes only what changed.
static MIRRORED: [AtomicU64; crate::arch::aarch64::entry::MAX_CPUS] =
    [const { AtomicU64::new(0) }; crate::arch::aarch64::entry::MAX_CPUS];

/// After a trapped GIC access of vCPU `vcpu` on CPU `cpu`: copies the enables and priorities
/// the guest set in its emulated redistributor for the private interrupts it may own to the
/// physical one (priorities no more urgent than [`GUEST_PRIORITY_FLOOR`]).
pub fn mirror(p: &Partition, vcpu: usize, cpu: usize) {
    let wanted: [(bool, u8); 32] = {
        let vgic = p.vgic.lock();
        core::array::from_fn(|i| {
            let intid = i as u32;
            match vgic.configured(VcpuId(vcpu), intid) {
                Some(c) if GUEST_PRIVATE & (1 << intid) != 0 => (c.enabled, c.priority.max(GUEST_PRIORITY_FLOOR)),
                _ => (false, 0),
            }
        })
    };
    let gic = gic();
    let slot = &MIRRORED[cpu.min(MIRRORED.len() - 1)];
    let before = slot.load(Ordering::Relaxed);
    let mut after = 0u64;
    for (intid, &(enabled, priority)) in wanted.iter().enumerate() {
        let bit = 1u64 << intid;
        if enabled {
            after |= bit;
            // The priority first: an interrupt enabled already pending is signalled at once.
            let _ = gic.set_priority(intid as u32, cpu, priority);
        }
        if (before & bit != 0) != enabled {
            let _ = gic.set_enabled(intid as u32, cpu, enabled);
        }
    }
    slot.store(after, Ordering::Relaxed);
}

/// A direct partition's `ICC_SGI1R_EL1` write: SGI `intid` to the CPUs of the vCPUs in
/// `targets`, all of them the partition's own (its CPUs are its alone), as a physical Group 1
/// SGI that the guest there takes directly. SGI 0 is the hypervisor's kick on those CPUs
/// (Group 0): the guest's SGI 0 goes nowhere.
pub fn send_sgi(p: &Partition, intid: u32, targets: VcpuSet) {
    if intid == KICK_SGI {
        return;
    }
    let gic = gic();
    for target in targets.iter() {
        if let Some(&cpu) = p.vcpu_cpus.get(target.0) {
            let _ = gic.send_sgi(intid, cpu);
        }
    }
}

/// The hypervisor's Group 0 interrupts pending on this direct CPU (taken as an FIQ exit from
/// its guest, or on waking from WFI with no guest): each acknowledged and ended at once
/// (EOImode 0 drops and deactivates), the EL2 and health timers disarmed (the exit path's
/// `health::poll` and the loop re-arm them), a kick or the EL2 timer noted for the loop.
pub fn take_group0() {
    while let Some(intid) = cpu_interface::acknowledge_group0() {
        per_cpu::this().interrupts.fetch_add(1, Ordering::Relaxed);
        match intid {
            KICK_SGI => per_cpu::this().request_reschedule(),
            EL2_TIMER_PPI => {
                timer::cancel_el2_deadline();
                per_cpu::this().request_reschedule();
            }
            HEALTH_TIMER_PPI => timer::cancel_health_deadline(),
            // Its vCPU's virtual interface is disabled: nothing should raise it.
            MAINTENANCE_PPI => {}
            other => {
                let _ = gic().set_enabled(other, crate::arch::aarch64::cpu::index(), false);
                log!("bulkhead: cpu {}: unexpected Group 0 interrupt {}; disabled it", crate::arch::aarch64::cpu::index(), D(&other));
            }
        }
        cpu_interface::end_group0(intid);
    }
}
