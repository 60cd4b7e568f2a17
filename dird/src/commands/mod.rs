//! What the binary does, one module per command. Each returns text or a typed error; the
//! binary edge (`main.rs`) prints and picks the exit status.

pub mod doctor;
pub mod health;
pub mod lbs;
pub mod plan;
pub mod status;
pub mod usage;
