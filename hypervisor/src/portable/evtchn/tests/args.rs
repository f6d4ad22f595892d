//! The argument structures as the guest lays them out.

use crate::portable::evtchn::abi::{op, stat};
use crate::portable::evtchn::args::{self, Call};
use crate::portable::evtchn::{Errno, Status};

#[test]
fn calls_decode_from_guest_bytes() {
    let mut b = [0u8; 24];
    b[..2].copy_from_slice(&0x7ff0u16.to_le_bytes());
    b[2..4].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(Call::decode(op::ALLOC_UNBOUND, &b), Ok(Call::AllocUnbound { dom: 0x7ff0, remote_dom: 2 }));
    b[4..8].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(Call::decode(op::BIND_INTERDOMAIN, &b), Ok(Call::BindInterdomain { remote_dom: 0x7ff0, remote_port: 9 }));
    let mut ic = [0u8; 24];
    ic[..8].copy_from_slice(&0x1_2345_6789u64.to_le_bytes());
    ic[8..12].copy_from_slice(&64u32.to_le_bytes());
    ic[12..16].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(
        Call::decode(op::INIT_CONTROL, &ic),
        Ok(Call::InitControl { control_gfn: 0x1_2345_6789, offset: 64, vcpu: 1 })
    );
    assert_eq!(Call::decode(op::RESET, &b), Ok(Call::Reset { dom: 0x7ff0 }));
    assert_eq!(Call::decode(op::RESET_CONT, &b), Ok(Call::ResetCont { dom: 0x7ff0 }));
    assert_eq!(Call::decode(op::BIND_PIRQ, &b), Err(Errno::Enosys));
    assert_eq!(Call::decode(99, &b), Err(Errno::Enosys));
    assert_eq!(Call::decode(op::STATUS, &b[..20]), Err(Errno::Efault));
    for cmd in 0..16 {
        if let Some(len) = args::size(cmd) {
            assert!(Call::decode(cmd, &vec![0xff; len]).is_ok(), "cmd {cmd}");
        }
    }
}

#[test]
fn answers_write_only_their_fields() {
    let mut b = [0xaau8; 24];
    args::write_status(&mut b, &Status { status: stat::INTERDOMAIN, vcpu: 1, dom: 2, port_or_virq: 7 });
    assert_eq!(&b[..8], &[0xaa; 8], "dom and port are the guest's");
    assert_eq!(&b[8..16], &[2, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(&b[16..24], &[2, 0, 0xaa, 0xaa, 7, 0, 0, 0]);
    let mut b = [0u8; 12];
    args::write_port(op::BIND_VIRQ, &mut b, 5);
    assert_eq!(b[8], 5);
    let mut b = [0u8; 8];
    args::write_port(op::ALLOC_UNBOUND, &mut b, 6);
    assert_eq!(b[4], 6);
    let mut b = [0u8; 24];
    args::write_link_bits(&mut b, 17);
    assert_eq!(b[16], 17);
}
