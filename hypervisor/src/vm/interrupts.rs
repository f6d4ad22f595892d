//! Interrupts while partitions run: the physical GIC on each CPU, the list registers around
//! every guest exit (sync on the way out, flush on the way back in), physical IRQs taken from
//! a guest, and what the vGIC asks for (kicks, hardware-mapped interrupts).

use crate::arch::aarch64::gic::{Gic, GicError, VirtualInterface};
use crate::arch::aarch64::gic::regs::Acknowledged;
use crate::arch::aarch64::gic::virtual_regs::{Hcr, VirtualCpuState};
use crate::arch::aarch64::cpu;
use crate::arch::aarch64::timer::{self, EL2_TIMER_PPI, HEALTH_TIMER_PPI};
use crate::portable::partition::Partition;
use crate::portable::vgic::{Effects, GicVersion, ListRegister, VcpuId, MAINTENANCE_PPI, MAX_LIST_REGISTERS, VIRTUAL_TIMER_PPI};
use crate::log;
use crate::log::D;

use super::per_cpu;

/// The SGI one CPU sends another to make its vCPU exit and see new vGIC state.
pub const KICK_SGI: u32 = 0;
/// Priority of the interrupts the hypervisor takes (all of them: one level is enough).
const PRIORITY: u8 = 0x80;

/// Sets up this CPU's GIC interface and the private interrupts the hypervisor uses.
pub fn init_cpu(gic: &Gic, cpu: usize) -> Result<(), GicError> {
    gic.init_cpu(cpu)?;
    timer::cancel_health_deadline();
    for intid in [KICK_SGI, MAINTENANCE_PPI, EL2_TIMER_PPI, HEALTH_TIMER_PPI] {
        gic.set_priority(intid, cpu, PRIORITY)?;
        gic.set_enabled(intid, cpu, true)?;
    }
    // The virtual timer's PPI is enabled while a vCPU runs here (`reset_vcpu_interface`).
    gic.set_priority(VIRTUAL_TIMER_PPI, cpu, PRIORITY)?;
    gic.set_trigger(VIRTUAL_TIMER_PPI, cpu, boards::Trigger::Level)?;
    gic.virtual_interface().clear_lrs();
    Ok(())
}

fn gic() -> &'static Gic {
    Gic::get().expect("the GIC is set up before any guest runs")
}

fn decode(version: GicVersion, raw: u64) -> Option<ListRegister> {
    match version {
        GicVersion::V3 => ListRegister::decode_v3(raw),
        GicVersion::V2 => ListRegister::decode_v2(raw as u32),
    }
}

fn encode(version: GicVersion, lr: &Option<ListRegister>) -> u64 {
    match (version, lr) {
        (_, None) => 0,
        (GicVersion::V3, Some(lr)) => lr.encode_v3(),
        (GicVersion::V2, Some(lr)) => u64::from(lr.encode_v2()),
    }
}

/// Every list register empty, for a sync that read none.
const NO_LIST_REGISTERS: [Option<ListRegister>; MAX_LIST_REGISTERS] = [None; MAX_LIST_REGISTERS];

/// On a guest exit: folds what the guest did with its list registers back into the vGIC.
pub fn sync(p: &Partition, vcpu: usize) {
    let vif = gic().virtual_interface();
    let count = vif.lr_count().min(MAX_LIST_REGISTERS);
    // Only the list registers that hold something: `ELRSR` marks the empty ones (an entry
    // the guest has deactivated, or one the flush left empty), which read as `None` anyway.
    // When all are empty (the guest took what was listed, or nothing was), nothing is read
    // and no array is filled.
    let mut full = !vif.elrsr() & ((1u64 << count) - 1);
    let mut read: [Option<ListRegister>; MAX_LIST_REGISTERS];
    let lrs: &[Option<ListRegister>] = if full == 0 {
        &NO_LIST_REGISTERS[..count]
    } else {
        // The vGIC was built for the partition's GIC version (no lock needed to know it).
        let version = p.gic;
        read = [None; MAX_LIST_REGISTERS];
        while full != 0 {
            let i = full.trailing_zeros() as usize;
            full &= full - 1;
            read[i] = vif.read_lr(i).ok().and_then(|raw| decode(version, raw));
        }
        &read[..count]
    };
    let hcr = vif.hcr();
    let effects = {
        let mut vgic = p.vgic.lock();
        let mut effects = Effects::NONE;
        if hcr.eoi_count() > 0 {
            effects = merge(effects, vgic.deactivate_unlisted(VcpuId(vcpu), hcr.eoi_count()).unwrap_or(Effects::NONE));
            vif.set_hcr(hcr.without_eoi_count());
        }
        let effects = merge(effects, vgic.sync(VcpuId(vcpu), lrs).unwrap_or(Effects::NONE));
        // Passthrough SPIs forwarded by software that the guest deactivated: deactivate the
        // physical ones here, which makes the GIC look at their lines again (`vm::passthrough`).
        vgic.take_released(|physical| super::passthrough::deactivate(p, physical));
        effects
    };
    act(p, vcpu, effects);
}

