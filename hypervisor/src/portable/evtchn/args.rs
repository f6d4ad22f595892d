//! The argument structures of `HYPERVISOR_event_channel_op` on arm64, as bytes: how big each
//! is, how to read a guest's copy into a [`Call`], and which bytes an answer writes back (Xen
//! copies the whole structure back after success, so fields the answer does not set keep the
//! guest's values).

use super::abi::op;
use super::error::Errno;
use super::ops::Status;

/// One decoded `EVTCHNOP_*` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    AllocUnbound { dom: u16, remote_dom: u16 },
    BindInterdomain { remote_dom: u16, remote_port: u32 },
    BindVirq { virq: u32, vcpu: u32 },
    BindIpi { vcpu: u32 },
    Close { port: u32 },
    Send { port: u32 },
    Status { dom: u16, port: u32 },
    BindVcpu { port: u32, vcpu: u32 },
    Unmask { port: u32 },
    /// `EVTCHNOP_reset`.
    Reset { dom: u16 },
    /// `EVTCHNOP_reset_cont`: continues a reset that was preempted. Nothing here is
    /// preempted, so there is never one to continue (-EBUSY, as Xen answers then).
    ResetCont { dom: u16 },
    InitControl { control_gfn: u64, offset: u32, vcpu: u32 },
    ExpandArray { array_gfn: u64 },
    SetPriority { port: u32, priority: u32 },
}

/// The size of the argument structure of `cmd`; `None` for an operation not implemented
/// (-ENOSYS, as Xen answers an unknown one; `EVTCHNOP_bind_pirq` is for physical interrupts,
/// which partitions do not get through event channels).
pub const fn size(cmd: u32) -> Option<usize> {
    Some(match cmd {
        op::CLOSE | op::SEND | op::UNMASK => 4,
        op::RESET | op::RESET_CONT => 2,
        op::ALLOC_UNBOUND | op::BIND_IPI | op::BIND_VCPU | op::EXPAND_ARRAY | op::SET_PRIORITY => 8,
        op::BIND_INTERDOMAIN | op::BIND_VIRQ => 12,
        op::STATUS | op::INIT_CONTROL => 24,
        _ => return None,
    })
}

fn u16_at(bytes: &[u8], at: usize) -> Result<u16, Errno> {
    let b = bytes.get(at..at + 2).ok_or(Errno::Efault)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, Errno> {
    let b = bytes.get(at..at + 4).ok_or(Errno::Efault)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, Errno> {
    Ok(u64::from(u32_at(bytes, at)?) | u64::from(u32_at(bytes, at + 4)?) << 32)
}

fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    if let Some(b) = bytes.get_mut(at..at + value.len()) {
        b.copy_from_slice(value);
    }
}

impl Call {
    /// Reads the guest's structure for `cmd` (`bytes` as long as [`size`] says; shorter is
    /// -EFAULT, an unknown `cmd` -ENOSYS).
    pub fn decode(cmd: u32, bytes: &[u8]) -> Result<Call, Errno> {
        let len = size(cmd).ok_or(Errno::Enosys)?;
        let b = bytes.get(..len).ok_or(Errno::Efault)?;
        Ok(match cmd {
            op::ALLOC_UNBOUND => Call::AllocUnbound { dom: u16_at(b, 0)?, remote_dom: u16_at(b, 2)? },
            op::BIND_INTERDOMAIN => {
                Call::BindInterdomain { remote_dom: u16_at(b, 0)?, remote_port: u32_at(b, 4)? }
            }
            op::BIND_VIRQ => Call::BindVirq { virq: u32_at(b, 0)?, vcpu: u32_at(b, 4)? },
            op::BIND_IPI => Call::BindIpi { vcpu: u32_at(b, 0)? },
            op::CLOSE => Call::Close { port: u32_at(b, 0)? },
            op::SEND => Call::Send { port: u32_at(b, 0)? },
            op::STATUS => Call::Status { dom: u16_at(b, 0)?, port: u32_at(b, 4)? },
            op::BIND_VCPU => Call::BindVcpu { port: u32_at(b, 0)?, vcpu: u32_at(b, 4)? },
            op::UNMASK => Call::Unmask { port: u32_at(b, 0)? },
            op::INIT_CONTROL => Call::InitControl {
                control_gfn: u64_at(b, 0)?,
                offset: u32_at(b, 8)?,
                vcpu: u32_at(b, 12)?,
            },
            op::EXPAND_ARRAY => Call::ExpandArray { array_gfn: u64_at(b, 0)? },
            op::SET_PRIORITY => Call::SetPriority { port: u32_at(b, 0)?, priority: u32_at(b, 4)? },
            op::RESET_CONT => Call::ResetCont { dom: u16_at(b, 0)? },
            _ => Call::Reset { dom: u16_at(b, 0)? },
        })
    }
}

/// Writes a port answer (`alloc_unbound`, `bind_interdomain`, `bind_virq`, `bind_ipi`) into
/// the guest's structure for `cmd`.
pub fn write_port(cmd: u32, bytes: &mut [u8], port: u32) {
    let at = match cmd {
        op::ALLOC_UNBOUND | op::BIND_IPI => 4,
        op::BIND_INTERDOMAIN | op::BIND_VIRQ => 8,
        _ => return,
    };
    put(bytes, at, &port.to_le_bytes());
}

/// Writes `init_control`'s answer: the link width.
pub fn write_link_bits(bytes: &mut [u8], link_bits: u8) {
    put(bytes, 16, &[link_bits]);
}

/// Writes a status answer: `status`, `vcpu`, and the union member the status uses.
pub fn write_status(bytes: &mut [u8], status: &Status) {
    use super::abi::stat;
    put(bytes, 8, &status.status.to_le_bytes());
    put(bytes, 12, &status.vcpu.to_le_bytes());
    match status.status {
        stat::UNBOUND => put(bytes, 16, &status.dom.to_le_bytes()),
        stat::INTERDOMAIN => {
            put(bytes, 16, &status.dom.to_le_bytes());
            put(bytes, 20, &status.port_or_virq.to_le_bytes());
        }
        stat::VIRQ => put(bytes, 16, &status.port_or_virq.to_le_bytes()),
        _ => {}
    }
}
