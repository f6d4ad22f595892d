//! The table-level operations: `query_size`, `setup_table`, `set_version`,
//! `get_status_frames`, `transfer`, and `XENMEM_add_to_physmap` with
//! `XENMAPSPACE_grant_table` (a grant frame mapped into the grant-table window).

use super::abi::{
    GrantStatus, INITIAL_FRAMES, INVALID_GFN, MAPIDX_STATUS, PAGE_SIZE, WINDOW_BASE, WINDOW_SIZE,
};
use super::memory::{GrantMemory, Stage2};
use super::ops::Grants;
use crate::portable::evtchn::Errno;

/// `query_size`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub frames: u32,
    pub max_frames: u32,
}

impl Grants {
    /// The table a size or setup call may see: the caller's own (`DOMID_SELF` or its id);
    /// another partition's exists but a domU is not privileged for it.
    fn own_table(&self, caller: usize, dom: u16) -> Result<usize, GrantStatus> {
        match self.by_any_id(caller, dom) {
            None => Err(GrantStatus::BadDomain),
            Some(p) if p != caller => Err(GrantStatus::PermissionDenied),
            Some(p) => Ok(p),
        }
    }

    /// `GNTTABOP_query_size` (count 1; the dispatch answers -EINVAL for others).
    pub fn query_size(&self, caller: usize, dom: u16) -> Result<Size, GrantStatus> {
        let table = self
            .tables
            .get(self.own_table(caller, dom)?)
            .ok_or(GrantStatus::BadDomain)?;
        Ok(Size {
            frames: table.frames,
            max_frames: table.max_frames,
        })
    }

    /// Gives partition `partition`'s table Xen's initial frame (`INITIAL_NR_GRANT_FRAMES`),
    /// before it starts; false if the machine has no page for it. A table without frames
    /// (`max_grant_frames` 0: no `xen,enhanced`) stays empty.
    pub fn start_table(&mut self, partition: usize, mem: &mut impl GrantMemory) -> bool {
        self.tables.get_mut(partition).is_some_and(|t| {
            let frames = INITIAL_FRAMES.min(t.max_frames);
            t.grow(frames, mem)
        })
    }

    /// `GNTTABOP_setup_table`: grows the table to `nr_frames` and answers where each of the
    /// first `nr_frames` frames is mapped in the caller (`INVALID_GFN` where it is not, as Xen
    /// on Arm: a guest maps its frames with `add_to_physmap`). More than `max_grant_frames`,
    /// or a growth the machine has no pages for, is `GNTST_general_error`, as on Xen (its
    /// `gnttab_grow_table` failing); the table then keeps its size.
    pub fn setup_table(
        &mut self,
        caller: usize,
        dom: u16,
        nr_frames: u32,
        mem: &mut impl GrantMemory,
    ) -> Result<impl Iterator<Item = u64> + '_, GrantStatus> {
        let p = self.own_table(caller, dom)?;
        let table = self.tables.get_mut(p).ok_or(GrantStatus::BadDomain)?;
        if nr_frames > table.max_frames || !table.grow(nr_frames, mem) {
            return Err(GrantStatus::GeneralError);
        }
        let table = &*table;
        Ok((0..nr_frames).map(move |i| table.frame_gfn(i).unwrap_or(INVALID_GFN)))
    }

    /// `GNTTABOP_set_version`: 1 is accepted (and is what every table already is); 2 is
    /// refused with -ENOSYS, as Xen answers when v2 is not allowed (`gnttab=max-ver:1`); any
    /// other version is -EINVAL. The version written back is always 1.
    pub fn set_version(version: u32) -> Result<u32, Errno> {
        match version {
            1 => Ok(1),
            2 => Err(Errno::Enosys),
            _ => Err(Errno::Einval),
        }
    }

    /// `GNTTABOP_get_status_frames`: v2 only, so a v1 table answers `GNTST_general_error`
    /// once the domain checks pass.
    pub fn get_status_frames(&self, caller: usize, dom: u16) -> GrantStatus {
        match self.own_table(caller, dom) {
            Err(status) => status,
            Ok(_) => GrantStatus::GeneralError,
        }
    }

    /// `GNTTABOP_transfer`: Xen builds it only for PV guests; an Arm guest gets -EOPNOTSUPP.
    pub fn transfer() -> Errno {
        Errno::Eopnotsupp
    }

    /// `XENMEM_remove_from_physmap` of guest frame `gfn` where a frame of the caller's grant
    /// table is mapped: unmaps it (the frame keeps its entries and can be mapped again with
    /// `add_to_physmap`; `setup_table` lists it as unmapped meanwhile), as Xen removes it.
    /// Returns whether a grant frame was there.
    pub fn unmap_table_frame(&mut self, caller: usize, gfn: u64, stage2: &mut impl Stage2) -> bool {
        let Some(table) = self.tables.get_mut(caller) else {
            return false;
        };
        let Some(slot) = table.frame_gfns.iter_mut().find(|g| **g == Some(gfn)) else {
            return false;
        };
        *slot = None;
        stage2.unmap(caller, gfn);
        true
    }

    /// `XENMEM_add_to_physmap` with `XENMAPSPACE_grant_table`: maps grant frame `index` of the
    /// caller's table at guest frame `gfn`, growing the table to `index + 1` frames. Status
    /// frames (v2) and frames past `max_grant_frames` are -EINVAL, as on Xen; so is a frame
    /// the table could not grow to for want of pages (Xen's `gnttab_get_shared_frame_mfn`
    /// finding the frame still missing), and a `gfn` outside the grant-table window (Xen
    /// accepts any; Bulkhead keeps the window the `/hypervisor` node announces, so a frame
    /// never covers RAM or a device).
    pub fn map_table_frame(
        &mut self,
        caller: usize,
        index: u64,
        gfn: u64,
        stage2: &mut impl Stage2,
        mem: &mut impl GrantMemory,
    ) -> Result<(), Errno> {
        if index & MAPIDX_STATUS != 0 {
            return Err(Errno::Einval);
        }
        let table = self.tables.get_mut(caller).ok_or(Errno::Esrch)?;
        let index = u32::try_from(index)
            .ok()
            .filter(|&i| i < table.max_frames)
            .ok_or(Errno::Einval)?;
        let window = WINDOW_BASE / PAGE_SIZE..(WINDOW_BASE + WINDOW_SIZE) / PAGE_SIZE;
        if !window.contains(&gfn) || !table.grow(index.saturating_add(1), mem) {
            return Err(Errno::Einval);
        }
        // Another frame at that address is replaced; this frame leaves its old address.
        let displaced = table
            .frame_gfns
            .iter()
            .position(|&g| g == Some(gfn))
            .filter(|&i| i != index as usize);
        if let Some(other) = displaced {
            stage2.unmap(caller, gfn);
            if let Some(slot) = table.frame_gfns.get_mut(other) {
                *slot = None;
            }
        }
        if let Some(old) = table.frame_gfn(index).filter(|&old| old != gfn) {
            stage2.unmap(caller, old);
            if let Some(slot) = table.frame_gfns.get_mut(index as usize) {
                *slot = None;
            }
        }
        stage2
            .map_table_frame(caller, gfn, index)
            .map_err(|_| Errno::Enomem)?;
        if let Some(slot) = table.frame_gfns.get_mut(index as usize) {
            *slot = Some(gfn);
        }
        Ok(())
    }
}
