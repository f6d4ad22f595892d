//! Host tests of the schedulers, on a simulated machine ([`sim`]).

mod credit2;
mod fixed_priority;
mod native_wfi;
mod null;
mod sim;
mod table;
mod wait_here;
