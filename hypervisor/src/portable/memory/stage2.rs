//! A partition's stage-2 translation tables (IPA to host PA), built with `aarch64-paging`'s
//! stage-2 regime: 4 KiB granule, walks from level 1, 1 GiB and 2 MiB blocks where aligned.
//!
//! Descriptor attributes follow the Arm ARM D8.5 "Memory region attributes" for stage 2:
//! MemAttr[3:0] (bits 5:2) selects Normal write-back or Device-nGnRE, S2AP (bits 7:6) the access,
//! SH (bits 9:8), AF (bit 10), XN (bit 54); stage-2 descriptors have no nG bit.

use core::fmt;
use core::ptr::NonNull;

use aarch64_paging::descriptor::{PhysicalAddress, Stage2Attributes};
use aarch64_paging::paging::{Constraints, MemoryRegion, PageTable, Stage2, Translation};
use aarch64_paging::Mapping;

use super::range::{align_down, align_up, AddressRange, BLOCK_1G, BLOCK_2M, PAGE_SIZE};
use super::vmid::Vmid;
use super::vtcr::{vttbr_el2, Stage2Config, VtcrError, START_LEVEL};

// Addresses pass between `u64` and the crate's `usize`: both are 64 bits on every target we build.
const _: () = assert!(usize::BITS == 64);

/// Entries in the root table: one 4 KiB page of 8-byte descriptors.
const ROOT_ENTRIES: usize = 512;
/// A descriptor's valid bit (bit 0).
const DESCRIPTOR_VALID: u64 = 1;

/// One zeroed 4 KiB page for a translation table.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct TablePage {
    /// Where the hypervisor reads and writes the page.
    pub pointer: NonNull<u8>,
    /// The physical address the table walker sees.
    pub physical: u64,
}

/// Supplies pages for translation tables.
///
/// # Safety
///
/// Implementations promise that every page [`allocate_zeroed`](Self::allocate_zeroed) returns is
/// 4 KiB aligned, zeroed, valid for reads and writes through `pointer`, owned by no one else until
/// it is given back, and that the table walker sees it at `physical`; and that
/// [`to_virtual`](Self::to_virtual) maps each such `physical` back to its `pointer`.
pub unsafe trait TablePageSource {
    /// Takes a zeroed page, or `None` when none is left.
    fn allocate_zeroed(&mut self) -> Option<TablePage>;

    /// Gives back a page.
    ///
    /// # Safety
    ///
    /// `pointer` came from [`allocate_zeroed`](Self::allocate_zeroed) on this source and has not
    /// been given back, and nothing uses the page any more.
    unsafe fn deallocate(&mut self, pointer: NonNull<u8>);

    /// The pointer for a page this source handed out, from its physical address.
    fn to_virtual(&self, physical: u64) -> NonNull<u8>;

    /// How many more pages [`allocate_zeroed`](Self::allocate_zeroed) will hand out.
    fn available(&self) -> usize;

    /// Makes sure the next `count` calls of [`allocate_zeroed`](Self::allocate_zeroed)
    /// succeed (a source that takes pages from elsewhere takes them now); false if it cannot.
    fn reserve(&self, count: usize) -> bool {
        self.available() >= count
    }
}

/// The memory type a mapping gives the guest.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum MemoryType {
    /// Normal memory, inner and outer write-back cacheable, inner shareable.
    Normal,
    /// Device-nGnRE memory, for MMIO passed through to the guest.
    Device,
}

/// What the guest may do through a mapping.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Access {
    /// Reads and writes.
    ReadWrite,
    /// Reads only: writes take a stage-2 permission fault to the hypervisor.
    ReadOnly,
}

/// The attributes of one stage-2 mapping.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct MappingAttributes {
    /// The memory type.
    pub memory: MemoryType,
    /// The guest's access rights.
    pub access: Access,
    /// Whether the guest may execute from it.
    pub executable: bool,
}

