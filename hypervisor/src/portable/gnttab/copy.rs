//! `GNTTABOP_copy`: bytes between two pages, each named by a grant reference of another (or
//! the same) partition or by a frame of the caller's own RAM, with Xen 4.17's checks in its
//! order.

use super::abi::{gntcopy, GrantStatus, DOMID_SELF, PAGE_SIZE};
use super::memory::{GrantMemory, HostFrame, Span};
use super::ops::Grants;

/// One side of a copy (`struct gnttab_copy_ptr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyPtr {
    /// The union: a grant reference (its low 32 bits) or a guest frame.
    pub value: u64,
    pub domid: u16,
    pub offset: u16,
}

/// `struct gnttab_copy`'s inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyRequest {
    pub source: CopyPtr,
    pub dest: CopyPtr,
    pub len: u16,
    /// `GNTCOPY_*`.
    pub flags: u16,
}

struct Claimed {
    frame: HostFrame,
    /// A pinned grant to release: (granter, reference, read-only).
    grant: Option<(usize, u32, bool)>,
}

impl Grants {
    /// Resolves a side's domain (Xen's `gnttab_copy_lock_domain`): a frame may only name
    /// the caller's own memory through `DOMID_SELF`.
    fn copy_domain(
        &self,
        caller: usize,
        ptr: &CopyPtr,
        is_gref: bool,
    ) -> Result<usize, GrantStatus> {
        if ptr.domid != DOMID_SELF && !is_gref {
            return Err(GrantStatus::PermissionDenied);
        }
        self.by_any_id(caller, ptr.domid)
            .ok_or(GrantStatus::BadDomain)
    }

    fn claim(
        &mut self,
        caller: usize,
        owner: usize,
        ptr: &CopyPtr,
        is_gref: bool,
        readonly: bool,
        mem: &mut impl GrantMemory,
    ) -> Result<Claimed, GrantStatus> {
        if is_gref {
            let gref = ptr.value as u32;
            let frame = self.pin(caller, owner, gref, readonly, false, mem)?;
            Ok(Claimed {
                frame,
                grant: Some((owner, gref, readonly)),
            })
        } else {
            let frame = self
                .tables
                .get(owner)
                .and_then(|t| t.physmap.present_frame(ptr.value))
                .ok_or(GrantStatus::BadPage)?;
            Ok(Claimed { frame, grant: None })
        }
    }

    fn release(&mut self, claimed: &Claimed, mem: &mut impl GrantMemory) {
        if let Some((granter, gref, readonly)) = claimed.grant {
            self.unpin(granter, gref, readonly, mem);
        }
    }

    /// `GNTTABOP_copy` of one request. The grants it pins are released before it returns.
    pub fn copy(
        &mut self,
        caller: usize,
        req: &CopyRequest,
        mem: &mut impl GrantMemory,
    ) -> Result<(), GrantStatus> {
        let source_gref = req.flags & gntcopy::SOURCE_GREF != 0;
        let dest_gref = req.flags & gntcopy::DEST_GREF != 0;
        let source_owner = self.copy_domain(caller, &req.source, source_gref)?;
        let dest_owner = self.copy_domain(caller, &req.dest, dest_gref)?;
        if !self.admits(caller, source_owner) || !self.admits(caller, dest_owner) {
            return Err(GrantStatus::PermissionDenied);
        }
        let source = self.claim(caller, source_owner, &req.source, source_gref, true, mem)?;
        let dest = match self.claim(caller, dest_owner, &req.dest, dest_gref, false, mem) {
            Ok(d) => d,
            Err(status) => {
                self.release(&source, mem);
                return Err(status);
            }
        };
        let len = u64::from(req.len);
        let fits = |offset: u16| u64::from(offset).saturating_add(len) <= PAGE_SIZE;
        let result = if !fits(req.source.offset) || !fits(req.dest.offset) {
            Err(GrantStatus::BadCopyArg)
        } else {
            mem.copy(
                Span {
                    frame: source.frame,
                    offset: req.source.offset,
                },
                Span {
                    frame: dest.frame,
                    offset: req.dest.offset,
                },
                req.len,
            )
            .map_err(|_| GrantStatus::GeneralError)
        };
        self.release(&source, mem);
        self.release(&dest, mem);
        result
    }
}
