//! `synth`: input buckets of the sample's shape at any scale, for benchmarks and for trying
//! the engine on more data. Every sub-district becomes `scale` sub-districts (the original
//! plus copies with ids `<id>-<k>` and names `<name> <k>`), their counts varied by up to ±20%
//! with a seeded generator; district-level datasets and pre-aggregated district and Oslo rows
//! are kept as they are, so every function still runs on the result.

use std::path::Path;

use anyhow::Context;

/// Writes the scaled copy of the bucket at `sample` to `out`.
pub fn synthesize(sample: &Path, out: &Path, scale: usize, seed: u64) -> anyhow::Result<usize> {
    anyhow::ensure!(scale >= 1, "--scale must be at least 1");
    let mut files = 0;
    for entry in walk(sample)? {
        let relative = entry.strip_prefix(sample).expect("below the sample");
        let target = out.join(relative);
        std::fs::create_dir_all(target.parent().expect("a file has a parent"))?;
        if entry.extension().is_some_and(|e| e == "csv") {
            let text = std::fs::read_to_string(&entry)
                .with_context(|| format!("reading {}", entry.display()))?;
            let dataset = relative.to_string_lossy().into_owned();
            std::fs::write(&target, scale_csv(&text, &dataset, scale, seed))?;
            files += 1;
        } else {
            std::fs::copy(&entry, &target)?;
        }
    }
    Ok(files)
}

fn walk(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// splitmix64: a small, well-mixed, reproducible generator.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn hash(parts: &[&str], numbers: &[u64]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for part in parts {
        for b in part.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        h = mix(h);
    }
    numbers.iter().fold(h, |h, n| mix(h ^ n))
}

fn scale_csv(text: &str, dataset: &str, scale: usize, seed: u64) -> String {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let columns: Vec<&str> = header.split(';').collect();
    let position = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(sub_id), Some(sub_name)) = (position("delbydel_id"), position("delbydel_navn"))
    else {
        return text.to_string();
    };
    // Counts are varied; years, codes and percentages are not.
    let fixed = |name: &str| {
        [
            "aar",
            "kjonn",
            "bydel_id",
            "bydel_navn",
            "dodsrate",
            "kvmpris",
        ]
        .contains(&name)
            || name.starts_with("andel")
    };
    let mut out = String::with_capacity(text.len() * scale);
    out.push_str(header);
    out.push('\n');
    for (row, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(';').collect();
        out.push_str(line);
        out.push('\n');
        if cells.get(sub_id).is_none_or(|id| id.is_empty()) {
            continue;
        }
        for copy in 1..scale {
            let varied: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    if i == sub_id {
                        format!("{cell}-{copy}")
                    } else if i == sub_name {
                        format!("{cell} {copy}")
                    } else if !fixed(columns[i])
                        && let Ok(n) = cell.parse::<i64>()
                    {
                        let r = hash(&[dataset, columns[i]], &[seed, row as u64, copy as u64]);
                        let factor = 0.8 + 0.4 * (r >> 11) as f64 / (1u64 << 53) as f64;
                        ((n as f64 * factor).round() as i64).to_string()
                    } else {
                        cell.to_string()
                    }
                })
                .collect();
            out.push_str(&varied.join(";"));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "aar;delbydel_id;delbydel_navn;bydel_id;bydel_navn;antall;andel\n\
        2020;0101;Lodalen;01;Bydel Gamle Oslo;100;12.5\n\
        2020;;;01;Bydel Gamle Oslo;500;10.0\n";

    #[test]
    fn copies_sub_districts_and_varies_counts() {
        let out = scale_csv(CSV, "x", 3, 7);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1 + 3 + 1);
        assert_eq!(lines[1], "2020;0101;Lodalen;01;Bydel Gamle Oslo;100;12.5");
        assert!(lines[2].starts_with("2020;0101-1;Lodalen 1;01;Bydel Gamle Oslo;"));
        assert!(lines[3].starts_with("2020;0101-2;Lodalen 2;01;"));
        let count: i64 = lines[2].split(';').nth(5).unwrap().parse().unwrap();
        assert!((80..=120).contains(&count), "{count}");
        assert!(lines[2].ends_with(";12.5"));
        assert_eq!(lines[4], "2020;;;01;Bydel Gamle Oslo;500;10.0");
        assert_eq!(
            out,
            scale_csv(CSV, "x", 3, 7),
            "the same seed gives the same data"
        );
        assert_ne!(out, scale_csv(CSV, "x", 3, 8));
    }
}