impl MappingAttributes {
    /// Guest RAM: normal, read-write, executable.
    pub const RAM: Self = Self {
        memory: MemoryType::Normal,
        access: Access::ReadWrite,
        executable: true,
    };
    /// Passed-through MMIO: device, read-write, never executable.
    pub const DEVICE: Self = Self {
        memory: MemoryType::Device,
        access: Access::ReadWrite,
        executable: false,
    };

    fn descriptor_flags(self) -> Stage2Attributes {
        let memory = match self.memory {
            MemoryType::Normal => {
                Stage2Attributes::MEMATTR_NORMAL_OUTER_WB
                    | Stage2Attributes::MEMATTR_NORMAL_INNER_WB
                    | Stage2Attributes::SH_INNER
            }
            MemoryType::Device => Stage2Attributes::MEMATTR_DEVICE_nGnRE,
        };
        let access = match self.access {
            Access::ReadWrite => Stage2Attributes::S2AP_ACCESS_RW,
            Access::ReadOnly => Stage2Attributes::S2AP_ACCESS_RO,
        };
        let execute = if self.executable {
            Stage2Attributes::empty()
        } else {
            Stage2Attributes::XN
        };
        Stage2Attributes::VALID | Stage2Attributes::ACCESS_FLAG | memory | access | execute
    }

    fn from_descriptor(bits: u64) -> Self {
        let memory = if (bits >> 2) & 0b1111 == 0b1111 {
            MemoryType::Normal
        } else {
            MemoryType::Device
        };
        let access = if (bits >> 6) & 0b11 == 0b11 {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        };
        Self {
            memory,
            access,
            executable: bits & (1 << 54) == 0,
        }
    }
}

/// Why a stage-2 table change was refused.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Stage2Error {
    /// The IPA or the physical range is empty or not 4 KiB aligned.
    Unaligned {
        /// The first IPA.
        ipa: u64,
        /// The physical range.
        physical: AddressRange,
    },
    /// Part of the IPA range lies beyond the configured IPA size.
    OutsideIpaSpace {
        /// The IPA range.
        ipa: AddressRange,
        /// The first IPA the table cannot map.
        limit: u64,
    },
    /// Part of the physical range lies beyond the configured PA size.
    OutsidePhysicalSpace {
        /// The physical range.
        physical: AddressRange,
        /// The first address stage-2 cannot output.
        limit: u64,
    },
    /// Part of the IPA range is already mapped.
    AlreadyMapped {
        /// The IPA range asked for.
        ipa: AddressRange,
    },
    /// The page source has too few pages left for the tables this change may need.
    OutOfTablePages {
        /// Pages the change may need.
        needed: usize,
        /// Pages left.
        available: usize,
    },
    /// The table library refused the change.
    Rejected {
        /// The IPA range.
        ipa: AddressRange,
    },
    /// The table's whole address space is withdrawn ([`Stage2Table::withdraw`]): no change
    /// until it is given back.
    Withdrawn {
        /// The IPA range asked for.
        ipa: AddressRange,
    },
}

impl fmt::Display for Stage2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unaligned { ipa, physical } => write!(
                f,
                "cannot map IPA {ipa:#x} to {physical}: empty or not 4 KiB aligned"
            ),
            Self::OutsideIpaSpace { ipa, limit } => {
                write!(f, "IPA range {ipa} passes the IPA limit {limit:#x}")
            }
            Self::OutsidePhysicalSpace { physical, limit } => {
                write!(
                    f,
                    "physical range {physical} passes the PA limit {limit:#x}"
                )
            }
            Self::AlreadyMapped { ipa } => write!(f, "IPA range {ipa} is already mapped"),
            Self::OutOfTablePages { needed, available } => write!(
                f,
                "stage-2 tables may need {needed} pages but only {available} are left"
            ),
            Self::Rejected { ipa } => write!(f, "the stage-2 table refused IPA range {ipa}"),
            Self::Withdrawn { ipa } => write!(
                f,
                "IPA range {ipa} cannot change: the partition's stage 2 is withdrawn until it restarts"
            ),
        }
    }
}

