//! Hostile guests: random operations with random arguments never panic, and the invariants
//! of the tables hold after each one.

use super::*;
use crate::portable::evtchn::abi::{op, DOMID_SELF};

use crate::portable::test_rng::Rng;

/// Mostly small values (ports, vCPUs), sometimes just past the 2-level ABI's 1024 ports,
/// sometimes anything.
fn value(rng: &mut Rng) -> u32 {
    match rng.below(8) {
        0 => rng.word() as u32,
        1 => 1023 + rng.below(3) as u32,
        _ => rng.below(80) as u32,
    }
}

fn check_invariants(w: &World) {
    for (p, t) in w.tables.iter().enumerate() {
        assert_eq!(
            t.binding(0),
            Some(Binding::Reserved),
            "partition {p}: port 0"
        );
        for port in 1..=t.max_port() {
            let Some(Binding::Interdomain {
                partition,
                port: remote,
                ..
            }) = t.binding(port)
            else {
                continue;
            };
            // Every interdomain end is matched by its peer (the world applies notices at once).
            let back = w.tables[partition].binding(remote);
            assert!(
                matches!(back, Some(Binding::Interdomain { partition: q, port: r, .. }) if q == p && r == port),
                "partition {p} port {port} -> {partition}:{remote}, which is {back:?}"
            );
        }
    }
}

fn random_op(w: &mut World, rng: &mut Rng) {
    let p = (rng.word() % 2) as usize;
    let (a, b) = (value(rng), value(rng));
    let dom = match rng.word() % 4 {
        0 => DOMID_SELF,
        1 => rng.word() as u16,
        _ => (rng.word() % 3) as u16,
    };
    let mut fx = Effects::default();
    let (t, m) = (&mut w.tables[p], &mut w.mems[p]);
    let _ = &mut fx;
    match (rng.word() % 18) as u32 {
        op::BIND_INTERDOMAIN => drop(w.bind_interdomain(p, dom, a)),
        op::BIND_VIRQ => drop(t.bind_virq(a % 30, b % 4, m)),
        op::CLOSE => drop(w.close(p, a)),
        op::SEND => drop(w.send(p, a)),
        op::STATUS => drop(resolve_domid(dom, p, 2).map(|d| w.tables[d].status(p, a))),
        op::ALLOC_UNBOUND => drop(w.alloc_unbound(p, dom, rng.word() as u16)),
        op::BIND_IPI => drop(t.bind_ipi(a % 4, m)),
        op::BIND_VCPU => drop(t.bind_vcpu(a, b % 4)),
        op::UNMASK => drop(w.unmask(p, a)),
        op::RESET => {
            if rng.word().is_multiple_of(8) {
                w.reset(p)
            }
        }
        op::INIT_CONTROL => {
            let gfn = if rng.word().is_multiple_of(2) {
                SHARED_GFN + 1
            } else {
                rng.word()
            };
            let _ = t.init_control(gfn, a, b % 4, m);
        }
        op::EXPAND_ARRAY => {
            let gfn = SHARED_GFN + 2 + rng.word() % 200;
            let _ = t.expand_array(gfn, m, &mut fx);
        }
        op::SET_PRIORITY => drop(t.set_priority(a, b % 20)),
        15 => {
            let address = match rng.word() % 3 {
                0 => rng.word(),
                1 => u64::MAX - 7,
                _ => RAM + 0x3000,
            };
            let _ = t.set_vcpu_info((rng.word() % 3) as u16, address);
        }
        16 => t.raise_virq(a % 30, (b % 3) as u16, m, &mut fx),
        _ => {
            // The guest scribbles over its own event memory.
            let address = SHARED + 4 * (rng.word() % 2048);
            let value = rng.word() as u32;
            w.mems[p].set(address, value);
        }
    }
    if rng.word().is_multiple_of(500) {
        w.stop(p);
        w.tables[p].set_shared_info(Some(SHARED)).unwrap();
    }
}

#[test]
fn random_operation_sequences_never_panic() {
    for seed in 1..=20u64 {
        let mut w = World::new(2, 2);
        w.tolerate_faults = true;
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        for _ in 0..2_000 {
            random_op(&mut w, &mut rng);
            check_invariants(&w);
        }
    }
}
