//! `bulkhead,irq-delivery = "direct"`: which partitions may take their interrupts straight
//! from the physical GICv3 (ARCHITECTURE.md, "Direct interrupt delivery", says why each
//! condition holds the mode sound).

use alloc::string::String;

use super::HostFacts;
use crate::devicetree::Tree;
use crate::error::{ConfigError, DirectRefusal};
use crate::findings::Errors;
use crate::host::HostInfo;
use crate::plan::{CpuPool, Enhanced, IrqDelivery, Partition, Scheduler};

/// GIC `compatible` strings of the versions direct delivery cannot use (GICv2 and GIC-400
/// have no system-register CPU interface to hand to a guest).
const GIC_V2: [&str; 4] = ["arm,gic-400", "arm,gic-v2", "arm,cortex-a15-gic", "arm,cortex-a9-gic"];

/// Refuses `direct` on every partition that cannot have it, one error per reason.
pub(super) fn check(
    tree: &Tree,
    host: &HostFacts<'_>,
    info: &HostInfo,
    pools: &[CpuPool],
    partitions: &[Partition],
    errors: &mut Errors,
) {
    if !partitions.iter().any(|p| p.irq_delivery == IrqDelivery::Direct) {
        return;
    }
    let gic = gic_compatible(tree);
    let boot = host
        .boot_cpu_mpidr
        .and_then(|m| info.cpus.iter().position(|c| c.mpidr == m))
        .unwrap_or(0);
    for (index, p) in partitions.iter().enumerate() {
        if p.irq_delivery != IrqDelivery::Direct {
            continue;
        }
        let mut refuse = |refusal| {
            errors.push(ConfigError::DirectDelivery { domain: p.name.clone(), refusal });
        };
        match &gic {
            Some((_, true)) => {}
            Some((compatible, false)) => refuse(DirectRefusal::NotGicV3 {
                found: alloc::format!("\"{compatible}\""),
            }),
            None => refuse(DirectRefusal::NotGicV3 {
                found: String::from("not in the host tree (no node with interrupt-controller and a GIC's compatible)"),
            }),
        }
        if let Some(pool) = pools.get(p.pool) {
            if pool.scheduler != Scheduler::Null {
                refuse(DirectRefusal::NotNullPool {
                    pool: pool.name.clone(),
                    scheduler: pool.scheduler.name(),
                });
            }
            if let Some(other) = partitions
                .iter()
                .enumerate()
                .find(|(i, o)| *i != index && o.pool == p.pool)
            {
                refuse(DirectRefusal::SharedPool {
                    pool: pool.name.clone(),
                    other: other.1.name.clone(),
                });
            }
            if pool.cpus.contains(&boot) {
                refuse(DirectRefusal::BootCpu {
                    pool: pool.name.clone(),
                    cpu: info.cpus.get(boot).map_or_else(String::new, |c| c.path.clone()),
                });
            }
        }
        if p.trap_wfi {
            refuse(DirectRefusal::TrapWfi);
        }
        if p.enhanced != Enhanced::Disabled {
            refuse(DirectRefusal::Enhanced);
        }
        if let Some(device) = p.passthrough.devices.first() {
            refuse(DirectRefusal::Passthrough {
                device: device.host_path.clone(),
            });
        }
    }
}

/// The host GIC's first `compatible` and whether it is a GICv3, if the tree has a GIC.
fn gic_compatible(tree: &Tree) -> Option<(String, bool)> {
    tree.node_ids().find_map(|id| {
        let node = tree.node(id);
        node.property("interrupt-controller")?;
        if node.is_compatible("arm,gic-v3") {
            return Some((String::from("arm,gic-v3"), true));
        }
        GIC_V2
            .iter()
            .find(|c| node.is_compatible(c))
            .map(|c| (String::from(*c), false))
    })
}
