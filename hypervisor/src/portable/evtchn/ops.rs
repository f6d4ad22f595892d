//! The guest's event-channel operations on its own table (and `alloc_unbound`, `status` on
//! the table of the domain they name), with Xen 4.17's checks in Xen's order.

use super::abi::{self, stat, virq};
use super::effects::{Effects, PeerClosed, PeerReset, Route};
use super::error::Errno;
use super::memory::EventMemory;
use super::table::{Binding, EventChannels};

/// What `EVTCHNOP_status` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// `EVTCHNSTAT_*`.
    pub status: u32,
    /// The vCPU notified.
    pub vcpu: u32,
    /// Unbound: the domain allowed to bind. Interdomain: the remote domain.
    pub dom: u16,
    /// Interdomain: the remote port. VIRQ: the VIRQ.
    pub port_or_virq: u32,
}

impl EventChannels {
    /// Raises an event on `port` for vCPU `vcpu` in whichever ABI is in use. A memory failure
    /// loses the event and is reported in `fx`.
    pub(super) fn set_pending(
        &mut self,
        vcpu: u16,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) {
        let result = if self.fifo.active {
            self.set_pending_fifo(vcpu, port, mem, fx)
        } else {
            self.set_pending_2l(vcpu, port, mem, fx)
        };
        if let Err(e) = result {
            fx.fault(e);
        }
    }

    pub(super) fn clear_pending(
        &mut self,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) {
        let result = if self.fifo.active {
            self.clear_pending_fifo(port, mem)
        } else {
            self.clear_pending_2l(port, mem)
        };
        if let Err(e) = result {
            fx.fault(e);
        }
    }

    /// A port still on a FIFO queue is busy; a word that cannot be read counts as busy.
    pub(super) fn is_busy(&self, port: u32, mem: &mut impl EventMemory) -> bool {
        self.fifo.active && self.is_busy_fifo(port, mem).unwrap_or(true)
    }

    /// Whether a port is bound and pending (`SCHEDOP_poll` checks its ports with it). A port
    /// that is not valid, or not in use (free, reserved), is -EINVAL, as Xen 4.17's poll
    /// answers (`evtchn_port_poll`); a word that cannot be read, -EFAULT.
    pub fn is_pending(&self, port: u32, mem: &mut impl EventMemory) -> Result<bool, Errno> {
        let channel = self.channel(port).ok_or(Errno::Einval)?;
        if !channel.binding.usable() {
            return Err(Errno::Einval);
        }
        let pending = if self.fifo.active {
            match self.fifo.word(port) {
                Some(word) => super::memory::test(mem, word, super::abi::fifo::PENDING),
                None => Ok(false),
            }
        } else {
            self.is_pending_2l(port, mem)
        };
        pending.map_err(|_| Errno::Efault)
    }

    /// `EVTCHNOP_alloc_unbound`, called on the table of the domain named by `dom` on behalf of
    /// partition `caller`: a new port that `remote_dom` may bind to. As in Xen, the port is
    /// looked for before the permission check, and only a domain itself may allocate in its table.
    pub fn alloc_unbound(
        &mut self,
        caller: usize,
        remote_dom: u16,
        mem: &mut impl EventMemory,
    ) -> Result<u32, Errno> {
        let port = self.get_port(0, mem)?;
        if caller != self.partition {
            return Err(Errno::Eperm);
        }
        let remote_domid = if remote_dom == abi::DOMID_SELF {
            self.domid()
        } else {
            remote_dom
        };
        if !self.allows_domid(remote_domid) {
            return Err(Errno::Eperm);
        }
        self.bind(port, Binding::Unbound { remote_domid }, 0);
        Ok(port)
    }

    /// Whether this partition's peer list admits the domain (itself always).
    pub(super) fn allows_domid(&self, domid: u16) -> bool {
        domid == self.domid() || (domid != 0 && self.peers.allows(usize::from(domid) - 1))
    }

