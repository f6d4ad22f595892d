//! Building partitions from a dom0less tree, loading them, and the trap decisions.

use super::*;
use crate::portable::guest::image::test_header;
use crate::portable::memory::frames::FrameAllocator;
use crate::portable::memory::identity_pages::{heap, IdentityPages};
use crate::portable::memory::physical::testing::WindowMemory;
use crate::portable::memory::vmid::VmidAllocator;
use crate::portable::memory::vtcr::Stage2Config;
use crate::portable::trap::{ExceptionClass, RegisterFile, Esr};
use super::SystemRegister;
use alloc::format;
use dom0less_config::devicetree::{cells_value, strings_value, NodeId, Tree};
use dom0less_config::{HostFacts, PartitionPlan};
use std::vec;

const RAM: u64 = 0x4000_0000;
const RAM_SIZE: u64 = 0x0400_0000;
const HYPERVISOR: (u64, u64) = (0x4020_0000, 0x60_0000);
const KERNEL_A: u64 = 0x4300_0000;
const KERNEL_B: u64 = 0x4310_0000;
const KERNEL_SIZE: u64 = 0x1_0000;

fn u32_prop(t: &mut Tree, n: NodeId, name: &str, v: u32) {
    t.set_property(n, name, cells_value(&[v]));
}

fn domain(t: &mut Tree, chosen: NodeId, name: &str, cpus: u32, kib: u32, kernel: u64) {
    let d = t.add_node(chosen, name);
    t.set_property(d, "compatible", strings_value(&["xen,domain"]));
    u32_prop(t, d, "#address-cells", 1);
    u32_prop(t, d, "#size-cells", 1);
    t.set_property(d, "memory", cells_value(&[0, kib]));
    u32_prop(t, d, "cpus", cpus);
    t.set_property(d, "vpl011", vec![]);
    let m = t.add_node(d, &format!("module@{kernel:x}"));
    t.set_property(m, "compatible", strings_value(&["multiboot,kernel", "multiboot,module"]));
    t.set_property(m, "reg", cells_value(&[kernel as u32, KERNEL_SIZE as u32]));
    t.set_property(m, "bootargs", strings_value(&[&format!("guest.name={name}")]));
}

fn host_tree() -> Tree {
    let mut t = Tree::new();
    let root = t.root();
    t.set_property(root, "compatible", strings_value(&["linux,dummy-virt"]));
    u32_prop(&mut t, root, "#address-cells", 2);
    u32_prop(&mut t, root, "#size-cells", 2);
    let mem = t.add_node(root, "memory@40000000");
    t.set_property(mem, "device_type", strings_value(&["memory"]));
    t.set_property(mem, "reg", cells_value(&[0, RAM as u32, 0, RAM_SIZE as u32]));
    let cpus = t.add_node(root, "cpus");
    u32_prop(&mut t, cpus, "#address-cells", 1);
    u32_prop(&mut t, cpus, "#size-cells", 0);
    for i in 0..4 {
        let c = t.add_node(cpus, &format!("cpu@{i}"));
        t.set_property(c, "device_type", strings_value(&["cpu"]));
        u32_prop(&mut t, c, "reg", i);
    }
    let chosen = t.add_node(root, "chosen");
    u32_prop(&mut t, chosen, "#address-cells", 1);
    u32_prop(&mut t, chosen, "#size-cells", 1);
    domain(&mut t, chosen, "smp", 2, 8 * 1024, KERNEL_A);
    domain(&mut t, chosen, "hello", 1, 4 * 1024, KERNEL_B);
    t
}

fn memory_with_kernels() -> WindowMemory {
    let mut m = WindowMemory::new(RAM, RAM_SIZE as usize, 0xa5);
    for k in [KERNEL_A, KERNEL_B] {
        m.write(k, &test_header(0x8_0000, KERNEL_SIZE, 0xa)).unwrap();
        m.write(k + 64, b"kernel body").unwrap();
    }
    m
}

struct Built {
    partitions: Vec<Partition>,
    cpus: CpuAssignment,
    memory: WindowMemory,
}

/// The fixture's plan: `smp` (2 vCPUs) and `hello` (1).
pub(super) fn two_partition_plan() -> PartitionPlan {
    let facts = HostFacts { hypervisor: AddressRange::new(HYPERVISOR.0, HYPERVISOR.1).unwrap(), boot_cpu_mpidr: Some(0), modules: None };
    PartitionPlan::from_tree(&host_tree(), &facts).expect("the fixture is valid").plan
}

fn build_all() -> Built {
    let tree = host_tree();
    let facts = HostFacts { hypervisor: AddressRange::new(HYPERVISOR.0, HYPERVISOR.1).unwrap(), boot_cpu_mpidr: Some(0), modules: None };
    let plan = PartitionPlan::from_tree(&tree, &facts).expect("the fixture is valid").plan;
    let ram = [AddressRange::new(RAM, RAM_SIZE).unwrap()];
    let excluded = [
        AddressRange::new(HYPERVISOR.0, HYPERVISOR.1).unwrap(),
        AddressRange::new(KERNEL_A, KERNEL_SIZE).unwrap(),
        AddressRange::new(KERNEL_B, KERNEL_SIZE).unwrap(),
    ];
    let mut frames = FrameAllocator::<16>::new(&ram, &excluded).unwrap();
    let claimed = claim_static_banks(&plan, &mut frames).unwrap();
    let mut vmids = VmidAllocator::new();
    let mut cpus = CpuAssignment::new(plan.cpus.len());
    let memory = memory_with_kernels();
    let config = Stage2Config::from_id_aa64mmfr0_el1(0b0100).unwrap();
    let mut partitions = Vec::new();
    let tables = crate::portable::evtchn::build_tables(&plan).unwrap();
    for (i, evtchn) in tables.into_iter().enumerate() {
        let banks = guest_banks(&plan.partitions[i], &mut frames, &claimed).unwrap();
        let cap = stage2_cap(&static_mappings(&plan, i, GicVersion::V3, None, &banks).unwrap(), &banks);
        let pages = IdentityPages::new(i, heap::FNS, cap).expect("pages");
        let p = build(&plan, i, GicVersion::V3, None, &mut cpus, banks, &mut vmids, config, pages, &memory, evtchn).unwrap();
        {
            let table = p.stage2.lock();
            let leaf = table.translate(0x4000_0000).expect("guest RAM is mapped");
            assert_eq!(leaf.physical, p.banks[0].host);
            assert!(table.translate(crate::portable::guest::layout::PL011_BASE).is_none(), "the vPL011 must trap");
        }
        partitions.push(p);
    }
    Built { partitions, cpus, memory }
}

