//! The planners: pure functions from spec + observation + journal to the next
//! step and the reason for it. No I/O happens here, so every branch of every
//! runbook is tested without a cluster or a database.

pub mod ag;
