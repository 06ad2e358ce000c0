//! DataFusion functions and plan helpers for Oslo's district statistics.
//!
//! Everything here is a pure DataFusion building block: no I/O, no events. The same
//! [`scalar_functions`] and [`aggregate_functions`] lists feed the client context, the
//! Ballista scheduler's session builder and the executors' function registry, so a plan
//! that uses them decodes everywhere.
//! `examples/functions_in_sql.rs` registers them in a plain `SessionContext` and calls them
//! from SQL.
//!
//! * scalar UDFs: [`ratio`], [`row_sum`], [`ensure`], [`required`], [`round_half_even`],
//!   [`pandas_missing`] (the reader's missing cells), [`district_id_problem`] (the reader's
//!   check of geography ids);
//! * aggregate UDFs: [`sum_nans`], [`number_probe`] (the reader's typing of CSV text);
//! * plan helpers ([`plan`]): the three-level rollup sub-district -> district -> Oslo i alt,
//!   ratio columns, population from the age columns and the historic/status year filters.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

pub mod bounded;
pub mod district_ids;
pub mod ensure;
pub mod geo;
pub mod number_probe;
pub mod pandas_missing;
pub mod plan;
pub mod ratio;
pub mod required;
pub mod round_half_even;
pub mod row_sum;
pub mod sum_nans;
#[cfg(test)]
mod test_util;

macro_rules! singleton_udf {
    ($ty:path, $accessor:ident) => {
        #[doc = concat!("The `", stringify!($accessor), "` scalar function.")]
        pub fn $accessor() -> Arc<ScalarUDF> {
            static INSTANCE: std::sync::LazyLock<Arc<ScalarUDF>> =
                std::sync::LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(<$ty>::new())));
            Arc::clone(&INSTANCE)
        }
    };
}

singleton_udf!(ratio::RatioFunc, ratio);
singleton_udf!(row_sum::RowSumFunc, row_sum);
singleton_udf!(ensure::EnsureFunc, ensure);
singleton_udf!(required::RequiredFunc, required);
singleton_udf!(round_half_even::RoundHalfEvenFunc, round_half_even);
singleton_udf!(pandas_missing::PandasMissingFunc, pandas_missing);
singleton_udf!(district_ids::DistrictIdProblemFunc, district_id_problem);

/// The `sum_nans` aggregate function.
pub fn sum_nans() -> Arc<AggregateUDF> {
    static INSTANCE: std::sync::LazyLock<Arc<AggregateUDF>> = std::sync::LazyLock::new(|| {
        Arc::new(AggregateUDF::new_from_impl(sum_nans::SumNans::new()))
    });
    Arc::clone(&INSTANCE)
}

/// Every scalar function of this crate.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        ratio(),
        row_sum(),
        ensure(),
        required(),
        round_half_even(),
        pandas_missing(),
        district_id_problem(),
    ]
}

/// The `number_probe` aggregate function.
pub fn number_probe() -> Arc<AggregateUDF> {
    static INSTANCE: std::sync::LazyLock<Arc<AggregateUDF>> = std::sync::LazyLock::new(|| {
        Arc::new(AggregateUDF::new_from_impl(number_probe::NumberProbe::new()))
    });
    Arc::clone(&INSTANCE)
}

/// Every aggregate function of this crate.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![sum_nans(), number_probe()]
}

/// Registers every function of this crate: the one entry point for the client, the
/// scheduler and the executors.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for udf in scalar_functions() {
        registry.register_udf(udf)?;
    }
    for udaf in aggregate_functions() {
        registry.register_udaf(udaf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        let mut names = HashSet::new();
        for udf in scalar_functions() {
            assert!(names.insert(udf.name().to_string()), "{}", udf.name());
            assert!(udf.documentation().is_some(), "{} has no docs", udf.name());
        }
        for udaf in aggregate_functions() {
            assert!(names.insert(udaf.name().to_string()), "{}", udaf.name());
            assert!(
                udaf.documentation().is_some(),
                "{} has no docs",
                udaf.name()
            );
        }
    }
}