#[test]
fn partitions_get_their_own_cpus_and_memory() {
    let b = build_all();
    let [smp, hello] = &b.partitions[..] else { panic!("two partitions") };
    assert_eq!(smp.vcpu_count(), 2);
    assert_eq!(hello.vcpu_count(), 1);
    // No pool is configured: every CPU is in the default credit2 pool, where vCPUs move; each
    // gets a home CPU of the pool, spread round robin, and no CPU is reserved for one.
    assert_eq!(smp.vcpu_cpus, [0, 1], "a partition's vCPUs get different home CPUs");
    assert_eq!(hello.vcpu_cpus, [1]);
    assert!(smp.trap_wfi && hello.trap_wfi, "WFI traps where CPUs are shared");
    assert_eq!(b.cpus.owner.iter().filter(|o| o.is_some()).count(), 0);
    let a = smp.banks[0].host_range().unwrap();
    let h = hello.banks[0].host_range().unwrap();
    assert_eq!(a.size(), 8 << 20);
    assert!(!a.overlaps(&h));
    for module in [KERNEL_A, KERNEL_B, HYPERVISOR.0] {
        let m = AddressRange::new(module, 0x1000).unwrap();
        assert!(!a.overlaps(&m) && !h.overlaps(&m), "guest RAM over a module or the hypervisor");
    }
    assert_ne!(smp.vttbr_el2 >> 48, hello.vttbr_el2 >> 48, "distinct VMIDs");
}

#[test]
fn loading_scrubs_ram_and_places_kernel_and_dtb() {
    let mut b = build_all();
    let p = &b.partitions[1];
    let mut run = p.run.lock();
    let entry = p.load(&mut run, &mut b.memory).unwrap();
    assert_eq!(entry.pc, 0x4008_0000);
    assert_eq!(entry.spsr_el2, 0x3c5);
    let host = p.banks[0].host;
    let kernel = b.memory.slice(host + 0x8_0000, 64 + 11);
    assert_eq!(&kernel[64..], b"kernel body");
    let dtb_host = host + (entry.x0 - 0x4000_0000);
    assert_eq!(b.memory.slice(dtb_host, 4), [0xd0, 0x0d, 0xfe, 0xed]);
    // Scrubbed: the fake memory started as 0xa5 everywhere.
    assert_eq!(b.memory.slice(host, 16), [0; 16]);
}

#[test]
fn boot_scrub_off_skips_only_the_first_load() {
    let mut b = build_all();
    b.partitions[1].skip_boot_scrub = true;
    let p = &b.partitions[1];
    let mut run = p.run.lock();
    p.load(&mut run, &mut b.memory).unwrap();
    let host = p.banks[0].host;
    // The fake memory started as 0xa5 everywhere: left as the "firmware" left it.
    assert_eq!(b.memory.slice(host, 16), [0xa5; 16]);
    assert!(!run.untouched);
    // A restart (or a start after a stop) scrubs whatever the config says.
    b.memory.write(host, &[0x5a; 16]).unwrap();
    p.load(&mut run, &mut b.memory).unwrap();
    assert_eq!(b.memory.slice(host, 16), [0; 16]);
}

fn vpl011_write(byte: u8) -> (Esr, u64, u64, RegisterFile) {
    // str w1, [x0]: ISV, SAS = word, SRT = 1, WnR, translation fault level 3.
    let iss = (1 << 24) | (2 << 22) | (1 << 16) | (1 << 6) | 0x07;
    let mut regs = RegisterFile::default();
    regs.x[1] = byte as u64;
    let far = crate::portable::guest::layout::PL011_BASE;
    (Esr::new(ExceptionClass::DataAbortLower, true, iss), far, (far >> 12) << 4, regs)
}

#[test]
fn a_vpl011_write_reaches_the_console_and_skips_the_instruction() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    let (esr, far, hpfar, mut regs) = vpl011_write(b'X');
    let mut out = Vec::new();
    let mut pc = 0x4008_1000;
    let exit = handle_sync(p, &mut run, 0, esr, far, hpfar, &mut regs, &mut pc, &mut |c| out.push(c));
    assert!(matches!(exit, Exit::Vgic(_)), "{exit:?}");
    assert_eq!(out, b"X");
    assert_eq!(pc, 0x4008_1004);
}

/// A trapping store at the very top of the address space: the PC wraps by intent (Arm ARM:
/// the PC is a 64-bit value that wraps), it never overflows the hypervisor's arithmetic.
#[test]
fn a_trap_at_the_top_of_the_address_space_wraps_the_pc() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    let (esr, far, hpfar, mut regs) = vpl011_write(b'Y');
    let mut pc = 0xffff_ffff_ffff_fffc;
    let exit = handle_sync(p, &mut run, 0, esr, far, hpfar, &mut regs, &mut pc, &mut |_| {});
    assert!(matches!(exit, Exit::Vgic(_)), "{exit:?}");
    assert_eq!(pc, 0);
}

