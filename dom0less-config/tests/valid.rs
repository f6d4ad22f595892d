//! The valid fixtures, modelled on what Xen dom0less users write, produce the expected plan.

mod common;

use dom0less_config::devicetree::AddressRange;
use dom0less_config::{
    ConfigError, CrashPolicy, Enhanced, HostFacts, IrqDelivery, Memory, ModuleSource, PartitionPlan, Scheduler,
    Validated, Warning,
};

/// The hypervisor image the tests pretend to boot with.
const HYPERVISOR: AddressRange = AddressRange::window(0x4000_0000, 0x4020_0000);

fn check(name: &str) -> Result<Validated, Vec<ConfigError>> {
    let host = HostFacts {
        hypervisor: HYPERVISOR,
        boot_cpu_mpidr: None,
        modules: None,
    };
    PartitionPlan::from_host_tree(&common::compile(name), &host)
}

fn valid(name: &str) -> Validated {
    check(name).unwrap_or_else(|errors| panic!("{name} rejected: {errors:#?}"))
}

#[test]
fn two_linux_domains() {
    let v = valid("valid-two-linux");
    let plan = &v.plan;
    assert_eq!(plan.partitions.len(), 2);
    let d1 = &plan.partitions[0];
    assert_eq!(d1.name, "domU1");
    assert_eq!(d1.vcpu_count, 2);
    assert_eq!(d1.memory, Memory::Allocated { bytes: 128 << 20 });
    assert!(d1.vpl011);
    assert_eq!(d1.enhanced, Enhanced::NoXenstore);
    assert_eq!(
        d1.kernel.range,
        AddressRange::new(0x4a00_0000, 0xff_ffff).unwrap()
    );
    assert_eq!(
        d1.kernel.bootargs.as_deref(),
        Some("console=ttyAMA0 init=/bin/sh")
    );
    assert_eq!(
        d1.ramdisk.as_ref().map(|m| m.range),
        Some(AddressRange::new(0x4b00_0000, 0xff_ffff).unwrap())
    );
    assert_eq!(
        d1.unsupported.iter().map(|p| p.name()).collect::<Vec<_>>(),
        ["sve"]
    );
    assert!(v.warnings.contains(&Warning::NotSupportedYet {
        node: "/chosen/domU1".into(),
        property: "sve".into()
    }));
    let d2 = &plan.partitions[1];
    assert_eq!(
        (d2.priority, d2.crash_policy, d2.vpl011),
        (10, CrashPolicy::Restart, false)
    );
    assert!(d2.trap_wfi && !d1.trap_wfi);
    assert_eq!((d1.restart_limit, d2.restart_limit), (None, Some(5)));
    assert_eq!((d1.restart_backoff_ms, d2.restart_backoff_ms), (None, Some(250)));
    assert_eq!((d1.heartbeat_ms, d2.heartbeat_ms), (None, Some(2000)));
    assert_eq!(d2.enhanced, Enhanced::Disabled);
    // No cpupools: one credit2 pool with every CPU.
    assert_eq!(plan.pools.len(), 1);
    assert_eq!(
        (plan.pools[0].scheduler, plan.pools[0].cpus.clone()),
        (Scheduler::Credit2, vec![0, 1, 2, 3])
    );
    assert!(d1.vcpus.iter().all(|v| v.placement.is_none()));
}

#[test]
fn cpupools_null_and_credit2() {
    let plan = valid("valid-cpupools").plan;
    // The boot CPU (cpu@0) is in the credit2 pool, which therefore becomes pool 0.
    assert_eq!(plan.pools[0].name, "/chosen/cpupool_general");
    assert_eq!(plan.pools[0].scheduler, Scheduler::Credit2);
    assert_eq!(plan.pools[1].scheduler, Scheduler::Null);
    let rt = &plan.partitions[0];
    assert_eq!(rt.pool, 1);
    let cpus: Vec<_> = rt
        .vcpus
        .iter()
        .map(|v| v.placement.map(|p| (p.cpu, p.mpidr)))
        .collect();
    assert_eq!(cpus, [Some((3, 3)), Some((2, 2))]);
    assert_eq!(plan.partitions[1].pool, 0);
}

