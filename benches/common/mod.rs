//! What the bench binaries share: the seed count, where the JSON goes, a plain text table. Each
//! bench compiles this on its own, so an item one of them does not use is not dead.
#![allow(dead_code)]

use std::path::PathBuf;

/// `DROVER_BENCH_SEEDS`, or `default`.
pub fn seeds(default: u64) -> u64 {
    std::env::var("DROVER_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// `target/bench/NAME` (or under `CARGO_TARGET_DIR`).
pub fn out_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench").join(name)
}

pub fn write_json(path: &std::path::Path, value: &serde_json::Value) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match serde_json::to_vec_pretty(value).map(|b| std::fs::write(path, b)) {
        Ok(Ok(())) => println!("\nfigures written to {}", path.display()),
        Ok(Err(e)) => eprintln!("cannot write {}: {e}", path.display()),
        Err(e) => eprintln!("cannot serialize the figures: {e}"),
    }
}

/// Columns padded to their widest cell.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect();
            println!("{}", line.join("  ").trim_end());
        }
    }
}