#[test]
fn an_unmapped_access_is_an_abort_and_the_pc_stays() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    let (esr, _, _, mut regs) = vpl011_write(b'X');
    let far = 0x1_0000_0000;
    let mut pc = 0x4008_1000;
    let exit = handle_sync(p, &mut run, 0, esr, far, (far >> 12) << 4, &mut regs, &mut pc, &mut |_| {});
    assert_eq!(exit, Exit::Abort { address: 0x1_0000_0000, reason: AbortReason::Unmapped });
    assert_eq!(pc, 0x4008_1000);
}

/// An instruction fetch from an address the partition does not have: an abort for the guest
/// (a prefetch abort, injected as for a data access), never the partition's crash policy.
#[test]
fn an_unmapped_instruction_fetch_is_an_abort() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    let mut regs = RegisterFile::default();
    let far = 0x1_0000_0000;
    let mut pc = far;
    // EC 0x20 (instruction abort from EL1), IL, IFSC 0x07 (translation fault, level 3).
    let esr = Esr::new(ExceptionClass::InstructionAbortLower, true, 0x07);
    let exit = handle_sync(p, &mut run, 0, esr, far, (far >> 12) << 4, &mut regs, &mut pc, &mut |_| {});
    assert_eq!(exit, Exit::Abort { address: far, reason: AbortReason::Unmapped });
    assert_eq!(pc, far, "the guest's handler sees the faulting PC");
}

fn hvc(immediate: u32) -> Esr {
    Esr::new(ExceptionClass::Hvc64, true, immediate)
}

#[test]
fn psci_calls_become_exits() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    let mut pc = 0x4008_0004;
    let mut regs = RegisterFile::default();
    regs.x[0] = 0x8400_0000; // PSCI_VERSION
    assert_eq!(handle_sync(p, &mut run, 0, hvc(0), 0, 0, &mut regs, &mut pc, &mut |_| {}), Exit::Resume);
    assert_eq!(regs.x[0], 0x1_0001);
    assert_eq!(pc, 0x4008_0004, "ELR already points after an HVC");

    regs.x = [0; 31];
    regs.x[0] = 0xc400_0003; // CPU_ON
    regs.x[1] = 1;
    regs.x[2] = 0x4008_2000;
    regs.x[3] = 7;
    let exit = handle_sync(p, &mut run, 0, hvc(0), 0, 0, &mut regs, &mut pc, &mut |_| {});
    assert_eq!(exit, Exit::StartVcpu { vcpu: 1, entry: 0x4008_2000, context_id: 7 });
    assert_eq!(regs.x[0], 0);

    regs.x[0] = 0x8400_0008; // SYSTEM_OFF
    assert_eq!(handle_sync(p, &mut run, 0, hvc(0), 0, 0, &mut regs, &mut pc, &mut |_| {}), Exit::StopPartition);
    regs.x[0] = 0x8400_0009; // SYSTEM_RESET
    assert_eq!(handle_sync(p, &mut run, 0, hvc(0), 0, 0, &mut regs, &mut pc, &mut |_| {}), Exit::ResetPartition);
}

#[test]
fn xen_hypercalls_go_to_the_xen_layer_other_immediates_are_not_supported_and_unknown_traps_crash() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    let mut pc = 0x4008_0004;
    let mut regs = RegisterFile::default();
    assert_eq!(handle_sync(p, &mut run, 0, hvc(0xea1), 0, 0, &mut regs, &mut pc, &mut |_| {}), Exit::Xen);
    assert_eq!(pc, 0x4008_0004, "ELR_EL2 of an HVC is already the next instruction");
    assert!(crate::portable::partition::is_xen_hypercall(hvc(0xea1)));
    assert!(!crate::portable::partition::is_xen_hypercall(hvc(0)) && !crate::portable::partition::is_xen_hypercall(hvc(0x1234)));
    assert_eq!(handle_sync(p, &mut run, 0, hvc(0x1234), 0, 0, &mut regs, &mut pc, &mut |_| {}), Exit::Resume);
    assert_eq!(regs.x[0] as i64, -1, "PSCI NOT_SUPPORTED");
    let esr = Esr::new(ExceptionClass::SystemRegister, true, 0);
    assert!(matches!(handle_sync(p, &mut run, 0, esr, 0, 0, &mut regs, &mut pc, &mut |_| {}), Exit::Crash { .. }));
}

/// The ISS of an MSR/MRS of (op0, op1, CRn, CRm, op2) with register `rt`.
fn sysreg_iss(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32, rt: u32, read: bool) -> u32 {
    (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | read as u32
}

#[test]
fn system_register_syndromes_decode() {
    let r = SystemRegister::decode(sysreg_iss(3, 0, 12, 11, 5, 7, false));
    assert_eq!(r, SystemRegister { op0: 3, op1: 0, crn: 12, crm: 11, op2: 5, rt: 7, read: false });
}

#[test]
fn an_sgi_write_reaches_the_other_vcpu_and_the_physical_timer_reads_as_zero() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    let mut regs = RegisterFile::default();
    let mut pc = 0x4008_0000;
    // ICC_SGI1R_EL1 from x2: SGI 3 to Aff0 target list {1} (vCPU 1).
    regs.x[2] = (3 << 24) | 0b10;
    let esr = Esr::new(ExceptionClass::SystemRegister, true, sysreg_iss(3, 0, 12, 11, 5, 2, false));
    let exit = handle_sync(p, &mut run, 0, esr, 0, 0, &mut regs, &mut pc, &mut |_| {});
    assert!(matches!(exit, Exit::Vgic(_)), "{exit:?}");
    assert!(p.vgic.lock().is_pending(crate::portable::vgic::VcpuId(1), 3));
    assert_eq!(pc, 0x4008_0004);

    regs.x[4] = 0xdead;
    let esr = Esr::new(ExceptionClass::SystemRegister, true, sysreg_iss(3, 3, 14, 2, 1, 4, true));
    assert_eq!(handle_sync(p, &mut run, 0, esr, 0, 0, &mut regs, &mut pc, &mut |_| {}), Exit::Resume);
    assert_eq!(regs.x[4], 0);
}

