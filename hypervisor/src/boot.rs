//! The boot flow: from the entry code's first Rust call to a machine with every CPU online.

use crate::arch::aarch64::entry::{self, SecondaryBoot, MAX_CPUS};
use crate::arch::aarch64::gic::Gic;
use crate::arch::aarch64::layout::{self, RamMapping};
use crate::arch::aarch64::mmu::{El2Map, MmuConfig};
use crate::arch::aarch64::uart;
use crate::arch::aarch64::{cpu, fatal, power, smp};
use crate::portable::memory::AddressRange;
use crate::heap::BootHeap;
use crate::platform::Platform;
use crate::log;
use crate::log::D;
use crate::{console, println};
use core::sync::atomic::{AtomicBool, Ordering};
use dom0less_config::devicetree::Tree;

/// The heap in the image: what the boot needs before it knows the board and the plan (the
/// EL2 tables, the host tree, the validated plan; 66 KiB on QEMU virt). The rest of the heap
/// is added once they are known: the unused CPUs' stack slots, then host RAM for the
/// partitions (`vm::heap_plan`).
const HEAP_SIZE: usize = 512 << 10;
/// The device tree may not be larger than this.
const MAX_DTB_SIZE: u32 = 2 << 20;
/// How long a secondary CPU may take to report online.
const CPU_ONLINE_TIMEOUT_NS: u64 = 1_000_000_000;
/// An address the EL2 map never covers (inside the 39-bit range, above every RAM window).
const UNMAPPED_ADDRESS: u64 = 0x7f_ffff_f000;

#[repr(C, align(4096))]
struct HeapMemory([u8; HEAP_SIZE]);

#[unsafe(link_section = ".heap")]
static HEAP_MEMORY: entry::BootCell<HeapMemory> = entry::BootCell::new(HeapMemory([0; HEAP_SIZE]));

#[global_allocator]
static HEAP: BootHeap = BootHeap::new();

/// The hypervisor's heap (for the regions the boot adds, and what `mem` reports).
pub fn heap() -> &'static BootHeap {
    &HEAP
}

/// The heap's bytes in use and its size, as `mem` and the board's last lines report them.
pub fn heap_use() -> (usize, usize) {
    (HEAP.size().saturating_sub(HEAP.free()), HEAP.size())
}

