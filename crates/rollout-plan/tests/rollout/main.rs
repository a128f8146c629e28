//! The planner driven against a small simulated cluster: hand-checked sequences (including
//! the tutorial's), random property runs with slow and broken pods, restarts and rollbacks.

mod cluster;
mod driver;
mod health;
mod properties;
mod scale;
mod sequences;