/// Before returning to a guest: fills the list registers with what it should see now.
pub fn flush(p: &Partition, vcpu: usize) {
    let vif = gic().virtual_interface();
    let count = vif.lr_count().min(MAX_LIST_REGISTERS);
    let mut lrs = [None; MAX_LIST_REGISTERS];
    let (outcome, version) = {
        let mut vgic = p.vgic.lock();
        let outcome = vgic.flush(VcpuId(vcpu), &p.doorbells[vcpu], &mut lrs[..count]);
        // A flush that folded back list registers a sync had kept may have found a
        // passthrough SPI whose pending state the guest cleared before taking it
        // (`Vgic::take_released`): its physical SPI is deactivated now, not at the next exit.
        vgic.take_released(|physical| super::passthrough::deactivate(p, physical));
        (outcome, vgic.version())
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            log!("bulkhead: partition \"{}\" vcpu {}: virtual GIC: {}", p.name.as_str(), vcpu, D(&e));
            return;
        }
    };
    if outcome.unchanged {
        // The guest left its list registers as they were and nothing changed: they stay.
        return;
    }
    // The flush fills `used` list registers from index 0; of the rest, only those not
    // already empty (`ELRSR`) need clearing.
    let used = outcome.used.min(count);
    for (i, lr) in lrs.iter().enumerate().take(used) {
        let _ = vif.write_lr(i, encode(version, lr));
    }
    let mut stale = !vif.elrsr() & ((1u64 << count) - 1) & !((1u64 << used) - 1);
    while stale != 0 {
        let i = stale.trailing_zeros() as usize;
        stale &= stale - 1;
        let _ = vif.write_lr(i, 0);
    }
    vif.set_hcr(Hcr::enabled().with(Hcr::UNDERFLOW, outcome.underflow));
    act(p, vcpu, Effects::kick(outcome.kick));
}

/// The vCPU leaves this CPU: interrupts the last sync left in the list registers go back to
/// its vGIC (see `Vgic::release_list_registers`).
pub fn release_list_registers(p: &Partition, vcpu: usize) {
    let effects = {
        let mut vgic = p.vgic.lock();
        let effects = vgic.release_list_registers(VcpuId(vcpu)).unwrap_or(Effects::NONE);
        // As after a flush: what the fold found to deactivate (`Vgic::take_released`).
        vgic.take_released(|physical| super::passthrough::deactivate(p, physical));
        effects
    };
    act(p, vcpu, effects);
}

/// For a vCPU about to wait (after its exit's sync): the vGIC's change count, and whether its
/// list registers would hold anything after a flush now (`Vgic::has_listable`), in which case
/// its WFI completes at once. Changes nothing, so no flush and sync are needed to ask.
///
/// When nothing is listable and the list registers are all empty (`ELRSR`), it also leaves the
/// state a flush listing nothing would (`Vgic::settle_empty`, the underflow interrupt off): the
/// flush after the wait then finds nothing changed and costs nothing, unless something did.
pub fn listable(p: &Partition, vcpu: usize) -> (u64, bool) {
    let vif = gic().virtual_interface();
    let all = (1u64 << vif.lr_count().min(MAX_LIST_REGISTERS)) - 1;
    let empty = vif.elrsr() & all == all;
    let (changes, listable) = {
        let mut vgic = p.vgic.lock();
        let listable = vgic.has_listable(VcpuId(vcpu), &p.doorbells[vcpu]);
        if !listable && empty {
            vgic.settle_empty(VcpuId(vcpu));
        }
        (vgic.changes(), listable)
    };
    if !listable && empty {
        // This CPU's own interface: the flush this stands for would have written it.
        vif.set_hcr(Hcr::enabled());
    }
    (changes, listable)
}

/// Whether a list register holds an interrupt (pending or active) for the guest.
pub fn any_listed() -> bool {
    let vif = gic().virtual_interface();
    let all = (1u64 << vif.lr_count()) - 1;
    vif.elrsr() & all != all
}

/// Resets this CPU's virtual interface for a vCPU starting afresh: no list registers, the
/// guest's CPU interface controls at their reset values, the virtual timer's PPI inactive and
/// enabled (the guest's timer starts disabled; when it fires the hypervisor masks it).
pub fn reset_vcpu_interface(cpu: usize) {
    let gic = gic();
    let vif: VirtualInterface = gic.virtual_interface();
    vif.clear_lrs();
    vif.restore(&VirtualCpuState::default());
    vif.set_hcr(Hcr::enabled());
    gic.deactivate(Acknowledged::of(VIRTUAL_TIMER_PPI));
    let _ = gic.set_enabled(VIRTUAL_TIMER_PPI, cpu, true);
}

