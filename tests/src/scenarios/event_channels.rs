//! Event channels between partitions: two `evtchn` guests (`tests/guests`), each on its own
//! CPU, ping-pong 1000 events over the channel they make themselves and over a static one
//! from the config, with the 2-level ABI and then FIFO; each counts what it received. Between
//! the 2-level rounds, pong masks its end of their channel and takes ten events in
//! `SCHEDOP_poll`, which only the hypervisor's poll wake-up can end (a masked port raises no
//! upcall). On virt GICv3 and GICv2, and on raspi4b (its own config file, for the board's RAM
//! layout).

use crate::scenario::{Expect, PartitionConfig, Scenario};

use super::partitions::{restarting, says, started, stopped, ALL_STOPPED};
use super::POWER_OFF;

const CONFIG: &str = "tests/scenarios/virt-evtchn.dts";
const ROUNDS: u32 = 1000;
/// Events pong takes in `SCHEDOP_poll` on its masked port (the guest's default).
const POLLS: u32 = 10;

/// What one guest prints: each ABI's two channels, every event received.
fn guest(name: &str) -> Vec<String> {
    guest_with(name, name == "ping", ROUNDS, 10)
}

/// What one `evtchn` guest prints with `rounds` events per channel and the static channel
/// on `static_port`; `ping` for the one that sends in the poll round.
pub fn guest_with(name: &str, ping: bool, rounds: u32, static_port: u32) -> Vec<String> {
    let mut lines = vec![started(name)];
    for (abi, port) in [("2-level", 1), ("fifo", 2)] {
        lines.push(says(name, &format!("{abi} interdomain port {port}: received {rounds} of {rounds}")));
        if abi == "2-level" {
            let polled = if ping { format!("2-level poll port {port}: sent {POLLS}") } else { format!("2-level poll port {port} masked: woken {POLLS} of {POLLS}") };
            lines.push(says(name, &polled));
        }
        lines.push(says(name, &format!("{abi} static port {static_port}: received {rounds} of {rounds}")));
    }
    lines.push(says(name, "done"));
    lines.push(format!("bulkhead: partition \"{name}\" shut itself down (Xen SCHEDOP_shutdown, reason 0)"));
    lines.push(stopped(name));
    lines
}

fn ping_pong(name: &str, board: &str, gic: Option<u8>, file: &str) -> Scenario {
    Scenario {
        gic,
        expect: vec![Expect::Interleaved(vec![guest("ping"), guest("pong")]), Expect::line(ALL_STOPPED), Expect::line(POWER_OFF)],
        partitions: Some(PartitionConfig { file: file.into(), valid: true }),
        forbidden: vec!["FAIL".to_string(), "an event was lost".to_string()],
        ..Scenario::new(name, board)
    }
}

/// Ping reboots with its channels open: pong sees their own channel closed and the static
/// one bound again, and 100 more events each way over the static channel reach the new run.
fn restart() -> Scenario {
    const R: u32 = 100;
    let mut ping = vec![
        started("ping"),
        says("ping", &format!("interdomain port 1: received {R} of {R}")),
        says("ping", &format!("static port 10: received {R} of {R}")),
        says("ping", "rebooting with ports 1 and 10 open"),
        restarting("ping", 2),
        says("ping", "boot 2: static port 10 = 0 state 2 dom 2 port 10"),
        says("ping", &format!("boot 2: static port 10: received {R} of {R}")),
    ];
    let mut pong = vec![
        started("pong"),
        says("pong", &format!("interdomain port 1: received {R} of {R}")),
        says("pong", &format!("static port 10: received {R} of {R}")),
        says("pong", "peer closed: port 1 unbound, for domain 1"),
        says("pong", "static port 10 bound again to domain 1 port 10"),
        says("pong", &format!("after the restart: static port 10: received {R} of {R}")),
    ];
    for (name, lines) in [("ping", &mut ping), ("pong", &mut pong)] {
        lines.push(says(name, "done"));
        lines.push(format!("bulkhead: partition \"{name}\" shut itself down (Xen SCHEDOP_shutdown, reason 0)"));
        lines.push(stopped(name));
    }
    Scenario {
        gic: Some(3),
        expect: vec![Expect::Interleaved(vec![ping, pong]), Expect::line(ALL_STOPPED), Expect::line(POWER_OFF)],
        partitions: Some(PartitionConfig { file: "tests/scenarios/virt-evtchn-restart.dts".into(), valid: true }),
        forbidden: vec!["FAIL".to_string(), "an event was lost".to_string(), "not bound again".to_string()],
        ..Scenario::new("virt-gicv3-evtchn-restart", "virt")
    }
}

/// The event-channel scenarios.
pub fn all() -> Vec<Scenario> {
    vec![
        restart(),
        ping_pong("virt-gicv3-evtchn-ping-pong", "virt", Some(3), CONFIG),
        ping_pong("virt-gicv2-evtchn-ping-pong", "virt", Some(2), CONFIG),
        ping_pong("raspi4b-evtchn-ping-pong", "rpi4", None, "tests/scenarios/raspi4b-evtchn.toml"),
    ]
}
