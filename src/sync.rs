//! One way to take a std Mutex everywhere in the crate.

/// Locks a mutex. A poisoned lock means a panic elsewhere already failed that
/// task; the data is still served rather than panicking again (the simulator's
/// world, a controller's connection pool and memory).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
