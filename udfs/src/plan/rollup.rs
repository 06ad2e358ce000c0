//! The three-level aggregation sub-district -> district -> Oslo i alt (docs/contract.md §5.1).

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::functions::expr_fn::{coalesce, concat_ws};
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::SortExpr;
use datafusion::prelude::*;

use super::{c, null_str, select, share};
use crate::geo;

/// How a value column is aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// pandas `sum`: missing skipped, an all-missing group sums to 0; keeps the column kind.
    Sum,
    /// The original's `sum_nans`: all missing -> missing; a mix -> error naming the group.
    SumNans,
}

fn aggregate_exprs(df: &DataFrame, values: &[(&str, Agg)], group: &[&str]) -> Result<Vec<Expr>> {
    let label = concat_ws(
        lit("/"),
        group.iter().map(|k| cast(c(k), DataType::Utf8)).collect(),
    );
    values
        .iter()
        .map(|&(name, agg)| {
            let expr = match agg {
                Agg::Sum => {
                    let zero = match df.schema().field_with_unqualified_name(name)?.data_type() {
                        DataType::Float64 | DataType::Float32 => lit(0.0f64),
                        _ => lit(0i64),
                    };
                    coalesce(vec![sum(c(name)), zero])
                }
                Agg::SumNans => {
                    crate::sum_nans().call(vec![cast(c(name), DataType::Float64), label.clone()])
                }
            };
            Ok(expr.alias(aggregated(name)))
        })
        .collect()
}

/// Aggregates are named apart from their input column: DataFusion adds columns that are
/// functionally dependent on the group keys (as every column of an earlier aggregate with
/// the same keys is) to the group, which would then clash with an aggregate of that name.
fn aggregated(name: &str) -> String {
    format!("__aggregated_{name}")
}

fn not_null(keys: &[&str]) -> Expr {
    super::all_present(keys)
}

/// Rolls `df` (sub-district rows) up into sub-district, district and Oslo rows.
///
/// Output columns: `date, bydel_id, bydel_navn, delbydel_id, delbydel_navn`, the
/// `extra_keys`, the `values` and [`geo::LEVEL`] (0, 1, 2). As in the original, rows with a
/// missing key are dropped at each level, the district level is computed from the raw rows
/// (district rows in the input are added in), and Oslo is the sum of the districts, pseudo
/// districts included, labelled `00` / `Oslo i alt`. Sort with [`rollup_order`].
pub fn rollup(df: DataFrame, values: &[(&str, Agg)], extra_keys: &[&str]) -> Result<DataFrame> {
    let with_extra = |keys: &[&'static str]| -> Vec<&str> {
        keys.iter()
            .copied()
            .chain(extra_keys.iter().copied())
            .collect()
    };
    let sub_keys = with_extra(&geo::KEYS);
    let district_keys = with_extra(&[geo::DATE, geo::BYDEL_ID, geo::BYDEL_NAVN]);
    let oslo_keys = with_extra(&[geo::DATE]);
    let value_cols = || {
        values
            .iter()
            .map(|(name, _)| c(&aggregated(name)).alias(*name))
    };
    let extra_cols = || extra_keys.iter().map(|k| c(k));
    // Both levels read the input, and Oslo reads the districts.
    let df = share(df)?;

    let sub = select(
        df.clone().filter(not_null(&sub_keys))?.aggregate(
            sub_keys.iter().map(|k| c(k)).collect(),
            aggregate_exprs(&df, values, &sub_keys)?,
        )?,
        geo::KEYS
            .iter()
            .map(|k| c(k))
            .chain(extra_cols())
            .chain(value_cols())
            .chain([lit(0i64).alias(geo::LEVEL)])
            .collect(),
    )?;

    let districts = select(
        df.clone().filter(not_null(&district_keys))?.aggregate(
            district_keys.iter().map(|k| c(k)).collect(),
            aggregate_exprs(&df, values, &district_keys)?,
        )?,
        district_keys
            .iter()
            .map(|k| c(k))
            .chain(value_cols())
            .collect(),
    )?;

    let districts = share(districts)?;
    let oslo = select(
        districts.clone().aggregate(
            oslo_keys.iter().map(|k| c(k)).collect(),
            aggregate_exprs(&districts, values, &oslo_keys)?,
        )?,
        [
            c(geo::DATE),
            lit(geo::OSLO_ID).alias(geo::BYDEL_ID),
            lit(geo::OSLO_NAME).alias(geo::BYDEL_NAVN),
            null_str().alias(geo::DELBYDEL_ID),
            null_str().alias(geo::DELBYDEL_NAVN),
        ]
        .into_iter()
        .chain(extra_cols())
        .chain(value_cols())
        .chain([lit(2i64).alias(geo::LEVEL)])
        .collect(),
    )?;

    let districts = select(
        districts,
        [
            c(geo::DATE),
            c(geo::BYDEL_ID),
            c(geo::BYDEL_NAVN),
            null_str().alias(geo::DELBYDEL_ID),
            null_str().alias(geo::DELBYDEL_NAVN),
        ]
        .into_iter()
        .chain(extra_cols())
        .chain(values.iter().map(|(name, _)| c(name)))
        .chain([lit(1i64).alias(geo::LEVEL)])
        .collect(),
    )?;

    sub.union(districts)?.union(oslo)
}

