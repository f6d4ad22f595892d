//! The guests' bare-metal runtime: boot, console, PSCI, faults, and the hand-over to a
//! guest's `main` through [`entry!`](crate::entry).

mod boot;
pub mod cpu;
pub mod events;
mod exception;
pub mod gic;
mod psci;
pub mod registers;
pub mod stage1;
pub mod timing;
pub mod xen;
mod uart;

use core::fmt;

pub use boot::{IDENTITY_MAP_LIMIT, MAX_DTB_SIZE};
pub use exception::{probe_access, probe_fetch, probe_read, AccessSize, Fault};
pub use psci::Psci;
pub use uart::{Console, Pl011};

use crate::bootargs;
use crate::config::{self, ConfigError, Cpus, Memory};
use crate::fdt::{self, Fdt};
use crate::format::Version;
use crate::once::Once;
use crate::psci::PsciError;

/// Stack of the boot CPU.
const BOOT_STACK_SIZE: usize = 16 * 1024;
/// Stack of each secondary CPU.
const SECONDARY_STACK_SIZE: usize = 8 * 1024;

static CONSOLE: Once<Console> = Once::new();
static PSCI: Once<Psci> = Once::new();
static GUEST: Once<Guest> = Once::new();

/// Everything a guest's `main` gets: its name, what its device tree says, console and PSCI.
#[derive(Debug)]
pub struct Guest {
    /// `guest.name=` from the boot arguments, else the binary's name.
    pub name: &'static str,
    /// The kernel command line.
    pub bootargs: &'static str,
    /// Which boot this is (`/chosen` `bulkhead,boot-count`, 1 when absent).
    pub boot_count: u32,
    /// RAM ranges.
    pub memory: Memory,
    /// CPUs.
    pub cpus: Cpus,
    /// PSCI calls.
    pub psci: Psci,
    /// What `PSCI_VERSION` answered at boot.
    pub psci_version: Result<Version, PsciError>,
    /// The interrupt controller, if the tree describes one.
    pub gic: Option<config::Gic>,
    /// The device tree it booted with.
    pub dtb: &'static [u8],
}

impl Guest {
    /// Prints one line `NAME: ...`.
    pub fn say(&self, args: fmt::Arguments<'_>) {
        say_raw(args);
    }

    /// Prints `NAME: psci MAJOR.MINOR` (or the error).
    pub fn report_psci_version(&self) {
        match self.psci_version {
            Ok(version) => self.say(format_args!("psci {version}")),
            Err(error) => self.say(format_args!("FAIL psci version: {error}")),
        }
    }

    /// Writes `bytes` to the console as they are, without `NAME: ` or a newline.
    pub fn console_write(&self, bytes: &[u8]) {
        if let Some(console) = CONSOLE.get() {
            bytes.iter().for_each(|&byte| console.uart().write_byte(byte));
        }
    }

    /// Prints `NAME: FAIL ...` and switches the guest off.
    pub fn fail(&self, args: fmt::Arguments<'_>) -> ! {
        self.say(format_args!("FAIL {args}"));
        self.psci.system_off()
    }
}

/// Prints `NAME: ` and the formatted text on the guest's console.
#[macro_export]
macro_rules! say {
    ($guest:expr, $($arg:tt)*) => {
        $guest.say(format_args!($($arg)*))
    };
}

/// Defines the entry points of a guest binary: `entry!(main)` or, for a guest that starts
/// other CPUs, `entry!(main, secondary_main)`. `main: fn(&'static Guest) -> !` runs on the
/// boot CPU; `secondary_main: fn(&'static Guest, usize) -> !` on each CPU started with
/// [`Psci::cpu_on`], with the slot given there.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::entry!($main, $crate::runtime::no_secondaries);
    };
    ($main:path, $secondary:path) => {
        /// Called by the boot code on the boot CPU with the DTB address.
        #[unsafe(no_mangle)]
        extern "C" fn test_guest_primary(dtb: usize) -> ! {
            // SAFETY: the boot code passes on x0 from the Linux boot protocol.
            unsafe { $crate::runtime::primary(dtb, env!("CARGO_BIN_NAME"), $main) }
        }

        /// Called by the boot code on each secondary CPU with its slot.
        #[unsafe(no_mangle)]
        extern "C" fn test_guest_secondary(slot: usize) -> ! {
            $crate::runtime::secondary(slot, $secondary)
        }
    };
}

