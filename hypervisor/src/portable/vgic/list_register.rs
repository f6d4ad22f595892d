//! List registers: an abstract entry and its encodings for GICv3 `ICH_LR<n>_EL2` and GICv2 `GICH_LR<n>`.

use super::irq::IntId;

/// The state of a valid list register entry (an empty entry is `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrState {
    /// Waiting to be acknowledged by the guest.
    Pending,
    /// Acknowledged, waiting for the guest's deactivation.
    Active,
    /// Acknowledged and pending again.
    PendingActive,
}

impl LrState {
    /// Whether the pending bit is set.
    pub const fn is_pending(self) -> bool {
        matches!(self, LrState::Pending | LrState::PendingActive)
    }

    /// Whether the active bit is set.
    pub const fn is_active(self) -> bool {
        matches!(self, LrState::Active | LrState::PendingActive)
    }

    /// The state for a pending bit and an active bit; `None` when both are clear (invalid entry).
    pub const fn from_bits(pending: bool, active: bool) -> Option<Self> {
        match (pending, active) {
            (false, false) => None,
            (true, false) => Some(LrState::Pending),
            (false, true) => Some(LrState::Active),
            (true, true) => Some(LrState::PendingActive),
        }
    }

    const fn field(self) -> u64 {
        match self {
            LrState::Pending => 0b01,
            LrState::Active => 0b10,
            LrState::PendingActive => 0b11,
        }
    }

    const fn from_field(field: u64) -> Option<Self> {
        Self::from_bits(field & 0b01 != 0, field & 0b10 != 0)
    }
}

/// One valid list register entry, independent of the GIC version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRegister {
    /// The virtual INTID the guest sees.
    pub intid: IntId,
    /// Priority, 8-bit scale (GICv2 keeps the top five bits).
    pub priority: u8,
    /// Pending, active or both.
    pub state: LrState,
    /// Physical INTID deactivated when the guest deactivates this one (HW bit set).
    pub hw: Option<u32>,
    /// Group 1 interrupt.
    pub group1: bool,
    /// Ask for a maintenance interrupt when the guest deactivates it (only without `hw`).
    pub eoi_maintenance: bool,
    /// GICv2 SGIs only: the source CPU the guest reads from `GICC_IAR.CPUID`.
    pub source: u8,
}

// GICv3 ICH_LR<n>_EL2 fields: Arm IHI 0069 (GICv3 and GICv4 architecture specification), chapter 12,
// "ICH_LR<n>_EL2, Interrupt Controller List Registers".
const V3_STATE_SHIFT: u32 = 62;
const V3_HW: u64 = 1 << 61;
const V3_GROUP: u64 = 1 << 60;
const V3_PRIORITY_SHIFT: u32 = 48;
const V3_PINTID_SHIFT: u32 = 32;
const V3_PINTID_MASK: u64 = 0x1fff;
const V3_EOI: u64 = 1 << 41;

// GICv2 GICH_LR<n> fields: Arm IHI 0048B.b (GIC architecture specification v2), section 5.3,
// "List Registers, GICH_LRn".
const V2_HW: u32 = 1 << 31;
const V2_GROUP1: u32 = 1 << 30;
const V2_STATE_SHIFT: u32 = 28;
const V2_PRIORITY_SHIFT: u32 = 23;
const V2_PHYSICAL_SHIFT: u32 = 10;
const V2_ID_MASK: u32 = 0x3ff;
const V2_EOI: u32 = 1 << 19;
const V2_CPUID_MASK: u32 = 0x7;

impl ListRegister {
    /// The virtual INTID field of a raw list register of `version`, whatever its state: an
    /// entry the guest has deactivated reads as invalid (state 00) but keeps its INTID, which
    /// tells what an EOI maintenance interrupt (`EISR`) was about.
    pub const fn raw_intid(version: super::GicVersion, raw: u64) -> IntId {
        match version {
            super::GicVersion::V3 => raw as u32,
            super::GicVersion::V2 => raw as u32 & V2_ID_MASK,
        }
    }

    /// The `ICH_LR<n>_EL2` value for this entry.
    pub const fn encode_v3(&self) -> u64 {
        let mut value = (self.state.field() << V3_STATE_SHIFT)
            | ((self.priority as u64) << V3_PRIORITY_SHIFT)
            | self.intid as u64;
        if self.group1 {
            value |= V3_GROUP;
        }
        match self.hw {
            Some(physical) => {
                value |= V3_HW | ((physical as u64 & V3_PINTID_MASK) << V3_PINTID_SHIFT)
            }
            None => {
                if self.eoi_maintenance {
                    value |= V3_EOI;
                }
            }
        }
        value
    }

    /// Decodes an `ICH_LR<n>_EL2` value; `None` for an invalid (empty) entry.
    pub const fn decode_v3(value: u64) -> Option<Self> {
        let Some(state) = LrState::from_field(value >> V3_STATE_SHIFT) else {
            return None;
        };
        let hw_bit = value & V3_HW != 0;
        Some(ListRegister {
            intid: value as u32,
            priority: (value >> V3_PRIORITY_SHIFT) as u8,
            state,
            hw: if hw_bit {
                Some(((value >> V3_PINTID_SHIFT) & V3_PINTID_MASK) as u32)
            } else {
                None
            },
            group1: value & V3_GROUP != 0,
            eoi_maintenance: !hw_bit && value & V3_EOI != 0,
            source: 0,
        })
    }

    /// The `GICH_LR<n>` value for this entry.
    pub const fn encode_v2(&self) -> u32 {
        let mut value = ((self.state.field() as u32) << V2_STATE_SHIFT)
            | (((self.priority >> 3) as u32) << V2_PRIORITY_SHIFT)
            | (self.intid & V2_ID_MASK);
        if self.group1 {
            value |= V2_GROUP1;
        }
        match self.hw {
            Some(physical) => value |= V2_HW | ((physical & V2_ID_MASK) << V2_PHYSICAL_SHIFT),
            None => {
                if self.eoi_maintenance {
                    value |= V2_EOI;
                }
                value |= (self.source as u32 & V2_CPUID_MASK) << V2_PHYSICAL_SHIFT;
            }
        }
        value
    }

    /// Decodes a `GICH_LR<n>` value; `None` for an invalid (empty) entry.
    pub const fn decode_v2(value: u32) -> Option<Self> {
        let Some(state) = LrState::from_field((value >> V2_STATE_SHIFT) as u64) else {
            return None;
        };
        let hw_bit = value & V2_HW != 0;
        let physical = (value >> V2_PHYSICAL_SHIFT) & V2_ID_MASK;
        Some(ListRegister {
            intid: value & V2_ID_MASK,
            priority: (((value >> V2_PRIORITY_SHIFT) & 0x1f) << 3) as u8,
            state,
            hw: if hw_bit { Some(physical) } else { None },
            group1: value & V2_GROUP1 != 0,
            eoi_maintenance: !hw_bit && value & V2_EOI != 0,
            source: if hw_bit {
                0
            } else {
                (physical & V2_CPUID_MASK) as u8
            },
        })
    }
}