#[test]
fn distributor_accesses_are_emulated() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    // ldr w3, [x0] from GICD_TYPER (offset 4).
    let iss = (1 << 24) | (2 << 22) | (3 << 16) | 0x07;
    let far = crate::portable::vgic::GUEST_GICD_BASE + 4;
    let mut regs = RegisterFile::default();
    let mut pc = 0x4008_0000;
    let esr = Esr::new(ExceptionClass::DataAbortLower, true, iss);
    assert_eq!(handle_sync(p, &mut run, 0, esr, far, (far >> 12) << 4, &mut regs, &mut pc, &mut |_| {}), Exit::Resume);
    assert_eq!(regs.x[3] & 0x1f, 1, "ITLinesNumber 1: 64 INTIDs, so 32 SPIs");
    assert_eq!(pc, 0x4008_0004);
}

#[test]
fn console_input_waits_for_room_in_the_vpl011_fifo() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    let line = [b'x'; 40];
    assert_eq!(run.queue_input(&line), 0);
    assert!(run.feed_input());
    assert_eq!(run.vpl011.pending_input(), crate::portable::vpl011::FIFO_DEPTH);
    assert_eq!(run.input.len(), 40 - crate::portable::vpl011::FIFO_DEPTH);
    assert!(!run.feed_input(), "no room until the guest reads");
    // The guest reads one byte from UARTDR: one more moves in.
    run.vpl011.read(0, 4, crate::portable::vpl011::Backlog::Empty).unwrap();
    assert!(run.feed_input());
    assert_eq!(run.input.len(), 40 - crate::portable::vpl011::FIFO_DEPTH - 1);
    assert_eq!(run.queue_input(&[0; INPUT_BUFFER]), 40 - crate::portable::vpl011::FIFO_DEPTH - 1, "what does not fit is counted");
}

#[test]
fn wfi_and_wfe_become_waits_past_the_instruction() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut run = p.run.lock();
    let mut regs = RegisterFile::default();
    let mut pc = 0x4008_0000;
    let wfi = Esr::new(ExceptionClass::WaitForInterruptOrEvent, true, 0);
    assert_eq!(handle_sync(p, &mut run, 0, wfi, 0, 0, &mut regs, &mut pc, &mut |_| {}), Exit::Wait { interrupt: true });
    assert_eq!(pc, 0x4008_0004);
    let wfe = Esr::new(ExceptionClass::WaitForInterruptOrEvent, true, 1);
    assert_eq!(handle_sync(p, &mut run, 0, wfe, 0, 0, &mut regs, &mut pc, &mut |_| {}), Exit::Wait { interrupt: false });
    assert_eq!(pc, 0x4008_0008);
}

