//! Each `testdata/reject-*.dts` fixture fails with its exact error variant.

mod common;

use dom0less_config::devicetree::{AddressRange, DtError};
use dom0less_config::{
    ConfigError, DirectRefusal, HostFacts, Limit, ModuleSource, PartitionPlan, Region, Validated,
};

/// The hypervisor image the tests pretend to boot with.
const HYPERVISOR: AddressRange = AddressRange::window(0x4000_0000, 0x4020_0000);

/// Serves the compiled partial device trees at the addresses the fixtures use:
/// `partial-serial` at 0x4e000000 and 0x4e100000, then one per passthrough rule.
struct Partials(Vec<(u64, Vec<u8>)>);

impl ModuleSource for Partials {
    fn bytes(&self, range: AddressRange) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(at, _)| *at == range.start())
            .map(|(_, bytes)| bytes.as_slice())
    }
}

fn check(name: &str) -> Result<Validated, Vec<ConfigError>> {
    let serial = common::compile("partial-serial");
    let partials = Partials(vec![
        (0x4e00_0000, serial.clone()),
        (0x4e10_0000, serial),
        (0x4e20_0000, common::compile("partial-no-force")),
        (0x4e30_0000, common::compile("partial-virtio")),
        (0x4e40_0000, common::compile("partial-console")),
        (0x4e50_0000, common::compile("partial-spi0")),
        (0x4e60_0000, common::compile("partial-unaligned")),
    ]);
    let host = HostFacts {
        hypervisor: HYPERVISOR,
        boot_cpu_mpidr: None,
        modules: Some(&partials),
    };
    PartitionPlan::from_host_tree(&common::compile(name), &host)
}

fn rejects(name: &str, expected: impl Fn(&ConfigError) -> bool) {
    match check(name) {
        Ok(_) => panic!("{name} was accepted"),
        Err(errors) => assert!(
            errors.iter().any(expected),
            "{name}: unexpected errors {errors:#?}"
        ),
    }
}

macro_rules! rejection {
    ($test:ident, $fixture:literal, $pattern:pat $(if $guard:expr)?) => {
        #[test]
        fn $test() {
            rejects($fixture, |e| matches!(e, $pattern $(if $guard)?));
        }
    };
}

rejection!(
    missing_kernel,
    "reject-missing-kernel",
    ConfigError::MissingKernel { .. }
);
rejection!(
    static_overlap,
    "reject-static-overlap",
    ConfigError::MemoryOverlap {
        other: Region::StaticMemory { .. },
        ..
    }
);
rejection!(
    static_vs_module,
    "reject-static-vs-module",
    ConfigError::MemoryOverlap {
        other: Region::Module { .. },
        ..
    }
);
rejection!(
    static_vs_reserved,
    "reject-static-vs-reserved",
    ConfigError::MemoryOverlap {
        other: Region::Reserved { .. },
        ..
    }
);
rejection!(
    static_vs_hypervisor,
    "reject-static-vs-hypervisor",
    ConfigError::MemoryOverlap {
        other: Region::Hypervisor,
        ..
    }
);
rejection!(
    static_outside_ram,
    "reject-static-outside-ram",
    ConfigError::OutsideRam {
        property: "xen,static-mem",
        ..
    }
);

/// The one error a fixture whose (address, size) pair wraps past 2^64 gets: the raw pair.
fn wraps(name: &str, node: &str, property: &str, value: &str) {
    let errors = check(name).expect_err("a wrapping range is refused");
    assert!(
        errors.iter().any(|e| matches!(
            e,
            ConfigError::InvalidValue { node: n, property: p, value: v, .. }
                if n == node && p == property && v == value
        )),
        "{name}: unexpected errors {errors:#?}"
    );
}

#[test]
fn static_bank_that_wraps() {
    wraps(
        "reject-static-wraps",
        "/chosen/domU1",
        "xen,static-mem",
        "0xfffffffffffff000+0x4000000 (wraps past 2^64)",
    );
}

