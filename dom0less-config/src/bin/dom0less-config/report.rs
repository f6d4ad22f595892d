//! Output of `check` and `show`, as text for people or JSON for scripts.

use std::process::ExitCode;

use dom0less_config::authoring::{format_address, format_size};
use dom0less_config::{ConfigError, Memory, Module, PartitionPlan, Scheduler, Validated};
use serde_json::{json, Value};

/// The variant name of an error, for scripts.
fn kind(error: &ConfigError) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("")
        .to_string()
}

fn summary(plan: &PartitionPlan) -> String {
    let channels: usize = plan
        .partitions
        .iter()
        .map(|p| p.event_channels.len())
        .sum::<usize>()
        / 2;
    format!(
        "{} partitions, {} CPU pools, {} event channels, {} shared memory regions",
        plan.partitions.len(),
        plan.pools.len(),
        channels,
        plan.shared_regions.len()
    )
}

/// Prints the `check` result and returns the exit code.
pub fn check(file: &str, result: &Result<Validated, Vec<ConfigError>>, as_json: bool) -> ExitCode {
    match (result, as_json) {
        (Ok(v), false) => {
            for w in &v.warnings {
                println!("warning: {w}");
            }
            println!(
                "{file}: OK: {} ({} warnings)",
                summary(&v.plan),
                v.warnings.len()
            );
            ExitCode::SUCCESS
        }
        (Ok(v), true) => {
            let warnings: Vec<String> = v.warnings.iter().map(|w| w.to_string()).collect();
            println!(
                "{}",
                json!({ "file": file, "valid": true, "summary": summary(&v.plan), "warnings": warnings, "errors": [] })
            );
            ExitCode::SUCCESS
        }
        (Err(errors), false) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            eprintln!("{file}: {} errors", errors.len());
            ExitCode::FAILURE
        }
        (Err(errors), true) => {
            let list: Vec<Value> = errors
                .iter()
                .map(|e| json!({ "kind": kind(e), "message": e.to_string() }))
                .collect();
            println!(
                "{}",
                json!({ "file": file, "valid": false, "errors": list, "warnings": [] })
            );
            ExitCode::FAILURE
        }
    }
}

fn module_json(kind: &str, m: &Module) -> Value {
    json!({ "kind": kind, "address": m.range.start(), "size": m.range.size(), "bootargs": m.bootargs })
}

fn partition_json(plan: &PartitionPlan, index: usize) -> Value {
    let p = &plan.partitions[index];
    let pool = &plan.pools[p.pool];
    let memory = match &p.memory {
        Memory::Allocated { bytes } => json!({ "size": bytes }),
        Memory::Static { banks, direct_map } => json!({
            "static": banks.iter().map(|b| json!({ "address": b.start(), "size": b.size() })).collect::<Vec<_>>(),
            "direct_map": direct_map,
        }),
    };
    let mut modules = vec![module_json("kernel", &p.kernel)];
    modules.extend(p.ramdisk.iter().map(|m| module_json("ramdisk", m)));
    modules.extend(p.device_tree.iter().map(|m| module_json("device-tree", m)));
    json!({
        "name": p.name,
        "vcpus": p.vcpus.iter().map(|v| json!({
            "cpu": v.placement.map(|pl| pl.cpu), "mpidr": v.placement.map(|pl| pl.mpidr),
            "affinity": v.affinity, "priority": v.priority,
        })).collect::<Vec<_>>(),
        "pool": pool.name, "scheduler": pool.scheduler.name(),
        "memory": memory, "modules": modules, "console": p.vpl011,
        "enhanced": format!("{:?}", p.enhanced), "priority": p.priority,
        "weight": p.weight, "cap": p.cap_percent, "on_crash": p.crash_policy.name(), "restart_limit": p.restart_limit,
        "restart_backoff_ms": p.restart_backoff_ms, "heartbeat_ms": p.heartbeat_ms,
        "evtchn_peers": p.evtchn_peers.as_ref().map(|peers| {
            peers.iter().map(|&i| plan.partitions[i].name.clone()).collect::<Vec<_>>()
        }),
        "channels": p.event_channels.iter().map(|c| json!({
            "port": c.port, "remote": plan.partitions[c.remote_partition].name, "remote_port": c.remote_port,
        })).collect::<Vec<_>>(),
        "shared_memory": p.shared_memory.iter().map(|m| json!({
            "id": plan.shared_regions[m.region].id, "guest_address": m.guest_address, "owner": m.owner,
        })).collect::<Vec<_>>(),
        "devices": p.passthrough.devices.iter().map(|d| json!({ "path": d.host_path, "interrupts": d.interrupts }))
            .collect::<Vec<_>>(),
    })
}