/// The live stage 2: a page mapped and unmapped while the partition exists, from the pool its
/// build preallocated; a pool that runs dry is an error, never an allocation or a panic.
#[test]
fn the_live_stage2_maps_and_unmaps_from_its_pool() {
    use crate::portable::memory::stage2::{MappingAttributes, Stage2Error};
    let b = build_all();
    let p = &b.partitions[0];
    let mut table = p.stage2.lock();
    let host = AddressRange::new(0x7000_0000, 0x1000).unwrap();
    let ipa = 0x3800_0000;
    table.map(ipa, host, MappingAttributes::RAM).unwrap();
    assert_eq!(table.translate(ipa).map(|leaf| leaf.physical), Some(0x7000_0000));
    table.unmap(AddressRange::new(ipa, 0x1000).unwrap()).unwrap();
    assert!(table.translate(ipa).is_none());
    // Pages scattered 1 GiB apart each need their own tables: the pool runs out.
    let mut ran_out = false;
    for i in 0..64u64 {
        match table.map(0x10_0000_0000 + i * 0x4000_0000, host, MappingAttributes::RAM) {
            Ok(()) => {}
            Err(Stage2Error::OutOfTablePages { .. }) => {
                ran_out = true;
                break;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(ran_out, "a pool of preallocated pages is finite");
}

#[test]
fn a_passthrough_window_may_not_cover_the_guests_ram_or_its_layout() {
    use super::guest_layout_clash;
    use crate::portable::guest::boot::GuestBank;
    use crate::portable::memory::AddressRange;
    let bank = GuestBank { ipa: AddressRange::new(0x6000_0000, 0x1000_0000).unwrap(), host: 0x6000_0000 };
    let window = |start| AddressRange::new(start, 0x1000).unwrap();
    assert_eq!(guest_layout_clash(window(0x0a00_3000), &[bank]), None, "virt's virtio page");
    assert_eq!(guest_layout_clash(window(0x6800_0000), &[bank]), Some("the partition's RAM"));
    assert_eq!(guest_layout_clash(window(0x0300_1000), &[bank]), Some("the virtual GIC"));
    assert_eq!(guest_layout_clash(window(0x0400_0000), &[bank]), Some("the virtual GIC"), "GICv3 redistributors");
    assert_eq!(guest_layout_clash(window(0x2200_0000), &[bank]), Some("the vPL011"));
    assert_eq!(guest_layout_clash(window(0x3800_0000), &[bank]), Some("the grant-table window"));
}

const SHM_HOST: u64 = 0x4380_0000;
const SHM_SIZE: u64 = 0x10_0000;

/// Adds a `xen,domain-shared-memory-v1` node to the `/chosen/<domain>` node.
fn shared_node(t: &mut Tree, domain: &str, role: &str, guest: u64) {
    let d = t.find(&format!("/chosen/{domain}")).expect("domain node");
    let s = t.add_node(d, &format!("shm@{guest:x}"));
    t.set_property(s, "compatible", strings_value(&["xen,domain-shared-memory-v1"]));
    t.set_property(s, "role", strings_value(&[role]));
    t.set_property(s, "xen,shm-id", strings_value(&["ring"]));
    t.set_property(s, "xen,shared-mem", cells_value(&[SHM_HOST as u32, guest as u32, SHM_SIZE as u32]));
}

fn build_shared(owner_guest: u64) -> Result<Vec<Partition>, BuildError> {
    let mut tree = host_tree();
    shared_node(&mut tree, "smp", "owner", owner_guest);
    shared_node(&mut tree, "hello", "borrower", 0x6000_0000);
    build_tree(&tree)
}

/// Builds every partition of `tree`'s config as `vm::build_all` does: the static banks
/// claimed first, then each partition in `/chosen` order.
fn build_tree(tree: &Tree) -> Result<Vec<Partition>, BuildError> {
    let facts = HostFacts { hypervisor: AddressRange::new(HYPERVISOR.0, HYPERVISOR.1).unwrap(), boot_cpu_mpidr: Some(0), modules: None };
    let plan = PartitionPlan::from_tree(tree, &facts).expect("the fixture is valid").plan;
    let ram = [AddressRange::new(RAM, RAM_SIZE).unwrap()];
    let mut excluded = vec![
        AddressRange::new(HYPERVISOR.0, HYPERVISOR.1).unwrap(),
        AddressRange::new(KERNEL_A, KERNEL_SIZE).unwrap(),
        AddressRange::new(KERNEL_B, KERNEL_SIZE).unwrap(),
    ];
    excluded.extend(plan.shared_regions.iter().filter_map(|r| r.host));
    let mut frames = FrameAllocator::<16>::new(&ram, &excluded).unwrap();
    let claimed = claim_static_banks(&plan, &mut frames)?;
    let mut vmids = VmidAllocator::new();
    let mut cpus = CpuAssignment::new(plan.cpus.len());
    let memory = memory_with_kernels();
    let config = Stage2Config::from_id_aa64mmfr0_el1(0b0100).unwrap();
    let tables = crate::portable::evtchn::build_tables(&plan).unwrap();
    tables
        .into_iter()
        .enumerate()
        .map(|(i, evtchn)| {
            let banks = guest_banks(&plan.partitions[i], &mut frames, &claimed)?;
            let cap = stage2_cap(&static_mappings(&plan, i, GicVersion::V3, None, &banks)?, &banks);
            let pages = IdentityPages::new(i, heap::FNS, cap).expect("pages");
            build(&plan, i, GicVersion::V3, None, &mut cpus, banks, &mut vmids, config, pages, &memory, evtchn)
        })
        .collect()
}

/// The fixture with `hello` (the second partition) given `xen,static-mem` at `host`, and
/// `smp` (the first, allocated) `smp_mib` MiB.
fn static_after_dynamic(host: u64, smp_mib: u32) -> Tree {
    let mut tree = host_tree();
    let smp = tree.find("/chosen/smp").expect("smp");
    tree.set_property(smp, "memory", cells_value(&[0, smp_mib * 1024]));
    let hello = tree.find("/chosen/hello").expect("hello");
    tree.set_property(hello, "xen,static-mem", cells_value(&[host as u32, 4 << 20]));
    tree
}

#[test]
fn an_earlier_allocated_partition_is_placed_around_a_later_static_bank() {
    // First fit would put smp's 8 MiB at the first 2 MiB boundary after the hypervisor,
    // 0x40800000: there lies hello's static bank, as Xen dom0less allows.
    let bank = AddressRange::new(HYPERVISOR.0 + HYPERVISOR.1, 4 << 20).unwrap();
    let parts = build_tree(&static_after_dynamic(bank.start(), 8)).expect("the config boots");
    let [smp, hello] = &parts[..] else { panic!("two partitions") };
    assert_eq!(hello.banks[0].host_range(), Some(bank), "hello runs in its own bank");
    let smp_ram = smp.banks[0].host_range().unwrap();
    assert_eq!(smp_ram, AddressRange::new(bank.end(), 8 << 20).unwrap(), "smp goes after it");
}

#[test]
fn an_allocated_partition_with_no_range_left_names_itself_its_size_and_the_largest_range() {
    // hello's bank splits the RAM after the hypervisor into 16 MiB below it and 20 MiB above
    // (up to the kernels): smp's 24 MiB fits in neither, though the validator counts enough.
    let parts = build_tree(&static_after_dynamic(0x4180_0000, 24));
    let Err(error) = parts else { panic!("built") };
    let largest = AddressRange::new(0x41c0_0000, 20 << 20).unwrap();
    assert!(matches!(&error, BuildError::NoRoom { partition, bytes, largest: Some(l) } if partition == "smp" && *bytes == 24 << 20 && *l == largest), "{error:?}");
    let text = error.to_string();
    for part in ["partition \"smp\"", "24 MiB", "[0x41c00000, 0x43000000) (20 MiB)", "lower its memory, or move the static banks"] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
}

#[test]
fn static_shared_memory_is_mapped_in_owner_and_borrower() {
    let parts = build_shared(0x5000_0000).unwrap();
    let [owner, borrower] = &parts[..] else { panic!("two partitions") };
    for (p, guest) in [(owner, 0x5000_0000u64), (borrower, 0x6000_0000)] {
        let table = p.stage2.lock();
        assert_eq!(table.translate(guest).map(|l| l.physical), Some(SHM_HOST), "{}", p.name);
        assert_eq!(table.translate(guest + SHM_SIZE - 1).map(|l| l.physical), Some(SHM_HOST + SHM_SIZE - 1));
        assert!(table.translate(guest + SHM_SIZE).is_none());
        assert_eq!(p.shared_memory.len(), 1);
        assert_eq!(p.shared_memory[0].id, "ring");
        let region = AddressRange::new(SHM_HOST, SHM_SIZE).unwrap();
        assert!(p.banks.iter().all(|b| !b.host_range().unwrap().overlaps(&region)), "RAM never takes the region");
    }
    assert!(owner.shared_memory[0].owner && !borrower.shared_memory[0].owner);
}

#[test]
fn a_shared_region_over_guest_ram_is_refused() {
    let error = build_shared(0x4000_0000).expect_err("refused");
    let BuildError::SharedMemory { partition, error } = &error else { panic!("{error:?}") };
    assert_eq!(partition, "smp");
    assert!(matches!(error, shared_memory::SharedMemoryError::Clash { what: "the partition's RAM", .. }), "{error:?}");
    assert!(error.to_string().contains("choose another guest address"));
    let grant = build_shared(0x3800_0000).expect_err("refused");
    assert!(grant.to_string().contains("grant-table window"), "{grant}");
}

/// `ldr w1, [x0]` (or `str w1, [x0]`) at `offset` in the vPL011's page: ISV, SAS = word,
/// SRT = 1, translation fault level 3.
fn vpl011_access(offset: u64, write: bool) -> (Esr, u64, u64) {
    let iss = (1 << 24) | (2 << 22) | (1 << 16) | (u32::from(write) << 6) | 0x07;
    let far = crate::portable::guest::layout::PL011_BASE + offset;
    (Esr::new(ExceptionClass::DataAbortLower, true, iss), far, (far >> 12) << 4)
}

/// The fast path's answer to a trap, or `None` if it left the trap to the full path (then
/// it must have changed nothing).
fn fast_answer(p: &Partition, esr: Esr, far: u64, hpfar: u64, regs: &RegisterFile, pc: u64) -> Option<(RegisterFile, u64)> {
    let (mut fast_regs, mut fast_pc) = (*regs, pc);
    if fast::answer(p, esr, far, hpfar, &mut fast_regs, &mut fast_pc, &mut |_: u8| {}) != fast::Fast::Full {
        Some((fast_regs, fast_pc))
    } else {
        assert_eq!((&fast_regs.x, fast_pc), (&regs.x, pc), "a trap left to the full path must be left as it was");
        None
    }
}

/// The same trap through the full path's decision.
fn full_answer(p: &Partition, esr: Esr, far: u64, hpfar: u64, regs: &RegisterFile, pc: u64) -> (Exit, RegisterFile, u64) {
    let (mut full_regs, mut full_pc) = (*regs, pc);
    let mut run = p.run.lock();
    let exit = handle_sync(p, &mut run, 0, esr, far, hpfar, &mut full_regs, &mut full_pc, &mut |_| {});
    (exit, full_regs, full_pc)
}

#[test]
fn the_fast_path_answers_smccc_queries_as_the_full_path_does() {
    let b = build_all();
    let p = &b.partitions[0];
    let smc = Esr::new(ExceptionClass::Smc64, true, 0);
    let queries: [[u64; 2]; 9] = [
        [0x8400_0000, 0],           // PSCI_VERSION
        [0x8000_0000, 0],           // SMCCC_VERSION
        [0x8000_0001, 0x8000_8000], // SMCCC_ARCH_FEATURES (ARCH_WORKAROUND_1)
        [0x8400_000a, 0x8400_0000], // PSCI_FEATURES (PSCI_VERSION)
        [0x8400_000a, 0xc400_0003], // PSCI_FEATURES (CPU_ON, 64-bit)
        [0x8400_000a, 0x1234],      // PSCI_FEATURES (not a function)
        [0x8400_0006, 0],           // MIGRATE_INFO_TYPE
        [0x8400_0000 | 0xffff_ffff_0000_0000, 0], // PSCI_VERSION, upper half ignored
        [0x8400_000a, 0xffff_ffff_8400_0000],     // SMC32 PSCI_FEATURES: only w1 counts
    ];
    for [x0, x1] in queries {
        for (esr, pc) in [(hvc(0), 0x4008_0004), (smc, 0x4008_0000)] {
            let mut regs = RegisterFile::default();
            regs.x[0] = x0;
            regs.x[1] = x1;
            regs.x[7] = 0x77;
            let (fast_regs, fast_pc) = fast_answer(p, esr, 0, 0, &regs, pc).unwrap_or_else(|| panic!("{x0:#x} {x1:#x} is a query"));
            let (exit, full_regs, full_pc) = full_answer(p, esr, 0, 0, &regs, pc);
            assert_eq!(exit, Exit::Resume);
            assert_eq!((fast_regs.x, fast_pc), (full_regs.x, full_pc), "{x0:#x} {x1:#x} over {:?}", esr.class());
        }
    }
}

#[test]
fn calls_that_change_state_or_are_unknown_take_the_full_path() {
    let b = build_all();
    let p = &b.partitions[0];
    // CPU_ON, CPU_OFF, SYSTEM_OFF, SYSTEM_RESET, CPU_SUSPEND, AFFINITY_INFO, an unknown ID.
    for x0 in [0xc400_0003, 0x8400_0002, 0x8400_0008, 0x8400_0009, 0x8400_0001, 0x8400_0004, 0x8400_00ff] {
        let mut regs = RegisterFile::default();
        regs.x[0] = x0;
        regs.x[1] = 1;
        assert_eq!(fast_answer(p, hvc(0), 0, 0, &regs, 0x4008_0004), None, "{x0:#x}");
    }
    // Another immediate; an SMC with Xen's immediate; an instruction abort; a WFI.
    let mut regs = RegisterFile::default();
    regs.x[0] = 0x8400_0000;
    regs.x[16] = 17;
    assert_eq!(fast_answer(p, hvc(0x1234), 0, 0, &regs, 0x4008_0004), None);
    assert_eq!(fast_answer(p, Esr::new(ExceptionClass::Smc64, true, 0xea1), 0, 0, &regs, 0x4008_0004), None);
    assert_eq!(fast_answer(p, Esr::new(ExceptionClass::InstructionAbortLower, true, 0x07), 0x1000, 0x10, &regs, 0x1000), None);
    assert_eq!(fast_answer(p, Esr::new(ExceptionClass::WaitForInterruptOrEvent, true, 0), 0, 0, &regs, 0x4008_0000), None);
}

#[test]
fn the_fast_path_answers_stateless_xen_version_commands_only() {
    let b = build_all();
    let p = &b.partitions[0];
    let mut regs = RegisterFile::default();
    regs.x[16] = 17; // xen_version
    for (x0, x1, answer) in [(0, 0, 0x4_0011), (1 << 32, 0, 0x4_0011), (7, 0, 4096), (7, 8, (-22i64) as u64), (10, 0, (-1i64) as u64)] {
        regs.x[0] = x0;
        regs.x[1] = x1;
        let (fast_regs, fast_pc) = fast_answer(p, hvc(0xea1), 0, 0, &regs, 0x4008_0004).expect("a stateless command");
        assert_eq!((fast_regs.x[0], fast_pc), (answer, 0x4008_0004), "xen_version({x0:#x}, {x1:#x})");
    }
    // Commands that write guest memory, and other hypercalls, take the full path.
    for (x16, x0) in [(17, 1), (17, 6), (17, 99), (18, 0), (29, 0), (32, 0)] {
        regs.x[16] = x16;
        regs.x[0] = x0;
        regs.x[1] = 0x4000_0000;
        assert_eq!(fast_answer(p, hvc(0xea1), 0, 0, &regs, 0x4008_0004), None, "hypercall {x16} command {x0}");
    }
}

#[test]
fn the_fast_path_reads_vpl011_registers_as_the_full_path_does_but_not_uartdr_or_other_writes() {
    let b = build_all();
    let p = &b.partitions[0];
    let regs = RegisterFile::default();
    // UARTFR, UARTCR, UARTIMSC, UARTRIS, UARTPeriphID0, UARTPCellID3.
    for offset in [0x18, 0x30, 0x38, 0x3c, 0xfe0, 0xffc] {
        let (esr, far, hpfar) = vpl011_access(offset, false);
        let (fast_regs, fast_pc) = fast_answer(p, esr, far, hpfar, &regs, 0x4008_1000).unwrap_or_else(|| panic!("a read at {offset:#x}"));
        let (exit, full_regs, full_pc) = full_answer(p, esr, far, hpfar, &regs, 0x4008_1000);
        assert!(matches!(exit, Exit::Resume | Exit::Vgic(_)), "{exit:?}");
        assert_eq!((fast_regs.x, fast_pc), (full_regs.x, full_pc), "offset {offset:#x}");
        assert_eq!(fast_pc, 0x4008_1004);
    }
    // UARTDR takes a byte from the FIFO, a write to another register may change the line, an
    // unknown register aborts.
    for (offset, write) in [(0x0, false), (0x18, true), (0x44, true), (0x38, true), (0x100, false)] {
        let (esr, far, hpfar) = vpl011_access(offset, write);
        assert_eq!(fast_answer(p, esr, far, hpfar, &regs, 0x4008_1000), None, "offset {offset:#x} write {write}");
    }
    // Outside the vPL011's page: an abort, decided by the full path.
    let (esr, _, _) = vpl011_access(0x18, false);
    assert_eq!(fast_answer(p, esr, 0x1_0000_0000, 0x1000_0000, &regs, 0x4008_1000), None);
}

#[test]
fn a_vpl011_read_takes_the_full_path_while_input_waits_or_the_run_state_is_busy() {
    let b = build_all();
    let p = &b.partitions[0];
    let regs = RegisterFile::default();
    let (esr, far, hpfar) = vpl011_access(0x18, false);
    {
        let _busy = p.run.lock();
        assert_eq!(fast_answer(p, esr, far, hpfar, &regs, 0x4008_1000), None, "another CPU holds the run state");
    }
    // 40 bytes typed: 16 fill the FIFO, the rest wait to be fed on the full path.
    assert_eq!(p.run.lock().queue_input(&[b'x'; 40]), 0);
    assert_eq!(fast_answer(p, esr, far, hpfar, &regs, 0x4008_1000), None, "input waits for the FIFO");
    assert!(p.run.lock().feed_input());
    assert_eq!(fast_answer(p, esr, far, hpfar, &regs, 0x4008_1000), None, "still more than the FIFO holds");
    p.run.lock().input.clear();
    let (fast_regs, _) = fast_answer(p, esr, far, hpfar, &regs, 0x4008_1000).expect("nothing waits: the fast path answers");
    assert_eq!(fast_regs.x[1] & 0x10, 0, "RXFE clear: the FIFO holds bytes");
    assert_ne!(fast_regs.x[1] & 0x40, 0, "RXFF set: the FIFO is full");
}

/// A console buffer that keeps what it is given, and shows as full or busy when told.
struct Buffer {
    bytes: Vec<u8>,
    full: bool,
    busy: bool,
}

impl crate::portable::vpl011::TransmitSink for Buffer {
    fn transmit(&mut self, byte: u8) {
        self.bytes.push(byte);
    }

    fn try_transmit(&mut self, byte: u8) -> bool {
        if !self.busy {
            self.bytes.push(byte);
        }
        !self.busy
    }

    fn backlog(&self) -> crate::portable::vpl011::Backlog {
        match (self.full, self.bytes.is_empty()) {
            (true, _) => crate::portable::vpl011::Backlog::Full,
            (false, true) => crate::portable::vpl011::Backlog::Empty,
            (false, false) => crate::portable::vpl011::Backlog::Waiting,
        }
    }
}

#[test]
fn the_fast_path_leaves_uart_accesses_to_the_full_path_while_the_buffer_is_full() {
    let b = build_all();
    let p = b.partitions.iter().find(|p| p.vpl011).expect("a partition with a vPL011");
    let mut buffer = Buffer { bytes: b"waiting".to_vec(), full: true, busy: false };
    for (offset, write) in [(crate::portable::vpl011::registers::FR, false), (0, true)] {
        let (esr, far, hpfar) = vpl011_access(offset, write);
        let (mut regs, mut pc) = (RegisterFile::default(), 0x4008_0000);
        buffer.full = true;
        let answer = fast::answer(p, esr, far, hpfar, &mut regs, &mut pc, &mut buffer);
        assert_eq!(answer, fast::Fast::Full, "the full path prints the buffer");
        assert_eq!((regs, pc), (RegisterFile::default(), 0x4008_0000), "left as it was");
        buffer.full = false;
        let answer = fast::answer(p, esr, far, hpfar, &mut regs, &mut pc, &mut buffer);
        assert_ne!(answer, fast::Fast::Full, "bytes wait but there is room: answered at once");
    }
}

#[test]
fn a_console_byte_takes_the_fast_path_and_leaves_what_the_full_path_would() {
    let b = build_all();
    let p = b.partitions.iter().find(|p| p.vpl011).expect("a partition with a vPL011");
    let (esr, far, hpfar) = vpl011_access(0, true);
    let mut regs = RegisterFile::default();
    regs.x[1] = u64::from(b'\n');
    let mut fast_buffer = Buffer { bytes: Vec::new(), full: false, busy: false };
    let (mut fast_regs, mut fast_pc) = (regs, 0x4008_1000);
    let answer = fast::answer(p, esr, far, hpfar, &mut fast_regs, &mut fast_pc, &mut fast_buffer);
    assert_eq!(answer, fast::Fast::Transmitted(b'\n'));
    let fast_uart = p.run.lock().vpl011.clone();
    p.run.lock().vpl011.reset();
    let mut full_buffer = Buffer { bytes: Vec::new(), full: false, busy: false };
    let (mut full_regs, mut full_pc) = (regs, 0x4008_1000);
    let exit = handle_sync(p, &mut p.run.lock(), 0, esr, far, hpfar, &mut full_regs, &mut full_pc, &mut full_buffer);
    assert!(matches!(exit, Exit::Resume | Exit::Vgic(_)), "{exit:?}");
    assert_eq!((fast_regs.x, fast_pc, &fast_buffer.bytes), (full_regs.x, full_pc, &full_buffer.bytes));
    assert_eq!(fast_uart, p.run.lock().vpl011, "the same UART state");
    // A buffer whose lock another CPU holds, or a write that would raise the line: full path.
    let mut busy = Buffer { bytes: Vec::new(), full: false, busy: true };
    let (mut busy_regs, mut busy_pc) = (regs, 0x4008_1000);
    assert_eq!(fast::answer(p, esr, far, hpfar, &mut busy_regs, &mut busy_pc, &mut busy), fast::Fast::Full);
    assert_eq!((busy_regs.x, busy_pc, busy.bytes.len()), (regs.x, 0x4008_1000, 0));
    p.run.lock().vpl011.write(crate::portable::vpl011::registers::IMSC, 4, 1 << 5, &mut busy).unwrap();
    p.run.lock().vpl011.write(crate::portable::vpl011::registers::ICR, 4, 1 << 5, &mut busy).unwrap();
    assert_eq!(fast::answer(p, esr, far, hpfar, &mut fast_regs, &mut fast_pc, &mut fast_buffer), fast::Fast::Full, "TX unmasked and clear");
}

#[test]
fn stage2_keeps_the_pages_its_static_mappings_take_and_its_cap_covers_splitting_every_block() {
    use crate::portable::memory::stage2::TablePageSource;
    let b = build_all();
    for p in &b.partitions {
        let mut table = p.stage2.lock();
        let (held, cap) = table.page_source().held();
        assert_eq!(held, table.page_source().kept(), "what the build took is kept");
        assert!(held <= 4, "a root and a level-2 table (and a spare) map a small bank: {held}");
        let ram = p.banks[0].ipa;
        assert_eq!(cap, stage2_cap(&p.static_mappings, &p.banks));
        // Split every 2 MiB block of its RAM, as grants over all of it would: within the cap.
        let mut ipa = ram.start();
        while ipa < ram.end() {
            table.unmap(AddressRange::new(ipa + 0x1000, 0x1000).unwrap()).unwrap();
            ipa += 2 << 20;
        }
        assert!(table.page_source().held().0 <= cap);
        assert!(table.page_source().available() > 0);
        // Cleared and mapped from its static mappings again, it holds what it kept.
        table.clear().unwrap();
        for &(ipa, host, attributes) in &p.static_mappings {
            table.map(ipa, host, attributes).unwrap();
        }
        assert_eq!(table.page_source().held().0, held);
        assert_eq!(table.translate(ram.start() + 0x1000).unwrap().physical, p.banks[0].host + 0x1000);
    }
}
