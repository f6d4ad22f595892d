//! Xen's hypercall ABI, proven against Xen itself: the `xenabi` guest (`tests/guests`) calls
//! every hypercall Bulkhead implements with valid and invalid arguments and prints one line per
//! case, `xenabi: CASE = RESULT`. The same config boots on Bulkhead (virt GICv3 and GICv2,
//! raspi4b) and on Debian's Xen 4.17 (`xsm=dummy`, `xen,enhanced = "no-xenstore"`), and each
//! must print [`CASES`] in order: a [`Case::Same`] line on both, a [`Case::Differs`] line as
//! each hypervisor answers it, with why we answer as we do.

use crate::scenario::{Expect, ExpectedExit, Hypervisor, PartitionConfig, Scenario};

use super::partitions::{says, started, stopped, ALL_STOPPED};
use super::POWER_OFF;

/// The config every run boots (the raspi4b run has its own, for the board's RAM layout).
const CONFIG: &str = "tests/scenarios/virt-xen-abi.dts";

/// One line of the guest's report.
pub enum Case {
    /// Both hypervisors print `xenabi: TEXT`.
    Same(&'static str),
    /// Each prints its own (an empty text: no line at all), for the reason given.
    Differs { bulkhead: &'static str, xen: &'static str, why: &'static str },
}

const CAPABILITIES: &str = "Xen lists xen-3.0-armv7l when the CPU can run AArch32 at EL1; Bulkhead runs 64-bit guests only (HCR_EL2.RW is always set), so it does not offer what it cannot run";
const WATCHDOG: &str = "Xen 4.17 returns -ENOSPC through an unsigned int (in domain_watchdog, `id == NR ? -ENOSPC : id + 1` has type unsigned int), so the guest sees 4294967268; we return -ENOSPC (-28), as sched.h documents";
const SYSCTL: &str = "Xen copies a domU's sysctl or domctl request before refusing it (-EFAULT for a bad pointer, then -EACCES or -EPERM); the issue asks for -ENOSYS: no partition may use them, whatever it passes";
const CONSOLE: &str = "Debian's Xen accepts a domU's CONSOLEIO_write (0) but prints it only at its debug log level; Bulkhead prints it on the partition's console";
const REMOVE_RAM: &str = "Xen takes a RAM page out of a domain that asks (a later access faults, and the memory is the domain's to give back with the reservation calls); a partition's memory is fixed by its config, so Bulkhead refuses (-EPERM) and the page stays";
const REMOVE_HOLE: &str = "Xen leaves a hole where shared_info was (-ENOENT the second time); Bulkhead maps the RAM page shared_info covered back, so the frame is RAM again, which it refuses to remove (REMOVE_RAM)";
const BIND_PIRQ: &str = "Arm domUs have no physical IRQs bound to event channels; Xen 4.17 on Arm fails the PIRQ's lookup (-ENOMEM), Bulkhead answers that the operation does not exist (-ENOSYS)";
/// What `console_io` writes, as the console multiplexer shows it.
const CONSOLE_TEXT: &str = "(xenabi) console_io says hello";

/// The guest's report, in order.
pub const CASES: &[Case] = &[
    Case::Same("xen abi conformance"),
    Case::Same("dt hypervisor compatible = xen,xen-4.17 xen,xen"),
    Case::Same("dt hypervisor reg[0] = 0x38000000 0x1000000"),
    Case::Same("dt hypervisor interrupts = 1 15 0xf08"),
    Case::Same("xen_version version = 0x40011"),
    Case::Same("xen_version version, upper bits set = 0x40011"),
    Case::Same("xen_version extraversion = 0 terminated true"),
    Case::Same("xen_version compile_info = 0 terminated true"),
    Case::Same("xen_version changeset = 0 terminated true"),
    Case::Differs { bulkhead: "xen_version capabilities = 0 \"xen-3.0-aarch64 \"", xen: "xen_version capabilities = 0 \"xen-3.0-aarch64 xen-3.0-armv7l \"", why: CAPABILITIES },
    Case::Same("xen_version platform_parameters = 0 virt_start 0x200000"),
    Case::Same("xen_version get_features submap 0 = 0 bits 0x16005"),
    Case::Same("xen_version get_features submap 1 = -22 bits 0x0"),
    Case::Same("xen_version pagesize = 4096"),
    Case::Same("xen_version pagesize, non-null argument = -22"),
    Case::Same("xen_version guest_handle = 0 first 0x0 second 0x0"),
    Case::Same("xen_version commandline = 0 \"<denied>\""),
    Case::Same("xen_version build_id = -1"),
    Case::Same("xen_version unknown command 99 = -38"),
    Case::Same("xen_version extraversion at 0x0 = -14"),
    Case::Same("xen_version extraversion at 0x10000000 = -14"),
    Case::Same("xen_version extraversion at 0x10000000000 = -14"),
    Case::Same("xen_version compile_info at 0x0 = -14"),
    Case::Same("xen_version compile_info at 0x10000000 = -14"),
    Case::Same("xen_version compile_info at 0x10000000000 = -14"),
    Case::Same("xen_version capabilities at 0x0 = -14"),
    Case::Same("xen_version capabilities at 0x10000000 = -14"),
    Case::Same("xen_version capabilities at 0x10000000000 = -14"),
    Case::Same("xen_version get_features at 0x0 = -14"),
    Case::Same("xen_version get_features at 0x10000000 = -14"),
    Case::Same("xen_version get_features at 0x10000000000 = -14"),
    Case::Same("xen_version guest_handle at 0x0 = -14"),
    Case::Same("xen_version guest_handle at 0x10000000 = -14"),
    Case::Same("xen_version guest_handle at 0x10000000000 = -14"),
    Case::Differs { bulkhead: "xen_version capabilities across pages = 0 \"xen-3.0-aarch64 \"", xen: "xen_version capabilities across pages = 0 \"xen-3.0-aarch64 xen-3.0-armv7l \"", why: CAPABILITIES },
    Case::Differs { bulkhead: CONSOLE_TEXT, xen: "", why: CONSOLE },
    Case::Same("console_io write = 0"),
    Case::Same("console_io write at 0x10000000 = -14"),
    Case::Same("console_io read = 0"),
    Case::Same("console_io unknown command 7 = -38"),
    Case::Same("hvm_op get_param CALLBACK_IRQ = 0 value 0x0"),
    Case::Same("hvm_op set_param CALLBACK_IRQ = -1"),
    Case::Same("hvm_op get_param STORE_PFN = 0 value 0x0"),
    Case::Same("hvm_op set_param STORE_PFN = -1"),
    Case::Same("hvm_op get_param STORE_EVTCHN = 0 value 0x0"),
    Case::Same("hvm_op set_param STORE_EVTCHN = -1"),
    Case::Same("hvm_op get_param CONSOLE_PFN = 0 value 0x0"),
    Case::Same("hvm_op set_param CONSOLE_PFN = -1"),
    Case::Same("hvm_op get_param CONSOLE_EVTCHN = 0 value 0x0"),
    Case::Same("hvm_op set_param CONSOLE_EVTCHN = -1"),
    Case::Same("hvm_op get_param own domid 1 = 0"),
    Case::Same("hvm_op get_param domid 2 (none) = -3"),
    Case::Same("hvm_op get_param domid 0 (none) = -3"),
    Case::Same("hvm_op get_param MONITOR_RING_PFN = -1"),
    Case::Same("hvm_op get_param index 39 = -22"),
    Case::Same("hvm_op get_param index 1000 = -22"),
    Case::Same("hvm_op get_param at 0x0 = -14"),
    Case::Same("hvm_op get_param at 0x10000000 = -14"),
    Case::Same("hvm_op get_param at 0x10000000000 = -14"),
    Case::Same("hvm_op unknown op 99 = -38"),
    Case::Same("memory_op add_to_physmap shared_info idx 1 = -22"),
    Case::Same("memory_op add_to_physmap shared_info domid 2 (none) = -3"),
    Case::Same("memory_op add_to_physmap shared_info gfn INVALID = -22"),
    Case::Same("memory_op add_to_physmap shared_info = 0 nonzero bytes 1"),
    Case::Same("memory_op shared_info byte 0x430 = 0x2"),
    Case::Same("memory_op add_to_physmap shared_info again = -16"),
    Case::Same("memory_op add_to_physmap gmfn = -38"),
    Case::Same("memory_op add_to_physmap gmfn_range = -38"),
    Case::Same("memory_op add_to_physmap gmfn_foreign = -38"),
    Case::Same("memory_op add_to_physmap dev_mmio = -13"),
    Case::Same("memory_op add_to_physmap space 99 = -38"),
    Case::Same("memory_op add_to_physmap at 0x0 = -14"),
    Case::Same("memory_op add_to_physmap at 0x10000000 = -14"),
    Case::Same("memory_op add_to_physmap at 0x10000000000 = -14"),
    Case::Same("memory_op add_to_physmap_batch gmfn x2 = 0 errs -38 -38"),
    Case::Same("memory_op add_to_physmap_batch shared_info again = 0 errs -16"),
    Case::Same("memory_op add_to_physmap_batch gmfn_foreign from DOMID_SELF = 0 errs -22"),
    Case::Same("memory_op add_to_physmap_batch gmfn_foreign from own domid 1 = 0 errs -3"),
    Case::Same("memory_op add_to_physmap_batch gmfn_foreign from domid 9 (none) = 0 errs -3"),
    Case::Same("memory_op add_to_physmap_batch gmfn_range = -95"),
    Case::Same("memory_op add_to_physmap_batch size 0 = 0"),
    Case::Same("memory_op add_to_physmap_batch idxs at 0x10000000 = -14"),
    Case::Same("memory_op add_to_physmap_batch errs at 0x10000000 = -14"),
    Case::Same("memory_op add_to_physmap_batch at 0x10000000 = -14"),
    Case::Same("memory_op unknown command 63 = -38"),
    // Grant tables and the reservation calls (the guest's `gnttab` module).
    Case::Same("gnttab query_size DOMID_SELF = 0 status 0 frames 1 max 64"),
    Case::Same("gnttab query_size own domid 1 = 0 status 0 frames 1 max 64"),
    Case::Same("gnttab query_size domid 2 (none) = 0 status -2 frames 0 max 0"),
    Case::Same("gnttab query_size count 2 = -22"),
    Case::Same("gnttab query_size count -1 = -22"),
    Case::Same("gnttab query_size at 0x0 = -14"),
    Case::Same("gnttab query_size at 0x10000000 = -14"),
    Case::Same("gnttab query_size at 0x10000000000 = -14"),
    Case::Same("gnttab set_version 1 = 0 version 1"),
    Case::Same("gnttab set_version 2 = -38 version 1"),
    Case::Same("gnttab set_version 0 = -22 version 1"),
    Case::Same("gnttab get_version DOMID_SELF = 0 version 1"),
    Case::Same("gnttab get_version domid 2 (none) = -3 version 0"),
    Case::Same("gnttab get_status_frames 1 = 0 status -1"),
    Case::Same("gnttab setup_table 2 frames = 0 status 0 frames 0xffffffffffffffff 0xffffffffffffffff"),
    Case::Same("gnttab setup_table 65 frames = 0 status -1"),
    Case::Same("gnttab setup_table count 2 = -22"),
    Case::Same("gnttab setup_table at 0x10000000 = -14"),
    Case::Same("memory_op add_to_physmap grant_table frame 0 = 0"),
    Case::Same("memory_op add_to_physmap grant_table frame 64 = -22"),
    Case::Same("memory_op add_to_physmap grant_table status frame 0 = -22"),
    Case::Same("memory_op add_to_physmap grant_table domid 2 (none) = -3"),
    Case::Same("memory_op add_to_physmap grant_table frame 2 = 0"),
    Case::Same("gnttab setup_table after add_to_physmap = 0 status 0 frames 0x38000 0xffffffffffffffff 0x38002"),
    Case::Same("gnttab query_size after add_to_physmap = 0 status 0 frames 3 max 64"),
    Case::Same("gnttab grant frame 0 entry 0 flags = 0x0"),
    Case::Same("memory_op maximum_reservation = 16384"),
    Case::Same("memory_op current_reservation is the maximum = true"),
    Case::Same("memory_op current_reservation own domid 1 is the maximum = true"),
    Case::Same("memory_op current_reservation domid 2 (none) = -3"),
    Case::Same("memory_op maximum_reservation at 0x10000000 = -14"),
    Case::Same("memory_op current_reservation with a start extent = -22"),
    Case::Same("memory_op increase_reservation 1 = 0"),
    Case::Same("memory_op decrease_reservation order 10 = 0"),
    Case::Same("memory_op decrease_reservation domid 2 (none) = 0"),
    Case::Same("memory_op decrease_reservation list at 0x10000000 = 0"),
    Case::Same("memory_op decrease_reservation 1 = 1"),
    Case::Same("memory_op current_reservation after = maximum - 1"),
    Case::Same("memory_op decrease_reservation 1 again = 0"),
    Case::Same("gnttab map readonly grant readonly = 0 status 0 flags 0xd"),
    Case::Same("gnttab readonly mapping shows the granted bytes = true"),
    Case::Same("gnttab unmap readonly = 0 status 0 flags 0x5"),
    Case::Same("gnttab map readonly grant writable = 0 status -1 flags 0x5"),
    Case::Same("gnttab map = 0 status 0 flags 0x19"),
    Case::Same("gnttab a write through the mapping reaches the granted page = true"),
    Case::Same("gnttab map ref 1000000 = 0 status -3"),
    Case::Same("gnttab map domid 9 (none) = 0 status -2"),
    Case::Same("gnttab map flags 0 = 0 status -3"),
    Case::Same("gnttab map ref not granted = 0 status -1"),
    Case::Same("gnttab map ref granted to domid 2 = 0 status -1"),
    Case::Same("gnttab map at 0x10000000 = -14"),
    Case::Same("gnttab map count -1 = -22"),
    Case::Same("gnttab unmap handle 12345 = 0 status -4"),
    Case::Same("gnttab unmap = 0 status 0 flags 0x1"),
    Case::Same("gnttab unmap again = 0 status -4"),
    Case::Same("gnttab unmap at 0x10000000 = -14"),
    Case::Same("memory_op populate_physmap 1 = 1"),
    Case::Same("memory_op populate_physmap 1 again = 0"),
    Case::Same("memory_op current_reservation is the maximum again = true"),
    Case::Same("memory_op the populated page is writable = true"),
    Case::Same("gnttab copy x6 = 0"),
    Case::Same("gnttab copy frame to own grant = status 0"),
    Case::Same("gnttab copy across the page end = status -10"),
    Case::Same("gnttab copy frame named by domid 1 = status -8"),
    Case::Same("gnttab copy frame without RAM = status -9"),
    Case::Same("gnttab copy bad ref = status -3"),
    Case::Same("gnttab copy readonly grant as destination = status -1"),
    Case::Same("gnttab copy reached the granted page = true flags 0x1"),
    Case::Same("gnttab copy at 0x10000000 = -14"),
    Case::Same("gnttab transfer = -95"),
    Case::Same("gnttab dump_table = -38"),
    Case::Same("gnttab unknown op 99 = -38"),
    Case::Same("gnttab query_size with continuation bits = -22"),
    Case::Same("memory_op remove_from_physmap grant frame 0 = 0"),
    Case::Same("gnttab setup_table after remove_from_physmap = 0 status 0 frame 0xffffffffffffffff"),
    Case::Same("memory_op remove_from_physmap grant frame 0 again = -2"),
    Case::Same("memory_op add_to_physmap grant_table frame 0 again = 0"),
    Case::Same("gnttab grant frame 0 entry 1 after re-adding = flags 0x1"),
    Case::Same("gnttab copy through the re-added frame = 0 status 0 reached true"),
    Case::Same("vcpu_op register_vcpu_info vcpu 0 = 0 pending 1 selector 0xffffffffffffffff time nonzero 0"),
    Case::Same("vcpu_op register_vcpu_info vcpu 0 again = -22"),
    Case::Same("vcpu_op register_vcpu_info vcpu 1 offset 4050 = -6"),
    Case::Same("vcpu_op register_vcpu_info vcpu 1 offset 4 = -6"),
    Case::Same("vcpu_op register_vcpu_info vcpu 1 gfn without RAM = -22"),
    Case::Same("vcpu_op register_vcpu_info vcpu 2 (none) = -2"),
    Case::Same("vcpu_op register_vcpu_info at 0x0 = -14"),
    Case::Same("vcpu_op register_vcpu_info at 0x10000000 = -14"),
    Case::Same("vcpu_op register_vcpu_info at 0x10000000000 = -14"),
    Case::Same("vcpu_op register_runstate_memory_area = 0"),
    Case::Same("vcpu_op is_up = -22"),
    Case::Same("vcpu_op get_runstate_info = -22"),
    Case::Same("vcpu_op unknown command 99 = -22"),
    Case::Same("sched_op yield = 0"),
    Case::Same("sched_op block = 0 woken by the timer true"),
    Case::Same("sched_op poll 200 ports = -22"),
    Case::Same("sched_op poll ports at 0x10000000 = -14"),
    Case::Same("sched_op poll at 0x10000000 = -14"),
    Case::Same("sched_op shutdown at 0x10000000 = -14"),
    Case::Same("sched_op shutdown_code = 0"),
    Case::Same("sched_op remote_shutdown own domid 1 = -1"),
    Case::Same("sched_op remote_shutdown DOMID_SELF = -3"),
    Case::Same("sched_op remote_shutdown domid 9 (none) = -3"),
    Case::Same("sched_op watchdog create = 1"),
    Case::Same("sched_op watchdog create second = 2"),
    Case::Differs { bulkhead: "sched_op watchdog create third = -28", xen: "sched_op watchdog create third = 4294967268", why: WATCHDOG },
    Case::Same("sched_op watchdog kick 1 = 0"),
    Case::Same("sched_op watchdog destroy 1 = 0"),
    Case::Same("sched_op watchdog destroy 1 again = -22"),
    Case::Same("sched_op watchdog destroy 2 = 0"),
    Case::Same("sched_op watchdog id 3 = -22"),
    Case::Same("sched_op watchdog at 0x10000000 = -14"),
    Case::Same("sched_op pin_override = -1"),
    Case::Same("sched_op unknown command 99 = -38"),
    Case::Same("event_channel_op alloc_unbound DOMID_SELF for DOMID_SELF = 0 port 1"),
    Case::Same("event_channel_op alloc_unbound own domid 1 for 1 = 0 port 2"),
    Case::Same("event_channel_op alloc_unbound for domid 9 (none) = 0 port 3"),
    Case::Same("event_channel_op alloc_unbound in domid 9 (none) = -3"),
    Case::Same("event_channel_op alloc_unbound in domid 0 (none) = -3"),
    Case::Same("event_channel_op alloc_unbound in DOMID_IO = -3"),
    Case::Same("event_channel_op status unbound port 1 = 0 state 1 vcpu 0 dom 1 port 0"),
    Case::Same("event_channel_op status unbound port 3 = 0 state 1 vcpu 0 dom 9 port 0"),
    Case::Same("event_channel_op status port 0 = 0 state 0 vcpu 0 dom 0 port 0"),
    Case::Same("event_channel_op status port 1023 = -22 state 0 vcpu 0 dom 0 port 0"),
    Case::Same("event_channel_op status port 100000 = -22 state 0 vcpu 0 dom 0 port 0"),
    Case::Same("event_channel_op status in domid 9 (none) = -3 state 0 vcpu 0 dom 0 port 0"),
    Case::Same("event_channel_op bind_interdomain DOMID_SELF port 1 = 0 port 4 pending 0x10 upcall 1 selector 0x1"),
    Case::Same("event_channel_op bind_interdomain own domid 1 port 2 = 0 port 5"),
    Case::Same("event_channel_op bind_interdomain bound port again = -22"),
    Case::Same("event_channel_op bind_interdomain port of domid 9 = -22"),
    Case::Same("event_channel_op bind_interdomain port 0 = -22"),
    Case::Same("event_channel_op bind_interdomain port 1023 = -22"),
    Case::Same("event_channel_op bind_interdomain wild port = -22"),
    Case::Same("event_channel_op bind_interdomain domid 9 (none) = -3"),
    Case::Same("event_channel_op bind_interdomain domid 0 (none) = -3"),
    Case::Same("event_channel_op status interdomain port 1 = 0 state 2 vcpu 0 dom 1 port 4"),
    Case::Same("event_channel_op status interdomain port 4 = 0 state 2 vcpu 0 dom 1 port 1"),
    Case::Same("event_channel_op send port 1 = 0 pending 0x10 upcall 1 selector 0x1"),
    Case::Same("event_channel_op send port 4 to masked 1 = 0 pending 0x2 mask 0x2 upcall 0 selector 0x0"),
    Case::Same("event_channel_op unmask port 1 = 0 pending 0x2 mask 0x0 upcall 1 selector 0x1"),
    Case::Same("event_channel_op send unbound port 3 = 0 pending 0x0"),
    Case::Same("event_channel_op send port 0 = -22"),
    Case::Same("event_channel_op send free port 40 = -22"),
    Case::Same("event_channel_op send port 1023 = -22"),
    Case::Same("event_channel_op send wild port = -22"),
    Case::Same("event_channel_op send, upper command bits set = -22"),
    Case::Same("event_channel_op unmask free port 40 = 0"),
    Case::Same("event_channel_op unmask wild port = -22"),
    Case::Same("event_channel_op bind_virq TIMER vcpu 0 = 0 port 6"),
    Case::Same("event_channel_op bind_virq TIMER vcpu 0 again = -17"),
    Case::Same("event_channel_op bind_virq DEBUG vcpu 1 = 0 port 7"),
    Case::Same("event_channel_op bind_virq CONSOLE vcpu 1 = -22"),
    Case::Same("event_channel_op bind_virq CONSOLE vcpu 0 = 0 port 8"),
    Case::Same("event_channel_op bind_virq TIMER vcpu 2 (none) = -2"),
    Case::Same("event_channel_op bind_virq 24 = -22"),
    Case::Same("event_channel_op bind_virq 0xffffffff = -22"),
    Case::Same("event_channel_op status virq port 6 = 0 state 4 vcpu 0 dom 0 port 0"),
    Case::Same("event_channel_op bind_ipi vcpu 0 = 0 port 9"),
    Case::Same("event_channel_op bind_ipi vcpu 1 = 0 port 10"),
    Case::Same("event_channel_op bind_ipi vcpu 2 (none) = -2"),
    Case::Same("event_channel_op status ipi port 10 = 0 state 5 vcpu 1 dom 0 port 0"),
    Case::Same("event_channel_op send ipi port 9 = 0 pending 0x200 upcall 1 selector 0x1"),
    Case::Same("event_channel_op send virq port 6 = -22 pending 0x0"),
    Case::Same("event_channel_op bind_vcpu unbound = 0"),
    Case::Same("event_channel_op bind_vcpu interdomain = 0"),
    Case::Same("event_channel_op bind_vcpu virq CONSOLE = 0"),
    Case::Same("event_channel_op bind_vcpu virq TIMER = -22"),
    Case::Same("event_channel_op bind_vcpu ipi = -22"),
    Case::Same("event_channel_op bind_vcpu unbound to vcpu 2 (none) = -2"),
    Case::Same("event_channel_op bind_vcpu wild port = -22"),
    Case::Same("event_channel_op bind_vcpu free port 40 = -22"),
    Case::Same("event_channel_op status after bind_vcpu port 4 = 0 state 2 vcpu 1 dom 1 port 1"),
    Case::Same("event_channel_op send to vcpu 1 port 1 = 0 pending 0x10 upcall 0 selector 0x0"),
    Case::Same("event_channel_op expand_array under 2-level = -95"),
    Case::Same("event_channel_op set_priority under 2-level = -38"),
    Case::Differs { bulkhead: "event_channel_op bind_pirq = -38", xen: "event_channel_op bind_pirq = -12", why: BIND_PIRQ },
    Case::Same("event_channel_op close port 1 = 0"),
    Case::Same("event_channel_op status peer port 4 after close = 0 state 1 vcpu 1 dom 1 port 0"),
    Case::Same("event_channel_op status closed port 1 = 0 state 0 vcpu 0 dom 0 port 0"),
    Case::Same("event_channel_op close closed port again = -22"),
    Case::Same("event_channel_op close port 0 = -22"),
    Case::Same("event_channel_op close free port 40 = -22"),
    Case::Same("event_channel_op close wild port = -22"),
    Case::Same("event_channel_op close ipi port 10 = 0"),
    Case::Same("event_channel_op close virq port 7 = 0"),
    Case::Same("event_channel_op close unbound port 3 = 0"),
    Case::Same("event_channel_op alloc_unbound after close = 0 port 1"),
    Case::Same("event_channel_op reset DOMID_SELF = 0"),
    Case::Same("event_channel_op reset domid 9 (none) = -3"),
    Case::Same("event_channel_op init_control gfn without RAM = -22"),
    Case::Same("event_channel_op init_control offset 4 = -22"),
    Case::Same("event_channel_op init_control offset 4032 = -22"),
    Case::Same("event_channel_op init_control vcpu 2 (none) = -2"),
    Case::Same("event_channel_op init_control vcpu 0 = 0 link_bits 17"),
    Case::Same("event_channel_op init_control vcpu 0 again = -22"),
    Case::Same("event_channel_op init_control vcpu 1 offset 2048 = 0 link_bits 17"),
    Case::Same("event_channel_op expand_array gfn without RAM = -22"),
    Case::Same("event_channel_op alloc_unbound before expand_array = 0 port 1"),
    Case::Same("event_channel_op expand_array = 0"),
    Case::Same("event_channel_op alloc_unbound under fifo = 0 port 2 word 0x0"),
    Case::Same("event_channel_op bind_interdomain under fifo = 0 port 3 word 0xa0000000 ready 0x80 head 3"),
    Case::Same("event_channel_op set_priority priority 3 = 0"),
    Case::Same("event_channel_op set_priority priority 15 = 0"),
    Case::Same("event_channel_op set_priority priority 16 = -22"),
    Case::Same("event_channel_op set_priority wild port = -22"),
    Case::Same("event_channel_op set_priority free port 40 = -13"),
    Case::Same("event_channel_op send under fifo port 3 = 0 word 0xa0000000 ready 0x88 head3 2"),
    Case::Same("event_channel_op send under fifo to masked port 3 = 0 word 0xc0000000"),
    Case::Same("event_channel_op unmask under fifo = 0 word 0xa0000000 pending true linked true"),
    Case::Same("event_channel_op status under fifo port 3 = 0 state 2 vcpu 0 dom 1 port 2"),
    Case::Same("event_channel_op close under fifo port 2 = 0"),
    Case::Same("event_channel_op reset own domid 1 = 0"),
    Case::Same("event_channel_op reset_cont = -16"),
    Case::Same("event_channel_op expand_array after reset = -95"),
    Case::Same("event_channel_op 2-level again = 0 0 ports 1 2 pending 0x4 upcall 1 selector 0x1"),
    Case::Same("event_channel_op reset = 0"),
    Case::Same("sched_op poll masked pending port 1 = 0 pending 0x2"),
    Case::Same("sched_op poll free port 40 then the pending port = -22"),
    Case::Same("sched_op poll port 1000 then the pending port = -22"),
    Case::Same("sched_op poll port 4095 then the pending port = -22"),
    Case::Same("sched_op poll wild port then the pending port = -22"),
    Case::Same("event_channel_op reset again = 0"),
    Case::Same("event_channel_op alloc_unbound at 0x0 = -14"),
    Case::Same("event_channel_op alloc_unbound at 0x10000000 = -14"),
    Case::Same("event_channel_op alloc_unbound at 0x10000000000 = -14"),
    Case::Same("event_channel_op bind_interdomain at 0x0 = -14"),
    Case::Same("event_channel_op bind_interdomain at 0x10000000 = -14"),
    Case::Same("event_channel_op bind_interdomain at 0x10000000000 = -14"),
    Case::Same("event_channel_op send at 0x0 = -14"),
    Case::Same("event_channel_op send at 0x10000000 = -14"),
    Case::Same("event_channel_op send at 0x10000000000 = -14"),
    Case::Same("event_channel_op status at 0x0 = -14"),
    Case::Same("event_channel_op status at 0x10000000 = -14"),
    Case::Same("event_channel_op status at 0x10000000000 = -14"),
    Case::Same("event_channel_op init_control at 0x0 = -14"),
    Case::Same("event_channel_op init_control at 0x10000000 = -14"),
    Case::Same("event_channel_op init_control at 0x10000000000 = -14"),
    Case::Same("event_channel_op alloc_unbound across pages = 0 port 1"),
    Case::Same("event_channel_op reset at the end = 0"),
    Case::Same("event_channel_op unknown command 99 = -38"),
    Case::Same("memory_op remove_from_physmap domid 9 (none) = -3"),
    Case::Same("memory_op remove_from_physmap gfn without RAM = -2"),
    Case::Differs { bulkhead: "memory_op remove_from_physmap RAM gfn = -1", xen: "memory_op remove_from_physmap RAM gfn = 0", why: REMOVE_RAM },
    Case::Same("memory_op remove_from_physmap at 0x10000000 = -14"),
    Case::Same("memory_op remove_from_physmap shared_info = 0"),
    Case::Differs { bulkhead: "memory_op remove_from_physmap shared_info again = -1", xen: "memory_op remove_from_physmap shared_info again = -2", why: REMOVE_HOLE },
    Case::Same("memory_op add_to_physmap shared_info after removal = 0"),
    Case::Same("physdev_op unknown command 99 = -38"),
    Case::Differs { bulkhead: "sysctl at 0 = -38", xen: "sysctl at 0 = -14", why: SYSCTL },
    Case::Differs { bulkhead: "domctl at 0 = -38", xen: "domctl at 0 = -14", why: SYSCTL },
    Case::Same("hypercall 0x0 = -38"),
    Case::Same("hypercall 0x6 = -38"),
    Case::Same("hypercall 0x10 = -38"),
    Case::Same("hypercall 0x13 = -38"),
    Case::Same("hypercall 0x2b = -38"),
    Case::Same("hypercall 0x40 = -38"),
    Case::Same("hypercall 0x3e8 = -38"),
    Case::Same("hypercall 0xffffffffffffffff = -38"),
    // SCHEDOP_poll's timeout, and whom an event wakes (vCPU 1 sends on port 4, which makes
    // port 3 pending; ports 1 and 3 are masked, so no upcall is involved).
    Case::Same("psci cpu_on vcpu 1 = ok"),
    Case::Same("sched_op poll timeout already past = 0 pending 0x0"),
    Case::Same("sched_op poll port 1, timeout in 20 ms = 0 woken by the timeout true"),
    Case::Same("sched_op poll port 1, port 3 pending meanwhile = 0 woken by the timeout true sent true port 3 pending true"),
    Case::Same("sched_op poll ports 1 3, port 3 pending meanwhile = 0 woken before the timeout true sent true port 3 pending true"),
    Case::Same("sched_op poll port 3, pending meanwhile = 0 woken before the timeout true sent true port 3 pending true"),
    Case::Same("event_channel_op reset after the polls = 0"),
    Case::Same("done"),
];

/// The lines `hypervisor` prints for [`CASES`], in order.
pub fn lines(hypervisor: Hypervisor) -> Vec<String> {
    CASES
        .iter()
        .map(|case| match (case, hypervisor) {
            (Case::Same(text), _) => format!("xenabi: {text}"),
            (Case::Differs { bulkhead, .. }, Hypervisor::Bulkhead | Hypervisor::BulkheadDefmt | Hypervisor::BulkheadByUBoot) => full(bulkhead),
            (Case::Differs { xen, .. }, Hypervisor::Xen) => full(xen),
        })
        .filter(|line| !line.is_empty())
        .collect()
}

/// A guest case gets the guest's prefix; a line of the hypervisor's own is kept as it is.
fn full(text: &str) -> String {
    if text.is_empty() || text.starts_with('(') {
        text.to_string()
    } else {
        format!("xenabi: {text}")
    }
}

fn on_bulkhead(name: &str, board: &str, gic: Option<u8>, file: &str) -> Scenario {
    let mut expect = vec![Expect::line(started("xenabi"))];
    expect.extend(lines(Hypervisor::Bulkhead).into_iter().map(Expect::line));
    expect.push(Expect::line("bulkhead: partition \"xenabi\" shut itself down (Xen SCHEDOP_shutdown, reason 0)"));
    expect.push(Expect::line(ALL_STOPPED));
    expect.push(Expect::line(POWER_OFF));
    Scenario {
        gic,
        expect,
        partitions: Some(PartitionConfig { file: file.into(), valid: true }),
        ..Scenario::new(name, board)
    }
}

/// The same guest and config on Debian's Xen 4.17: the key proof. Xen keeps the machine on
/// after the domain shuts down, so the run ends at the guest's last line.
fn on_xen() -> Scenario {
    let mut expect = vec![Expect::line("Xen version 4.17")];
    expect.extend(lines(Hypervisor::Xen).into_iter().map(Expect::line));
    Scenario {
        gic: Some(3),
        expect,
        exit: ExpectedExit::Running,
        hypervisor: Hypervisor::Xen,
        partitions: Some(PartitionConfig { file: CONFIG.into(), valid: true }),
        deadline: std::time::Duration::from_secs(180),
        ..Scenario::new("virt-gicv3-xen-abi-on-xen-4.17", "virt")
    }
}

/// A Xen watchdog expires while its guest spins with IRQs masked, taking no exit: the
/// partition's home CPU's health timer catches it on time and the partition's crash policy (stop) applies,
/// while another partition keeps ticking.
fn watchdog_masked() -> Scenario {
    watchdog_expiry("virt-gicv3-xen-watchdog-masked", "masked", "spinning with interrupts masked")
}

/// A Xen watchdog expires while its vCPU is parked (it waits in WFI with nothing to wake it,
/// and `ticker` keeps their one credit2 CPU busy): no CPU runs the partition, yet its home
/// CPU's health timer notices the expiry on time and its crash policy (stop) applies, while
/// `ticker` keeps ticking on that CPU.
fn watchdog_parked() -> Scenario {
    watchdog_expiry("virt-gicv3-xen-watchdog-parked", "parked", "waiting for ever")
}

/// `watchdog` arms its Xen watchdog for 1 s and then does what `doing` says (config
/// `tests/scenarios/virt-watchdog-CONFIG.dts`): the expiry stops it (on-crash = stop) while
/// `ticker` ticks four times beside it.
fn watchdog_expiry(name: &str, config: &str, doing: &str) -> Scenario {
    let watchdog = vec![
        started("watchdog"),
        says("watchdog", &format!("watchdog 1 armed for 1 s; {doing}")),
        "bulkhead: partition \"watchdog\": its Xen watchdog 1 expired (".to_string(),
        "bulkhead: partition \"watchdog\" crashed; stopping it (on-crash = stop)".to_string(),
        stopped("watchdog"),
    ];
    let mut ticker = vec![started("ticker")];
    ticker.extend((1..=4).map(|n| says("ticker", &format!("tick {n}"))));
    ticker.push(says("ticker", "done"));
    Scenario {
        gic: Some(3),
        expect: vec![Expect::Interleaved(vec![watchdog, ticker]), Expect::line(ALL_STOPPED), Expect::line(POWER_OFF)],
        partitions: Some(PartitionConfig { file: format!("tests/scenarios/virt-watchdog-{config}.dts").into(), valid: true }),
        forbidden: vec!["FAIL".to_string()],
        ..Scenario::new(name, "virt")
    }
}

/// The conformance scenarios, and the watchdog's.
pub fn all() -> Vec<Scenario> {
    vec![
        watchdog_masked(),
        watchdog_parked(),
        on_bulkhead("virt-gicv3-xen-abi", "virt", Some(3), CONFIG),
        on_bulkhead("virt-gicv2-xen-abi", "virt", Some(2), CONFIG),
        on_bulkhead("raspi4b-xen-abi", "rpi4", None, "tests/scenarios/raspi4b-xen-abi.toml"),
        on_xen(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_difference_says_why_and_the_runs_share_the_rest() {
        let differs = CASES.iter().filter(|c| matches!(c, Case::Differs { .. })).count();
        assert!(CASES.iter().all(|c| !matches!(c, Case::Differs { why, .. } if why.is_empty())));
        let (ours, xen) = (lines(Hypervisor::Bulkhead), lines(Hypervisor::Xen));
        let common = ours.iter().filter(|l| xen.contains(l)).count();
        assert_eq!(common, CASES.len() - differs);
        assert_eq!(ours.last().map(String::as_str), Some("xenabi: done"));
    }
}
