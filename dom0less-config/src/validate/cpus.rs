//! CPU pools, their schedulers, vCPU affinity and pinning.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::HostFacts;
use crate::devicetree::{NodeId, Tree};
use crate::error::ConfigError;
use crate::findings::Errors;
use crate::host::{cpu_nodes, HostInfo};
use crate::limits::MAX_CAP_PER_VCPU;
use crate::parse::{DomainDraft, Drafts};
use crate::plan::{CpuPool, Partition, Placement, Scheduler, Vcpu};

/// Maps a `cpupool-sched` name to a scheduler.
pub fn scheduler(name: &str) -> Option<Scheduler> {
    match name {
        "null" => Some(Scheduler::Null),
        "credit2" => Some(Scheduler::Credit2),
        "bulkhead,fixed-priority" => Some(Scheduler::FixedPriority),
        _ => None,
    }
}

/// Builds the pool list (boot CPU's pool first) and each domain's pool index.
pub(super) fn build_pools(
    tree: &Tree,
    info: &HostInfo,
    host: &HostFacts<'_>,
    drafts: &Drafts,
    errors: &mut Errors,
) -> (Vec<CpuPool>, Vec<usize>) {
    let mut owner: Vec<Option<usize>> = vec![None; info.cpus.len()];
    // Logical CPU index by node, sorted by node, for a lookup in O(log n) per entry.
    let mut by_node: Vec<(NodeId, usize)> = cpu_nodes(tree)
        .into_iter()
        .enumerate()
        .map(|(index, node)| (node, index))
        .collect();
    crate::sort::sort(&mut by_node);
    let mut pools = Vec::new();
    for (p, draft) in drafts.pools.iter().enumerate() {
        let mut cpus = Vec::new();
        for node in &draft.cpus {
            let Ok(at) = by_node.binary_search_by_key(node, |(n, _)| *n) else {
                continue;
            };
            let cpu = by_node[at].1;
            let Some(slot) = owner.get_mut(cpu) else {
                continue;
            };
            match *slot {
                Some(first) if first != p => errors.push(ConfigError::CpuInTwoPools {
                    cpu: tree.path(*node),
                    first: drafts.pools[first].path.clone(),
                    second: draft.path.clone(),
                }),
                Some(_) => {}
                None => {
                    *slot = Some(p);
                    cpus.push(cpu);
                }
            }
        }
        let listed = tree
            .node(draft.node)
            .property("cpupool-cpus")
            .map_or(1, |c| c.value().len());
        if listed == 0 {
            errors.push(ConfigError::EmptyPool {
                pool: draft.path.clone(),
            });
        }
        let scheduler = match draft.scheduler.as_deref() {
            None => Scheduler::Credit2,
            Some(name) => scheduler(name).unwrap_or_else(|| {
                errors.push(ConfigError::UnknownScheduler {
                    pool: draft.path.clone(),
                    name: String::from(name),
                });
                Scheduler::Credit2
            }),
        };
        pools.push(CpuPool {
            name: draft.path.clone(),
            scheduler,
            cpus,
        });
    }
    let rest: Vec<usize> = (0..info.cpus.len())
        .filter(|c| owner[*c].is_none())
        .collect();
    if !rest.is_empty() {
        pools.push(CpuPool {
            name: String::from("Pool-rest"),
            scheduler: Scheduler::Credit2,
            cpus: rest,
        });
    }
    if info.cpus.is_empty() {
        errors.push(ConfigError::InvalidValue {
            node: String::from("/cpus"),
            property: String::from("device_type"),
            value: String::from("no CPU nodes"),
            expected: "at least one node with device_type = \"cpu\"",
        });
    }
    let boot = host
        .boot_cpu_mpidr
        .and_then(|m| info.cpus.iter().position(|c| c.mpidr == m))
        .unwrap_or(0);
    let boot_pool = pools
        .iter()
        .position(|p| p.cpus.contains(&boot))
        .unwrap_or(0);
    // The boot CPU's pool becomes pool 0, as in Xen; the others keep their order.
    let mut order: Vec<usize> = (0..pools.len()).collect();
    if boot_pool < order.len() {
        order.remove(boot_pool);
        order.insert(0, boot_pool);
    }
    let final_index =
        |draft_index: usize| order.iter().position(|o| *o == draft_index).unwrap_or(0);
    let domain_pools = drafts
        .domains
        .iter()
        .map(|d| match d.pool {
            Some(node) => drafts
                .pools
                .iter()
                .position(|p| p.node == node)
                .map_or(0, final_index),
            None => 0,
        })
        .collect();
    let mut sorted = Vec::with_capacity(pools.len());
    for o in &order {
        sorted.push(pools[*o].clone());
    }
    if let Some(first) = sorted.first_mut() {
        if first.name == "Pool-rest" {
            first.name = String::from("Pool-0");
        }
    }
    (sorted, domain_pools)
}

