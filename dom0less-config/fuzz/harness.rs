//! The fuzz loop shared by the fuzz command and its sample in the test suite: mutate a
//! corpus entry, validate it, and check for a panic, the time bound and the heap bound.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use dom0less_config::devicetree::AddressRange;
use dom0less_config::{ConfigError, HostFacts, ModuleSource, PartitionPlan, Validated};

use crate::mutate::{mutate, Rng};
use crate::{common, meter};

/// What each input must stay within.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Longest a mutated input may be, in bytes.
    pub max_len: usize,
    /// Longest one input may take to validate.
    pub time: Duration,
    /// Heap bytes allowed per input byte (blob and partial device tree).
    pub heap_per_byte: usize,
    /// Heap bytes allowed whatever the input.
    pub heap_base: usize,
}

impl Bounds {
    /// The bounds of the fuzz command, for an optimised build.
    pub const RELEASE: Self = Self {
        max_len: 64 << 10,
        time: Duration::from_millis(100),
        heap_per_byte: 32,
        heap_base: 512 << 10,
    };

    /// The heap an input of `len` bytes may use.
    pub fn heap(&self, len: usize) -> usize {
        self.heap_per_byte * len + self.heap_base
    }
}

/// Why an input failed.
#[derive(Debug)]
pub enum Failure {
    Panic(String),
    Slow { elapsed: Duration, bound: Duration },
    Heap { peak: usize, bound: usize },
    Leak(isize),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panic(message) => write!(f, "panicked: {message}"),
            Self::Slow { elapsed, bound } => write!(
                f,
                "took {:.1} ms, over the bound of {} ms",
                elapsed.as_secs_f64() * 1e3,
                bound.as_millis()
            ),
            Self::Heap { peak, bound } => {
                write!(f, "used {peak} heap bytes, over the bound of {bound}")
            }
            Self::Leak(bytes) => write!(f, "{bytes} heap bytes were still allocated afterwards"),
        }
    }
}

/// Serves the partial device tree at the addresses the fixtures load it.
struct Partial<'a>(&'a [u8]);

impl ModuleSource for Partial<'_> {
    fn bytes(&self, range: AddressRange) -> Option<&[u8]> {
        [0x4e00_0000, 0x4e10_0000]
            .contains(&range.start())
            .then_some(self.0)
    }
}

/// What kind of result a validation had: valid, or which error variants.
fn signature(result: &Result<Validated, Vec<ConfigError>>) -> (u64, bool) {
    let mut hasher = DefaultHasher::new();
    match result {
        Ok(v) => (0u8, v.plan.partitions.len(), v.warnings.len().min(4)).hash(&mut hasher),
        Err(errors) => {
            1u8.hash(&mut hasher);
            for e in errors {
                std::mem::discriminant(e).hash(&mut hasher);
            }
        }
    }
    (hasher.finish(), result.is_ok())
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| String::from("(no message)"))
}

/// What one input cost.
#[derive(Clone, Copy, Debug)]
pub struct Cost {
    pub signature: u64,
    pub valid: bool,
    pub elapsed: Duration,
    pub peak: usize,
}

/// Validates one blob with one partial device tree and checks every bound.
pub fn run_one(dtb: &[u8], partial: &[u8], bounds: &Bounds) -> Result<Cost, Failure> {
    let host = HostFacts {
        hypervisor: AddressRange::window(0x4000_0000, 0x4020_0000),
        boot_cpu_mpidr: None,
        modules: Some(&Partial(partial)),
    };
    let start = Instant::now();
    let (outcome, usage) = meter::measure(|| {
        catch_unwind(AssertUnwindSafe(|| {
            signature(&PartitionPlan::from_host_tree(dtb, &host))
        }))
    });
    let elapsed = start.elapsed();
    let (signature, valid) =
        outcome.map_err(|payload| Failure::Panic(message(payload.as_ref())))?;
    let bound = bounds.heap(dtb.len() + partial.len());
    if usage.peak_bytes > bound {
        return Err(Failure::Heap {
            peak: usage.peak_bytes,
            bound,
        });
    }
    if usage.retained_bytes != 0 {
        return Err(Failure::Leak(usage.retained_bytes));
    }
    // Wall-clock time also counts other processes on the machine: a slow input is run twice
    // more and fails only if every run is over the bound.
    let mut elapsed = elapsed;
    for _ in 0..2 {
        if elapsed <= bounds.time {
            break;
        }
        let start = Instant::now();
        let _ = PartitionPlan::from_host_tree(dtb, &host);
        elapsed = elapsed.min(start.elapsed());
    }
    if elapsed > bounds.time {
        return Err(Failure::Slow {
            elapsed,
            bound: bounds.time,
        });
    }
    Ok(Cost {
        signature,
        valid,
        elapsed,
        peak: usage.peak_bytes,
    })
}

/// Every fixture blob (`testdata/*.dts`, the rejected ones too), compiled with dtc.
pub fn fixtures() -> Vec<Vec<u8>> {
    let mut names: Vec<String> = std::fs::read_dir(common::testdata())
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(".dts").map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.iter().map(|n| common::compile(n)).collect()
}

/// Most corpus entries kept; new ones then replace random old ones.
const MAX_CORPUS: usize = 4096;

/// Totals over a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub inputs: u64,
    pub valid: u64,
    pub slowest: Duration,
    pub slowest_len: usize,
    pub peak: usize,
    pub peak_len: usize,
    pub signatures: usize,
}

/// A seeded mutation fuzzer over a corpus that grows with inputs of a new result kind.
pub struct Fuzzer {
    rng: Rng,
    corpus: Vec<Vec<u8>>,
    partials: Vec<Vec<u8>>,
    seen: std::collections::HashSet<u64>,
    bounds: Bounds,
    pub stats: Stats,
}

impl Fuzzer {
    /// A fuzzer seeded with `corpus` blobs and the `partial` device tree.
    pub fn new(seed: u64, corpus: Vec<Vec<u8>>, partial: Vec<u8>, bounds: Bounds) -> Self {
        Self {
            rng: Rng::new(seed),
            corpus,
            partials: vec![partial],
            seen: Default::default(),
            bounds,
            stats: Stats::default(),
        }
    }

    /// Mutates and checks one input; on failure returns the blob and the partial device
    /// tree with the reason.
    pub fn step(&mut self) -> Result<(), (Vec<u8>, Vec<u8>, Failure)> {
        let a = self.rng.below(self.corpus.len());
        let b = self.rng.below(self.corpus.len());
        let max_len = self.bounds.max_len;
        let input = mutate(&mut self.rng, &self.corpus[a], &self.corpus[b], max_len);
        let partial = match self.rng.below(8) {
            0 => mutate(&mut self.rng, &self.partials[0], &self.corpus[b], max_len),
            _ => self.partials[0].clone(),
        };
        let cost = run_one(&input, &partial, &self.bounds)
            .map_err(|f| (input.clone(), partial.clone(), f))?;
        let stats = &mut self.stats;
        stats.inputs += 1;
        stats.valid += u64::from(cost.valid);
        if cost.elapsed > stats.slowest {
            (stats.slowest, stats.slowest_len) = (cost.elapsed, input.len());
        }
        if cost.peak > stats.peak {
            (stats.peak, stats.peak_len) = (cost.peak, input.len() + partial.len());
        }
        if self.seen.insert(cost.signature) {
            stats.signatures = self.seen.len();
            if self.corpus.len() < MAX_CORPUS {
                self.corpus.push(input);
            } else {
                let at = self.rng.below(MAX_CORPUS);
                self.corpus[at] = input;
            }
        }
        Ok(())
    }
}
