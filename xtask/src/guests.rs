//! `cargo xtask guests`: fetches the Debian arm64 pieces guests are made of into the cache and
//! builds the Linux guest's files from them.

use crate::debian::Debian;
use crate::linux::{self, LinuxError};

/// Fetches the kernel Image, busybox and the Raspberry Pi 4 device tree, builds the Linux
/// guest's initramfs; prints the paths.
pub fn guests() -> Result<(), LinuxError> {
    let mut debian = Debian::new();
    let guest = linux::guest(&mut debian)?;
    let dtb = debian
        .board_dtb(&boards::RPI4)
        .map_err(LinuxError::Debian)?;
    println!("kernel Image: {}", guest.kernel().display());
    println!("initramfs:    {}", guest.initramfs().display());
    if let Some(dtb) = dtb {
        println!("Pi 4 DTB:     {}", dtb.display());
    }
    Ok(())
}
