//! Every operation with valid and invalid arguments; errno values as Xen 4.17 answers them.

use super::*;
use crate::portable::evtchn::abi::{stat, virq, DOMID_SELF};

fn world() -> World {
    World::new(2, 2)
}

#[test]
fn port_zero_is_reserved_and_the_first_port_is_one() {
    let mut w = world();
    assert_eq!(w.status(0, 0).status, stat::CLOSED);
    assert_eq!(w.alloc_unbound(0, DOMID_SELF, 2), Ok(1));
    assert_eq!(w.close(0, 0), Err(Errno::Einval));
    assert_eq!(w.send(0, 0), Err(Errno::Einval));
}

#[test]
fn alloc_unbound_names_domains_as_xen_does() {
    let mut w = world();
    assert_eq!(w.alloc_unbound(0, 1, 2), Ok(1), "own domid");
    assert_eq!(w.alloc_unbound(0, 3, 2), Err(Errno::Esrch));
    assert_eq!(
        w.alloc_unbound(0, 0, 2),
        Err(Errno::Esrch),
        "no domain 0 in dom0less"
    );
    assert_eq!(w.alloc_unbound(0, 0x7ff1, 2), Err(Errno::Esrch));
    assert_eq!(
        w.alloc_unbound(0, 2, 1),
        Err(Errno::Eperm),
        "a DomU allocates only in itself"
    );
    let port = w.alloc_unbound(0, DOMID_SELF, DOMID_SELF).unwrap();
    let s = w.status(0, port);
    assert_eq!(
        (s.status, s.dom, s.vcpu),
        (stat::UNBOUND, 1, 0),
        "DOMID_SELF is stored as the own id"
    );
    // Xen does not check remote_dom at allocation time.
    let port = w.alloc_unbound(0, DOMID_SELF, 0x1234).unwrap();
    assert_eq!(w.status(0, port).dom, 0x1234);
}

#[test]
fn the_table_fills_up_with_enospc_and_grows_valid_ports_by_buckets() {
    let mut w = world();
    assert_eq!(
        w.tables[0].status(0, 64),
        Err(Errno::Einval),
        "past the first bucket"
    );
    for expected in 1..=1023 {
        assert_eq!(w.alloc_unbound(0, DOMID_SELF, 2), Ok(expected));
        if expected == 64 {
            assert_eq!(w.status(0, 127).status, stat::CLOSED, "second bucket valid");
        }
    }
    assert_eq!(w.alloc_unbound(0, DOMID_SELF, 2), Err(Errno::Enospc));
    assert_eq!(w.tables[0].bind_ipi(0, &mut w.mems[0]), Err(Errno::Enospc));
    assert_eq!(w.tables[0].status(0, 1024), Err(Errno::Einval));
    w.close(0, 500).unwrap();
    assert_eq!(
        w.alloc_unbound(0, DOMID_SELF, 2),
        Ok(500),
        "the lowest free port again"
    );
}

#[test]
fn bind_virq_checks_in_xens_order() {
    let mut w = world();
    let (t, m) = (&mut w.tables[0], &mut w.mems[0]);
    assert_eq!(t.bind_virq(24, 0, m), Err(Errno::Einval));
    assert_eq!(t.bind_virq(u32::MAX, 0, m), Err(Errno::Einval));
    assert_eq!(
        t.bind_virq(virq::CONSOLE, 1, m),
        Err(Errno::Einval),
        "global VIRQ on vCPU 1"
    );
    assert_eq!(t.bind_virq(virq::TIMER, 2, m), Err(Errno::Enoent));
    assert_eq!(t.bind_virq(virq::TIMER, u32::MAX, m), Err(Errno::Enoent));
    assert_eq!(t.bind_virq(virq::TIMER, 1, m), Ok(1));
    assert_eq!(t.bind_virq(virq::TIMER, 1, m), Err(Errno::Eexist));
    assert_eq!(t.bind_virq(virq::TIMER, 0, m), Ok(2), "per vCPU");
    assert_eq!(t.bind_virq(virq::CONSOLE, 0, m), Ok(3));
    assert_eq!(
        t.bind_virq(virq::ARCH_0, 0, m),
        Ok(4),
        "any VIRQ below NR_VIRQS binds"
    );
    let s = t.status(0, 1).unwrap();
    assert_eq!(
        (s.status, s.vcpu, s.port_or_virq),
        (stat::VIRQ, 1, virq::TIMER)
    );
    assert_eq!(
        t.send(1, m, &mut Effects::default()),
        Err(Errno::Einval),
        "a VIRQ port cannot send"
    );
    // Closing frees the VIRQ for binding again.
    assert_eq!(t.close(1, m, &mut Effects::default()), Ok(None));
    assert_eq!(t.bind_virq(virq::TIMER, 1, m), Ok(1));
}

