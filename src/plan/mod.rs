//! The planners: pure functions from spec + observation + journal to the next
//! step and the reason for it. No I/O happens here, so every branch of every
//! runbook is tested without a cluster or a database.

pub mod ag;
pub mod drsite;

/// FNV-1a, 64 bits: a stable binding of text to a short token or name suffix (not a secret).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
