//! query_size, setup_table, set_version, get_status_frames, transfer and the grant frames in
//! the window.

use super::*;
use crate::portable::evtchn::Errno;
use crate::portable::gnttab::abi::{DOMID_SELF, INVALID_GFN, MAPIDX_STATUS, WINDOW_BASE};

const WIN: u64 = WINDOW_BASE / PAGE_SIZE;

#[test]
fn query_size_and_defaults() {
    let w = World::new(2);
    let size = w.grants.query_size(0, DOMID_SELF).unwrap();
    assert_eq!(
        size,
        Size {
            frames: 1,
            max_frames: 64
        }
    );
    assert_eq!(w.grants.query_size(0, DOM1), Ok(size));
    assert_eq!(
        w.grants.query_size(0, DOM2),
        Err(GrantStatus::PermissionDenied)
    );
    assert_eq!(w.grants.query_size(0, 3), Err(GrantStatus::BadDomain));
    assert_eq!(w.grants.query_size(0, 0), Err(GrantStatus::BadDomain));
    let limits = Limits::from_plan(Some(4), Some(2));
    assert_eq!(
        limits,
        Limits {
            max_grant_frames: 4,
            max_maptrack_frames: 2
        }
    );
    let w = World::with_limits(1, limits);
    assert_eq!(w.grants.query_size(0, DOMID_SELF).unwrap().max_frames, 4);
    assert_eq!(
        w.grants.table(0).unwrap().maptrack_limit() as usize,
        256,
        "2 frames of 256, capped by RAM pages"
    );
}

#[test]
fn setup_table_grows_and_lists_frames() {
    let mut w = World::with_limits(
        2,
        Limits {
            max_grant_frames: 4,
            max_maptrack_frames: 1,
        },
    );
    assert_eq!(
        w.grants.setup_table(0, DOMID_SELF, 5, &mut w.mem).err(),
        Some(GrantStatus::GeneralError)
    );
    assert_eq!(
        w.grants.setup_table(0, DOM2, 1, &mut w.mem).err(),
        Some(GrantStatus::PermissionDenied)
    );
    assert_eq!(
        w.grants.setup_table(0, 7, 1, &mut w.mem).err(),
        Some(GrantStatus::BadDomain)
    );
    w.grants.map_table_frame(0, 1, WIN + 1, &mut w.s2, &mut w.mem).unwrap();
    let list: Vec<u64> = w.grants.setup_table(0, DOMID_SELF, 3, &mut w.mem).unwrap().collect();
    assert_eq!(list, vec![INVALID_GFN, WIN + 1, INVALID_GFN]);
    assert_eq!(w.grants.table(0).unwrap().frames(), 3);
    assert_eq!(w.grants.table(0).unwrap().entries(), 3 * 512);
    let none: Vec<u64> = w.grants.setup_table(0, DOMID_SELF, 0, &mut w.mem).unwrap().collect();
    assert!(none.is_empty());
    assert_eq!(w.grants.table(0).unwrap().frames(), 3, "never shrinks");
}

#[test]
fn versions_and_refused_operations() {
    assert_eq!(Grants::set_version(1), Ok(1));
    assert_eq!(Grants::set_version(2), Err(Errno::Enosys));
    assert_eq!(Grants::set_version(0), Err(Errno::Einval));
    assert_eq!(Grants::set_version(3), Err(Errno::Einval));
    let w = World::new(2);
    assert_eq!(
        w.grants.get_status_frames(0, DOMID_SELF),
        GrantStatus::GeneralError
    );
    assert_eq!(
        w.grants.get_status_frames(0, DOM2),
        GrantStatus::PermissionDenied
    );
    assert_eq!(w.grants.get_status_frames(0, 9), GrantStatus::BadDomain);
    assert_eq!(Grants::transfer(), Errno::Eopnotsupp);
}

#[test]
fn table_frames_in_the_window() {
    let mut w = World::with_limits(
        1,
        Limits {
            max_grant_frames: 4,
            max_maptrack_frames: 1,
        },
    );
    w.grants.map_table_frame(0, 0, WIN, &mut w.s2, &mut w.mem).unwrap();
    assert_eq!(w.s2.at(0, WIN), Some(Mapped::TableFrame(0)));
    assert_eq!(
        w.grants.map_table_frame(0, 4, WIN + 4, &mut w.s2, &mut w.mem),
        Err(Errno::Einval),
        "past max_grant_frames"
    );
    assert_eq!(
        w.grants.map_table_frame(0, u64::MAX, WIN, &mut w.s2, &mut w.mem),
        Err(Errno::Einval)
    );
    assert_eq!(
        w.grants.map_table_frame(0, MAPIDX_STATUS, WIN, &mut w.s2, &mut w.mem),
        Err(Errno::Einval),
        "v2 status frame"
    );
    assert_eq!(
        w.grants.map_table_frame(0, 1, RAM_GFN, &mut w.s2, &mut w.mem),
        Err(Errno::Einval),
        "over RAM"
    );
    assert_eq!(
        w.grants.map_table_frame(0, 1, WIN + 4096, &mut w.s2, &mut w.mem),
        Err(Errno::Einval),
        "past the window"
    );
    assert_eq!(
        w.s2.at(0, RAM_GFN).map(|m| matches!(m, Mapped::Ram(..))),
        Some(true)
    );
    // Moving frame 0 unmaps its old place; frame 3 grows the table to 4 frames.
    w.grants.map_table_frame(0, 0, WIN + 8, &mut w.s2, &mut w.mem).unwrap();
    assert_eq!(w.s2.at(0, WIN), None);
    w.grants.map_table_frame(0, 3, WIN + 8, &mut w.s2, &mut w.mem).unwrap();
    assert_eq!(w.s2.at(0, WIN + 8), Some(Mapped::TableFrame(3)));
    assert_eq!(w.grants.table(0).unwrap().frame_gfn(0), None, "displaced");
    assert_eq!(w.grants.table(0).unwrap().frames(), 4);
    w.s2.full = true;
    assert_eq!(
        w.grants.map_table_frame(0, 1, WIN + 1, &mut w.s2, &mut w.mem),
        Err(Errno::Enomem)
    );
}
