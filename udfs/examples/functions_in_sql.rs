//! Registers the project's DataFusion functions in a plain `SessionContext` and uses them
//! from SQL on one of the sample inputs.
//!
//! The functions are pandas' arithmetic as the original computed it: `row_sum` (missing
//! counts as 0), `ratio` (IEEE division: `x/0` is infinity, `0/0` NaN, not an error),
//! `round_half_even` (numpy's rounding) and the `sum_nans` aggregate (all missing or none).
//! `bydelsfakta sql` serves them over every dataset of a bucket; here they are on their own.
//!
//! ```sh
//! cargo run -p bydelsfakta-udfs --example functions_in_sql
//! ```

use std::error::Error;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::{CsvReadOptions, SessionContext};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut ctx = SessionContext::new();
    // Every scalar function and aggregate of the crate, as the pipeline's engines have them.
    bydelsfakta_udfs::register_all(&mut ctx)?;

    // The sample's households with children: `;`-separated, with a header. The schema is
    // given because inference would read the district id `01` as the number 1.
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../tests/fixtures/public/input/processed/green/husholdninger-med-barn/version=1/\
         edition=20241225T225502/husholdninger-med-barn.csv",
    );
    let text = |name| Field::new(name, DataType::Utf8, true);
    let number = |name| Field::new(name, DataType::Float64, true);
    let schema = Schema::new(vec![
        Field::new("aar", DataType::Int64, false),
        text("delbydel_id"),
        text("delbydel_navn"),
        text("bydel_id"),
        text("bydel_navn"),
        number("ett_barn_i_hh"),
        number("to_barn_i_hh"),
        number("tre_barn_i_hh"),
        number("fire_barn_eller_mer"),
        number("ingen_barn_i_hh"),
    ]);
    let options = CsvReadOptions::new().delimiter(b';').schema(&schema);
    ctx.register_csv(
        "husholdninger_med_barn",
        csv.to_str().ok_or("path")?,
        options,
    )
    .await?;

    // Share of households with children per district in the latest year, and Oslo i alt as
    // the ROLLUP's total row (its missing district shown as `00`).
    let shares = sql(
        &ctx,
        "SELECT COALESCE(bydel_id, '00') AS bydel_id,
                round_half_even(100 * ratio(
                  SUM(row_sum(ett_barn_i_hh, to_barn_i_hh, tre_barn_i_hh, fire_barn_eller_mer)),
                  SUM(row_sum(ett_barn_i_hh, to_barn_i_hh, tre_barn_i_hh, fire_barn_eller_mer,
                              ingen_barn_i_hh))), 1) AS prosent_med_barn
           FROM husholdninger_med_barn
          WHERE aar = (SELECT MAX(aar) FROM husholdninger_med_barn)
          GROUP BY ROLLUP (bydel_id)
          ORDER BY 1",
    )
    .await?;

    // Where pandas' rules differ from SQL's: `1 / 0` fails in SQL, `round(0.125, 2)` rounds
    // half away from zero and `1 + NULL` is NULL; a group with no value missing sums as usual.
    let edges = sql(
        &ctx,
        "SELECT ratio(1, 0) AS one_by_zero, ratio(0, 0) AS zero_by_zero,
                round_half_even(0.125, 2) AS half_to_even, row_sum(1, NULL, 2) AS row_sum,
                sum_nans(v, 'g') AS sum_nans
           FROM (VALUES (1.5), (2.5)) AS t(v)",
    )
    .await?;

    // A group with some values missing has no sum in the original: the query fails.
    let mixed = ctx
        .sql("SELECT sum_nans(v, 'mixed group') FROM (VALUES (1.0), (NULL)) AS t(v)")
        .await?
        .collect()
        .await;
    match &mixed {
        Err(e) => println!("sum_nans over a mixed group fails: {e}"),
        Ok(_) => println!("sum_nans over a mixed group gave a result"),
    }

    // Exit non-zero unless the functions computed what pandas would have.
    assert_eq!(text_cell(&shares, 0, 0), "00");
    assert_eq!(
        float(&shares, 0, 1),
        26.8,
        "Oslo's share of households with children"
    );
    assert_eq!(shares.num_rows(), 19, "Oslo i alt and 18 districts");
    assert_eq!(float(&edges, 0, 0), f64::INFINITY);
    assert!(float(&edges, 0, 1).is_nan());
    assert_eq!(float(&edges, 0, 2), 0.12);
    assert_eq!(float(&edges, 0, 4), 4.0);
    assert!(mixed.is_err());
    Ok(())
}

/// Runs one statement, prints its result and returns it as one batch.
async fn sql(ctx: &SessionContext, statement: &str) -> Result<RecordBatch, Box<dyn Error>> {
    let frame = ctx.sql(statement).await?;
    let schema = frame.schema().as_arrow().clone();
    let batches = frame.collect().await?;
    println!("{}", pretty_format_batches(&batches)?);
    Ok(datafusion::arrow::compute::concat_batches(
        &schema.into(),
        &batches,
    )?)
}

fn float(batch: &RecordBatch, row: usize, column: usize) -> f64 {
    let column = datafusion::arrow::compute::cast(batch.column(column), &DataType::Float64)
        .expect("a number column");
    column.as_primitive::<Float64Type>().value(row)
}

fn text_cell(batch: &RecordBatch, row: usize, column: usize) -> String {
    let column = batch.column(column);
    assert!(column.is_valid(row));
    column.as_string::<i32>().value(row).to_string()
}