/// Fills every partition's vCPU list and pins vCPUs in `null` and fixed-priority pools.
pub(super) fn place_vcpus(
    info: &HostInfo,
    pools: &[CpuPool],
    drafts: &[DomainDraft],
    partitions: &mut [Partition],
    errors: &mut Errors,
) {
    for (d, p) in drafts.iter().zip(partitions.iter_mut()) {
        let pool = pools.get(p.pool);
        p.vcpus = vec![
            Vcpu {
                affinity: Vec::new(),
                placement: None,
                priority: d.priority
            };
            d.vcpu_count as usize
        ];
        let mut in_pool = vec![false; info.cpus.len()];
        for cpu in pool.map_or(&[][..], |pool| &pool.cpus) {
            if let Some(flag) = in_pool.get_mut(*cpu) {
                *flag = true;
            }
        }
        let mut seen = vec![false; p.vcpus.len()];
        for v in &d.vcpus {
            let Some(slot) = p
                .vcpus
                .get_mut(v.id as usize)
                .filter(|_| !seen[v.id as usize])
            else {
                errors.push(ConfigError::BadVcpuId {
                    node: v.path.clone(),
                    id: v.id,
                    vcpus: d.vcpu_count,
                });
                continue;
            };
            seen[v.id as usize] = true;
            slot.priority = v.priority.unwrap_or(d.priority);
            for cpu in v.affinity.iter() {
                if in_pool.get(cpu).copied().unwrap_or(false) {
                    slot.affinity.push(cpu);
                } else {
                    errors.push_with(|| ConfigError::AffinityOutsidePool {
                        node: v.path.clone(),
                        cpu: cpu as u32,
                        pool: pool.map_or_else(|| String::from("Pool-0"), |p| p.name.clone()),
                    });
                }
            }
        }
    }
    for (index, pool) in pools.iter().enumerate() {
        if pool.scheduler.pins_vcpus() {
            pin(info, index, pool, partitions, errors);
        }
    }
}

/// `bulkhead,weight` and `bulkhead,cap` belong to credit2 pools, and a cap is at most 100%
/// per vCPU.
pub(super) fn check_credit2_settings(
    pools: &[CpuPool],
    drafts: &[DomainDraft],
    partitions: &[Partition],
    errors: &mut Errors,
) {
    for (d, p) in drafts.iter().zip(partitions) {
        let Some(pool) = pools.get(p.pool) else {
            continue;
        };
        if pool.scheduler != Scheduler::Credit2 {
            let given = [
                ("bulkhead,weight", d.weight.map(u32::from)),
                ("bulkhead,cap", d.cap),
            ];
            for (property, value) in given {
                if let Some(value) = value {
                    errors.push(ConfigError::Credit2Only {
                        domain: d.path.clone(),
                        property,
                        value,
                        pool: pool.name.clone(),
                        scheduler: pool.scheduler.name(),
                    });
                }
            }
        }
        let most = d.vcpu_count.saturating_mul(MAX_CAP_PER_VCPU);
        if let Some(cap) = d.cap.filter(|&cap| cap > most) {
            errors.push(ConfigError::CapTooLarge {
                domain: d.path.clone(),
                cap,
                vcpus: d.vcpu_count,
            });
        }
    }
}

fn pin(
    info: &HostInfo,
    index: usize,
    pool: &CpuPool,
    partitions: &mut [Partition],
    errors: &mut Errors,
) {
    let vcpus: u32 = partitions
        .iter()
        .filter(|p| p.pool == index)
        .map(|p| p.vcpu_count)
        .sum();
    let null = pool.scheduler == Scheduler::Null;
    if null && vcpus as usize > pool.cpus.len() {
        errors.push(ConfigError::NullPoolOvercommitted {
            pool: pool.name.clone(),
            vcpus,
            cpus: pool.cpus.len() as u32,
        });
        return;
    }
    let mut load = vec![0u32; info.cpus.len()];
    // vCPUs with the narrowest affinity choose first, so free choices do not take their CPUs.
    let mut order: Vec<(usize, usize)> = Vec::new();
    for (pi, p) in partitions
        .iter()
        .enumerate()
        .filter(|(_, p)| p.pool == index)
    {
        order.extend((0..p.vcpus.len()).map(|v| (pi, v)));
    }
    // By affinity size, then in the order listed (the partition, then the vCPU).
    crate::sort::sort_by_key(&mut order, |&(pi, v)| {
        let size = match partitions[pi].vcpus[v].affinity.len() {
            0 => usize::MAX,
            n => n,
        };
        (size, pi, v)
    });
    for (pi, id) in order {
        let name = partitions[pi].name.clone();
        let v = &mut partitions[pi].vcpus[id];
        let candidates = if v.affinity.is_empty() {
            &pool.cpus
        } else {
            &v.affinity
        };
        let best = candidates
            .iter()
            .copied()
            .filter(|c| *c < load.len())
            .min_by_key(|c| load[*c]);
        match best {
            Some(cpu) if !null || load[cpu] == 0 => {
                load[cpu] += 1;
                v.placement = Some(Placement {
                    cpu,
                    mpidr: info.cpus[cpu].mpidr,
                });
            }
            _ => errors.push(ConfigError::AffinityOutsidePool {
                node: format!("/chosen/{name}/vcpu {id}"),
                cpu: candidates.first().copied().unwrap_or(0) as u32,
                pool: format!("{} (every allowed CPU already runs a vCPU)", pool.name),
            }),
        }
    }
}
