//! The state dump's view of a vCPU's interrupts.

use super::super::{GicVersion, VcpuId, VIRTUAL_TIMER_PPI};
use super::flow::ready;
use super::Cpu;

#[test]
fn reports_pending_active_enabled_and_listed() {
    let mut vgic = ready(GicVersion::V2, 2);
    super::enable_private(&mut vgic, 0, VIRTUAL_TIMER_PPI);
    super::enable_private(&mut vgic, 0, 1);
    let report = |vgic: &super::super::Vgic| {
        (
            vgic.pending_report(VcpuId(0)).to_string(),
            vgic.active_report(VcpuId(0)).to_string(),
            vgic.listed_report(VcpuId(0)).to_string(),
        )
    };
    assert_eq!(report(&vgic), ("none".into(), "none".into(), "none".into()));
    vgic.inject(VcpuId(0), VIRTUAL_TIMER_PPI).expect("timer");
    vgic.inject(VcpuId(0), 33).expect("spi to vcpu 0");
    vgic.inject(VcpuId(0), 34).expect("spi to vcpu 0");
    assert_eq!(report(&vgic).0, "27,33-34");
    let mut cpu = Cpu::new(0);
    cpu.cycle(&mut vgic);
    assert_eq!(cpu.acknowledge(), Some(VIRTUAL_TIMER_PPI));
    cpu.cycle(&mut vgic);
    let (_, active, listed) = report(&vgic);
    assert_eq!(active, "27");
    assert!(listed.starts_with("27 active"), "{listed}");
    assert!(listed.contains("33 pending"), "{listed}");
    let enabled = vgic.enabled_report(VcpuId(0)).to_string();
    assert!(enabled.starts_with("1,"), "{enabled}");
    assert!(enabled.contains("27,32-63"), "{enabled}");
    assert_eq!(vgic.enabled_report(VcpuId(1)).to_string(), "none", "SPIs go to vCPU 0");
}

#[test]
fn long_lists_say_how_much_was_left_out() {
    let mut vgic = super::vgic(GicVersion::V3, 1, 256);
    for intid in (32..160).step_by(2) {
        vgic.inject(VcpuId(0), intid).expect("spi");
    }
    let pending = vgic.pending_report(VcpuId(0)).to_string();
    assert!(pending.starts_with("32,34,36"), "{pending}");
    assert!(pending.ends_with(",78 and 40 more"), "{pending}");
}
