//! Property test: arbitrary bytes and mutated valid trees never make the parser or the
//! validator panic; they return a plan or errors.
//!
//! A seeded generator keeps failures reproducible; each case prints its seed on failure.

mod common;

use dom0less_config::devicetree::{AddressRange, Tree};
use dom0less_config::{HostFacts, PartitionPlan};

/// xorshift64*: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn host() -> HostFacts<'static> {
    HostFacts {
        hypervisor: AddressRange::new(0x4000_0000, 0x20_0000).unwrap(),
        boot_cpu_mpidr: None,
        modules: None,
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..3000 {
        let len = rng.below(512);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Half of the cases get a plausible header so the structure walker is reached.
        if len >= 40 && rng.next().is_multiple_of(2) {
            bytes[..4].copy_from_slice(&0xd00d_feedu32.to_be_bytes());
            bytes[4..8].copy_from_slice(&(len as u32).to_be_bytes());
            bytes[20..24].copy_from_slice(&17u32.to_be_bytes());
        }
        let _ = PartitionPlan::from_host_tree(&bytes, &host());
    }
}

/// Mutates one valid fixture in structure-aware and byte-level ways.
fn mutate(rng: &mut Rng, blob: &[u8]) -> Vec<u8> {
    let mut out = blob.to_vec();
    match rng.below(4) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(out.len());
                out[at] = rng.next() as u8;
            }
        }
        1 => {
            // Overwrite an aligned word with an interesting value: a token, 0, or all ones.
            let words = [1u32, 2, 3, 4, 9, 0, u32::MAX, 0x8000_0000];
            let at = rng.below(out.len() / 4) * 4;
            let value = words[rng.below(words.len())].to_be_bytes();
            out[at..at + 4].copy_from_slice(&value);
        }
        2 => out.truncate(rng.below(out.len())),
        _ => {
            // Rewrite one property value of a parsed tree, keeping the blob well-formed.
            if let Ok(mut tree) = Tree::parse(blob) {
                let ids: Vec<_> = tree.node_ids().collect();
                let id = ids[rng.below(ids.len())];
                let props: Vec<String> = tree
                    .node(id)
                    .properties()
                    .iter()
                    .map(|p| p.name().to_string())
                    .collect();
                if !props.is_empty() {
                    let name = &props[rng.below(props.len())];
                    let len = rng.below(24);
                    let value = (0..len).map(|_| rng.next() as u8).collect();
                    tree.set_property(id, name, value);
                }
                out = tree.to_dtb();
            }
        }
    }
    out
}

#[test]
fn mutated_valid_trees_never_panic() {
    let fixtures = [
        "valid-two-linux",
        "valid-cpupools",
        "valid-static-mem",
        "valid-channels",
        "reject-device-twice",
    ];
    for (index, name) in fixtures.iter().enumerate() {
        let blob = common::compile(name);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ index as u64);
        for _ in 0..600 {
            let mutated = mutate(&mut rng, &blob);
            let _ = PartitionPlan::from_host_tree(&mutated, &host());
        }
    }
}
