//! Every partition's grant table behind one lock, and the mapping operations:
//! `GNTTABOP_map_grant_ref` and `GNTTABOP_unmap_grant_ref` (`unmap_and_replace` without a
//! replacement), in Xen 4.17's order of checks and with its status codes.

use alloc::vec::Vec;

use super::abi::{gntmap, GrantStatus, DOMID_SELF, PAGE_SIZE, PIN_LIMIT};
use super::entry;
use super::memory::{Access, GrantMemory, Stage2};
use super::physmap::Page;
use super::table::{GrantTable, Mapping};

/// `gnttab_map_grant_ref`'s inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// Guest physical address in the mapper where the page goes (its page is used).
    pub host_addr: u64,
    /// `GNTMAP_*`.
    pub flags: u32,
    pub gref: u32,
    /// The granter's domain id.
    pub dom: u16,
}

/// `gnttab_unmap_grant_ref`'s inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnmapRequest {
    /// Where the page is mapped; 0 leaves the mapping alone (Xen ignores the field).
    pub host_addr: u64,
    pub handle: u32,
    /// `unmap_and_replace`'s `new_addr`: anything but 0 is refused on Arm.
    pub new_addr: u64,
}

/// All partitions' grant tables; partition `i` is domain `i + 1`. The runtime keeps it behind
/// one lock, taken with no partition lock but `run` held, and performs the [`Stage2`] changes
/// before letting it go.
#[derive(Debug)]
pub struct Grants {
    pub(super) tables: Vec<GrantTable>,
}

impl Grants {
    /// One table per partition, in plan order.
    pub fn new(tables: Vec<GrantTable>) -> Self {
        Grants { tables }
    }

    /// A partition's table.
    pub fn table(&self, partition: usize) -> Option<&GrantTable> {
        self.tables.get(partition)
    }

    /// A partition's table, for the reservation calls.
    pub fn table_mut(&mut self, partition: usize) -> Option<&mut GrantTable> {
        self.tables.get_mut(partition)
    }

    /// How many partitions.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// A partition's domain id.
    pub fn domid(partition: usize) -> u16 {
        u16::try_from(partition.saturating_add(1)).unwrap_or(u16::MAX)
    }

    /// Xen's `rcu_lock_domain_by_id`: an existing domain id (not `DOMID_SELF`).
    pub(super) fn by_id(&self, dom: u16) -> Option<usize> {
        let index = usize::from(dom).checked_sub(1)?;
        (index < self.tables.len()).then_some(index)
    }

    /// Xen's `rcu_lock_domain_by_any_id`: `DOMID_SELF` is the caller.
    pub(super) fn by_any_id(&self, caller: usize, dom: u16) -> Option<usize> {
        if dom == DOMID_SELF {
            Some(caller)
        } else {
            self.by_id(dom)
        }
    }

    pub(super) fn admits(&self, caller: usize, granter: usize) -> bool {
        granter == caller
            || self
                .tables
                .get(caller)
                .is_some_and(|t| granter < 64 && t.peers & (1 << granter) != 0)
    }

    /// `GNTTABOP_map_grant_ref`: maps the granter's page at `host_addr`'s page of the caller
    /// (a page of its RAM that holds no grant: a present page is displaced, as Xen's p2m
    /// replaces it, and is given back when the mapping goes). Returns the handle.
    pub fn map(
        &mut self,
        caller: usize,
        req: &MapRequest,
        mem: &mut impl GrantMemory,
        stage2: &mut impl Stage2,
    ) -> Result<u32, GrantStatus> {
        if req.flags & (gntmap::HOST_MAP | gntmap::DEVICE_MAP) == 0 {
            return Err(GrantStatus::BadGntref);
        }
        // Arm guests are translated: no device, application or PTE mappings.
        if req.flags & (gntmap::DEVICE_MAP | gntmap::APPLICATION_MAP | gntmap::CONTAINS_PTE) != 0 {
            return Err(GrantStatus::GeneralError);
        }
        let granter = self.by_id(req.dom).ok_or(GrantStatus::BadDomain)?;
        if !self.admits(caller, granter) {
            return Err(GrantStatus::PermissionDenied);
        }
        let handle = self
            .tables
            .get_mut(caller)
            .ok_or(GrantStatus::BadDomain)?
            .take_handle(mem)
            .ok_or(GrantStatus::NoSpace)?;
        let result = self.map_with(caller, granter, handle, req, mem, stage2);
        if result.is_err() {
            if let Some(t) = self.tables.get_mut(caller) {
                t.put_handle(handle);
            }
        }
        result.map(|()| handle)
    }