#[test]
fn module_that_wraps() {
    wraps(
        "reject-module-wraps",
        "/chosen/domU1/module@ffffffffff000000",
        "reg",
        "0xffffffffff000000+0x2000000 (wraps past 2^64)",
    );
}

rejection!(
    module_overlap,
    "reject-module-overlap",
    ConfigError::MemoryOverlap {
        other: Region::Module { .. },
        ..
    }
);
rejection!(
    module_outside_ram,
    "reject-module-outside-ram",
    ConfigError::OutsideRam {
        property: "reg",
        ..
    }
);
rejection!(
    out_of_memory,
    "reject-out-of-memory",
    ConfigError::OutOfMemory { .. }
);
rejection!(
    cpu_two_pools,
    "reject-cpu-two-pools",
    ConfigError::CpuInTwoPools { .. }
);
rejection!(
    empty_pool,
    "reject-empty-pool",
    ConfigError::EmptyPool { .. }
);
rejection!(
    null_overcommit,
    "reject-null-overcommit",
    ConfigError::NullPoolOvercommitted {
        vcpus: 3,
        cpus: 2,
        ..
    }
);
rejection!(
    direct_gicv2,
    "reject-direct-gicv2",
    ConfigError::DirectDelivery { refusal: DirectRefusal::NotGicV3 { found }, .. } if found == "\"arm,gic-400\""
);
rejection!(
    direct_no_gic,
    "reject-direct-no-gic",
    ConfigError::DirectDelivery { refusal: DirectRefusal::NotGicV3 { .. }, .. }
);
rejection!(
    direct_credit2,
    "reject-direct-credit2",
    ConfigError::DirectDelivery { refusal: DirectRefusal::NotNullPool { scheduler: "credit2", .. }, .. }
);
rejection!(
    direct_boot_cpu,
    "reject-direct-boot-cpu",
    ConfigError::DirectDelivery { refusal: DirectRefusal::BootCpu { .. }, .. }
);
rejection!(
    direct_trap_wfi,
    "reject-direct-trap-wfi",
    ConfigError::DirectDelivery { refusal: DirectRefusal::TrapWfi, .. }
);
rejection!(
    direct_enhanced,
    "reject-direct-enhanced",
    ConfigError::DirectDelivery { refusal: DirectRefusal::Enhanced, .. }
);
rejection!(
    direct_shared_pool,
    "reject-direct-shared-pool",
    ConfigError::DirectDelivery { domain, refusal: DirectRefusal::SharedPool { other, .. } } if domain == "rt" && other == "other"
);
rejection!(
    direct_passthrough,
    "reject-direct-passthrough",
    ConfigError::DirectDelivery { refusal: DirectRefusal::Passthrough { .. }, .. }
);
rejection!(
    direct_value,
    "reject-direct-value",
    ConfigError::InvalidValue { property, .. } if property == "bulkhead,irq-delivery"
);
rejection!(
    dangling_phandle,
    "reject-dangling-phandle",
    ConfigError::DanglingPhandle { phandle: 0x99, .. }
);
rejection!(
    wrong_phandle,
    "reject-wrong-phandle",
    ConfigError::WrongPhandleTarget {
        property: "domain-cpupool",
        ..
    }
);
rejection!(
    duplicate_port,
    "reject-duplicate-port",
    ConfigError::DuplicatePort { port: 10, .. }
);
rejection!(
    channel_not_mutual,
    "reject-channel-not-mutual",
    ConfigError::ChannelNotMutual { .. }
);
rejection!(
    unknown_evtchn_peer,
    "reject-unknown-evtchn-peer",
    ConfigError::UnknownPeer { .. }
);
rejection!(
    channel_not_permitted,
    "reject-channel-not-permitted",
    ConfigError::ChannelNotPermitted { .. }
);
rejection!(
    shm_size_mismatch,
    "reject-shm-size-mismatch",
    ConfigError::SharedMemoryMismatch { .. }
);
rejection!(
    shm_two_owners,
    "reject-shm-two-owners",
    ConfigError::SharedMemoryOwners { .. }
);
rejection!(
    unknown_property,
    "reject-unknown-property",
    ConfigError::UnknownProperty { .. }
);
rejection!(
    missing_cells,
    "reject-missing-cells",
    ConfigError::MissingProperty {
        property: "#address-cells",
        ..
    }
);
rejection!(
    static_size_mismatch,
    "reject-static-size-mismatch",
    ConfigError::StaticMemorySizeMismatch { .. }
);
rejection!(
    direct_map_no_static,
    "reject-direct-map-no-static",
    ConfigError::DirectMapWithoutStaticMemory { .. }
);
rejection!(
    unknown_scheduler,
    "reject-unknown-scheduler",
    ConfigError::UnknownScheduler { .. }
);
rejection!(
    bad_vcpu_id,
    "reject-bad-vcpu-id",
    ConfigError::BadVcpuId { id: 5, .. }
);
rejection!(
    affinity_outside_pool,
    "reject-affinity-outside-pool",
    ConfigError::AffinityOutsidePool { cpu: 0, .. }
);
rejection!(
    restart_limit_without_restart,
    "reject-restart-limit-without-restart",
    ConfigError::InvalidValue { .. }
);
rejection!(
    restart_backoff_without_limit,
    "reject-restart-backoff-without-limit",
    ConfigError::InvalidValue { property, value, .. } if property == "bulkhead,restart-backoff-ms" && value == "500"
);
rejection!(
    heartbeat_too_short,
    "reject-heartbeat-too-short",
    ConfigError::InvalidValue { property, value, .. } if property == "bulkhead,heartbeat-ms" && value == "5"
);
rejection!(
    console_control_value,
    "reject-console-control",
    ConfigError::InvalidValue { .. }
);
rejection!(
    boot_scrub_value,
    "reject-boot-scrub",
    ConfigError::InvalidValue { property, value, .. } if property == "bulkhead,boot-scrub" && value == "later"
);
rejection!(
    enhanced_value,
    "reject-enhanced-value",
    ConfigError::InvalidValue { .. }
);
rejection!(
    misaligned,
    "reject-misaligned",
    ConfigError::Misaligned { .. }
);
rejection!(
    channel_in_chosen,
    "reject-channel-in-chosen",
    ConfigError::ChannelOutsideDomain { .. }
);
rejection!(
    duplicate_module,
    "reject-duplicate-module",
    ConfigError::DuplicateModule { kind: "kernel", .. }
);
rejection!(
    device_twice,
    "reject-device-twice",
    ConfigError::DeviceAssignedTwice { .. }
);
rejection!(
    device_without_force_assign,
    "reject-no-force",
    ConfigError::BadPassthrough { reason, .. } if reason.contains("xen,force-assign-without-iommu")
);
rejection!(
    dma_without_direct_map,
    "reject-dma-no-direct-map",
    ConfigError::DmaNeedsDirectMap { .. }
);
rejection!(
    console_device,
    "reject-console-device",
    ConfigError::BadPassthrough { reason, .. } if reason.contains("hypervisor uses this device")
);
rejection!(
    console_interrupt,
    "reject-console-device",
    ConfigError::InterruptReserved { irq: 125, .. }
);
rejection!(
    console_page,
    "reject-console-device",
    ConfigError::BadPassthrough { reason, .. } if reason.contains("console UART")
);
rejection!(
    unaligned_reg,
    "reject-unaligned-reg",
    ConfigError::BadPassthrough { reason, .. } if reason.contains("page aligned")
);
rejection!(
    vpl011_interrupt,
    "reject-vpl011-interrupt",
    ConfigError::InterruptReserved { irq: 32, .. }
);
rejection!(
    interrupt_twice,
    "reject-device-twice",
    ConfigError::InterruptAssignedTwice { irq: 153, .. }
);

