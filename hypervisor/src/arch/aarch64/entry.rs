//! Entry points, per-CPU stacks and the hand-off block that starts secondary CPUs.

use core::arch::global_asm;
use super::layout::ImageLayout;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Bytes of stack per CPU: twice the deepest use measured (the painted stacks' high-water
/// mark, which the console's `mem` and the board's last lines print): 31 KiB on the boot CPU
/// in a debug build (building the partitions), 19 KiB on a CPU running a Linux vCPU in a
/// release build, in the Linux, grant, restart and hostile-guest scenarios.
pub const STACK_SIZE: usize = 64 * 1024;

/// The page below every stack, left out of the EL2 map: a stack that overflows faults there
/// instead of writing over the next CPU's stack.
pub const GUARD_SIZE: usize = 4096;

/// A CPU's stack slot: its guard page, then its stack.
const STACK_SLOT: usize = GUARD_SIZE + STACK_SIZE;

/// Each CPU's fault stack slot (guard page, then stack): the EL2 vectors report on it, so a
/// report runs even when the CPU's own stack overflowed. A power of two: the vectors find a
/// CPU's slot with a shift (`vectors.s`).
pub const FAULT_STACK_SLOT: usize = 32 * 1024;
pub const FAULT_STACK_SHIFT: u32 = FAULT_STACK_SLOT.trailing_zeros();
const _: () = assert!(FAULT_STACK_SLOT.is_power_of_two() && FAULT_STACK_SLOT > 4 * GUARD_SIZE);

/// The word the entry code paints every stack with ("STACKPNT" in ASCII, unlikely in a
/// frame): where it ends is how deep the stack has been.
pub const PAINT: u64 = 0x5453_4e50_4b43_4154;

/// CPUs the image has stacks for; a device tree listing more is refused. A power of two: the
/// vectors mask the CPU index with it.
pub const MAX_CPUS: usize = 8;
const _: () = assert!(MAX_CPUS.is_power_of_two());

/// How many CPUs keep their stack slots (the board's, once [`keep_stacks`] said so); the
/// slots above belong to the heap.
static STACKS_KEPT: AtomicUsize = AtomicUsize::new(MAX_CPUS);

global_asm!(
    include_str!("entry.s"),
    stack_slot_low = const STACK_SLOT & 0xffff,
    stack_slot_high = const STACK_SLOT >> 16,
    paint_0 = const PAINT & 0xffff,
    paint_1 = const (PAINT >> 16) & 0xffff,
    paint_2 = const (PAINT >> 32) & 0xffff,
    paint_3 = const PAINT >> 48,
);

/// A static the boot CPU writes and other CPUs read at known points of the boot.
#[repr(transparent)]
pub struct BootCell<T>(UnsafeCell<T>);

// SAFETY: every access goes through `BootCell::get`, whose callers promise that no other CPU
// touches the value at the same time (the boot protocol serialises the accesses).
unsafe impl<T> Sync for BootCell<T> {}

impl<T> BootCell<T> {
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// The value's address; using it is up to the caller's own safety argument.
    pub fn as_ptr(&self) -> *mut T {
        self.0.get()
    }

    /// # Safety
    /// No other CPU may access the value while the returned pointer is used.
    unsafe fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// Stack slots, each a guard page (never mapped) and the stack above it.
#[repr(C, align(4096))]
pub struct Stacks<const SLOT: usize>([[u8; SLOT]; MAX_CPUS]);

/// The CPUs' stacks; CPU n uses `STACKS[n]`. Read by `entry.s`.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".stacks")]
pub static STACKS: BootCell<Stacks<STACK_SLOT>> = BootCell::new(Stacks([[0; STACK_SLOT]; MAX_CPUS]));

/// The CPUs' fault stacks; the EL2 vectors switch CPU n to the top of `FAULT_STACKS[n]`.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".stacks")]
pub static FAULT_STACKS: BootCell<Stacks<FAULT_STACK_SLOT>> = BootCell::new(Stacks([[0; FAULT_STACK_SLOT]; MAX_CPUS]));

/// What a secondary CPU needs before it can run Rust: the EL2 MMU configuration, its stack
/// and its index. The layout is read by `secondary_entry` in `entry.s`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SecondaryBoot {
    pub mair_el2: u64,
    pub tcr_el2: u64,
    pub ttbr0_el2: u64,
    pub sctlr_el2: u64,
    pub stack_top: u64,
    pub cpu_index: u64,
}

#[unsafe(no_mangle)]
static SECONDARY_BOOT: BootCell<SecondaryBoot> = BootCell::new(SecondaryBoot {
    mair_el2: 0,
    tcr_el2: 0,
    ttbr0_el2: 0,
    sctlr_el2: 0,
    stack_top: 0,
    cpu_index: 0,
});

unsafe extern "C" {
    fn secondary_entry();
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
}

/// The image's layout, from the linker script's symbols.
pub fn image_layout() -> ImageLayout {
    ImageLayout {
        start: core::ptr::addr_of!(__image_start) as u64,
        text_end: core::ptr::addr_of!(__text_end) as u64,
        rodata_end: core::ptr::addr_of!(__rodata_end) as u64,
        end: core::ptr::addr_of!(__image_end) as u64,
    }
}

/// The physical address a secondary CPU is started at.
pub fn secondary_entry_address() -> u64 {
    secondary_entry as *const () as u64
}

/// The top of CPU `index`'s stack.
pub fn stack_top(index: usize) -> u64 {
    assert!(index < STACKS_KEPT.load(Ordering::Relaxed), "cpu index {index} has no stack");
    STACKS.0.get() as u64 + ((index + 1) * STACK_SLOT) as u64
}

static STACK_TOPS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Records the top of CPU `cpu`'s stack (the boot CPU and each secondary get theirs at boot).
pub fn set_cpu_stack_top(cpu: usize, top: u64) {
    STACK_TOPS[cpu].store(top, Ordering::Release);
}

/// The top of CPU `cpu`'s stack, where a vCPU's entry frame goes.
pub fn cpu_stack_top(cpu: usize) -> u64 {
    STACK_TOPS[cpu].load(Ordering::Acquire)
}

/// CPU `cpu`'s stack and its fault stack as `measure(words, read)` sees them (`read(i)` is
/// the stack's `i`-th word from its lowest address, `words` their count), or `None` for a CPU
/// that was never given a stack. The entry code painted both with [`PAINT`].
pub fn measure_stacks<R>(cpu: usize, measure: impl Fn(usize, &dyn Fn(usize) -> u64) -> R) -> Option<(R, R)> {
    let top = STACK_TOPS.get(cpu)?.load(Ordering::Acquire);
    if top == 0 {
        return None;
    }
    let stack = (top - STACK_SIZE as u64) as *const AtomicU64;
    let fault = (FAULT_STACKS.0.get() as u64 + (cpu * FAULT_STACK_SLOT + GUARD_SIZE) as u64) as *const AtomicU64;
    let reader = |bottom: *const AtomicU64, words: usize| {
        move |i: usize| {
            if i >= words {
                return 0;
            }
            // SAFETY: word `i` (checked above) lies in the stack `bottom..bottom + 8 * words`,
            // which is mapped read-write and 8-byte aligned; another CPU may write it meanwhile,
            // which is why the read is atomic (an aligned 64-bit load is single-copy atomic,
            // Arm ARM, "Requirements for single-copy atomicity"), and a stale value only makes
            // the mark a frame late.
            unsafe { (*bottom.add(i)).load(Ordering::Relaxed) }
        }
    };
    let (stack_words, fault_words) = (STACK_SIZE / 8, (FAULT_STACK_SLOT - GUARD_SIZE) / 8);
    Some((measure(stack_words, &reader(stack, stack_words)), measure(fault_words, &reader(fault, fault_words))))
}

/// Keeps the stack and fault stack slots of CPUs `0..cpus` (a board's CPUs take the slots of
/// their indices; the boot CPU's swap with CPU 0's keeps them within) and returns what the
/// others' slots span, as (address, bytes): their stacks, then their fault stacks. Each is one
/// range of image memory (the slots of the highest indices), mapped read-write once the EL2
/// map is built without their guard pages, for the heap. Call once, on the boot CPU, before
/// [`guard_pages`] is planned; no CPU at or above `cpus` ever runs (the vectors find a CPU's
/// fault stack by its index).
pub fn keep_stacks(cpus: usize) -> [(u64, u64); 2] {
    let cpus = cpus.clamp(1, MAX_CPUS);
    STACKS_KEPT.store(cpus, Ordering::Relaxed);
    let unused = (MAX_CPUS - cpus) as u64;
    let stacks = STACKS.0.get() as u64 + (cpus * STACK_SLOT) as u64;
    let fault = FAULT_STACKS.0.get() as u64 + (cpus * FAULT_STACK_SLOT) as u64;
    [(stacks, unused * STACK_SLOT as u64), (fault, unused * FAULT_STACK_SLOT as u64)]
}

/// The bytes of stacks and fault stacks (guard pages included) kept for the board's CPUs.
pub fn stacks_kept_bytes() -> u64 {
    (STACKS_KEPT.load(Ordering::Relaxed) * (STACK_SLOT + FAULT_STACK_SLOT)) as u64
}

/// The guard pages below every kept stack and fault stack: the EL2 map leaves them out.
pub fn guard_pages() -> impl Iterator<Item = (u64, u64)> {
    let stacks = STACKS.0.get() as u64;
    let fault = FAULT_STACKS.0.get() as u64;
    (0..STACKS_KEPT.load(Ordering::Relaxed) as u64).flat_map(move |i| {
        [(stacks + i * STACK_SLOT as u64, GUARD_SIZE as u64), (fault + i * FAULT_STACK_SLOT as u64, GUARD_SIZE as u64)]
    })
}

/// Whether `len` bytes at `address` lie in one kept stack or fault stack, guard pages excluded
/// (a backtrace reads only there).
pub fn in_stacks(address: u64, len: u64) -> bool {
    let within = |base: u64, slot: u64| {
        let Some(offset) = address.checked_sub(base) else { return false };
        let Some(end) = (offset % slot).checked_add(len) else { return false };
        offset < slot * STACKS_KEPT.load(Ordering::Relaxed) as u64 && offset % slot >= GUARD_SIZE as u64 && end <= slot
    };
    within(STACKS.0.get() as u64, STACK_SLOT as u64) || within(FAULT_STACKS.0.get() as u64, FAULT_STACK_SLOT as u64)
}

/// The CPU whose guard page holds `address`, and whether it is the fault stack's guard.
pub fn guard_page_of(address: u64) -> Option<(usize, bool)> {
    guard_pages()
        .enumerate()
        .find(|&(_, (start, size))| address >= start && address - start < size)
        .map(|(i, _)| (i / 2, i % 2 == 1))
}

/// Fills the hand-off block for the next secondary CPU and cleans it to the point of
/// coherency, where a CPU with its MMU and caches off reads it.
///
/// # Safety
/// No secondary CPU may be between its release and the end of its `secondary_entry` code
/// (CPUs are started one at a time, each waited for).
pub unsafe fn prepare_secondary(boot: SecondaryBoot) {
    // SAFETY: the caller guarantees that no other CPU reads the block now.
    unsafe { SECONDARY_BOOT.get().write_volatile(boot) };
    let start = SECONDARY_BOOT.0.get() as u64;
    super::cpu::clean_dcache_to_poc(start, core::mem::size_of::<SecondaryBoot>() as u64);
}