    fn map_with(
        &mut self,
        caller: usize,
        granter: usize,
        handle: u32,
        req: &MapRequest,
        mem: &mut impl GrantMemory,
        stage2: &mut impl Stage2,
    ) -> Result<(), GrantStatus> {
        let readonly = req.flags & gntmap::READONLY != 0;
        let frame = self.pin(caller, granter, req.gref, readonly, true, mem)?;
        // Arm's create_grant_host_mapping: host_map (and readonly) only. The entry's cache
        // attributes (GTF_PAT, GTF_PWT, GTF_PCD) matter only for I/O memory, which no
        // partition can grant: a RAM page is mapped as RAM whatever they say, as on Xen.
        let gfn = req.host_addr / PAGE_SIZE;
        let placed = if req.flags & !gntmap::READONLY != gntmap::HOST_MAP {
            Err(GrantStatus::GeneralError)
        } else {
            self.place(caller, gfn, frame, readonly, stage2, mem)
        };
        match placed {
            Ok(()) => {
                if let Some(t) = self.tables.get_mut(caller) {
                    t.set_mapping(
                        handle,
                        Mapping {
                            granter,
                            gref: req.gref,
                            readonly,
                            gfn,
                        },
                    );
                }
                Ok(())
            }
            Err(status) => {
                self.unpin(granter, req.gref, readonly, mem);
                Err(status)
            }
        }
    }

