//! The physical console between the partitions and the operator: the multiplexer's
//! operations with the UART as their sink, input drained and fed to the partition that has
//! the focus, and the console interrupt routed to a CPU that takes it.

use core::sync::atomic::{AtomicBool, Ordering};

use locks::Mutex;

use crate::console;
use crate::log::D;
use crate::log;
use crate::portable::console::Multiplexer;
use crate::portable::partition::{self, Partition};

use super::{interrupts, operator, output, LINE, MAX_PARTITIONS, CONSOLE_INTID, MUX};

/// Runs `f` on the multiplexer with the physical console as its sink.
pub(super) fn console_op<T>(f: impl FnOnce(&mut Multiplexer<'static, MAX_PARTITIONS, LINE>, &mut dyn FnMut(&[u8])) -> T) -> Option<T> {
    let mut result = None;
    console::with_lock(|out| {
        let mut mux = MUX.lock();
        result = Some(f(&mut mux, out));
        output::note_focus(mux.focus());
    });
    result
}

/// Held by the CPU draining the console: typed bytes are read and routed by one CPU at a time,
/// in order (and hypervisor console commands run one at a time).
static DRAINING: Mutex<()> = Mutex::new(());

/// Routes what was typed on the physical console: three CTRL-a move the focus, every other
/// byte is queued for the focused partition's vPL011. Called on guest interrupts and vPL011
/// traps; only a partition that receives bytes is touched. A CPU that finds another draining
/// leaves it the bytes (it reads until the UART is empty; the console interrupt, level
/// triggered, comes again for a byte that arrives as it finishes).
/// Returns whether anything was typed (an operator's command may then have stopped or
/// restarted a partition, the caller's own included).
pub(super) fn drain_console(partitions: &[Partition]) -> bool {
    let Some(_draining) = DRAINING.try_lock() else { return false };
    // Nothing typed (the usual case): only the UART is looked at, and never waited for.
    let Some(first) = console::read_byte() else { return false };
    let focus_before = MUX.lock().focus();
    let mut next = Some(first);
    while let Some(byte) = next.take() {
        next = console::read_byte();
        let Some(routed) = console_op(|mux, mut sink| mux.input(byte, &mut sink)) else { return true };
        match routed.target {
            crate::portable::console::Focus::Partition(i) => {
                if let Some(target) = partitions.get(i) {
                    let dropped = target.run.lock().queue_input(routed.bytes());
                    if dropped > 0 {
                        log!("bulkhead: partition \"{}\": console input buffer full, {} bytes dropped", target.name.as_str(), dropped);
                    }
                    feed_console_input(target);
                }
            }
            crate::portable::console::Focus::Hypervisor => {
                for &key in routed.bytes() {
                    operator::key(partitions, key);
                }
            }
        }
    }
    if MUX.lock().focus() != focus_before {
        route_console_interrupt(partitions);
    }
    true
}

/// Gives partition `index` the input focus (the operator's `focus NAME`).
pub(super) fn focus_on(partitions: &[Partition], index: usize) {
    let result = console_op(|mux, mut sink| mux.focus_on(index, &mut sink));
    match result {
        Some(Err(e)) => log!("bulkhead: {}", D(&e)),
        _ => {
            route_console_interrupt(partitions);
        }
    }
}

/// Moves input waiting for partition `p` into its vPL011 FIFO and raises its interrupt line.
/// Touches only `p`'s own state, so one partition's traps never contend for another's locks.
pub(super) fn feed_console_input(p: &Partition) {
    let exit = {
        let mut run = p.run.lock();
        if !run.feed_input() {
            return;
        }
        partition::vpl011_line(p, &run)
    };
    if let partition::Exit::Vgic(effects) = exit {
        interrupts::act(p, 0, effects);
    }
}

/// Whether the console interrupt was ever routed and enabled (then a CPU takes it, and the
/// UART's transmit interrupt can send the console).
pub(super) static CONSOLE_ROUTED: AtomicBool = AtomicBool::new(false);

/// Sends the console interrupt to a CPU that runs a guest (interrupts are only taken there):
/// the focused partition's first vCPU if it runs, else any running partition's. Returns
/// whether it is routed and enabled (now or by an earlier call).
pub(super) fn route_console_interrupt(partitions: &[Partition]) -> bool {
    let Some(gic) = crate::arch::aarch64::gic::Gic::get() else { return false };
    let intid = CONSOLE_INTID.load(Ordering::Relaxed);
    let focused = match MUX.lock().focus() {
        crate::portable::console::Focus::Partition(i) => partitions.get(i),
        crate::portable::console::Focus::Hypervisor => None,
    };
    // Never to a direct partition's CPU, whose guest would take it as its own.
    let running = |p: &&Partition| !p.direct && p.run.lock().running;
    let target = focused.filter(running).or_else(|| partitions.iter().find(running));
    if let Some(p) = target {
        if gic.route_spi(intid, p.vcpu_cpus[0]).is_ok() && gic.set_enabled(intid, p.vcpu_cpus[0], true).is_ok() {
            CONSOLE_ROUTED.store(true, Ordering::Relaxed);
        }
    }
    CONSOLE_ROUTED.load(Ordering::Relaxed)
}
