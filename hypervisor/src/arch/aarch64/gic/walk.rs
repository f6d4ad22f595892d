//! Finding each CPU's GICv3 redistributor: a walk over the contiguous frames, matching the
//! affinity in each frame's `GICR_TYPER` (IHI 0069H.b §12.10 and §12.11.37). Pure: the caller
//! supplies the register reads, so the host tests run it over fake frames.

use super::regs::{GicrTyper, MPIDR_AFFINITY_MASK};

/// The walk gives up after this many frames (QEMU `virt`'s first region holds 123).
pub const MAX_REDISTRIBUTOR_FRAMES: usize = 512;

/// Fills `found[i]` with the address of the frame whose affinity is `cpus[i]`'s, walking
/// from `base` with `read_typer(address)` until the frame with `Last`, or until every CPU has
/// its frame. Returns the index of the first CPU left without a frame as the error.
///
/// `found` must be at least as long as `cpus`.
pub fn find_redistributors(
    base: usize,
    cpus: &[u64],
    found: &mut [Option<usize>],
    mut read_typer: impl FnMut(usize) -> GicrTyper,
) -> Result<(), usize> {
    let mut frame = base;
    for _ in 0..MAX_REDISTRIBUTOR_FRAMES {
        let typer = read_typer(frame);
        let affinity = typer.mpidr_affinity();
        if let Some(index) = cpus
            .iter()
            .position(|&mpidr| mpidr & MPIDR_AFFINITY_MASK == affinity)
        {
            if let Some(slot) = found.get_mut(index) {
                *slot = Some(frame);
            }
        }
        let all_found = (0..cpus.len()).all(|i| found.get(i).is_some_and(Option::is_some));
        if typer.is_last() || all_found {
            break;
        }
        frame += typer.stride();
    }
    match (0..cpus.len()).find(|&i| !found.get(i).is_some_and(Option::is_some)) {
        Some(missing) => Err(missing),
        None => Ok(()),
    }
}
