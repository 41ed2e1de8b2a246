//! The planners: pure functions from spec + observation + journal to the next
//! step and the reason for it. No I/O happens here, so every branch of every
//! runbook is tested without a cluster or a database.

pub mod ag;
pub mod confirm;
pub mod drsite;
pub mod pchat;

/// FNV-1a, 64 bits: a stable, dependency-free hash for names and tokens that must come out the
/// same in every operator replica and every release (std's hashers promise neither). Not a
/// secret and not collision-proof against an adversary; only a binding.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }
}