/// What backs one IPA.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Stage2Leaf {
    /// The host physical address the IPA translates to.
    pub physical: u64,
    /// The size of the page or block holding it: 4 KiB, 2 MiB or 1 GiB.
    pub block_size: u64,
    /// The mapping's attributes.
    pub attributes: MappingAttributes,
    /// The raw descriptor.
    pub descriptor: u64,
}

/// Adapts a [`TablePageSource`] to the table library.
#[derive(Debug)]
struct Pages<S>(S);

impl<S: TablePageSource> Translation<Stage2Attributes> for Pages<S> {
    fn allocate_table(&mut self) -> (NonNull<PageTable<Stage2Attributes>>, PhysicalAddress) {
        // Invariant: every change first checks that `available()` covers the worst case of new
        // tables it can need (`tables_needed`), so this cannot run dry.
        let page = self
            .0
            .allocate_zeroed()
            .expect("stage-2 table budget was checked");
        (page.pointer.cast(), PhysicalAddress(page.physical as usize))
    }

    unsafe fn deallocate_table(&mut self, page_table: NonNull<PageTable<Stage2Attributes>>) {
        // SAFETY: the library gives back only tables `allocate_table` handed out, once, after
        // unlinking them; those came from `allocate_zeroed` on this source.
        unsafe { self.0.deallocate(page_table.cast()) }
    }

    fn physical_to_virtual(&self, pa: PhysicalAddress) -> NonNull<PageTable<Stage2Attributes>> {
        self.0.to_virtual(pa.0 as u64).cast()
    }
}

/// A partition's stage-2 tables. Changes are made before the partition runs (or with it stopped
/// and its VMID's TLB entries invalidated afterwards by the arch layer): the table performs no
/// TLB maintenance itself.
pub struct Stage2Table<S: TablePageSource> {
    mapping: Mapping<Pages<S>, Stage2>,
    config: Stage2Config,
    /// Every root entry is invalid for now ([`withdraw`](Self::withdraw)).
    withdrawn: bool,
}

// SAFETY: the table owns its pages (through its page source) and reaches them only through
// `&self`/`&mut self`; moving it to another CPU moves that ownership, and the hardware walks
// it only through VTTBR_EL2, which does not alias Rust references.
unsafe impl<S: TablePageSource + Send> Send for Stage2Table<S> {}

impl<S: TablePageSource> Stage2Table<S> {
    /// An empty table whose root page comes from `source`.
    pub fn new(source: S, config: Stage2Config) -> Result<Self, Stage2Error> {
        if !source.reserve(1) {
            return Err(Stage2Error::OutOfTablePages {
                needed: 1,
                available: source.available(),
            });
        }
        Ok(Self {
            mapping: Mapping::new(Pages(source), START_LEVEL, Stage2),
            config,
            withdrawn: false,
        })
    }

    /// Maps `physical` at `ipa` with `attributes`, using the largest blocks the alignment of both
    /// addresses allows. The IPA range must not already be mapped.
    pub fn map(
        &mut self,
        ipa: u64,
        physical: AddressRange,
        attributes: MappingAttributes,
    ) -> Result<(), Stage2Error> {
        let unaligned = Stage2Error::Unaligned { ipa, physical };
        if physical.is_empty() || !physical.is_aligned(PAGE_SIZE) || !ipa.is_multiple_of(PAGE_SIZE)
        {
            return Err(unaligned);
        }
        let ipa_range = AddressRange::new(ipa, physical.size()).ok_or(unaligned)?;
        self.check_ipa(ipa_range)?;
        self.check_present(ipa_range)?;
        let limit = self.config.pa_limit();
        if physical.end() > limit {
            return Err(Stage2Error::OutsidePhysicalSpace { physical, limit });
        }
        if self.any_mapped(ipa_range) {
            return Err(Stage2Error::AlreadyMapped { ipa: ipa_range });
        }
        self.reserve(tables_needed(ipa_range, physical.start()))?;
        self.mapping
            .map_range(
                &region(ipa_range),
                PhysicalAddress(physical.start() as usize),
                attributes.descriptor_flags(),
                Constraints::NO_CONTIGUOUS_HINT,
            )
            .map_err(|_| Stage2Error::Rejected { ipa: ipa_range })
    }

