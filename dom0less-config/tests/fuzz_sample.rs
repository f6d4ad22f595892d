//! A short seeded run of the fuzz command's loop (the full run is `--test fuzz`, outside
//! `cargo test`): no panic, time-out, heap overrun or leak on a few thousand inputs.

mod common;
#[path = "../fuzz/dictionary.rs"]
mod dictionary;
#[path = "../fuzz/harness.rs"]
mod harness;
#[path = "../fuzz/meter.rs"]
mod meter;
#[path = "../fuzz/mutate.rs"]
mod mutate;

use std::time::Duration;

use harness::{Bounds, Fuzzer};

/// Inputs per run: enough to reach every mutation often, few enough for a debug build.
const INPUTS: u64 = 10_000;

#[test]
fn seeded_sample_of_the_fuzz_loop() {
    let corpus = harness::fixtures();
    assert!(corpus.len() > 40, "the fixtures seed the corpus");
    // An unoptimised build is some twenty times slower; the heap bounds are the same.
    let bounds = Bounds {
        time: Duration::from_secs(2),
        ..Bounds::RELEASE
    };
    let mut fuzzer = Fuzzer::new(0x5eed, corpus, common::compile("partial-serial"), bounds);
    for i in 0..INPUTS {
        if let Err((input, _, failure)) = fuzzer.step() {
            panic!("input {i} ({} bytes): {failure}", input.len());
        }
    }
    assert_eq!(fuzzer.stats.inputs, INPUTS);
}