rejection!(
    too_many_static_banks,
    "reject-too-many-static-banks",
    ConfigError::TooMany {
        limit: Limit::StaticMemoryBanks,
        count: 65,
        ..
    }
);
rejection!(
    affinity_cpu_id,
    "reject-affinity-cpu-id",
    ConfigError::InvalidValue { property, .. } if property == "hard-affinity"
);
rejection!(
    too_many_pool_cpus,
    "reject-too-many-pool-cpus",
    ConfigError::TooMany {
        limit: Limit::PoolCpus,
        count: 257,
        ..
    }
);
rejection!(
    too_many_vcpu_nodes,
    "reject-too-many-vcpu-nodes",
    ConfigError::TooMany {
        limit: Limit::VcpuNodes,
        count: 129,
        ..
    }
);
rejection!(
    too_many_channels,
    "reject-too-many-channels",
    ConfigError::TooMany {
        limit: Limit::EventChannels,
        count: 65,
        ..
    }
);
rejection!(
    too_many_shared_memory,
    "reject-too-many-shared-memory",
    ConfigError::TooMany {
        limit: Limit::SharedMemory,
        count: 33,
        ..
    }
);
rejection!(
    too_many_domains,
    "reject-too-many-domains",
    ConfigError::TooMany {
        limit: Limit::Domains,
        count: 65,
        ..
    }
);
rejection!(
    too_many_errors,
    "reject-too-many-errors",
    ConfigError::MoreErrors { omitted: 1 }
);
rejection!(
    name_too_long,
    "reject-name-too-long",
    ConfigError::DeviceTree(DtError::NameTooLong { limit: 128, .. })
);