/// The original's row order after a rollup: sub-districts, districts, Oslo, each sorted by
/// its keys (date first).
pub fn rollup_order(extra_keys: &[&str]) -> Vec<SortExpr> {
    std::iter::once(geo::LEVEL)
        .chain(geo::KEYS)
        .chain(extra_keys.iter().copied())
        .map(|k| c(k).sort(true, false))
        .collect()
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;

    use super::*;

    #[tokio::test]
    async fn three_levels_in_the_original_order() {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx).unwrap();
        let df = ctx
            .sql(
                "SELECT * FROM (VALUES \
                 (2020, '01', 'Bydel A', '0101', 'Sub 1', 3), \
                 (2020, '01', 'Bydel A', '0102', 'Sub 2', 4), \
                 (2020, '16', 'Sentrum', '1601', 'Sentrum', 1), \
                 (2020, '01', 'Bydel A', NULL, NULL, 100)) \
                 t(date, bydel_id, bydel_navn, delbydel_id, delbydel_navn, n)",
            )
            .await
            .unwrap();
        let out = rollup(df, &[("n", Agg::Sum)], &[])
            .unwrap()
            .sort(rollup_order(&[]))
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = pretty_format_batches(&out).unwrap().to_string();
        let expected = "\
+------+----------+------------+-------------+---------------+-----+---------+
| date | bydel_id | bydel_navn | delbydel_id | delbydel_navn | n   | __level |
+------+----------+------------+-------------+---------------+-----+---------+
| 2020 | 01       | Bydel A    | 0101        | Sub 1         | 3   | 0       |
| 2020 | 01       | Bydel A    | 0102        | Sub 2         | 4   | 0       |
| 2020 | 16       | Sentrum    | 1601        | Sentrum       | 1   | 0       |
| 2020 | 01       | Bydel A    |             |               | 107 | 1       |
| 2020 | 16       | Sentrum    |             |               | 1   | 1       |
| 2020 | 00       | Oslo i alt |             |               | 108 | 2       |
+------+----------+------------+-------------+---------------+-----+---------+";
        assert_eq!(text, expected);
    }

    #[tokio::test]
    async fn sum_nans_mix_names_the_group() {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx).unwrap();
        let df = ctx
            .sql(
                "SELECT * FROM (VALUES \
                 (2020, '01', 'Bydel A', '0101', 'Sub 1', 3.0), \
                 (2020, '01', 'Bydel A', '0102', 'Sub 2', NULL)) \
                 t(date, bydel_id, bydel_navn, delbydel_id, delbydel_navn, change)",
            )
            .await
            .unwrap();
        let err = rollup(df, &[("change", Agg::SumNans)], &[])
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("2020/01/Bydel A"), "{err}");
    }
}
