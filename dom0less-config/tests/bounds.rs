//! Hostile configurations: each is rejected with its exact error, and the memory and work it
//! costs stay bounded by its size (counted allocations and node reads, never timing).

mod common;
#[path = "../fuzz/meter.rs"]
mod meter;

use dom0less_config::devicetree::{
    cells_value, strings_value, AddressRange, DtError, NodeId, Reservation, Tree,
};
use dom0less_config::host::HostInfo;
use dom0less_config::limits::{MAX_HOST_CPUS, MAX_POOLS};
use dom0less_config::{ConfigError, HostFacts, Limit, PartitionPlan, Validated, MAX_ERRORS};

/// Heap bytes a validation may use per byte of its blob, on top of [`BASE`].
const PER_BYTE: usize = 16;
/// Heap bytes any validation may use, whatever its size.
const BASE: usize = 256 << 10;

fn host() -> HostFacts<'static> {
    HostFacts {
        hypervisor: AddressRange::new(0x4000_0000, 0x20_0000).unwrap(),
        boot_cpu_mpidr: None,
        modules: None,
    }
}

/// The two-domain fixture as a tree to add hostile parts to.
fn base() -> Tree {
    Tree::parse(&common::compile("valid-two-linux")).expect("fixture parses")
}

fn node(tree: &Tree, path: &str) -> NodeId {
    tree.find(path).unwrap_or_else(|| panic!("{path} exists"))
}

/// Writes and validates `tree`, checking that the heap used stays within the linear bound.
fn validate(tree: &Tree) -> Result<Validated, Vec<ConfigError>> {
    let blob = tree.to_dtb();
    let (result, usage) = meter::measure(|| PartitionPlan::from_host_tree(&blob, &host()));
    let bound = PER_BYTE * blob.len() + BASE;
    assert!(
        usage.peak_bytes <= bound,
        "{} heap bytes for a {}-byte blob (bound {bound})",
        usage.peak_bytes,
        blob.len()
    );
    result
}

fn errors(tree: &Tree) -> Vec<ConfigError> {
    match validate(tree) {
        Ok(_) => panic!("accepted"),
        Err(errors) => errors,
    }
}

#[test]
fn a_long_name_used_by_many_properties_is_stored_once() {
    let peak = |name: &str| {
        let mut tree = base();
        let filler = tree.add_node(tree.root(), "filler");
        for i in 0..2000 {
            let n = tree.add_node(filler, &format!("n{i}"));
            tree.set_property(n, name, Vec::new());
        }
        let blob = tree.to_dtb();
        meter::measure(|| Tree::parse(&blob).map(drop)).1.peak_bytes
    };
    let short = peak("x");
    let long = peak(&"x".repeat(128));
    // Copied per property, the long name would cost 2000 * 127 bytes more.
    assert!(long <= short + 1024, "short {short}, long {long}");
}

#[test]
fn distinct_faults_past_the_cap_are_counted() {
    let mut tree = base();
    let domain = node(&tree, "/chosen/domU1");
    for i in 0..1000 {
        tree.set_property(domain, &format!("bogus-{i}"), Vec::new());
    }
    let errors = errors(&tree);
    assert_eq!(errors.len(), MAX_ERRORS + 1);
    assert_eq!(
        errors[0],
        ConfigError::UnknownProperty {
            node: "/chosen/domU1".into(),
            property: "bogus-0".into()
        }
    );
    assert_eq!(
        errors[MAX_ERRORS],
        ConfigError::MoreErrors {
            omitted: 1000 - MAX_ERRORS
        }
    );
}