#[test]
fn every_reject_fixture_has_a_test() {
    let source = include_str!("fixtures.rs");
    for entry in std::fs::read_dir(common::testdata()).expect("testdata exists") {
        let name = entry
            .expect("readable entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if let Some(stem) = name
            .strip_prefix("reject-")
            .and_then(|n| n.strip_suffix(".dts"))
        {
            assert!(
                source.contains(&format!("\"reject-{stem}\"")),
                "{name} has no test"
            );
        }
    }
}
rejection!(
    weight_zero,
    "reject-weight-zero",
    ConfigError::InvalidValue { property, value, .. } if property == "bulkhead,weight" && value == "0"
);
rejection!(
    weight_too_large,
    "reject-weight-too-large",
    ConfigError::InvalidValue { property, value, .. } if property == "bulkhead,weight" && value == "65536"
);
rejection!(
    weight_outside_credit2,
    "reject-weight-outside-credit2",
    ConfigError::Credit2Only {
        property: "bulkhead,weight",
        value: 512,
        scheduler: "null",
        ..
    }
);
rejection!(
    cap_outside_credit2,
    "reject-cap-outside-credit2",
    ConfigError::Credit2Only {
        property: "bulkhead,cap",
        value: 50,
        scheduler: "bulkhead,fixed-priority",
        ..
    }
);
rejection!(
    cap_too_large,
    "reject-cap-too-large",
    ConfigError::CapTooLarge {
        cap: 201,
        vcpus: 2,
        ..
    }
);

#[test]
fn scheduling_errors_name_the_node_the_value_and_the_fix() {
    let message = |fixture: &str| match check(fixture) {
        Err(errors) => errors[0].to_string(),
        Ok(_) => panic!("{fixture} was accepted"),
    };
    let weight = message("reject-weight-outside-credit2");
    for part in [
        "/chosen/domU1",
        "bulkhead,weight",
        "<512>",
        "\"null\"",
        "cpupool-sched = \"credit2\"",
    ] {
        assert!(weight.contains(part), "{part} missing from: {weight}");
    }
    let cap = message("reject-cap-too-large");
    for part in [
        "/chosen/domU1",
        "<201>",
        "2 vCPUs",
        "at most 200",
        "lower it",
    ] {
        assert!(cap.contains(part), "{part} missing from: {cap}");
    }
    let zero = message("reject-weight-zero");
    for part in ["/chosen/domU1", "bulkhead,weight", "from 1 to 65535"] {
        assert!(zero.contains(part), "{part} missing from: {zero}");
    }
}
rejection!(
    dom0_only,
    "reject-dom0-only",
    ConfigError::Dom0Only { .. }
);
rejection!(
    shm_no_host,
    "reject-shm-no-host",
    ConfigError::SharedMemoryNoHost { .. }
);
