//! The fuzz command: validates millions of mutated device tree blobs, seeded from the
//! fixtures, and fails on the first panic, time-out, heap overrun or leak.
//!
//! `cargo test --release -p dom0less-config --test fuzz -- [--iterations N] [--seed S]`
//! (a test target without the test harness, so that panics unwind and are caught).

#[path = "../tests/common/mod.rs"]
mod common;
mod dictionary;
mod harness;
mod meter;
mod mutate;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use harness::{Bounds, Fuzzer};

struct Options {
    iterations: u64,
    seed: u64,
    report_every: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        iterations: 10_000_000,
        seed: 1,
        report_every: 1_000_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let text = args.next().ok_or(format!("{name} needs a number"))?;
            text.parse()
                .map_err(|_| format!("{name} {text}: not a number"))
        };
        match arg.as_str() {
            "--iterations" => options.iterations = value("--iterations")?,
            "--seed" => options.seed = value("--seed")?,
            "--report-every" => options.report_every = value("--report-every")?.max(1),
            // Cargo passes these to every test target.
            "--bench" | "--nocapture" => {}
            other => {
                return Err(format!(
                    "unknown argument {other}; use --iterations N, --seed S, --report-every N"
                ))
            }
        }
    }
    Ok(options)
}

fn rate(inputs: u64, elapsed: Duration) -> f64 {
    inputs as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    let bounds = Bounds::RELEASE;
    let corpus = harness::fixtures();
    let partial = common::compile("partial-serial");
    println!(
        "fuzz: {} inputs from {} fixtures, seed {}; bounds: {} ms and {} x input + {} KiB of heap per input",
        options.iterations,
        corpus.len(),
        options.seed,
        bounds.time.as_millis(),
        bounds.heap_per_byte,
        bounds.heap_base >> 10
    );
    let mut fuzzer = Fuzzer::new(options.seed, corpus, partial, bounds);
    let start = Instant::now();
    for i in 0..options.iterations {
        if let Err((input, partial, failure)) = fuzzer.step() {
            let file = format!("fuzz-failure-{}-{i}.dtb", options.seed);
            let partial_file = format!("fuzz-failure-{}-{i}.partial.dtb", options.seed);
            let saved = std::fs::write(&file, &input).is_ok()
                && std::fs::write(&partial_file, &partial).is_ok();
            eprintln!(
                "fuzz: input {i} (seed {}) failed: {failure}; {}",
                options.seed,
                if saved {
                    format!("saved as {file}")
                } else {
                    String::from("not saved")
                }
            );
            return ExitCode::FAILURE;
        }
        if (i + 1) % options.report_every == 0 {
            println!(
                "fuzz: {} inputs, {:.0}/s",
                i + 1,
                rate(i + 1, start.elapsed())
            );
        }
    }
    let s = fuzzer.stats;
    let elapsed = start.elapsed();
    println!(
        "fuzz: {} inputs, no panic, time-out, heap overrun or leak; {:.0} s, {:.0} inputs/s; \
         {} valid, {} kinds of result; slowest {:.2} ms ({} bytes); peak heap {} KiB ({} input bytes)",
        s.inputs,
        elapsed.as_secs_f64(),
        rate(s.inputs, elapsed),
        s.valid,
        s.signatures,
        s.slowest.as_secs_f64() * 1e3,
        s.slowest_len,
        s.peak >> 10,
        s.peak_len
    );
    ExitCode::SUCCESS
}