/// Reads the device tree, sets up the console and PSCI, and runs `main`.
///
/// # Safety
/// `dtb` must be the address the Linux boot protocol gave in x0: a DTB in the guest's RAM,
/// identity-mapped as Normal memory, that nothing writes while the guest runs.
pub unsafe fn primary(dtb: usize, default_name: &'static str, main: fn(&'static Guest) -> !) -> ! {
    // SAFETY: forwarded from this function's contract.
    let Some(blob) = (unsafe { dtb_blob(dtb) }) else {
        park()
    };
    let Ok(fdt) = Fdt::new(blob) else { park() };
    let uart = match config::uart_address(&fdt) {
        Ok(address) => address,
        Err(_) => match config::psci_conduit(&fdt) {
            Ok(conduit) => Psci::new(conduit).system_off(),
            Err(_) => park(),
        },
    };
    let chosen = config::chosen(&fdt);
    let bootargs = chosen.map_or("", |chosen| chosen.bootargs);
    let name = bootargs::guest_name(bootargs, default_name);
    // SAFETY: the device tree says the guest's UART is there; the boot code maps every
    // address outside RAM as Device memory, and nothing else in the guest uses the UART.
    let _ = CONSOLE.set(Console::new(unsafe { Pl011::new(uart as usize) }, name));
    let psci = match config::psci_conduit(&fdt) {
        Ok(conduit) => Psci::new(conduit),
        Err(error) => {
            say_raw(format_args!("FAIL cannot power off: {error}"));
            park()
        }
    };
    let _ = PSCI.set(psci);
    let guest = match read_guest(&fdt, blob, name, psci) {
        Ok(guest) => guest,
        Err(error) => {
            say_raw(format_args!("FAIL bad device tree: {error}"));
            psci.system_off()
        }
    };
    match GUEST.set(guest) {
        Ok(guest) => main(guest),
        Err(_) => park(),
    }
}

fn read_guest(
    fdt: &Fdt<'static>,
    blob: &'static [u8],
    name: &'static str,
    psci: Psci,
) -> Result<Guest, ConfigError<'static>> {
    let chosen = config::chosen(fdt)?;
    Ok(Guest {
        name,
        bootargs: chosen.bootargs,
        boot_count: chosen.boot_count,
        memory: config::memory(fdt)?,
        cpus: config::cpus(fdt)?,
        psci,
        psci_version: psci.version(),
        gic: config::gic(fdt).ok(),
        dtb: blob,
    })
}

/// Runs a secondary CPU's `main` once the boot CPU has published the guest.
pub fn secondary(slot: usize, main: fn(&'static Guest, usize) -> !) -> ! {
    match GUEST.get() {
        Some(guest) => main(guest, slot),
        None => park(),
    }
}

/// The secondary main of guests that start no other CPU.
pub fn no_secondaries(guest: &'static Guest, slot: usize) -> ! {
    say!(
        guest,
        "FAIL cpu slot {slot} started, but this guest starts no cpus"
    );
    guest.psci.cpu_off();
    park()
}

/// The DTB at `address` as a slice, if its header looks right and its size is allowed.
///
/// # Safety
/// As for [`primary`].
unsafe fn dtb_blob(address: usize) -> Option<&'static [u8]> {
    if address == 0 || !address.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the caller promises a DTB here, so at least its 8-byte magic and size fields
    // are readable; nothing writes them.
    let header = unsafe { core::slice::from_raw_parts(address as *const u8, 8) };
    let size = fdt::total_size(header).ok()?;
    if !(fdt::HEADER_SIZE..=MAX_DTB_SIZE).contains(&size) {
        return None;
    }
    // SAFETY: the header says the blob is `size` bytes, which the boot protocol makes
    // readable RAM of the guest; the blob is never written, so a shared 'static slice holds.
    Some(unsafe { core::slice::from_raw_parts(address as *const u8, size) })
}

/// The console UART's base address, once the console is set up (the bench guest times a
/// read of its flag register).
pub fn console_uart_base() -> Option<usize> {
    CONSOLE.get().map(|console| console.uart().base())
}

/// Prints a line on the console, if it is set up yet.
fn say_raw(args: fmt::Arguments<'_>) {
    if let Some(console) = CONSOLE.get() {
        console.line(args);
    }
}

/// Switches the guest off through PSCI, or parks this CPU if PSCI is not known yet.
fn power_off() -> ! {
    match PSCI.get() {
        Some(psci) => psci.system_off(),
        None => park(),
    }
}

/// Stops this CPU for good.
pub fn park() -> ! {
    loop {
        // SAFETY: WFE only waits; it touches no memory.
        unsafe { core::arch::asm!("wfe", options(nomem, nostack, preserves_flags)) };
    }
}
