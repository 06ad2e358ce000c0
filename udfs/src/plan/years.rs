//! The historic and status year filters over several inputs (docs/contract.md §4).

use datafusion::common::JoinType;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::prelude::*;

use super::{c, share};
use crate::geo;

const YEAR: &str = "__year";

fn common_years(dfs: &[DataFrame]) -> Result<DataFrame> {
    let years = |df: &DataFrame, name: &str| {
        df.clone()
            .select(vec![c(geo::DATE).alias(name)])?
            .distinct()
    };
    let mut common = years(&dfs[0], YEAR)?;
    for (i, df) in dfs.iter().enumerate().skip(1) {
        let other = format!("{YEAR}_{i}");
        common = common.join(
            years(df, &other)?,
            JoinType::LeftSemi,
            &[YEAR],
            &[&other],
            None,
        )?;
    }
    Ok(common)
}

/// `historic(*dfs)`: every frame restricted to the years all frames share. With one frame
/// this is the identity. An empty intersection gives empty frames, as in the original.
pub fn historic(dfs: Vec<DataFrame>) -> Result<Vec<DataFrame>> {
    if dfs.len() < 2 {
        return Ok(dfs);
    }
    let dfs = dfs.into_iter().map(share).collect::<Result<Vec<_>>>()?;
    let years = common_years(&dfs)?;
    dfs.into_iter()
        .map(|df| {
            df.join(
                years.clone(),
                JoinType::LeftSemi,
                &[geo::DATE],
                &[YEAR],
                None,
            )
        })
        .collect()
}

/// `status(*dfs)`: every frame restricted to the latest year all frames share; fails with
/// "No overlapping years in dataframes" when they share none.
pub fn status(dfs: Vec<DataFrame>) -> Result<Vec<DataFrame>> {
    if dfs.is_empty() {
        return Ok(dfs);
    }
    // Each frame feeds the common years and its own filter.
    let dfs = dfs.into_iter().map(share).collect::<Result<Vec<_>>>()?;
    let latest = common_years(&dfs)?.aggregate(vec![], vec![max(c(YEAR)).alias(YEAR)])?;
    let latest = latest.select(vec![
        crate::required()
            .call(vec![c(YEAR), lit("No overlapping years in dataframes")])
            .alias(YEAR),
    ])?;
    dfs.into_iter()
        .map(|df| {
            df.join(
                latest.clone(),
                JoinType::LeftSemi,
                &[geo::DATE],
                &[YEAR],
                None,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, Int64Array};

    use super::*;

    async fn years_of(ctx: &SessionContext, from: i64, to: i64) -> DataFrame {
        ctx.sql(&format!("SELECT value AS date FROM range({from}, {to})"))
            .await
            .unwrap()
    }

    async fn distinct_years(df: DataFrame) -> Vec<i64> {
        let batches = df
            .select(vec![c(geo::DATE)])
            .unwrap()
            .distinct()
            .unwrap()
            .sort(vec![c(geo::DATE).sort(true, false)])
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    // The original's tests: year ranges [2000,2022), [2002,2018), [2008,2033), [1999,2017),
    // [1999,2033) keep 2008..2016 (historic) and 2016 (status).
    #[tokio::test]
    async fn intersection_of_years() {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx).unwrap();
        let ranges = [
            (2000, 2022),
            (2002, 2018),
            (2008, 2033),
            (1999, 2017),
            (1999, 2033),
        ];
        let mut dfs = vec![];
        for (a, b) in ranges {
            dfs.push(years_of(&ctx, a, b).await);
        }
        for df in historic(dfs.clone()).unwrap() {
            assert_eq!(distinct_years(df).await, (2008..2017).collect::<Vec<_>>());
        }
        for df in status(dfs).unwrap() {
            assert_eq!(distinct_years(df).await, vec![2016]);
        }
    }

    #[tokio::test]
    async fn status_without_overlap_fails() {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx).unwrap();
        let dfs = vec![
            years_of(&ctx, 2010, 2015).await,
            years_of(&ctx, 2002, 2008).await,
        ];
        let [a, _] = <[DataFrame; 2]>::try_from(status(dfs).unwrap()).unwrap();
        let err = a.collect().await.unwrap_err();
        assert!(err.to_string().contains("No overlapping years"), "{err}");
    }
}
