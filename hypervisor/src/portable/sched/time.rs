//! Scheduler time: ticks of the physical counter, and the constants every scheduler converts
//! into ticks once, at construction.

/// Microseconds in a second.
const MICROS_PER_SECOND: u128 = 1_000_000;

/// `micros` microseconds in ticks of a counter running at `frequency_hz`; at least one tick,
/// so that a slow counter (or a frequency of 0 from a broken firmware) never yields a slice
/// of zero and a CPU that reschedules for ever.
pub fn ticks_from_micros(micros: u64, frequency_hz: u64) -> u64 {
    let ticks = u128::from(micros) * u128::from(frequency_hz) / MICROS_PER_SECOND;
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

/// `ticks` as a signed credit (credits go negative when a vCPU overruns); saturates.
pub fn signed(ticks: u64) -> i64 {
    i64::try_from(ticks).unwrap_or(i64::MAX)
}

/// `value * numerator / denominator` without overflow; saturates at `i64::MAX`, and a
/// denominator of 0 is read as 1.
///
/// Credit2 calls this on every charge and slice: with equal weights (the default) the ratio
/// is 1 and nothing is divided; while the product fits in 64 bits (any run shorter than
/// 2^48 ticks at weights up to 65535) one hardware division does; only beyond that the
/// 128-bit division in software (about 30 instructions a call before). The three give the
/// same value.
pub fn scale(value: u64, numerator: u64, denominator: u64) -> i64 {
    let denominator = denominator.max(1);
    if numerator == denominator {
        return signed(value);
    }
    if let Some(product) = value.checked_mul(numerator) {
        return signed(product.checked_div(denominator).unwrap_or(product));
    }
    let scaled = u128::from(value) * u128::from(numerator) / u128::from(denominator);
    i64::try_from(scaled).unwrap_or(i64::MAX)
}
