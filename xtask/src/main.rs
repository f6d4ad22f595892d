//! Project tasks: build, run, test, image, guests.
fn main() {}