    /// Removes every mapping inside `ipa` (4 KiB aligned), splitting blocks it cuts.
    pub fn unmap(&mut self, ipa: AddressRange) -> Result<(), Stage2Error> {
        if ipa.is_empty() || !ipa.is_aligned(PAGE_SIZE) {
            return Err(Stage2Error::Unaligned {
                ipa: ipa.start(),
                physical: AddressRange::default(),
            });
        }
        self.check_ipa(ipa)?;
        self.check_present(ipa)?;
        // Nothing there, nothing to do. (aarch64-paging's walk would also compute a negative
        // output address for an invalid entry the range starts inside, which overflows.)
        if !self.any_mapped(ipa) {
            return Ok(());
        }
        self.reserve(tables_needed(ipa, ipa.start()))?;
        self.mapping
            .map_range(
                &region(ipa),
                PhysicalAddress(0),
                Stage2Attributes::empty(),
                Constraints::NO_CONTIGUOUS_HINT,
            )
            .map_err(|_| Stage2Error::Rejected { ipa })
    }

    /// Removes every mapping and gives back every table page but the root (a partition whose
    /// tables are rebuilt from its static mappings when it stops).
    pub fn clear(&mut self) -> Result<(), Stage2Error> {
        let all = AddressRange::new(0, self.config.ipa_limit()).ok_or(Stage2Error::Rejected {
            ipa: AddressRange::default(),
        })?;
        self.unmap(all)
    }

    /// What backs `ipa`, or `None` if nothing does.
    pub fn translate(&self, ipa: u64) -> Option<Stage2Leaf> {
        if ipa >= self.config.ipa_limit() {
            return None;
        }
        let page = AddressRange::new(align_down(ipa, PAGE_SIZE), PAGE_SIZE)?;
        let mut leaf = None;
        let walked = self
            .mapping
            .walk_range(&region(page), &mut |_, descriptor, level| {
                if descriptor.is_valid() {
                    let block_size = PAGE_SIZE << (9 * (3 - level));
                    let base = descriptor.output_address().0 as u64;
                    let bits = (base as usize | descriptor.flags().bits()) as u64;
                    leaf = Some(Stage2Leaf {
                        physical: base + (ipa & (block_size - 1)),
                        block_size,
                        attributes: MappingAttributes::from_descriptor(bits),
                        descriptor: bits,
                    });
                }
                Ok(())
            });
        walked.ok().and(leaf)
    }

    /// The physical address of the root table (VTTBR_EL2.BADDR).
    pub fn root_address(&self) -> u64 {
        self.mapping.root_address().0 as u64
    }

    /// The VTTBR_EL2 value that installs this table for `vmid`.
    pub fn vttbr_el2(&self, vmid: Vmid) -> Result<u64, VtcrError> {
        vttbr_el2(vmid, self.root_address())
    }

    /// The page source, for its accounting.
    pub fn page_source(&self) -> &S {
        &self.mapping.translation().0
    }

    /// Takes the guest's whole address space away at once, for the hypervisor to force a vCPU
    /// out of its guest from another CPU (`vm::direct`): each valid entry of the root table is
    /// made invalid with its other bits kept, so that once the VMID's TLB entries are
    /// invalidated the guest's next instruction fetch or memory access takes a stage-2
    /// translation fault. Nothing below the root changes; mapping and unmapping are refused
    /// until [`give_back`](Self::give_back). Returns how many entries it withdrew.
    pub fn withdraw(&mut self) -> usize {
        if self.withdrawn {
            return 0;
        }
        self.withdrawn = true;
        self.flip_root_entries(true)
    }

    /// Undoes [`withdraw`](Self::withdraw) (no TLB maintenance is needed: entries become
    /// valid, none changes). Returns how many entries it made valid again.
    pub fn give_back(&mut self) -> usize {
        if !self.withdrawn {
            return 0;
        }
        self.withdrawn = false;
        self.flip_root_entries(false)
    }

    /// Whether the address space is withdrawn.
    pub const fn withdrawn(&self) -> bool {
        self.withdrawn
    }