    /// Puts a granted page at the mapper's guest frame.
    fn place(
        &mut self,
        caller: usize,
        gfn: u64,
        frame: super::memory::HostFrame,
        readonly: bool,
        stage2: &mut impl Stage2,
        mem: &mut impl GrantMemory,
    ) -> Result<(), GrantStatus> {
        let physmap = &mut self
            .tables
            .get_mut(caller)
            .ok_or(GrantStatus::BadDomain)?
            .physmap;
        let was = match physmap.page(gfn) {
            Some(state @ (Page::Populated | Page::Ballooned)) => state,
            // Outside its RAM, or a grant there already: Xen's p2m insertion failing.
            None | Some(Page::Granted) => return Err(GrantStatus::GeneralError),
        };
        // The state first (it may need a page of states, which may not be had: Xen's p2m
        // running out of pages is GNTST_general_error too).
        if !physmap.set(gfn, Page::Granted, mem, caller) {
            return Err(GrantStatus::GeneralError);
        }
        let access = if readonly {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        if stage2.map(caller, gfn, frame, access).is_err() {
            // Its page of states is there now: setting it back takes nothing.
            let _ = physmap.set(gfn, was, mem, caller);
            return Err(GrantStatus::GeneralError);
        }
        Ok(())
    }

    /// Pins a grant of `granter` for `caller` (Xen's map path and `acquire_grant_for_copy`):
    /// checks the reference, the pins already there and the entry, sets its flags and returns
    /// the granted page.
    pub(super) fn pin(
        &mut self,
        caller: usize,
        granter: usize,
        gref: u32,
        readonly: bool,
        mapping: bool,
        mem: &mut impl GrantMemory,
    ) -> Result<super::memory::HostFrame, GrantStatus> {
        let table = self.tables.get_mut(granter).ok_or(GrantStatus::BadDomain)?;
        if gref >= table.entries() {
            return Err(GrantStatus::BadGntref);
        }
        let caller16 = u16::try_from(caller).map_err(|_| GrantStatus::BadDomain)?;
        let act = *table
            .active
            .get(gref as usize)
            .ok_or(GrantStatus::BadGntref)?;
        let counter = if readonly {
            act.read_pins
        } else {
            act.write_pins
        };
        if act.pinned() && (act.mapper != caller16 || counter >= PIN_LIMIT) {
            return Err(GrantStatus::GeneralError);
        }
        if !act.pinned() || (!readonly && act.write_pins == 0) {
            entry::set_status(
                mem,
                granter,
                gref,
                &act,
                readonly,
                mapping,
                Self::domid(caller),
            )?;
        }
        let mut new = act;
        if !act.pinned() {
            // The page must be present RAM of the granter (Xen's get_paged_frame).
            let gfn = entry::frame(mem, granter, gref);
            match gfn.and_then(|g| table.physmap.present_frame(u64::from(g)).map(|_| g)) {
                Some(g) => new.gfn = g,
                None => {
                    entry::reduce_status(mem, granter, gref, &act, readonly);
                    return Err(GrantStatus::BadPage);
                }
            }
            new.mapper = caller16;
        }
        let frame = table
            .physmap
            .present_frame(u64::from(new.gfn))
            .or_else(|| table.physmap.frame_of(u64::from(new.gfn)))
            .ok_or(GrantStatus::BadPage)?;
        if readonly {
            new.read_pins = new.read_pins.saturating_add(1);
        } else {
            new.write_pins = new.write_pins.saturating_add(1);
        }
        if let Some(slot) = table.active.get_mut(gref as usize) {
            *slot = new;
        }
        Ok(frame)
    }

    /// Drops one pin and clears the entry's flags as the last pins go.
    pub(super) fn unpin(
        &mut self,
        granter: usize,
        gref: u32,
        readonly: bool,
        mem: &mut impl GrantMemory,
    ) {
        let Some(act) = self
            .tables
            .get_mut(granter)
            .and_then(|t| t.active.get_mut(gref as usize))
        else {
            return;
        };
        if readonly {
            act.read_pins = act.read_pins.saturating_sub(1);
        } else {
            act.write_pins = act.write_pins.saturating_sub(1);
        }
        let now = *act;
        entry::reduce_status(mem, granter, gref, &now, readonly);
    }

    /// `GNTTABOP_unmap_grant_ref` (and `unmap_and_replace`): removes the mapping `handle` of
    /// the caller at `host_addr`, with TLB maintenance, and leaves that guest frame empty.
    pub fn unmap(
        &mut self,
        caller: usize,
        req: &UnmapRequest,
        mem: &mut impl GrantMemory,
        stage2: &mut impl Stage2,
    ) -> Result<(), GrantStatus> {
        let table = self.tables.get_mut(caller).ok_or(GrantStatus::BadHandle)?;
        let map = table.mapping(req.handle).ok_or(GrantStatus::BadHandle)?;
        if self
            .tables
            .get(map.granter)
            .is_none_or(|t| map.gref >= t.entries())
        {
            return Err(GrantStatus::BadHandle);
        }
        if req.host_addr == 0 {
            // Xen ignores a zero host_addr: nothing is unmapped, the handle stays.
            return Ok(());
        }
        if req.new_addr != 0 || req.host_addr / PAGE_SIZE != map.gfn {
            return Err(GrantStatus::GeneralError);
        }
        self.drop_mapping(caller, req.handle, map, mem, stage2);
        Ok(())
    }

    /// Removes one mapping from the mapper's stage 2 and maptrack, and unpins the grant.
    pub(super) fn drop_mapping(
        &mut self,
        mapper: usize,
        handle: u32,
        map: Mapping,
        mem: &mut impl GrantMemory,
        stage2: &mut impl Stage2,
    ) {
        stage2.unmap(mapper, map.gfn);
        if let Some(t) = self.tables.get_mut(mapper) {
            // The page held a grant, so its page of states is there: this takes nothing.
            let _ = t.physmap.set(map.gfn, Page::Ballooned, &mut *mem, mapper);
            t.put_handle(handle);
        }
        self.unpin(map.granter, map.gref, map.readonly, mem);
    }
}