#[test]
fn a_repeated_fault_is_reported_once() {
    let mut tree = base();
    let chosen = node(&tree, "/chosen");
    let soc = node(&tree, "/soc");
    tree.set_property(soc, "phandle", cells_value(&[0x99]));
    let pool = tree.add_node(chosen, "pool");
    tree.set_property(pool, "compatible", strings_value(&["xen,cpupool"]));
    tree.set_property(pool, "cpupool-cpus", cells_value(&[0x99; MAX_HOST_CPUS]));
    assert_eq!(
        errors(&tree),
        [ConfigError::WrongPhandleTarget {
            node: "/chosen/pool".into(),
            property: "cpupool-cpus",
            target: "/soc".into(),
            expected: "a /cpus node with device_type = \"cpu\"",
        }]
    );
}

#[test]
fn phandles_are_resolved_through_one_index() {
    let mut tree = base();
    let filler = tree.add_node(tree.root(), "filler");
    for i in 0..4000 {
        tree.add_node(filler, &format!("n{i}"));
    }
    let chosen = node(&tree, "/chosen");
    for p in 0..MAX_POOLS {
        let pool = tree.add_node(chosen, &format!("pool{p}"));
        tree.set_property(pool, "compatible", strings_value(&["xen,cpupool"]));
        tree.set_property(pool, "cpupool-cpus", cells_value(&[0xdead; MAX_HOST_CPUS]));
    }
    let parsed = Tree::parse(&tree.to_dtb()).expect("valid blob");
    let errors = PartitionPlan::from_tree(&parsed, &host()).expect_err("dangling phandles");
    assert_eq!(
        errors[0],
        ConfigError::DanglingPhandle {
            node: "/chosen/pool0".into(),
            property: "cpupool-cpus",
            phandle: 0xdead
        }
    );
    assert_eq!(
        errors[MAX_ERRORS],
        ConfigError::MoreErrors {
            omitted: MAX_POOLS - MAX_ERRORS
        }
    );
    // A walk per reference would read 64 * 256 * 4000 nodes.
    let reads = parsed.node_reads();
    assert!(
        reads <= 32 * parsed.node_count(),
        "{reads} node reads for {} nodes",
        parsed.node_count()
    );
}

#[test]
fn hard_affinity_is_a_bounded_set() {
    let mut tree = base();
    let domain = node(&tree, "/chosen/domU1");
    let vcpu = tree.add_node(domain, "vcpu0");
    tree.set_property(vcpu, "compatible", strings_value(&["xen,vcpu"]));
    tree.set_property(vcpu, "id", cells_value(&[0]));
    let text = vec!["0-255"; 4000].join(",");
    tree.set_property(vcpu, "hard-affinity", strings_value(&[&text]));
    let errors = errors(&tree);
    // The host has four CPUs: 4 to 255 are outside the pool, each reported once.
    assert_eq!(
        errors[0],
        ConfigError::AffinityOutsidePool {
            node: "/chosen/domU1/vcpu0".into(),
            cpu: 4,
            pool: "Pool-0".into()
        }
    );
    assert_eq!(
        errors[MAX_ERRORS],
        ConfigError::MoreErrors {
            omitted: 252 - MAX_ERRORS
        }
    );
}

#[test]
fn hard_affinity_ids_beyond_the_host_cap_are_invalid() {
    let mut tree = base();
    let domain = node(&tree, "/chosen/domU1");
    let vcpu = tree.add_node(domain, "vcpu0");
    tree.set_property(vcpu, "compatible", strings_value(&["xen,vcpu"]));
    tree.set_property(vcpu, "id", cells_value(&[0]));
    tree.set_property(vcpu, "hard-affinity", strings_value(&["0-4000000000"]));
    assert_eq!(
        errors(&tree),
        [ConfigError::InvalidValue {
            node: "/chosen/domU1/vcpu0".into(),
            property: "hard-affinity".into(),
            value: "\"0-4000000000\"".into(),
            expected: "a CPU list like \"0-3,5\" with ids below 256",
        }]
    );
}

