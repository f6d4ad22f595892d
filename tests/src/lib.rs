//! Boots QEMU scenarios and checks their consoles against expected lines with a deadline.
