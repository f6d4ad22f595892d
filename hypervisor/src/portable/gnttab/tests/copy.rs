//! GNTTABOP_copy: both directions, gref and frame sides, every bound.

use super::*;
use crate::portable::gnttab::abi::{gntcopy, DOMID_SELF};

fn gref(gref: u32, domid: u16, offset: u16) -> CopyPtr {
    CopyPtr {
        value: u64::from(gref),
        domid,
        offset,
    }
}

fn frame(page: u64, offset: u16) -> CopyPtr {
    CopyPtr {
        value: RAM_GFN + page,
        domid: DOMID_SELF,
        offset,
    }
}

#[test]
fn copy_into_and_out_of_a_grant() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, false);
    for i in 0..16u64 {
        w.mem.bytes.insert(w.host(1, 5) + 100 + i, i as u8 + 1);
    }
    // From the caller's own frame into partition 0's granted page.
    let to_grant = CopyRequest {
        source: frame(5, 100),
        dest: gref(1, DOM1, 4000),
        len: 16,
        flags: gntcopy::DEST_GREF,
    };
    w.copy(1, to_grant).unwrap();
    assert_eq!(w.mem.byte(w.host(0, 3) + 4000), 1);
    assert_eq!(w.mem.byte(w.host(0, 3) + 4015), 16);
    assert_eq!(
        w.mem.flags(0, 1),
        gtf::PERMIT_ACCESS,
        "flags cleared after the copy"
    );
    // And back out into another frame.
    let from_grant = CopyRequest {
        source: gref(1, DOM1, 4000),
        dest: frame(6, 0),
        len: 16,
        flags: gntcopy::SOURCE_GREF,
    };
    w.copy(1, from_grant).unwrap();
    assert_eq!(w.mem.byte(w.host(1, 6) + 15), 16);
    // Grant to grant, within one page.
    let both = CopyRequest {
        source: gref(1, DOM1, 4000),
        dest: gref(1, DOM1, 0),
        len: 96,
        flags: gntcopy::SOURCE_GREF | gntcopy::DEST_GREF,
    };
    w.copy(1, both).unwrap();
    assert_eq!(w.mem.byte(w.host(0, 3)), 1);
    assert_eq!(w.grants.table(0).unwrap().pins(1), None);
}

#[test]
fn copy_status_codes() {
    let mut w = World::new(3);
    w.grant(0, 1, 1, 3, false);
    w.grant(0, 2, 1, 4, true);
    let ok = CopyRequest {
        source: frame(5, 0),
        dest: gref(1, DOM1, 0),
        len: 8,
        flags: gntcopy::DEST_GREF,
    };
    // A frame side must say DOMID_SELF, even with the caller's own id.
    let own_id = CopyRequest {
        source: CopyPtr {
            domid: DOM2,
            ..frame(5, 0)
        },
        ..ok
    };
    assert_eq!(w.copy(1, own_id), Err(GrantStatus::PermissionDenied));
    let foreign_frame = CopyRequest {
        dest: CopyPtr {
            domid: DOM1,
            ..frame(5, 0)
        },
        flags: 0,
        ..ok
    };
    assert_eq!(w.copy(1, foreign_frame), Err(GrantStatus::PermissionDenied));
    assert_eq!(
        w.copy(
            1,
            CopyRequest {
                dest: gref(1, 9, 0),
                ..ok
            }
        ),
        Err(GrantStatus::BadDomain)
    );
    assert_eq!(
        w.copy(
            1,
            CopyRequest {
                dest: gref(512, DOM1, 0),
                ..ok
            }
        ),
        Err(GrantStatus::BadGntref)
    );
    assert_eq!(
        w.copy(2, ok),
        Err(GrantStatus::GeneralError),
        "granted to partition 1 only"
    );
    assert_eq!(
        w.copy(
            1,
            CopyRequest {
                dest: gref(2, DOM1, 0),
                ..ok
            }
        ),
        Err(GrantStatus::GeneralError),
        "read-only grant as destination"
    );
    // A read-only grant is a fine source.
    let ro_source = CopyRequest {
        source: gref(2, DOM1, 0),
        dest: frame(5, 0),
        len: 8,
        flags: gntcopy::SOURCE_GREF,
    };
    assert_eq!(w.copy(1, ro_source), Ok(()));
    assert_eq!(
        w.copy(
            1,
            CopyRequest {
                source: frame(RAM_PAGES, 0),
                ..ok
            }
        ),
        Err(GrantStatus::BadPage)
    );
    assert_eq!(
        w.copy(
            1,
            CopyRequest {
                source: CopyPtr {
                    value: u64::MAX,
                    ..frame(0, 0)
                },
                ..ok
            }
        ),
        Err(GrantStatus::BadPage)
    );
    // Page bounds: offset + len past 4096 on either side.
    assert_eq!(
        w.copy(1, CopyRequest { len: 4097, ..ok }),
        Err(GrantStatus::BadCopyArg)
    );
    assert_eq!(
        w.copy(
            1,
            CopyRequest {
                dest: gref(1, DOM1, 4089),
                ..ok
            }
        ),
        Err(GrantStatus::BadCopyArg)
    );
    assert_eq!(
        w.copy(
            1,
            CopyRequest {
                source: frame(5, u16::MAX),
                len: u16::MAX,
                ..ok
            }
        ),
        Err(GrantStatus::BadCopyArg)
    );
    assert_eq!(
        w.copy(
            1,
            CopyRequest {
                dest: gref(1, DOM1, 4088),
                ..ok
            }
        ),
        Ok(()),
        "exactly to the end"
    );
    assert_eq!(w.mem.flags(0, 1), gtf::PERMIT_ACCESS);
    assert_eq!(w.mem.flags(0, 2), gtf::PERMIT_ACCESS | gtf::READONLY);
    assert_eq!(w.grants.table(0).unwrap().pins(1), None);
}

#[test]
fn copy_keeps_a_mapping_pin() {
    let mut w = World::new(2);
    w.grant(0, 1, 1, 3, false);
    let h = w.map(1, DOM1, 1, 10, gntmap_ro()).unwrap();
    let req = CopyRequest {
        source: frame(5, 0),
        dest: gref(1, DOM1, 0),
        len: 8,
        flags: gntcopy::DEST_GREF,
    };
    w.copy(1, req).unwrap();
    assert_eq!(
        w.mem.flags(0, 1),
        gtf::PERMIT_ACCESS | gtf::READING,
        "the read-only map still pins it"
    );
    w.unmap(1, h, 10).unwrap();
    assert_eq!(w.mem.flags(0, 1), gtf::PERMIT_ACCESS);
}

fn gntmap_ro() -> u32 {
    use crate::portable::gnttab::abi::gntmap;
    gntmap::HOST_MAP | gntmap::READONLY
}