#[test]
fn thousands_of_static_banks_are_refused_before_decoding() {
    let mut tree = base();
    let domain = node(&tree, "/chosen/domU1");
    // Every bank is the same range, so decoding them would also mean millions of overlaps.
    let banks: Vec<u32> = [0, 0x6000_0000, 0, 0x1000].repeat(5000);
    tree.set_property(domain, "xen,static-mem", cells_value(&banks));
    let parsed = Tree::parse(&tree.to_dtb()).expect("valid blob");
    let (result, usage) = meter::measure(|| PartitionPlan::from_tree(&parsed, &host()));
    assert_eq!(
        result.expect_err("too many banks"),
        [ConfigError::TooMany {
            node: "/chosen/domU1".into(),
            limit: Limit::StaticMemoryBanks,
            count: 5000
        }]
    );
    assert!(
        usage.allocations < 1000,
        "{} allocations",
        usage.allocations
    );
}

#[test]
fn sub_nodes_past_their_cap_are_counted_not_read() {
    let mut tree = base();
    let domain = node(&tree, "/chosen/domU1");
    for i in 0..3000 {
        let vcpu = tree.add_node(domain, &format!("vcpu{i}"));
        tree.set_property(vcpu, "compatible", strings_value(&["xen,vcpu"]));
        tree.set_property(vcpu, "id", cells_value(&[0]));
    }
    let errors = errors(&tree);
    assert!(errors.contains(&ConfigError::TooMany {
        node: "/chosen/domU1".into(),
        limit: Limit::VcpuNodes,
        count: 3000
    }));
}

#[test]
fn domains_past_the_cap_are_counted_not_read() {
    let mut tree = base();
    let chosen = node(&tree, "/chosen");
    for i in 0..500 {
        let domain = tree.add_node(chosen, &format!("extra{i}"));
        tree.set_property(domain, "compatible", strings_value(&["xen,domain"]));
    }
    let errors = errors(&tree);
    assert!(errors.contains(&ConfigError::TooMany {
        node: "/chosen".into(),
        limit: Limit::Domains,
        count: 502
    }));
}

#[test]
fn host_cpus_past_the_cap_are_refused_first() {
    let mut tree = base();
    let cpus = node(&tree, "/cpus");
    for i in 4..300u32 {
        let cpu = tree.add_node(cpus, &format!("cpu@{i:x}"));
        tree.set_property(cpu, "device_type", strings_value(&["cpu"]));
        tree.set_property(cpu, "reg", cells_value(&[i]));
    }
    assert_eq!(
        errors(&tree),
        [ConfigError::TooMany {
            node: "/cpus".into(),
            limit: Limit::HostCpus,
            count: 300
        }]
    );
}

#[test]
fn a_shared_memory_host_range_that_wraps_is_invalid() {
    let mut tree = base();
    let domain = node(&tree, "/chosen/domU1");
    let shm = tree.add_node(domain, "shm@0");
    tree.set_property(
        shm,
        "compatible",
        strings_value(&["xen,domain-shared-memory-v1"]),
    );
    tree.set_property(shm, "role", strings_value(&["owner"]));
    tree.set_property(shm, "xen,shm-id", strings_value(&["wraps"]));
    tree.set_property(
        shm,
        "xen,shared-mem",
        cells_value(&[0xffff_ffff, 0xffff_f000, 0, 0x6000_0000, 0x20_0000]),
    );
    let errors = errors(&tree);
    assert!(
        errors.iter().any(|e| matches!(
            e,
            ConfigError::InvalidValue { node, property, value, .. }
                if node == "/chosen/domU1/shm@0"
                    && property == "xen,shared-mem"
                    && value == "0xfffffffffffff000+0x200000 (wraps past 2^64)"
        )),
        "{errors:#?}"
    );
}

#[test]
fn a_memreserve_entry_that_wraps_is_a_bad_address() {
    let mut tree = base();
    tree.add_reservation(Reservation {
        address: u64::MAX - 0xfff,
        size: 0x2000,
    });
    assert_eq!(
        HostInfo::read(&tree),
        Err(DtError::BadAddress {
            node: "/memreserve/".into(),
            reason: "an entry wraps past 2^64; lower its address or size",
        })
    );
}