fn range_text(start: u64, size: u64) -> String {
    format!(
        "{}..{} ({})",
        format_address(start),
        format_address(start.saturating_add(size)),
        format_size(size)
    )
}

fn print_partition(plan: &PartitionPlan, index: usize) {
    let p = &plan.partitions[index];
    let pool = &plan.pools[p.pool];
    println!("{}", p.name);
    println!(
        "  vcpus      {}   pool {} ({})",
        p.vcpu_count,
        pool.name,
        pool.scheduler.name()
    );
    match &p.memory {
        Memory::Allocated { bytes } => println!("  memory     {} allocated", format_size(*bytes)),
        Memory::Static { banks, direct_map } => {
            for b in banks {
                println!(
                    "  memory     {}{}",
                    range_text(b.start(), b.size()),
                    if *direct_map { " direct-map" } else { "" }
                );
            }
        }
    }
    let modules = [
        ("kernel", Some(&p.kernel)),
        ("ramdisk", p.ramdisk.as_ref()),
        ("dtb", p.device_tree.as_ref()),
    ];
    for (name, m) in modules {
        if let Some(m) = m {
            let args = m
                .bootargs
                .as_deref()
                .map(|a| format!("  \"{a}\""))
                .unwrap_or_default();
            println!(
                "  {name:<10} {}{args}",
                range_text(m.range.start(), m.range.size())
            );
        }
    }
    println!(
        "  console    {}   enhanced {:?}   priority {}   on-crash {}{}",
        if p.vpl011 { "vpl011" } else { "none" },
        p.enhanced,
        p.priority,
        p.crash_policy.name(),
        p.restart_limit
            .map(|l| format!(" (at most {l} in a row, back-off from {} ms)", p.restart_backoff_ms.unwrap_or(0)))
            .unwrap_or_default()
    );
    if let Some(ms) = p.heartbeat_ms {
        println!("  heartbeat  console output at least every {ms} ms, else on-crash applies");
    }
    if pool.scheduler == Scheduler::Credit2 {
        let cap = match p.cap_percent {
            0 => String::from("none"),
            c => format!("{c}% of a CPU"),
        };
        println!("  weight     {}   cap {cap}", p.weight);
    }
    for (id, v) in p.vcpus.iter().enumerate() {
        if let Some(pl) = v.placement {
            println!("  vcpu{id:<6} cpu {} (MPIDR {:#x})", pl.cpu, pl.mpidr);
        }
    }
    if let Some(peers) = &p.evtchn_peers {
        let names: Vec<&str> = peers.iter().map(|&i| plan.partitions[i].name.as_str()).collect();
        let list = if names.is_empty() { String::from("none") } else { names.join(", ") };
        println!("  evtchn     peers {list}");
    }
    for c in &p.event_channels {
        println!(
            "  channel    port {} <-> {}:{}",
            c.port, plan.partitions[c.remote_partition].name, c.remote_port
        );
    }
    for m in &p.shared_memory {
        let r = &plan.shared_regions[m.region];
        let host = r.host.map_or_else(
            || String::from("chosen at boot"),
            |h| range_text(h.start(), h.size()),
        );
        let role = if m.owner { "owner" } else { "borrower" };
        println!(
            "  shared     \"{}\" host {host} at guest {} ({role})",
            r.id,
            format_address(m.guest_address)
        );
    }
    for d in &p.passthrough.devices {
        println!("  device     {} irqs {:?}", d.host_path, d.interrupts);
    }
}

/// Prints the `show` table and returns the exit code.
pub fn show(result: &Result<Validated, Vec<ConfigError>>, as_json: bool) -> ExitCode {
    let validated = match result {
        Ok(v) => v,
        Err(_) => return check("config", result, as_json),
    };
    let plan = &validated.plan;
    if as_json {
        let partitions: Vec<Value> = (0..plan.partitions.len())
            .map(|i| partition_json(plan, i))
            .collect();
        println!(
            "{}",
            json!({ "partitions": partitions, "summary": summary(plan) })
        );
    } else {
        for i in 0..plan.partitions.len() {
            print_partition(plan, i);
        }
        println!("{}", summary(plan));
    }
    ExitCode::SUCCESS
}