#[test]
fn static_memory_with_direct_map() {
    let plan = valid("valid-static-mem").plan;
    assert_eq!(
        plan.partitions[0].memory,
        Memory::Static {
            banks: vec![
                AddressRange::new(0x6000_0000, 0x800_0000).unwrap(),
                AddressRange::new(0x7000_0000, 0x800_0000).unwrap()
            ],
            direct_map: true
        }
    );
    assert_eq!(
        plan.partitions[1].memory,
        Memory::Static {
            banks: vec![AddressRange::new(0x6800_0000, 0x400_0000).unwrap()],
            direct_map: false
        }
    );
}

#[test]
fn channels_and_shared_memory() {
    let plan = valid("valid-channels").plan;
    let ports = |i: usize| {
        plan.partitions[i]
            .event_channels
            .iter()
            .map(|c| (c.port, c.remote_partition, c.remote_port))
            .collect::<Vec<_>>()
    };
    assert_eq!(ports(0), [(10, 1, 10), (11, 1, 12)]);
    assert_eq!(ports(1), [(10, 0, 10), (12, 0, 11)]);
    assert_eq!(plan.partitions[0].evtchn_peers, Some(vec![1]));
    assert_eq!(plan.partitions[1].evtchn_peers, None);
    assert_eq!(plan.shared_regions.len(), 1);
    assert_eq!(
        plan.shared_regions[0].host,
        Some(AddressRange::new(0x5000_0000, 0x20_0000).unwrap())
    );
    assert_eq!(plan.shared_regions[0].owner, Some(0));
    assert_eq!(
        plan.partitions[1].shared_memory[0].guest_address,
        0x7000_0000
    );
}

#[test]
fn passthrough_devices_are_read_from_the_partial_tree() {
    // The same fixture with the second domain's partial tree withheld is valid.
    struct One(Vec<u8>);
    impl ModuleSource for One {
        fn bytes(&self, range: AddressRange) -> Option<&[u8]> {
            (range.start() == 0x4e00_0000).then_some(self.0.as_slice())
        }
    }
    let one = One(common::compile("partial-serial"));
    let host = HostFacts {
        hypervisor: HYPERVISOR,
        boot_cpu_mpidr: None,
        modules: Some(&one),
    };
    let v = PartitionPlan::from_host_tree(&common::compile("reject-device-twice"), &host)
        .expect("valid");
    let device = &v.plan.partitions[0].passthrough.devices[0];
    assert_eq!(device.host_path, "/soc/serial@7e201400");
    assert_eq!(
        device.mmio,
        [(AddressRange::new(0xfe20_1000, 0x1000).unwrap(), 0x900_0000)]
    );
    assert_eq!(device.interrupts, [153]);
    assert!(v
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::PartialTreeNotInspected { .. })));
}

#[test]
fn reference_page_example_is_valid() {
    let page = include_str!("../../docs/config.md");
    let start = page.rfind("```dts\n").expect("the page has a dts example") + "```dts\n".len();
    let end = start + page[start..].find("```").expect("closed block");
    let source = format!(
        "/dts-v1/;\n/ {{ #address-cells = <2>; #size-cells = <2>;\n\
         memory@40000000 {{ device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x40000000>; }}; }};\n{}",
        &page[start..end]
    );
    let host = HostFacts {
        hypervisor: HYPERVISOR,
        boot_cpu_mpidr: None,
        modules: None,
    };
    let plan = PartitionPlan::from_host_tree(&common::compile_source(&source), &host)
        .unwrap_or_else(|e| panic!("docs/config.md example rejected: {e:#?}"))
        .plan;
    assert_eq!(plan.partitions.len(), 2);
    assert_eq!(plan.pools[1].scheduler, Scheduler::FixedPriority);
    assert_eq!(
        plan.partitions[0].vcpus[1].placement.map(|p| p.cpu),
        Some(3)
    );
}