    /// Clears (`withdraw`) or sets the valid bit of every root entry that holds a descriptor.
    /// An entry the table library left empty is zero; a withdrawn one is a descriptor with its
    /// valid bit clear, which only this function writes.
    fn flip_root_entries(&mut self, withdraw: bool) -> usize {
        let root = self.page_source().to_virtual(self.root_address()).cast::<u64>();
        let mut flipped = 0;
        for index in 0..ROOT_ENTRIES {
            // SAFETY: the root is one 4 KiB table page of this table's page source (the
            // source's contract: valid for reads and writes through `to_virtual`), so its
            // `ROOT_ENTRIES` 8-byte entries are in bounds and aligned; `&mut self` keeps every
            // other access of ours away, and an aligned 64-bit store is single-copy atomic for
            // the walkers that read the entry meanwhile (Arm ARM, "Requirements for
            // single-copy atomicity").
            unsafe {
                let entry = root.as_ptr().add(index);
                let bits = entry.read_volatile();
                let next = match (withdraw, bits & DESCRIPTOR_VALID != 0) {
                    (true, true) => bits & !DESCRIPTOR_VALID,
                    (false, false) if bits != 0 => bits | DESCRIPTOR_VALID,
                    _ => continue,
                };
                entry.write_volatile(next);
            }
            flipped += 1;
        }
        flipped
    }

    fn check_present(&self, ipa: AddressRange) -> Result<(), Stage2Error> {
        match self.withdrawn {
            true => Err(Stage2Error::Withdrawn { ipa }),
            false => Ok(()),
        }
    }

    fn check_ipa(&self, ipa: AddressRange) -> Result<(), Stage2Error> {
        let limit = self.config.ipa_limit();
        if ipa.end() > limit {
            return Err(Stage2Error::OutsideIpaSpace { ipa, limit });
        }
        Ok(())
    }

    fn any_mapped(&self, ipa: AddressRange) -> bool {
        let mut mapped = false;
        let walked = self
            .mapping
            .walk_range(&region(ipa), &mut |_, descriptor, _| {
                mapped |= descriptor.is_valid();
                Ok(())
            });
        mapped || walked.is_err()
    }

    fn reserve(&self, needed: usize) -> Result<(), Stage2Error> {
        let source = self.page_source();
        if !source.reserve(needed) {
            return Err(Stage2Error::OutOfTablePages {
                needed,
                available: source.available(),
            });
        }
        Ok(())
    }
}

impl<S: TablePageSource> fmt::Debug for Stage2Table<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stage2Table")
            .field("root", &format_args!("{:#x}", self.root_address()))
            .field("config", &self.config)
            .finish()
    }
}

fn region(range: AddressRange) -> MemoryRegion {
    MemoryRegion::new(range.start() as usize, range.end() as usize)
}

/// The most new tables mapping `ipa` to `physical_start` can need: a level 2 table for each
/// 1 GiB slot and a level 3 table for each 2 MiB slot that cannot be one block, because the range
/// covers it only partly or the two addresses differ in their offset inside it.
pub fn tables_needed(ipa: AddressRange, physical_start: u64) -> usize {
    [BLOCK_1G, BLOCK_2M]
        .iter()
        .map(|block| slots_needing_table(ipa, physical_start, *block))
        .sum()
}

fn slots_needing_table(ipa: AddressRange, physical_start: u64, block: u64) -> usize {
    if ipa.is_empty() {
        return 0;
    }
    let first = align_down(ipa.start(), block);
    let end = align_up(ipa.end(), block).unwrap_or(u64::MAX);
    let slots = ((end - first) / block) as usize;
    if !(ipa.start() ^ physical_start).is_multiple_of(block) {
        return slots;
    }
    let head = !ipa.start().is_multiple_of(block);
    let tail = !ipa.end().is_multiple_of(block);
    match (head, tail) {
        (true, true) if slots == 1 => 1,
        _ => usize::from(head) + usize::from(tail),
    }
}

#[cfg(test)]
#[path = "stage2_tests.rs"]
mod tests;
