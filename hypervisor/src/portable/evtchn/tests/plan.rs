//! Tables built from a validated plan: vCPU counts, peers and static channels.

use alloc::format;

use dom0less_config::devicetree::{cells_value, strings_value, NodeId, Tree};
use dom0less_config::{HostFacts, PartitionPlan};

use super::*;
use crate::portable::evtchn::abi::stat;

fn u32_prop(t: &mut Tree, n: NodeId, name: &str, v: u32) {
    t.set_property(n, name, cells_value(&[v]));
}

/// Two domains joined by a static channel (domU1 port 10 to domU2 port 20); domU1 lists
/// domU2 as its only peer.
fn plan() -> PartitionPlan {
    let mut t = Tree::new();
    let root = t.root();
    t.set_property(root, "compatible", strings_value(&["linux,dummy-virt"]));
    u32_prop(&mut t, root, "#address-cells", 2);
    u32_prop(&mut t, root, "#size-cells", 2);
    let mem = t.add_node(root, "memory@40000000");
    t.set_property(mem, "device_type", strings_value(&["memory"]));
    t.set_property(mem, "reg", cells_value(&[0, 0x4000_0000, 0, 0x1000_0000]));
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
    for (i, (name, vcpus, port, own, remote)) in
        [("domU1", 2, 10, 1, 2), ("domU2", 1, 20, 2, 1)].into_iter().enumerate()
    {
        let d = t.add_node(chosen, name);
        t.set_property(d, "compatible", strings_value(&["xen,domain"]));
        u32_prop(&mut t, d, "#address-cells", 1);
        u32_prop(&mut t, d, "#size-cells", 1);
        t.set_property(d, "memory", cells_value(&[0, 16 * 1024]));
        u32_prop(&mut t, d, "cpus", vcpus);
        if i == 0 {
            t.set_property(d, "bulkhead,evtchn-peers", strings_value(&["domU2"]));
        }
        let e = t.add_node(d, &format!("evtchn@{port}"));
        t.set_property(e, "compatible", strings_value(&["xen,evtchn-v1"]));
        u32_prop(&mut t, e, "phandle", own);
        t.set_property(e, "xen,evtchn", cells_value(&[port, remote]));
        let kernel = 0x4800_0000 + 0x100_0000 * i as u32;
        let m = t.add_node(d, &format!("module@{kernel:x}"));
        t.set_property(m, "compatible", strings_value(&["multiboot,kernel", "multiboot,module"]));
        t.set_property(m, "reg", cells_value(&[kernel, 0x10_0000]));
    }
    let facts = HostFacts { boot_cpu_mpidr: Some(0), ..HostFacts::default() };
    PartitionPlan::from_tree(&t, &facts).expect("the fixture is valid").plan
}

#[test]
fn tables_from_the_plan_have_their_static_channels_and_peers() {
    let mut tables = build_tables(&plan()).unwrap();
    let s = tables[0].status(0, 10).unwrap();
    assert_eq!((s.status, s.dom, s.port_or_virq), (stat::INTERDOMAIN, 2, 20));
    let s = tables[1].status(1, 20).unwrap();
    assert_eq!((s.status, s.dom, s.port_or_virq), (stat::INTERDOMAIN, 1, 10));
    assert_eq!(tables[0].bind_ipi(1, &mut NoMemory), Ok(1), "two vCPUs");
    assert_eq!(tables[1].bind_ipi(1, &mut NoMemory), Err(Errno::Enoent), "one vCPU");
    // domU1 admits only domU2; domU2 admits anyone.
    assert_eq!(tables[0].alloc_unbound(0, 3, &mut NoMemory), Err(Errno::Eperm));
    assert_eq!(tables[1].alloc_unbound(1, 3, &mut NoMemory), Ok(1));
}