#[test]
fn bind_ipi_and_bind_vcpu() {
    let mut w = world();
    let (t, m) = (&mut w.tables[0], &mut w.mems[0]);
    assert_eq!(t.bind_ipi(2, m), Err(Errno::Enoent));
    let ipi = t.bind_ipi(1, m).unwrap();
    assert_eq!(t.status(0, ipi).unwrap().status, stat::IPI);
    assert_eq!(t.status(0, ipi).unwrap().vcpu, 1);
    assert_eq!(
        t.bind_vcpu(ipi, 0),
        Err(Errno::Einval),
        "IPIs stay on their vCPU"
    );
    assert_eq!(
        t.bind_vcpu(ipi, 5),
        Err(Errno::Enoent),
        "vCPU checked first"
    );
    assert_eq!(t.bind_vcpu(999, 1), Err(Errno::Einval));
    assert_eq!(t.bind_vcpu(40, 1), Err(Errno::Einval), "free port");
    let timer = t.bind_virq(virq::TIMER, 0, m).unwrap();
    assert_eq!(t.bind_vcpu(timer, 1), Err(Errno::Einval), "per-vCPU VIRQ");
    let console = t.bind_virq(virq::CONSOLE, 0, m).unwrap();
    assert_eq!(t.bind_vcpu(console, 1), Ok(()));
    assert_eq!(t.status(0, console).unwrap().vcpu, 1);
    let unbound = t.alloc_unbound(0, 2, m).unwrap();
    assert_eq!(t.bind_vcpu(unbound, 1), Ok(()));
    // Closing resets the vCPU to 0.
    t.close(unbound, m, &mut Effects::default()).unwrap();
    assert_eq!(t.status(0, unbound).unwrap().vcpu, 0);
}

#[test]
fn send_close_status_unmask_reject_bad_ports() {
    let mut w = world();
    for port in [64, 1024, 4096, u32::MAX] {
        assert_eq!(w.send(0, port), Err(Errno::Einval));
        assert_eq!(w.close(0, port), Err(Errno::Einval));
        assert_eq!(w.unmask(0, port), Err(Errno::Einval));
        assert_eq!(w.tables[0].status(0, port), Err(Errno::Einval));
        assert_eq!(w.tables[0].set_priority(port, 0), Err(Errno::Einval));
    }
    assert_eq!(w.send(0, 5), Err(Errno::Einval), "free port");
    assert_eq!(w.close(0, 5), Err(Errno::Einval), "free port");
    assert_eq!(w.unmask(0, 5), Ok(()), "a free port unmasks as a no-op");
    let port = w.alloc_unbound(0, DOMID_SELF, 2).unwrap();
    assert_eq!(
        w.send(0, port),
        Ok(Route::Dropped),
        "unbound: silently dropped"
    );
    assert_eq!(w.close(0, port), Ok(()));
    assert_eq!(w.close(0, port), Err(Errno::Einval), "closed twice");
}

#[test]
fn status_of_another_domain_is_eperm_after_the_port_check() {
    let w = world();
    assert_eq!(w.tables[1].status(0, 1), Err(Errno::Eperm));
    assert_eq!(w.tables[1].status(0, 64), Err(Errno::Einval));
}

#[test]
fn set_priority_is_fifo_only() {
    let mut w = world();
    let port = w.alloc_unbound(0, DOMID_SELF, 2).unwrap();
    assert_eq!(w.tables[0].set_priority(port, 3), Err(Errno::Enosys));
    assert_eq!(
        w.tables[0].set_priority(port, 99),
        Err(Errno::Enosys),
        "ENOSYS before the range check"
    );
    w.tables[0]
        .init_control(SHARED_GFN + 1, 0, 0, &mut w.mems[0])
        .unwrap();
    assert_eq!(w.tables[0].set_priority(port, 16), Err(Errno::Einval));
    assert_eq!(w.tables[0].set_priority(port, 15), Ok(()));
    assert_eq!(
        w.tables[0].set_priority(port + 1, 1),
        Err(Errno::Eacces),
        "free port"
    );
    assert_eq!(
        w.tables[0].set_priority(0, 1),
        Err(Errno::Eacces),
        "reserved port"
    );
}