#[test]
fn the_boot_scrub_read_alone_agrees_with_the_plan() {
    // The hypervisor reads this one property before its MMU goes on, to map RAM by it.
    let off = |name: &str| {
        let tree = dom0less_config::devicetree::Tree::parse(&common::compile(name)).unwrap();
        dom0less_config::parse::boot_scrub_off(&tree)
    };
    assert!(off("valid-schedulers"), "bulkhead,boot-scrub = \"off\"");
    assert!(valid("valid-schedulers").plan.skip_boot_scrub);
    assert!(!off("valid-two-linux"), "absent: scrubbed");
    assert!(!valid("valid-two-linux").plan.skip_boot_scrub);
    // An invalid value is "on" for the early read; the parser rejects it, so nothing starts.
    assert!(!off("reject-boot-scrub"), "bulkhead,boot-scrub = \"later\"");
    assert!(check("reject-boot-scrub").is_err());
}

#[test]
fn credit2_weights_and_caps_and_a_shared_fixed_priority_cpu() {
    let plan = valid("valid-schedulers").plan;
    assert!(plan.console_read_only, "bulkhead,console-control = \"read-only\"");
    assert!(!valid("valid-two-linux").plan.console_read_only, "read-write by default");
    assert!(plan.skip_boot_scrub, "bulkhead,boot-scrub = \"off\"");
    assert!(!valid("valid-two-linux").plan.skip_boot_scrub, "scrubbed by default");
    let by_name = |name: &str| plan.partitions.iter().find(|p| p.name == name).unwrap();
    let (rtos, logger, heavy, light) = (
        by_name("rtos"),
        by_name("logger"),
        by_name("heavy"),
        by_name("light"),
    );
    assert_eq!((heavy.weight, heavy.cap_percent), (512, 150));
    assert_eq!(
        (light.weight, light.cap_percent),
        (256, 0),
        "Xen's default weight, no cap"
    );
    assert_eq!((rtos.weight, rtos.cap_percent), (256, 0));
    assert_eq!(plan.pools[heavy.pool].scheduler, Scheduler::Credit2);
    let rt_pool = &plan.pools[rtos.pool];
    assert_eq!(rt_pool.scheduler, Scheduler::FixedPriority);
    let cpus: Vec<usize> = rtos
        .vcpus
        .iter()
        .chain(&logger.vcpus)
        .map(|v| v.placement.unwrap().cpu)
        .collect();
    assert_eq!(cpus, [3, 3, 3], "three vCPUs pinned to the pool's one CPU");
    assert_eq!(
        (rtos.vcpus[1].priority, logger.vcpus[0].priority),
        (200, 10)
    );
}

#[test]
fn one_kernel_module_shared_by_two_domains() {
    let plan = valid("valid-shared-module").plan;
    let kernels: Vec<_> = plan.partitions.iter().map(|p| p.kernel.range).collect();
    assert_eq!(kernels.len(), 2);
    assert_eq!(kernels[0], kernels[1], "the same module, each domain loads its own copy");
}

#[test]
fn direct_delivery_alone_in_a_null_pool_on_a_gicv3() {
    let plan = valid("valid-direct-delivery").plan;
    let rt = &plan.partitions[0];
    assert_eq!(rt.irq_delivery, IrqDelivery::Direct);
    assert_eq!(plan.pools[rt.pool].scheduler, Scheduler::Null);
    assert_eq!(rt.vcpus[0].placement.map(|p| p.cpu), Some(2));
    let other = valid("valid-two-linux").plan;
    assert!(
        other.partitions.iter().all(|p| p.irq_delivery == IrqDelivery::Virtual),
        "virtual by default"
    );
}

#[test]
fn direct_delivery_refusals_name_the_partition_the_value_and_the_fix() {
    let errors = check("reject-direct-credit2").expect_err("refused");
    let text = errors
        .iter()
        .map(ToString::to_string)
        .find(|t| t.contains("irq-delivery"))
        .expect("a direct-delivery error");
    assert!(text.starts_with("rt: `bulkhead,irq-delivery` = \"direct\" is refused"), "{text}");
    assert!(text.contains("cpupool-sched = \"null\""), "{text}");
    assert!(text.contains("\"virtual\""), "{text}");
}
