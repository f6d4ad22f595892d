//! Event channels between partitions: two `evtchn` guests (`tests/guests`), each on its own
//! CPU, ping-pong 1000 events over the channel they make themselves and over a static one
//! from the config, with the 2-level ABI and then FIFO; each counts what it received. Between
//! the 2-level rounds, pong masks its end of their channel and takes ten events in
//! `SCHEDOP_poll`, which only the hypervisor's poll wake-up can end (a masked port raises no
//! upcall). On virt GICv3 and GICv2, and on raspi4b (its own config file, for the board's RAM
//! layout).

use crate::scenario::{Expect, PartitionConfig, Scenario};

use super::partitions::{says, started, stopped, ALL_STOPPED};
use super::POWER_OFF;

const CONFIG: &str = "tests/scenarios/virt-evtchn.dts";
const ROUNDS: u32 = 1000;
/// Events pong takes in `SCHEDOP_poll` on its masked port (the guest's default).
const POLLS: u32 = 10;

/// What one guest prints: each ABI's two channels, every event received.
fn guest(name: &str) -> Vec<String> {
    let mut lines = vec![started(name)];
    for (abi, port) in [("2-level", 1), ("fifo", 2)] {
        lines.push(says(name, &format!("{abi} interdomain port {port}: received {ROUNDS} of {ROUNDS}")));
        if abi == "2-level" {
            let polled = if name == "ping" { format!("2-level poll port {port}: sent {POLLS}") } else { format!("2-level poll port {port} masked: woken {POLLS} of {POLLS}") };
            lines.push(says(name, &polled));
        }
        lines.push(says(name, &format!("{abi} static port 10: received {ROUNDS} of {ROUNDS}")));
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

/// The event-channel scenarios.
pub fn all() -> Vec<Scenario> {
    vec![
        ping_pong("virt-gicv3-evtchn-ping-pong", "virt", Some(3), CONFIG),
        ping_pong("virt-gicv2-evtchn-ping-pong", "virt", Some(2), CONFIG),
        ping_pong("raspi4b-evtchn-ping-pong", "rpi4", None, "tests/scenarios/raspi4b-evtchn.toml"),
    ]
}