#[test]
fn init_control_checks() {
    let mut w = world();
    let (t, m) = (&mut w.tables[0], &mut w.mems[0]);
    let gfn = SHARED_GFN + 1;
    assert_eq!(t.init_control(gfn, 0, 2, m), Err(Errno::Enoent));
    assert_eq!(
        t.init_control(gfn, 4096 - 72 + 8, 0, m),
        Err(Errno::Einval),
        "crosses the page"
    );
    assert_eq!(t.init_control(gfn, u32::MAX, 0, m), Err(Errno::Einval));
    assert_eq!(
        t.init_control(gfn, 4, 0, m),
        Err(Errno::Einval),
        "not 8-byte aligned"
    );
    assert_eq!(t.init_control(0x1, 0, 0, m), Err(Errno::Einval), "not RAM");
    assert_eq!(
        t.init_control(u64::MAX, 0, 0, m),
        Err(Errno::Einval),
        "gfn overflows"
    );
    assert!(!t.is_fifo(), "failures leave the 2-level ABI");
    assert_eq!(
        t.init_control(gfn, 4096 - 72, 0, m),
        Ok(17),
        "the last offset that fits"
    );
    assert!(t.is_fifo());
    assert_eq!(
        t.init_control(gfn, 0, 0, m),
        Err(Errno::Einval),
        "vCPU 0 has one"
    );
    assert_eq!(t.init_control(gfn, 0, 1, m), Ok(17));
}

#[test]
fn expand_array_checks() {
    let mut w = world();
    let mut fx = Effects::default();
    let (t, m) = (&mut w.tables[0], &mut w.mems[0]);
    assert_eq!(
        t.expand_array(SHARED_GFN + 2, m, &mut fx),
        Err(Errno::Eopnotsupp)
    );
    t.init_control(SHARED_GFN + 1, 0, 0, m).unwrap();
    assert_eq!(t.expand_array(0x10, m, &mut fx), Err(Errno::Einval));
    for i in 0..128 {
        assert_eq!(t.expand_array(SHARED_GFN + 2 + i, m, &mut fx), Ok(()));
    }
    assert_eq!(
        t.expand_array(SHARED_GFN + 2, m, &mut fx),
        Err(Errno::Enospc)
    );
}

#[test]
fn reset_closes_everything_and_goes_back_to_two_level() {
    let mut w = world();
    w.tables[0]
        .init_control(SHARED_GFN + 1, 0, 0, &mut w.mems[0])
        .unwrap();
    let a = w.alloc_unbound(0, DOMID_SELF, 2).unwrap();
    let b = w.tables[0].bind_ipi(1, &mut w.mems[0]).unwrap();
    let c = w.tables[0]
        .bind_virq(virq::DEBUG, 1, &mut w.mems[0])
        .unwrap();
    w.reset(0);
    assert!(!w.tables[0].is_fifo());
    for port in [a, b, c] {
        assert_eq!(w.status(0, port).status, stat::CLOSED);
    }
    assert_eq!(
        w.tables[0].bind_virq(virq::DEBUG, 1, &mut w.mems[0]),
        Ok(1),
        "VIRQ unbound too"
    );
    assert_eq!(w.status(0, 0).status, stat::CLOSED, "port 0 still reserved");
    assert_eq!(w.alloc_unbound(0, DOMID_SELF, 2), Ok(2));
}

#[test]
fn domain_ids_resolve_as_dom0less_numbers_them() {
    assert_eq!(resolve_domid(DOMID_SELF, 3, 4), Ok(3));
    assert_eq!(resolve_domid(1, 3, 4), Ok(0));
    assert_eq!(resolve_domid(4, 3, 4), Ok(3));
    assert_eq!(resolve_domid(5, 3, 4), Err(Errno::Esrch));
    assert_eq!(resolve_domid(0, 3, 4), Err(Errno::Esrch));
    assert_eq!(Errno::Einval.to_return(), -22);
}

#[test]
fn only_the_own_table_may_be_reset() {
    assert_eq!(EventChannels::reset_target(DOMID_SELF, 1, 2), Ok(1));
    assert_eq!(EventChannels::reset_target(2, 1, 2), Ok(1));
    assert_eq!(EventChannels::reset_target(1, 1, 2), Err(Errno::Eperm));
    assert_eq!(EventChannels::reset_target(7, 1, 2), Err(Errno::Esrch));
}
