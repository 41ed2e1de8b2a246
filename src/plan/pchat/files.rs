//! Log-backup file names. Log shipping names each backup `<database>_<yyyyMMddHHmmss>.trn`
//! (UTC), so name order is log-chain order; drover relies on that, and SQL Server itself
//! checks the chain on every RESTORE LOG (4305 on a gap, 4326 for a file already applied).

use jiff::Timestamp;
use jiff::civil::DateTime;

/// The file name part of a Windows or POSIX path.
pub fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

/// `folder\name`, with exactly one backslash between them.
pub fn join(folder: &str, name: &str) -> String {
    if folder.ends_with('\\') || folder.ends_with('/') {
        format!("{folder}{name}")
    } else {
        format!("{folder}\\{name}")
    }
}

/// Whether `name` is a log backup of `database` written by log shipping (not a tail-log backup).
pub fn is_shipped_log(name: &str, database: &str) -> bool {
    stamp_of(name, database).is_some() && !name.to_lowercase().ends_with("_tail.trn")
}

/// When a log backup of `database` was taken, from its name (the end of the log it holds).
pub fn stamp_of(name: &str, database: &str) -> Option<Timestamp> {
    let lower = name.to_lowercase();
    let rest = lower.strip_prefix(&format!("{}_", database.to_lowercase()))?;
    if !lower.ends_with(".trn") {
        return None;
    }
    let digits = rest.get(..14)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let civil = DateTime::strptime("%Y%m%d%H%M%S", digits).ok()?;
    civil.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
}

fn stamp(at: Timestamp) -> String {
    at.strftime("%Y%m%d%H%M%S").to_string()
}

/// The name log shipping gives a log backup of `database` taken at `at`.
pub fn log_name(database: &str, at: Timestamp) -> String {
    format!("{database}_{}.trn", stamp(at))
}

/// The tail-log backup a switchover takes: named after the transition's start, so every
/// reconcile (and a restarted operator) computes the same path.
pub fn tail_name(database: &str, started_at: Timestamp) -> String {
    format!("{database}_{}_tail.trn", stamp(started_at))
}

/// The full backup a failback takes at the backup instance and restores over the primary.
pub fn failback_name(database: &str, started_at: Timestamp) -> String {
    format!("{database}_{}_failback.bak", stamp(started_at))
}

/// The copy-only backup of the old primary's chat database taken before a failback restores over it.
pub fn kept_name(database: &str, started_at: Timestamp) -> String {
    format!("{database}_{}_old_primary.bak", stamp(started_at))
}

/// Case-insensitive name comparison (Windows file names).
pub fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Shipped log backups of `database` after `after` (a file name; `None`: all), in chain order,
/// each with the folder it was found in: the copy destination first, the share for those not copied.
pub fn unapplied<'a>(
    database: &str,
    after: Option<&str>,
    destination: &'a [String],
    share: &'a [String],
) -> Vec<(&'a str, Source)> {
    let after = after.map(str::to_lowercase);
    let newer = |name: &&String| {
        is_shipped_log(name, database) && after.as_deref().is_none_or(|a| name.to_lowercase().as_str() > a)
    };
    let mut out: Vec<(&str, Source)> = destination
        .iter()
        .filter(newer)
        .map(|n| (n.as_str(), Source::Destination))
        .collect();
    for name in share.iter().filter(newer) {
        if !out.iter().any(|(n, _)| same(n, name)) {
            out.push((name.as_str(), Source::Share));
        }
    }
    out.sort_by_key(|(n, _)| n.to_lowercase());
    out
}

/// Where a log backup is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Destination,
    Share,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_paths_and_stamps() {
        assert_eq!(
            file_name(r"D:\LogShip\mgc_20261122101500.trn"),
            "mgc_20261122101500.trn"
        );
        assert_eq!(file_name("plain"), "plain");
        assert_eq!(join(r"\\fs\share", "a.trn"), r"\\fs\share\a.trn");
        assert_eq!(join(r"D:\x\", "a.trn"), r"D:\x\a.trn");
        let at = stamp_of("MGC_20261122101500.TRN", "mgc").unwrap();
        assert_eq!(at.to_string(), "2026-11-22T10:15:00Z");
        assert!(stamp_of("mgccomp_20261122101500.trn", "mgc").is_none());
        assert!(stamp_of("mgc_2026112210150x.trn", "mgc").is_none());
        assert!(stamp_of("mgc_20261122101500.bak", "mgc").is_none());
        assert!(!is_shipped_log("mgc_20261122101500_tail.trn", "mgc"));
        assert!(is_shipped_log("mgc_20261122101500_1.trn", "mgc"));
        let start: Timestamp = "2026-11-22T10:15:00Z".parse().unwrap();
        assert_eq!(tail_name("mgc", start), "mgc_20261122101500_tail.trn");
        assert_eq!(log_name("mgc", start), "mgc_20261122101500.trn");
        assert_eq!(failback_name("mgc", start), "mgc_20261122101500_failback.bak");
    }

    #[test]
    fn unapplied_merges_both_folders_in_chain_order_after_the_last_restored() {
        let dest = names(&["mgc_20261122100000.trn", "mgc_20261122100200.trn", "other.txt"]);
        let share = names(&[
            "mgc_20261122100000.trn",
            "MGC_20261122100200.trn",
            "mgc_20261122100400.trn",
            "mgc_20261122100100_tail.trn",
            "mgccomp_20261122100400.trn",
        ]);
        let got = unapplied("mgc", Some("mgc_20261122100000.trn"), &dest, &share);
        assert_eq!(
            got,
            vec![
                ("mgc_20261122100200.trn", Source::Destination),
                ("mgc_20261122100400.trn", Source::Share)
            ]
        );
        assert_eq!(unapplied("mgc", None, &dest, &[]).len(), 2);
        assert!(unapplied("mgc", Some("mgc_20261122100400.trn"), &dest, &share).is_empty());
    }
}