static ONLINE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// The boot CPU's Rust entry, from `entry.s`, with the MMU off and `dtb` in x0.
#[unsafe(no_mangle)]
extern "C" fn primary_main(dtb: u64) -> ! {
    // SAFETY: the heap memory is this image's own .heap section, which nothing else uses,
    // and no allocation has happened yet.
    unsafe { HEAP.init(HEAP_MEMORY.as_ptr() as usize, HEAP_SIZE) };
    // Until the console is up nothing can be reported: a tree that cannot be read, or that
    // names no known board, leaves the CPU parked.
    // SAFETY: the boot protocol puts a device tree at `dtb`; `read_dtb` checks its header.
    let Some(bytes) = (unsafe { read_dtb(dtb) }) else { cpu::park() };
    let Ok(tree) = Tree::parse(bytes) else { cpu::park() };
    let Ok(board) = Platform::board_of(&tree) else { cpu::park() };
    let platform = Platform::from_tree(&tree, MAX_CPUS, cpu::mpidr());
    let ram = platform.as_ref().map(|p| p.ram.as_slice()).unwrap_or(&[]);

    let image = entry::image_layout();
    // The stack slots of CPUs the board does not have go to the heap (below, once it is shared).
    let unused_stacks = entry::keep_stacks(platform.as_ref().map_or(MAX_CPUS, |p| p.cpus.len()));
    let guards: alloc::vec::Vec<AddressRange> = entry::guard_pages().filter_map(|(start, size)| AddressRange::new(start, size)).collect();
    // The host tree is the only RAM outside the image the hypervisor uses before it reads the
    // plan. With the boot scrub on, the rest of RAM stays Non-cacheable until what the plan
    // makes of it is known (the first loads zero the banks through that map, with no clean);
    // with it off, nothing zeroes RAM, and all of it is write-back from the start. That one
    // property is read now, before the config is validated; an invalid value reads as "on",
    // and the validator stops the boot on it.
    let ram_mapping = RamMapping::for_boot_scrub(!dom0less_config::parse::boot_scrub_off(&tree));
    let host_tree: alloc::vec::Vec<AddressRange> = AddressRange::new(dtb, bytes.len() as u64).and_then(|r| r.grow_to(4096)).into_iter().collect();
    let plan = layout::plan(board.mmio_windows, ram, ram_mapping, &host_tree, &image, &guards);
    let Ok(map) = El2Map::build(&plan, ram_mapping) else { cpu::park() };
    // SAFETY: the plan maps the image (code, data, stacks, heap), RAM and the board's devices,
    // which is everything this code touches; the MMU is off.
    let mmu = unsafe { map.enable(&image) };
    crate::arch::aarch64::guest::untrap_fp_simd();

    // SAFETY: the board data names the console, and the EL2 map has its window as Device memory.
    let console = unsafe { uart::init(board.console.base) };
    console::init(console);
    power::init(board.power_off);

    log!("");
    log!("Bulkhead hypervisor v{}", env!("CARGO_PKG_VERSION"));
    let platform = match platform {
        Ok(p) => p,
        Err(e) => {
            log!("bulkhead: error: {}", D(&e));
            fatal::stop();
        }
    };
    cpu::set_index(platform.boot_cpu);
    entry::set_cpu_stack_top(platform.boot_cpu, entry::stack_top(0));
    banner(&platform, &image);

    if platform.has_bootarg("bulkhead.debug=el2-fault") {
        log!("bulkhead: debug: reading unmapped address {:#x} at EL2", UNMAPPED_ADDRESS);
        // SAFETY: deliberately unsound: this read faults, and the fault report is what the
        // debug option exists to show. The exception handler never returns here.
        let _ = unsafe { (UNMAPPED_ADDRESS as *const u64).read_volatile() };
    }

    if platform.has_bootarg("bulkhead.debug=el2-stack-overflow") {
        log!("bulkhead: debug: recursing at EL2 until the stack overflows");
        overflow_the_stack(0);
    }

    // SAFETY: the board's GIC frames are in its MMIO windows, which the EL2 map has as Device
    // memory for good, and nothing else programs the GIC.
    let gic = match unsafe { Gic::init_distributor(&platform.gic, &platform.cpus, platform.boot_cpu) } {
        Ok(gic) => gic,
        Err(e) => {
            log!("bulkhead: error: the GIC cannot be set up: {}", D(&e));
            fatal::stop();
        }
    };
    if let Err(e) = crate::vm::init_cpu_interrupts(gic, platform.boot_cpu) {
        log!("bulkhead: error: cpu {}: the GIC CPU interface cannot be set up: {}", platform.boot_cpu, D(&e));
        fatal::stop();
    }
    start_secondaries(&platform, mmu);
    HEAP.share();
    for (start, size) in unused_stacks {
        // SAFETY: these are the stack slots of CPUs this board does not have (`keep_stacks`):
        // image memory the EL2 map has read-write (their guard pages were not left out), which
        // no CPU uses as a stack and nothing else uses.
        unsafe { HEAP.add_region(start as usize, size as usize) };
    }
    console.enable_interrupts(platform.board.console.base);
    let dtb_range = AddressRange::new(dtb, bytes.len() as u64).expect("the tree's size was checked");
    crate::vm::run(&platform, &tree, &image, dtb_range)
}

/// A secondary CPU's Rust entry, from `entry.s`, with the MMU on.
#[unsafe(no_mangle)]
extern "C" fn secondary_main(index: u64) -> ! {
    crate::arch::aarch64::guest::untrap_fp_simd();
    if let Some(gic) = Gic::get() {
        if let Err(e) = crate::vm::init_cpu_interrupts(gic, index as usize) {
            log!("bulkhead: cpu {}: the GIC CPU interface cannot be set up: {}; parking it", index, D(&e));
            cpu::park();
        }
    }
    log!("bulkhead: cpu {} online (mpidr {:#x})", index, cpu::mpidr());
    ONLINE[index as usize].store(true, Ordering::Release);
    cpu::send_event();
    crate::vm::cpu_loop(index as usize)
}

