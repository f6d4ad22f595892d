//! Guest boot: the Xen-compatible guest physical layout, arm64 Image headers, module placement,
//! the guest device tree and vCPU0's entry state.
//!
//! Images built for Xen dom0less domUs boot unchanged: the guest sees RAM, the GIC, the SBSA UART
//! and the grant-table window where Xen puts them, and its modules where Xen places them.
//!
//! The layout, the image headers, the placement and the device tree live in the
//! `guest-setup` crate, built for size (they run at partition starts only), and are
//! re-exported here; loading the modules into a partition's RAM (`boot`) stays here.

pub mod boot;
pub use guest_setup::{dtb, image, layout, passthrough, placement};
