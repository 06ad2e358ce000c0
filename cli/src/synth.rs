//! `synth`: input buckets of the sample's shape at larger scales, for benchmarks and for
//! trying the engine on more data. Every sub-district becomes `scale` sub-districts (the
//! original plus copies named `<name> <k>`), their counts varied by up to ±20% with a seeded
//! generator; district-level datasets and pre-aggregated district and Oslo rows are kept as
//! they are, so every function still runs on the result.
//!
//! A copy's id is a sub-district id the reader accepts (docs/deviations.md D7): four digits
//! starting with its district's two, one the sample does not use. That leaves 100 ids per
//! district: the sample's district 01 has 11 sub-districts, so 9x is the largest scale.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, bail};

/// Writes the scaled copy of the bucket at `sample` to `out`.
pub fn synthesize(sample: &Path, out: &Path, scale: usize, seed: u64) -> anyhow::Result<usize> {
    anyhow::ensure!(scale >= 1, "--scale must be at least 1");
    let ids = CopyIds::plan(&sample_sub_districts(sample)?, scale)?;
    let mut files = 0;
    for entry in walk(sample)? {
        let relative = entry.strip_prefix(sample).expect("below the sample");
        let target = out.join(relative);
        std::fs::create_dir_all(target.parent().expect("a file has a parent"))?;
        if entry.extension().is_some_and(|e| e == "csv") {
            let text = std::fs::read_to_string(&entry)
                .with_context(|| format!("reading {}", entry.display()))?;
            let dataset = relative.to_string_lossy().into_owned();
            std::fs::write(&target, scale_csv(&text, &dataset, &ids, seed))?;
            files += 1;
        } else {
            std::fs::copy(&entry, &target)?;
        }
    }
    Ok(files)
}

/// The sub-district ids of every CSV file of the sample.
fn sample_sub_districts(sample: &Path) -> anyhow::Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for entry in walk(sample)? {
        if entry.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        let text = std::fs::read_to_string(&entry)
            .with_context(|| format!("reading {}", entry.display()))?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let Some(column) = header.split(';').position(|c| c == "delbydel_id") else {
            continue;
        };
        ids.extend(
            lines
                .filter_map(|line| line.split(';').nth(column))
                .filter(|id| !id.is_empty())
                .map(str::to_string),
        );
    }
    Ok(ids)
}

/// The id of every copy of every sample sub-district: the same in every file, so that the
/// inputs a function joins still match.
struct CopyIds {
    scale: usize,
    ids: HashMap<(String, usize), String>,
}

impl CopyIds {
    fn plan(sample: &BTreeSet<String>, scale: usize) -> anyhow::Result<Self> {
        let mut by_district: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
        for id in sample {
            if id.len() != 4 || !id.bytes().all(|b| b.is_ascii_digit()) {
                bail!("sample sub-district id '{id}' is not four digits");
            }
            by_district.entry(&id[..2]).or_default().push(id);
        }
        let mut ids = HashMap::new();
        for (district, originals) in by_district {
            let mut free = (0..100)
                .map(|n| format!("{district}{n:02}"))
                .filter(|id| !sample.contains(id));
            for original in &originals {
                for copy in 1..scale {
                    let Some(id) = free.next() else {
                        bail!(
                            "district {district} has {} sub-districts: {scale}x needs {} four-digit \
                             sub-district ids and there are 100 (docs/deviations.md D7); the \
                             largest scale is {}",
                            originals.len(),
                            originals.len() * scale,
                            100 / originals.len()
                        );
                    };
                    ids.insert(((*original).clone(), copy), id);
                }
            }
        }
        Ok(Self { scale, ids })
    }

    fn id(&self, original: &str, copy: usize) -> &str {
        &self.ids[&(original.to_string(), copy)]
    }
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

fn scale_csv(text: &str, dataset: &str, ids: &CopyIds, seed: u64) -> String {
    let scale = ids.scale;
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
                        ids.id(cell, copy).to_string()
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

    fn ids(scale: usize) -> CopyIds {
        let sample = BTreeSet::from(["0101".to_string(), "0102".to_string()]);
        CopyIds::plan(&sample, scale).unwrap()
    }

    #[test]
    fn copies_sub_districts_and_varies_counts() {
        let out = scale_csv(CSV, "x", &ids(3), 7);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1 + 3 + 1);
        assert_eq!(lines[1], "2020;0101;Lodalen;01;Bydel Gamle Oslo;100;12.5");
        assert!(lines[2].starts_with("2020;0100;Lodalen 1;01;Bydel Gamle Oslo;"));
        assert!(lines[3].starts_with("2020;0103;Lodalen 2;01;"));
        let count: i64 = lines[2].split(';').nth(5).unwrap().parse().unwrap();
        assert!((80..=120).contains(&count), "{count}");
        assert!(lines[2].ends_with(";12.5"));
        assert_eq!(lines[4], "2020;;;01;Bydel Gamle Oslo;500;10.0");
        assert_eq!(
            out,
            scale_csv(CSV, "x", &ids(3), 7),
            "the same seed gives the same data"
        );
        assert_ne!(out, scale_csv(CSV, "x", &ids(3), 8));
    }

    #[test]
    fn copy_ids_are_the_districts_free_four_digit_ids_until_they_run_out() {
        let all = ids(50);
        let mut given: Vec<&str> = all.ids.values().map(String::as_str).collect();
        given.sort();
        given.dedup();
        assert_eq!(given.len(), 2 * 49, "unique");
        assert!(given.iter().all(|id| id.starts_with("01") && id.len() == 4));
        assert!(!given.contains(&"0101") && !given.contains(&"0102"));
        let sample = BTreeSet::from(["0101".to_string(), "0102".to_string()]);
        let error = CopyIds::plan(&sample, 51).err().unwrap().to_string();
        assert!(error.contains("the largest scale is 50"), "{error}");
    }
}