/// # Safety
/// `dtb` must be 0 or the address of readable memory holding a device tree header.
unsafe fn read_dtb(dtb: u64) -> Option<&'static [u8]> {
    if dtb == 0 || !dtb.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the caller guarantees the header is readable; it is 8-byte aligned.
    let (magic, size) = unsafe { (*(dtb as *const u32), *((dtb + 4) as *const u32)) };
    if u32::from_be(magic) != 0xd00d_feed || u32::from_be(size) > MAX_DTB_SIZE {
        return None;
    }
    // SAFETY: the header says the tree is `size` bytes long; the boot protocol keeps it intact.
    Some(unsafe { core::slice::from_raw_parts(dtb as *const u8, u32::from_be(size) as usize) })
}

fn banner(p: &Platform, image: &layout::ImageLayout) {
    let gic = match p.gic.version() {
        boards::GicVersion::V2 => "v2",
        boards::GicVersion::V3 => "v3",
    };
    log!("  board: {}", p.board.model);
    log!("  gic: {} (distributor {:#x})", D(&gic), p.gic.gicd());
    println!("  cpus: {} (MPIDR {:x?}), booted on cpu {}", p.cpus.len(), p.cpus, p.boot_cpu);
    for r in &p.ram {
        log!("  ram: {:#x}..{:#x} ({} MiB)", r.start(), r.end(), (r.size() >> 20));
    }
    log!("  hypervisor: {:#x}..{:#x} ({} KiB) at EL2", image.start, image.end, (image.end - image.start) >> 10);
    log!("bulkhead: cpu {} online (mpidr {:#x})", p.boot_cpu, cpu::mpidr());
}

/// Recurses for ever with a 1 KiB frame (under the 4 KiB guard page, so no frame jumps over
/// it): `bulkhead.debug=el2-stack-overflow` shows that an overflow ends in the fatal report.
#[inline(never)]
fn overflow_the_stack(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 128]);
    if core::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    overflow_the_stack(depth + 1).wrapping_add(frame[(depth % 128) as usize])
}

/// Which stack a CPU uses: the boot CPU took stack 0 in the entry code, so it swaps with CPU 0.
fn stack_slot(index: usize, boot_cpu: usize) -> usize {
    match index {
        i if i == boot_cpu => 0,
        0 => boot_cpu,
        i => i,
    }
}

fn start_secondaries(p: &Platform, mmu: MmuConfig) {
    ONLINE[p.boot_cpu].store(true, Ordering::Release);
    for (index, &mpidr) in p.cpus.iter().enumerate() {
        if index == p.boot_cpu {
            continue;
        }
        entry::set_cpu_stack_top(index, entry::stack_top(stack_slot(index, p.boot_cpu)));
        let boot = SecondaryBoot {
            mair_el2: mmu.mair_el2,
            tcr_el2: mmu.tcr_el2,
            ttbr0_el2: mmu.ttbr0_el2,
            sctlr_el2: mmu.sctlr_el2,
            stack_top: entry::cpu_stack_top(index),
            cpu_index: index as u64,
        };
        // SAFETY: CPUs start one at a time: the previous one has finished its entry code
        // (it reported online) or is given up on below, before the block is rewritten.
        unsafe { entry::prepare_secondary(boot) };
        if let Err(e) = smp::start_cpu(p.board.smp, mpidr, entry::secondary_entry_address()) {
            log!("bulkhead: cpu {}: {}", index, D(&e));
            continue;
        }
        let deadline = cpu::now_ns() + CPU_ONLINE_TIMEOUT_NS;
        while !ONLINE[index].load(Ordering::Acquire) && cpu::now_ns() < deadline {
            core::hint::spin_loop();
        }
        if !ONLINE[index].load(Ordering::Acquire) {
            log!("bulkhead: cpu {} (mpidr {:#x}) did not come online within 1 s", index, mpidr);
        }
    }
    let online = ONLINE.iter().filter(|c| c.load(Ordering::Acquire)).count();
    if online == p.cpus.len() {
        log!("bulkhead: all {} cpus online", online);
    } else {
        log!("bulkhead: {} of {} cpus online", online, p.cpus.len());
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    fatal::panic_report(info)
}