    /// `EVTCHNOP_bind_virq`.
    pub fn bind_virq(
        &mut self,
        virq: u32,
        vcpu: u32,
        mem: &mut impl EventMemory,
    ) -> Result<u32, Errno> {
        if virq >= virq::COUNT {
            return Err(Errno::Einval);
        }
        if virq::is_global(virq) && vcpu != 0 {
            return Err(Errno::Einval);
        }
        let vcpu = self.has_vcpu(vcpu).ok_or(Errno::Enoent)?;
        let bound = self
            .virqs
            .get(usize::from(vcpu))
            .map_or(0, |v| v[virq as usize]);
        if bound != 0 {
            return Err(Errno::Eexist);
        }
        let port = self.get_port(0, mem)?;
        self.bind(port, Binding::Virq { virq }, vcpu);
        if let Some(v) = self.virqs.get_mut(usize::from(vcpu)) {
            v[virq as usize] = port;
        }
        Ok(port)
    }

    /// `EVTCHNOP_bind_ipi`.
    pub fn bind_ipi(&mut self, vcpu: u32, mem: &mut impl EventMemory) -> Result<u32, Errno> {
        let vcpu = self.has_vcpu(vcpu).ok_or(Errno::Enoent)?;
        let port = self.free_port(mem)?;
        self.bind(port, Binding::Ipi, vcpu);
        Ok(port)
    }

    /// `EVTCHNOP_bind_vcpu`: where the port's events go from now on.
    pub fn bind_vcpu(&mut self, port: u32, vcpu: u32) -> Result<(), Errno> {
        let vcpu = self.has_vcpu(vcpu).ok_or(Errno::Enoent)?;
        let channel = self.channel_mut(port).ok_or(Errno::Einval)?;
        match channel.binding {
            Binding::Virq { virq } if virq::is_global(virq) => channel.notify_vcpu = vcpu,
            Binding::Unbound { .. } | Binding::Interdomain { .. } => channel.notify_vcpu = vcpu,
            _ => return Err(Errno::Einval),
        }
        Ok(())
    }

    /// `EVTCHNOP_status`, called on the table of the domain named by `dom` on behalf of
    /// partition `caller` (another domain's ports are -EPERM, after the port check as in Xen).
    pub fn status(&self, caller: usize, port: u32) -> Result<Status, Errno> {
        let channel = self.channel(port).ok_or(Errno::Einval)?;
        if caller != self.partition {
            return Err(Errno::Eperm);
        }
        let (status, dom, port_or_virq) = match channel.binding {
            Binding::Free | Binding::Reserved => (stat::CLOSED, 0, 0),
            Binding::Unbound { remote_domid } => (stat::UNBOUND, remote_domid, 0),
            Binding::Interdomain {
                partition, port, ..
            } => (stat::INTERDOMAIN, Self::domid_of(partition), port),
            Binding::Virq { virq } => (stat::VIRQ, 0, virq),
            Binding::Ipi => (stat::IPI, 0, 0),
        };
        Ok(Status {
            status,
            vcpu: u32::from(channel.notify_vcpu),
            dom,
            port_or_virq,
        })
    }

