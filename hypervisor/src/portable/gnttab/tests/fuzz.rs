//! Hostile guests: random operations with random arguments (and entries rewritten at random,
//! as a guest may) never panic, and after each one no stage 2 maps a page that is neither the
//! partition's own nor pinned for it by its granter.

use super::*;
use crate::portable::gnttab::abi::{gntcopy, gntmap, DOMID_SELF, WINDOW_BASE};

use crate::portable::test_rng::Rng;

fn check(w: &World) {
    let n = w.grants.len();
    let mut pins = std::collections::BTreeMap::<(usize, u32), (usize, u32, u32)>::new();
    for p in 0..n {
        let t = w.grants.table(p).unwrap();
        for (_, m) in t.mappings() {
            assert_eq!(t.physmap().page(m.gfn), Some(Page::Granted));
            let e = pins.entry((m.granter, m.gref)).or_insert((p, 0, 0));
            assert_eq!(e.0, p, "one grant pinned by two partitions");
            if m.readonly {
                e.2 += 1
            } else {
                e.1 += 1
            }
        }
    }
    for g in 0..n {
        let t = w.grants.table(g).unwrap();
        for gref in 0..t.entries() {
            let want = pins.get(&(g, gref)).copied();
            let have = t
                .pins(gref)
                .map(|(p, wr, rd)| (p, u32::from(wr), u32::from(rd)));
            assert_eq!(have, want, "pins of partition {g} gref {gref}");
        }
    }
    for (&(p, gfn), m) in &w.s2.entries {
        let t = w.grants.table(p).unwrap();
        match *m {
            Mapped::TableFrame(i) => assert_eq!(t.frame_gfn(i), Some(gfn)),
            Mapped::Ram(frame, access) => match t.physmap().page(gfn) {
                Some(Page::Populated) => {
                    assert_eq!(t.physmap().present_frame(gfn), Some(frame));
                }
                Some(Page::Granted) => {
                    let (_, m) = t
                        .mappings()
                        .find(|(_, m)| m.gfn == gfn)
                        .expect("maptrack entry");
                    let granter = w.grants.table(m.granter).unwrap();
                    assert!(
                        granter.physmap().owns(frame),
                        "a page the granter does not own"
                    );
                    assert_eq!(access == Access::ReadOnly, m.readonly);
                }
                other => panic!("partition {p} maps {gfn:#x} ({other:?})"),
            },
        }
    }
}

fn step(w: &mut World, rng: &mut Rng, ok: &mut [u32; 3]) {
    let n = w.grants.len();
    let p = (rng.word() % n as u64) as usize;
    let dom = match rng.word() % 8 {
        0 => DOMID_SELF,
        1 => rng.word() as u16,
        2 => 0,
        _ => (1 + rng.word() % n as u64) as u16,
    };
    let gref = rng.small(6) as u32;
    let page = if rng.word().is_multiple_of(4) {
        rng.small(RAM_PAGES + 2)
    } else {
        rng.small(16)
    };
    match rng.word() % 10 {
        0 | 1 => {
            let flags = match rng.word() % 4 {
                0 => rng.word() as u16 & 0x1ff,
                1 => abi::gtf::PERMIT_ACCESS | abi::gtf::READONLY,
                _ => abi::gtf::PERMIT_ACCESS,
            };
            let to = (1 + rng.small(n as u64)) as u16;
            let at = u64::from(gref).wrapping_mul(abi::ENTRY_SIZE);
            if w.grants.table(p).is_some_and(|t| at < u64::from(t.frames()) * PAGE_SIZE) {
                w.mem
                    .grant(p, gref, flags, to, RAM_GFN.wrapping_add(page) as u32);
            }
        }
        2 | 3 => {
            let flags = match rng.word() % 4 {
                0 => rng.word() as u32,
                1 => gntmap::HOST_MAP | gntmap::READONLY,
                _ => gntmap::HOST_MAP,
            };
            let host_addr = RAM_GFN
                .wrapping_add(rng.small(32))
                .wrapping_mul(PAGE_SIZE)
                .wrapping_add(rng.word() % 2);
            let req = MapRequest {
                host_addr,
                flags,
                gref,
                dom,
            };
            ok[0] += u32::from(w.grants.map(p, &req, &mut w.mem, &mut w.s2).is_ok());
        }
        4 => {
            let mapped: Vec<_> = w.grants.table(p).unwrap().mappings().collect();
            let (handle, host_addr) = match (rng.word() % 3, mapped.first()) {
                (0, _) | (_, None) => (rng.small(4) as u32, rng.small(4).wrapping_mul(PAGE_SIZE)),
                (_, Some(&(h, m))) => (h, m.gfn * PAGE_SIZE),
            };
            let req = UnmapRequest {
                host_addr,
                handle,
                new_addr: 0,
            };
            ok[1] += u32::from(w.grants.unmap(p, &req, &mut w.mem, &mut w.s2).is_ok());
        }
        5 => {
            let side = |rng: &mut Rng| CopyPtr {
                value: if rng.word().is_multiple_of(2) {
                    rng.small(6)
                } else {
                    RAM_GFN.wrapping_add(rng.small(32))
                },
                domid: if rng.word().is_multiple_of(2) {
                    DOMID_SELF
                } else {
                    (rng.word() % 4) as u16
                },
                offset: rng.small(2048) as u16,
            };
            let req = CopyRequest {
                source: side(rng),
                dest: side(rng),
                len: rng.small(2049) as u16,
                flags: (rng.word() % 4) as u16 & (gntcopy::SOURCE_GREF | gntcopy::DEST_GREF),
            };
            ok[2] += u32::from(w.copy(p, req).is_ok());
        }
        6 => {
            let order = rng.small(3) as u32;
            let pm = w.grants.table_mut(p).unwrap().physmap_mut();
            let _ = if rng.word().is_multiple_of(2) {
                pm.decrease(p, RAM_GFN.wrapping_add(page), order, &mut w.s2, &mut w.mem)
            } else {
                pm.populate(p, RAM_GFN.wrapping_add(page), order, &mut w.s2, &mut w.mem)
            };
        }
        7 => {
            let gfn = (WINDOW_BASE / PAGE_SIZE).wrapping_add(rng.small(6));
            let _ = w.grants.map_table_frame(p, rng.small(6), gfn, &mut w.s2, &mut w.mem);
        }
        8 => {
            let _ = w
                .grants
                .setup_table(p, dom, rng.small(6) as u32, &mut w.mem)
                .map(|l| l.count());
        }
        _ => {
            if rng.word().is_multiple_of(16) {
                w.stop(p);
            }
        }
    }
}

#[test]
fn random_operations_keep_every_mapping_granted() {
    let mut w = World::with_limits(
        3,
        Limits {
            max_grant_frames: 4,
            max_maptrack_frames: 1,
        },
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ok = [0; 3];
    for _ in 0..20_000 {
        step(&mut w, &mut rng, &mut ok);
        check(&w);
    }
    eprintln!("successful map, unmap, copy: {ok:?}");
    // The generator reaches the successful paths too.
    assert!(
        ok.iter().all(|&n| n > 20),
        "successful map, unmap, copy: {ok:?}"
    );
}