/// Lets the virtual timer's PPI through again for a vCPU that resumes here after running
/// elsewhere or waiting (its interface state comes with its registers).
pub fn resume_vcpu_interface(cpu: usize) {
    let _ = gic().set_enabled(VIRTUAL_TIMER_PPI, cpu, true);
}

/// Holds back (or lets through again) the running vCPU's physical virtual-timer PPI while it
/// waits blocked: its deadline is then the EL2 timer's, as for a vCPU off its CPU.
pub fn hold_virtual_timer(cpu: usize, hold: bool) {
    let _ = gic().set_enabled(VIRTUAL_TIMER_PPI, cpu, !hold);
}

/// Stops using the virtual interface on this CPU (its vCPU stopped).
pub fn release_vcpu_interface(cpu: usize) {
    let gic = gic();
    let vif = gic.virtual_interface();
    vif.clear_lrs();
    vif.set_hcr(Hcr::enabled().with(Hcr::ENABLE, false));
    let _ = gic.set_enabled(VIRTUAL_TIMER_PPI, cpu, false);
    gic.deactivate(Acknowledged::of(VIRTUAL_TIMER_PPI));
}

fn merge(a: Effects, b: Effects) -> Effects {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    // Kicks always merge; hardware masks only when they describe the same 32 interrupts.
    let mut out = a;
    out.kick.0 |= b.kick.0;
    if a.hw_base == b.hw_base {
        out.hw_enable |= b.hw_enable;
        out.hw_disable |= b.hw_disable;
        out.hw_deactivate |= b.hw_deactivate;
        out.hw_retarget |= b.hw_retarget;
    }
    out
}

/// Does what the vGIC asks: kicks vCPUs running on other CPUs, and enables, disables or
/// deactivates the physical interrupts behind hardware-mapped virtual ones.
#[inline]
pub fn act(p: &Partition, vcpu: usize, effects: Effects) {
    if !effects.is_empty() {
        act_on(p, vcpu, effects);
    }
}

/// [`act`] for effects that are not empty.
fn act_on(p: &Partition, vcpu: usize, effects: Effects) {
    let gic = gic();
    let here = cpu::index();
    for target in effects.kick.iter() {
        super::sched::notify(p, target.0);
    }
    let mut bits = effects.hw_enable | effects.hw_disable | effects.hw_deactivate | effects.hw_retarget;
    while bits != 0 {
        let bit = bits.trailing_zeros();
        bits &= bits - 1;
        let mask = 1u32 << bit;
        let intid = effects.hw_base + bit;
        let Some(physical) = p.vgic.lock().hw_mapping(VcpuId(vcpu), intid) else { continue };
        if effects.hw_retarget & mask != 0 {
            super::passthrough::retarget(p, intid, physical);
        }
        // Only passthrough SPIs are mapped (`vm::passthrough`); a mapped PPI would belong to
        // this CPU.
        if effects.hw_enable & mask != 0 {
            let _ = gic.set_enabled(physical, here, true);
        }
        if effects.hw_disable & mask != 0 {
            let _ = gic.set_enabled(physical, here, false);
        }
        if effects.hw_deactivate & mask != 0 {
            super::passthrough::deactivate(p, physical);
        }
    }
}

/// What a burst of physical IRQs leaves for the caller.
pub struct Taken {
    /// The maintenance interrupt, if taken: it stays active (not taken again) until
    /// [`finish`], because its cause only goes away when [`flush`] rewrites the list registers.
    pub maintenance: Option<Acknowledged>,
    /// The console UART's interrupt, if taken: it stays active until the caller has drained
    /// the UART, which lowers its line ([`finish_console`]); deactivated while the UART still
    /// asserted it, it was taken again at once, for ever.
    pub console: Option<Acknowledged>,
    /// A kick SGI was taken: another CPU may have stopped or restarted the vCPU, or asked this
    /// CPU to choose again (its flags are read after an acquire barrier, so a flag set before
    /// the kick is seen).
    pub kicked: bool,
}