    /// `EVTCHNOP_unmask`.
    pub fn unmask(
        &mut self,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<(), Errno> {
        let channel = *self.channel(port).ok_or(Errno::Einval)?;
        if !channel.binding.usable() {
            return Ok(());
        }
        let result = if self.fifo.active {
            self.unmask_fifo(channel.notify_vcpu, port, mem, fx)
        } else {
            self.unmask_2l(channel.notify_vcpu, port, mem, fx)
        };
        result.map_err(|_| Errno::Efault)
    }

    /// `EVTCHNOP_send`. An IPI or a loopback channel is delivered here (see `fx`); an
    /// interdomain one is returned for the runtime to deliver under the receiver's lock.
    pub fn send(
        &mut self,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<Route, Errno> {
        let channel = *self.channel(port).ok_or(Errno::Einval)?;
        match channel.binding {
            Binding::Interdomain {
                partition,
                port: remote_port,
                ..
            } => {
                let delivery = super::Delivery {
                    partition,
                    port: remote_port,
                    from_partition: self.partition,
                    from_port: port,
                    from_epoch: self.epoch,
                };
                if partition == self.partition {
                    self.deliver(&delivery, mem, fx);
                    Ok(Route::Local)
                } else {
                    Ok(Route::Remote(delivery))
                }
            }
            Binding::Ipi => {
                self.set_pending(channel.notify_vcpu, port, mem, fx);
                Ok(Route::Local)
            }
            Binding::Unbound { .. } => Ok(Route::Dropped),
            _ => Err(Errno::Einval),
        }
    }

    /// Raises VIRQ `virq` for vCPU `vcpu` (per-vCPU VIRQs) or for the vCPU the port names
    /// (global VIRQs, looked up on vCPU 0), if the guest bound it. For the runtime: console
    /// input (VIRQ_CONSOLE), a debug dump (VIRQ_DEBUG).
    pub fn raise_virq(
        &mut self,
        virq: u32,
        vcpu: u16,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) {
        if virq >= virq::COUNT {
            return;
        }
        let global = virq::is_global(virq);
        let lookup = if global { 0 } else { vcpu };
        let Some(port) = self
            .virqs
            .get(usize::from(lookup))
            .map(|v| v[virq as usize])
        else {
            return;
        };
        if port == 0 {
            return;
        }
        let target = match self.channel(port) {
            Some(c) if global => c.notify_vcpu,
            Some(_) => vcpu,
            None => return,
        };
        self.set_pending(target, port, mem, fx);
    }

    /// `EVTCHNOP_close`. The other end of an interdomain channel goes unbound: in this
    /// partition at once (loopback), else through the returned notice.
    pub fn close(
        &mut self,
        port: u32,
        mem: &mut impl EventMemory,
        fx: &mut Effects,
    ) -> Result<Option<PeerClosed>, Errno> {
        let channel = *self.channel(port).ok_or(Errno::Einval)?;
        let notice = match channel.binding {
            Binding::Free | Binding::Reserved => return Err(Errno::Einval),
            Binding::Unbound { .. } | Binding::Ipi => None,
            Binding::Virq { virq } => {
                let holder = if virq::is_global(virq) {
                    0
                } else {
                    channel.notify_vcpu
                };
                if let Some(v) = self.virqs.get_mut(usize::from(holder)) {
                    if v[virq as usize % virq::COUNT as usize] == port {
                        v[virq as usize % virq::COUNT as usize] = 0;
                    }
                }
                None
            }
            Binding::Interdomain {
                partition,
                port: remote_port,
                ..
            } => Some(PeerClosed {
                partition,
                port: remote_port,
                from_partition: self.partition,
                from_port: port,
                from_epoch: self.epoch,
            }),
        };
        self.free(port, mem, fx);
        match notice {
            Some(n) if n.partition == self.partition => {
                self.peer_closed(&n);
                Ok(None)
            }
            other => Ok(other),
        }
    }

    /// Which table `EVTCHNOP_reset` of domain `dom` may reset for partition `caller`: only
    /// its own (-ESRCH for no such domain, -EPERM for another one, as Xen's XSM answers a DomU).
    pub fn reset_target(dom: u16, caller: usize, partitions: usize) -> Result<usize, Errno> {
        let target = super::resolve_domid(dom, caller, partitions)?;
        if target == caller {
            Ok(target)
        } else {
            Err(Errno::Eperm)
        }
    }

    /// `EVTCHNOP_reset` of the caller's own table: closes every port, goes back to the
    /// 2-level ABI and starts a new epoch. The runtime hands the notice to every other table.
    pub fn reset(&mut self, mem: &mut impl EventMemory, fx: &mut Effects) -> PeerReset {
        for port in 1..self.valid {
            // Loopback ends become unbound here and are closed when the loop reaches them.
            let _ = self.close(port, mem, fx);
        }
        self.fifo.deactivate();
        let notice = PeerReset {
            partition: self.partition,
            epoch: self.epoch,
        };
        self.epoch = self.epoch.wrapping_add(1);
        notice
    }

    /// The partition stopped or is restarting: every port closes without touching its memory
    /// (about to be scrubbed), and the table is as new. The runtime hands the notice to every
    /// other table, then binds the partition's static channels again if it restarts.
    pub fn stop(&mut self) -> PeerReset {
        let notice = PeerReset {
            partition: self.partition,
            epoch: self.epoch,
        };
        self.reinitialise();
        notice
    }
}
