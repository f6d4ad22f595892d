//! Static event channels and static shared memory between partitions.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::devicetree::{AddressRange, NodeId, Tree};
use crate::error::ConfigError;
use crate::findings::Errors;
use crate::parse::{ChannelDraft, DomainDraft};
use crate::plan::{EventChannel, Partition, SharedMapping, SharedRegion};

/// Groups shared memory nodes by `xen,shm-id`, checking that they agree.
pub(super) fn shared_memory(
    drafts: &[DomainDraft],
    partitions: &mut [Partition],
    errors: &mut Errors,
) -> Vec<SharedRegion> {
    let mut regions: Vec<SharedRegion> = Vec::new();
    let mut by_id: BTreeMap<&str, usize> = BTreeMap::new();
    // The node that defined each region's range and the node that claimed ownership.
    let mut first_node: Vec<String> = Vec::new();
    let mut owner_node: Vec<Option<String>> = Vec::new();
    for (d_index, (d, p)) in drafts.iter().zip(partitions.iter_mut()).enumerate() {
        for s in &d.shared {
            // Parsing refused a host range that wraps past 2^64.
            let host = s.host.and_then(|h| AddressRange::new(h, s.size));
            let index = match by_id.get(s.id.as_str()).copied() {
                None => {
                    by_id.insert(&s.id, regions.len());
                    regions.push(SharedRegion {
                        id: s.id.clone(),
                        host,
                        size: s.size,
                        owner: None,
                    });
                    first_node.push(s.path.clone());
                    owner_node.push(None);
                    regions.len() - 1
                }
                Some(i) => {
                    let region = &mut regions[i];
                    let shown = |r: &SharedRegion| {
                        r.host.or(AddressRange::new(0, r.size)).unwrap_or_default()
                    };
                    let disagree = region.size != s.size
                        || matches!((region.host, host), (Some(a), Some(b)) if a != b);
                    if disagree {
                        errors.push(ConfigError::SharedMemoryMismatch {
                            id: s.id.clone(),
                            node: s.path.clone(),
                            range: host.or(AddressRange::new(0, s.size)).unwrap_or_default(),
                            other: first_node[i].clone(),
                            other_range: shown(region),
                        });
                    } else if region.host.is_none() {
                        region.host = host;
                    }
                    i
                }
            };
            if s.owner {
                match &owner_node[index] {
                    Some(first) => errors.push(ConfigError::SharedMemoryOwners {
                        id: s.id.clone(),
                        first: first.clone(),
                        second: s.path.clone(),
                    }),
                    None => {
                        owner_node[index] = Some(s.path.clone());
                        regions[index].owner = Some(d_index);
                    }
                }
            }
            p.shared_memory.push(SharedMapping {
                region: index,
                guest_address: s.guest,
                owner: s.owner,
            });
        }
    }
    for (region, node) in regions.iter().zip(&first_node) {
        if region.host.is_none() {
            errors.push(ConfigError::SharedMemoryNoHost {
                id: region.id.clone(),
                node: node.clone(),
            });
        }
    }
    regions
}

/// Resolves static event channel links and checks ports.
pub(super) fn event_channels(
    tree: &Tree,
    drafts: &[DomainDraft],
    partitions: &mut [Partition],
    errors: &mut Errors,
) {
    for d in drafts {
        for (i, c) in d.channels.iter().enumerate() {
            // At most MAX_EVENT_CHANNELS per domain, so the quadratic search is bounded.
            if let Some(first) = d.channels[..i].iter().find(|o| o.port == c.port) {
                errors.push_with(|| ConfigError::DuplicatePort {
                    domain: d.path.clone(),
                    port: c.port,
                    first: first.path.clone(),
                    second: c.path.clone(),
                });
            }
        }
    }
    // Every channel by node, sorted, so that resolving a peer costs O(log n).
    // The channel's position in its domain breaks ties, as a stable sort would.
    let mut by_node: Vec<(NodeId, usize, usize, &ChannelDraft)> = drafts
        .iter()
        .enumerate()
        .flat_map(|(di, d)| d.channels.iter().enumerate().map(move |(ci, c)| (c.node, di, ci, c)))
        .collect();
    crate::sort::sort_by_key(&mut by_node, |&(node, di, ci, _)| (node, di, ci));
    let find = |node: NodeId| {
        let at = by_node.partition_point(|(n, _, _, _)| *n < node);
        by_node
            .get(at)
            .filter(|(n, _, _, _)| *n == node)
            .map(|(_, di, _, c)| (*di, *c))
    };
    for (d, p) in drafts.iter().zip(partitions.iter_mut()) {
        for c in &d.channels {
            let Some((remote_domain, remote)) = find(c.remote) else {
                errors.push(ConfigError::WrongPhandleTarget {
                    node: c.path.clone(),
                    property: "xen,evtchn",
                    target: tree.path(c.remote),
                    expected: "a xen,evtchn-v1 node inside a xen,domain node",
                });
                continue;
            };
            if remote.remote != c.node {
                errors.push(ConfigError::ChannelNotMutual {
                    node: c.path.clone(),
                    remote: remote.path.clone(),
                    remote_links_to: tree.path(remote.remote),
                });
                continue;
            }
            p.event_channels.push(EventChannel {
                port: c.port,
                remote_partition: remote_domain,
                remote_port: remote.port,
            });
        }
    }
}

/// Resolves `bulkhead,evtchn-peers` names to partition indexes, and checks that every static
/// event channel joins two partitions that admit each other.
pub(super) fn evtchn_peers(drafts: &[DomainDraft], partitions: &mut [Partition], errors: &mut Errors) {
    for (d, p) in drafts.iter().zip(partitions.iter_mut()) {
        let Some(names) = &d.evtchn_peers else { continue };
        let mut peers = Vec::new();
        for name in names {
            match drafts.iter().position(|o| &o.name == name) {
                Some(index) if !peers.contains(&index) => peers.push(index),
                Some(_) => {}
                None => errors.push(ConfigError::UnknownPeer {
                    domain: d.path.clone(),
                    name: name.clone(),
                }),
            }
        }
        p.evtchn_peers = Some(peers);
    }
    let admits = |p: &Partition, other: usize| p.evtchn_peers.as_ref().is_none_or(|l| l.contains(&other));
    for (index, (d, p)) in drafts.iter().zip(partitions.iter()).enumerate() {
        for c in &p.event_channels {
            let Some(remote) = partitions.get(c.remote_partition) else { continue };
            if !admits(p, c.remote_partition) || !admits(remote, index) {
                errors.push(ConfigError::ChannelNotPermitted {
                    domain: d.path.clone(),
                    port: c.port,
                    peer: remote.name.clone(),
                });
            }
        }
    }
}