/// Physical IRQs taken while vCPU `vcpu` of `p` ran on this CPU.
pub fn guest_irq(p: &Partition, vcpu: usize) -> Taken {
    let gic = gic();
    let mut maintenance = None;
    let mut console = None;
    let mut kicked = false;
    while let Some(irq) = gic.acknowledge() {
        gic.end_of_interrupt(irq);
        per_cpu::this().interrupts.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        match irq.intid() {
            VIRTUAL_TIMER_PPI => {
                // The guest's timer fired: mask it (its line drops until the guest re-arms
                // it), deactivate the physical PPI and latch one virtual event, as Xen does.
                // Not a hardware-mapped list register: QEMU's GICv2 does not re-evaluate the
                // physical CPU interface when a guest deactivates one, so a timer re-armed
                // already expired before the guest's EOI was never signalled again (the
                // GICv2 Linux hang).
                timer::mask_virtual_timer();
                gic.deactivate(irq);
                // The PPI is the vCPU's own, so the one vCPU its injection asks to kick is this
                // one, which this CPU holds: the flush before its next entry lists the PPI,
                // and a kick here would end as a lookup of the vCPU's state that finds it held
                // here (`sched::notify`). Only the others are told.
                let effects = p.vgic.lock().inject(VcpuId(vcpu), VIRTUAL_TIMER_PPI).unwrap_or(Effects::NONE);
                act(p, vcpu, Effects { kick: effects.kick.without(VcpuId(vcpu)), ..effects });
            }
            MAINTENANCE_PPI => {
                super::passthrough::note_maintenance(p, &gic.virtual_interface());
                maintenance = Some(irq);
            }
            // A kick: the exit itself is what it asked for (the caller syncs and flushes the
            // list registers and sees a stop); one that wants a scheduler's choice said so
            // before it was sent (`sched::kick`).
            KICK_SGI => {
                gic.deactivate(irq);
                kicked = true;
            }
            // The scheduler's slice end or a sleeper's deadline; under the null scheduler a
            // blocked vCPU's deadline that a wake-up for another reason left armed.
            EL2_TIMER_PPI => {
                timer::cancel_el2_deadline();
                gic.deactivate(irq);
                per_cpu::this().request_reschedule();
            }
            // A health deadline: the exit path's `health::poll` looks and re-arms it.
            HEALTH_TIMER_PPI => {
                timer::cancel_health_deadline();
                gic.deactivate(irq);
            }
            // Console input: the caller drains the UART, which lowers the line, then
            // deactivates it.
            intid if intid == super::CONSOLE_INTID.load(core::sync::atomic::Ordering::Relaxed) => console = Some(irq),
            // A passthrough SPI: it stays active until its guest has deactivated it.
            intid if super::passthrough::deliver(intid) => {}
            other => {
                gic.deactivate(irq);
                let _ = gic.set_enabled(other, cpu::index(), false);
                log!("bulkhead: cpu {}: unexpected interrupt {}; disabled it", cpu::index(), D(&other));
            }
        }
    }
    if kicked {
        // What the kick's sender wrote before its SGI (a vCPU's state, this CPU's flags) is
        // read after the acknowledge.
        core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
    }
    Taken { maintenance, console, kicked }
}

/// Physical interrupts pending on a CPU that runs no vCPU (it woke from WFI in its loop): the
/// kick SGI and anything a stopped vCPU left behind are deactivated, console input is routed
/// and the UART's transmit FIFO refilled.
pub fn idle_irqs(cpu: usize) {
    let gic = gic();
    let mut console = None;
    while let Some(irq) = gic.acknowledge() {
        gic.end_of_interrupt(irq);
        per_cpu::this().interrupts.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        match irq.intid() {
            intid if intid == super::CONSOLE_INTID.load(core::sync::atomic::Ordering::Relaxed) => console = Some(irq),
            KICK_SGI | MAINTENANCE_PPI => gic.deactivate(irq),
            EL2_TIMER_PPI => {
                timer::cancel_el2_deadline();
                gic.deactivate(irq);
            }
            // A health deadline: the loop's `health::poll` after this looks and re-arms it.
            HEALTH_TIMER_PPI => {
                timer::cancel_health_deadline();
                gic.deactivate(irq);
            }
            intid if super::passthrough::deliver(intid) => {}
            VIRTUAL_TIMER_PPI => {
                // A stopped vCPU's timer: keep it quiet until a vCPU runs here again.
                let _ = gic.set_enabled(VIRTUAL_TIMER_PPI, cpu, false);
                gic.deactivate(irq);
            }
            other => {
                gic.deactivate(irq);
                let _ = gic.set_enabled(other, cpu, false);
                log!("bulkhead: cpu {}: unexpected interrupt {}; disabled it", cpu, D(&other));
            }
        }
    }
    if console.is_some() {
        crate::console::transmit_interrupt();
        if let Some(partitions) = super::PARTITIONS.get() {
            let _ = super::drain_console(partitions);
        }
        finish_console(console);
        // The ring has room again: the partitions' buffered lines may follow.
        super::output::pump();
    }
}

/// After the UART was drained: lets the console interrupt be taken again.
pub fn finish_console(console: Option<Acknowledged>) {
    if let Some(irq) = console {
        gic().deactivate(irq);
    }
}

/// After the flush: lets the maintenance interrupt be taken again.
pub fn finish(maintenance: Option<Acknowledged>) {
    if let Some(irq) = maintenance {
        gic().deactivate(irq);
    }
}
