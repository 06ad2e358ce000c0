//! `number_probe(value, row)`: what a column of CSV text holds, for typing it as pandas'
//! `read_csv` would (docs/contract.md §2).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StructArray};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, Int64Type};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Signature, Volatility,
};
use datafusion_macros::user_doc;

/// The fields of the result, in order.
pub const PROBE_FIELDS: [&str; 5] = [
    "missing",
    "non_integer",
    "first_unparsable_row",
    "first_non_integer_row",
    "first_out_of_range_row",
];

#[user_doc(
    doc_section(label = "Bydelsfakta Functions"),
    description = "Probes a text column for its number kind: `missing` counts missing cells, \
`non_integer` counts present cells that are not a whole number (an optional sign and digits), \
`first_unparsable_row` is the smallest `row` of a present cell that does not parse as a \
finite float (`inf`, or `1e400` beyond a float's range, does not; missing when every present \
cell parses), `first_non_integer_row` the smallest `row` \
of a cell that is missing or not a whole number, and `first_out_of_range_row` the smallest \
`row` of a whole number beyond a 64-bit integer.",
    syntax_example = "number_probe(value, row)",
    sql_example = "```sql\n> SELECT number_probe(\"0\", __row) FROM raw;\n```",
    argument(name = "value", description = "The column's text."),
    argument(name = "row", description = "The cell's row number in the file.")
)]
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NumberProbe {
    signature: Signature,
}

impl Default for NumberProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl NumberProbe {
    pub fn new() -> Self {
        Self {
            signature: Signature::exact(
                vec![DataType::Utf8, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }
}

fn result_fields() -> Fields {
    PROBE_FIELDS
        .iter()
        .map(|name| Field::new(*name, DataType::Int64, true))
        .collect()
}

impl AggregateUDFImpl for NumberProbe {
    fn name(&self) -> &str {
        "number_probe"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(result_fields()))
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<NumberProbeAccumulator>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(PROBE_FIELDS
            .iter()
            .map(|field| {
                Arc::new(Field::new(
                    format!("{}[{field}]", args.name),
                    DataType::Int64,
                    true,
                ))
            })
            .collect())
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// A cell that does not convert becomes missing.
const SAFE: CastOptions = CastOptions {
    safe: true,
    format_options: FormatOptions::new(),
};

/// An optional sign and at least one ASCII digit, nothing else (`^[+-]?[0-9]+$`).
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// What a column of CSV text holds: the fields of `number_probe`'s result. The reader
/// also uses it directly on a column it holds in memory.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NumberKind {
    /// Missing cells.
    pub missing: i64,
    /// Present cells that are not a whole number.
    pub non_integer: i64,
    /// The smallest row of a present cell that does not parse as a finite float: no count
    /// or rate of the platform is infinite, and one would reach the documents as a division
    /// by it or fail there without naming its cell.
    pub first_unparsable_row: Option<i64>,
    /// The smallest row of a cell that is missing or not a whole number.
    pub first_non_integer_row: Option<i64>,
    /// The smallest row of a whole number that does not fit a 64-bit integer.
    pub first_out_of_range_row: Option<i64>,
}

fn min_row(current: Option<i64>, row: i64) -> Option<i64> {
    Some(current.map_or(row, |r| r.min(row)))
}

impl NumberKind {
    /// Adds the cells of a text column (`Utf8`), numbered by `rows`: the full probe, which
    /// [`add_whole_numbers`](Self::add_whole_numbers) falls back on.
    fn add(&mut self, text: &ArrayRef, rows: &Int64Array) -> Result<()> {
        // The same conversion as `try_cast(value AS DOUBLE)`: a present cell that becomes
        // missing, or infinite, does not parse.
        let floats = cast_with_options(text, &DataType::Float64, &SAFE)?;
        let floats = floats.as_primitive::<Float64Type>();
        let text = text.as_string::<i32>();
        for i in 0..text.len() {
            let row = rows.is_valid(i).then(|| rows.value(i));
            let integer = if text.is_null(i) {
                self.missing += 1;
                false
            } else {
                let integer = is_integer(text.value(i));
                if !integer {
                    self.non_integer += 1;
                } else if text.value(i).parse::<i64>().is_err()
                    && let Some(row) = row
                {
                    self.first_out_of_range_row = min_row(self.first_out_of_range_row, row);
                }
                if (floats.is_null(i) || floats.value(i).is_infinite())
                    && let Some(row) = row
                {
                    self.first_unparsable_row = min_row(self.first_unparsable_row, row);
                }
                integer
            };
            if !integer && let Some(row) = row {
                self.first_non_integer_row = min_row(self.first_non_integer_row, row);
            }
        }
        Ok(())
    }

    /// [`add`](Self::add), parsing the column once when its present cells are all whole
    /// numbers that fit an `i64` (most count columns): their probe follows from that, and
    /// the integers are returned for the caller to keep. Any other column is probed by
    /// `add` and yields `None`.
    pub fn add_whole_numbers(
        &mut self,
        text: &ArrayRef,
        rows: &Int64Array,
    ) -> Result<Option<ArrayRef>> {
        let cells = text.as_string::<i32>();
        if !cells.iter().flatten().all(is_integer) {
            self.add(text, rows)?;
            return Ok(None);
        }
        let integers = cast_with_options(text, &DataType::Int64, &SAFE)?;
        if integers.null_count() != cells.null_count() {
            // Digits beyond the range of an i64.
            self.add(text, rows)?;
            return Ok(None);
        }
        // Every present cell is a whole number, and so parses as a float too.
        self.missing += cells.null_count() as i64;
        for i in (0..cells.len()).filter(|&i| cells.is_null(i) && rows.is_valid(i)) {
            self.first_non_integer_row = min_row(self.first_non_integer_row, rows.value(i));
        }
        Ok(Some(integers))
    }

    /// Adds what another part of the column held.
    fn merge(&mut self, other: NumberKind) {
        self.missing += other.missing;
        self.non_integer += other.non_integer;
        for (mine, theirs) in [
            (&mut self.first_unparsable_row, other.first_unparsable_row),
            (&mut self.first_non_integer_row, other.first_non_integer_row),
            (
                &mut self.first_out_of_range_row,
                other.first_out_of_range_row,
            ),
        ] {
            if let Some(row) = theirs {
                *mine = min_row(*mine, row);
            }
        }
    }

    fn values(&self) -> [Option<i64>; 5] {
        [
            Some(self.missing),
            Some(self.non_integer),
            self.first_unparsable_row,
            self.first_non_integer_row,
            self.first_out_of_range_row,
        ]
    }

    /// Reads one row of `number_probe`'s result.
    pub fn from_probe(result: &StructArray, row: usize) -> Self {
        let [
            missing,
            non_integer,
            first_unparsable_row,
            first_non_integer_row,
            first_out_of_range_row,
        ] = PROBE_FIELDS.map(|field| {
            let a = result
                .column_by_name(field)
                .expect("number_probe's fields")
                .as_primitive::<Int64Type>();
            a.is_valid(row).then(|| a.value(row))
        });
        Self {
            missing: missing.unwrap_or(0),
            non_integer: non_integer.unwrap_or(0),
            first_unparsable_row,
            first_non_integer_row,
            first_out_of_range_row,
        }
    }
}

#[derive(Debug, Default)]
struct NumberProbeAccumulator(NumberKind);

impl Accumulator for NumberProbeAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0
            .add_whole_numbers(&values[0], values[1].as_primitive::<Int64Type>())
            .map(drop)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [
            missing,
            non_integer,
            unparsable,
            non_integer_row,
            out_of_range,
        ] = [0, 1, 2, 3, 4].map(|i| states[i].as_primitive::<Int64Type>());
        let at = |a: &Int64Array, i: usize| a.is_valid(i).then(|| a.value(i));
        for i in 0..missing.len() {
            self.0.merge(NumberKind {
                missing: missing.value(i),
                non_integer: non_integer.value(i),
                first_unparsable_row: at(unparsable, i),
                first_non_integer_row: at(non_integer_row, i),
                first_out_of_range_row: at(out_of_range, i),
            });
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.0.values().map(ScalarValue::Int64).to_vec())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let columns: Vec<ArrayRef> = self
            .0
            .values()
            .map(|v| Arc::new(Int64Array::from(vec![v])) as ArrayRef)
            .to_vec();
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            result_fields(),
            columns,
            None,
        )?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::*;

    use super::*;

    #[test]
    fn whole_numbers_are_a_sign_and_digits() {
        for yes in ["0", "12", "+3", "-40", "007"] {
            assert!(is_integer(yes), "{yes}");
        }
        for no in ["", "+", "1.0", "1e3", " 1", "1 ", "--1", "١"] {
            assert!(!is_integer(no), "{no}");
        }
    }

    #[test]
    fn parsing_whole_numbers_once_probes_as_the_full_probe_does() {
        let columns: [&[Option<&str>]; 6] = [
            &[Some("5"), None, Some("+7"), Some("-0"), None, Some("007")],
            &[Some("1"), Some("2"), Some("3")],
            &[Some("1"), Some(" 2"), Some("3 ")],
            &[Some("1"), Some("9223372036854775808"), None],
            &[Some("1"), Some("2.5"), None, Some("x")],
            &[None, None],
        ];
        for cells in columns {
            let text: ArrayRef =
                Arc::new(datafusion::arrow::array::StringArray::from(cells.to_vec()));
            // Rows out of order, as a distributed batch may hold them.
            let rows = Int64Array::from_iter_values((1..=cells.len() as i64).rev());
            let mut full = NumberKind::default();
            full.add(&text, &rows).unwrap();
            let mut once = NumberKind::default();
            let integers = once.add_whole_numbers(&text, &rows).unwrap();
            assert_eq!(once, full, "{cells:?}");
            let whole = full.non_integer == 0 && full.first_unparsable_row.is_none();
            assert_eq!(
                integers.is_some(),
                whole && cells[1] != Some("9223372036854775808")
            );
            if let Some(integers) = integers {
                let expected = cast_with_options(&text, &DataType::Int64, &SAFE).unwrap();
                assert_eq!(&integers, &expected);
            }
        }
    }

    #[tokio::test]
    async fn counts_missing_and_fractional_cells_and_finds_the_first_bad_row() {
        let mut ctx = SessionContext::new();
        crate::register_all(&mut ctx).unwrap();
        let probe = |column: &str| {
            format!("SELECT number_probe(v, r) AS p FROM (VALUES {column}) t(v, r)",)
        };
        let row = |sql: String| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                let p = batches[0].column(0).as_struct().clone();
                PROBE_FIELDS.map(|f| {
                    let a = p
                        .column_by_name(f)
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .clone();
                    a.is_valid(0).then(|| a.value(0))
                })
            }
        };
        assert_eq!(
            row(probe("('1', 1), (NULL, 2), ('2.5', 3), ('-4', 4)")).await,
            [Some(1), Some(1), None, Some(2), None]
        );
        assert_eq!(
            row(probe("('1', 1), ('x', 5), ('3', 2), ('y', 3)")).await,
            [Some(0), Some(2), Some(3), Some(3), None]
        );
        assert_eq!(
            row(probe(
                "('1', 1), ('99999999999999999999', 4), ('9223372036854775808', 3)"
            ))
            .await,
            [Some(0), Some(0), None, None, Some(3)]
        );
        // Infinite, written out or beyond a float's range: not a number of the platform.
        for infinite in ["inf", "-Infinity", "1e400"] {
            assert_eq!(
                row(probe(&format!("('1', 1), ('{infinite}', 4), ('2.5', 3)"))).await,
                [Some(0), Some(2), Some(4), Some(3), None],
                "{infinite}"
            );
        }
    }

    /// A cell of a text column and its row number in the file.
    type Cell = (i64, Option<&'static str>);

    /// Cells of a column and their row numbers, out of order as a distributed batch may
    /// hold them, covering every distinction the probe makes. Parts of it that hold only
    /// whole numbers and missing cells probe by parsing once (`add_whole_numbers`), the
    /// others and the whole column cell by cell: merging must not tell the two apart.
    const MIXED: [Cell; 13] = [
        (7, Some("12")),
        (3, Some("+7")),
        (12, None),       // missing: counted, and not a whole number
        (5, Some("2.5")), // a float: not a whole number
        (9, Some("-0")),
        (4, Some("x")),                    // neither a whole number nor a float
        (11, Some("9223372036854775808")), // a whole number beyond i64
        (2, None),
        (8, Some("1e3")), // a float
        (14, Some("y")),
        (10, Some(" 2")), // not a whole number (spaces)
        (6, Some("007")),
        (13, Some("99999999999999999999")),
    ];

    /// A column whose parts probe by parsing once (whole numbers and missing cells only).
    const WHOLE: [Cell; 5] = [
        (5, Some("1")),
        (3, None),
        (1, Some("-2")),
        (4, Some("30")),
        (2, None),
    ];

    const ALL_MISSING: [Cell; 3] = [(3, None), (1, None), (2, None)];

    /// The accumulator of one part of a column.
    fn probed(cells: &[Cell]) -> NumberProbeAccumulator {
        let text: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(
            cells.iter().map(|&(_, cell)| cell).collect::<Vec<_>>(),
        ));
        let rows: ArrayRef = Arc::new(Int64Array::from_iter_values(
            cells.iter().map(|&(row, _)| row),
        ));
        let mut acc = NumberProbeAccumulator::default();
        acc.update_batch(&[text, rows]).unwrap();
        acc
    }

    /// The states of `parts` as one batch, a row per part, as the final aggregation
    /// receives them from the partial ones.
    fn states(parts: &mut [NumberProbeAccumulator]) -> Vec<ArrayRef> {
        let states: Vec<Vec<ScalarValue>> = parts.iter_mut().map(|p| p.state().unwrap()).collect();
        (0..PROBE_FIELDS.len())
            .map(|field| ScalarValue::iter_to_array(states.iter().map(|s| s[field].clone())))
            .collect::<Result<_>>()
            .unwrap()
    }

    /// Every way to cut `cells` into parts that the test tries: runs of each length, cells
    /// dealt round-robin to 2..=4 parts, and the same with an empty part in front.
    fn splits(cells: &[Cell]) -> Vec<Vec<Vec<Cell>>> {
        let mut splits: Vec<Vec<Vec<_>>> = (1..=cells.len())
            .map(|len| cells.chunks(len).map(<[_]>::to_vec).collect())
            .collect();
        for n in 2..=4 {
            let mut parts = vec![vec![]; n];
            for (i, &cell) in cells.iter().enumerate() {
                parts[i % n].push(cell);
            }
            splits.push(parts);
        }
        for i in 0..splits.len() {
            let mut with_empty = vec![vec![]];
            with_empty.extend(splits[i].iter().cloned());
            splits.push(with_empty);
        }
        splits
    }

    /// Merges the parts' states into a fresh accumulator in several orders and shapes
    /// (all in one batch, one at a time forwards and backwards, pairwise as a tree of
    /// partial merges) and returns each result.
    fn merged_every_way(parts: &[Vec<Cell>]) -> Vec<(&'static str, ScalarValue)> {
        let fresh = || parts.iter().map(|p| probed(p)).collect::<Vec<_>>();
        let mut results = vec![];

        let mut all = NumberProbeAccumulator::default();
        all.merge_batch(&states(&mut fresh())).unwrap();
        results.push(("in one batch", all.evaluate().unwrap()));

        for (how, reverse) in [("forwards", false), ("backwards", true)] {
            let mut parts = fresh();
            if reverse {
                parts.reverse();
            }
            let mut acc = NumberProbeAccumulator::default();
            for part in parts {
                acc.merge_batch(&states(&mut [part])).unwrap();
            }
            results.push((how, acc.evaluate().unwrap()));
        }

        // A merged state merged again, as a multi-level aggregation does.
        let mut level = fresh();
        while level.len() > 1 {
            let mut next = vec![];
            let mut it = level.into_iter();
            while let Some(mut left) = it.next() {
                if let Some(right) = it.next() {
                    left.merge_batch(&states(&mut [right])).unwrap();
                }
                next.push(left);
            }
            level = next;
        }
        results.push(("as a tree", level.pop().unwrap().evaluate().unwrap()));
        results
    }

    #[test]
    fn merging_partial_probes_equals_probing_the_whole_column() {
        // The mixed column shows every field: otherwise a field the merge drops could
        // agree by being empty on both sides.
        let whole = probed(&MIXED).0;
        assert!(whole.missing > 0 && whole.non_integer > 0, "{whole:?}");
        assert!(
            whole.first_unparsable_row.is_some()
                && whole.first_non_integer_row.is_some()
                && whole.first_out_of_range_row.is_some(),
            "{whole:?}"
        );
        for column in [&MIXED[..], &WHOLE, &ALL_MISSING] {
            let expected = probed(column).evaluate().unwrap();
            for parts in splits(column) {
                for (how, merged) in merged_every_way(&parts) {
                    assert_eq!(merged, expected, "{how}: {parts:?}");
                }
            }
        }
    }

    /// The same through DataFusion: a table of several partitions aggregates each in a
    /// partial accumulator and merges their states in the final one.
    #[tokio::test]
    async fn a_partitioned_table_probes_as_one_partition() {
        use datafusion::arrow::array::{RecordBatch, StringArray};
        use datafusion::arrow::datatypes::Schema;
        use datafusion::datasource::MemTable;

        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Utf8, true),
            Field::new("r", DataType::Int64, false),
        ]));
        let batch = |cells: &[Cell]| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from(
                        cells.iter().map(|&(_, c)| c).collect::<Vec<_>>(),
                    )),
                    Arc::new(Int64Array::from_iter_values(cells.iter().map(|&(r, _)| r))),
                ],
            )
            .unwrap()
        };
        let probe = async |partitions: Vec<Vec<RecordBatch>>| {
            let mut ctx = SessionContext::new_with_config(
                SessionConfig::new().with_target_partitions(partitions.len().max(1)),
            );
            crate::register_all(&mut ctx).unwrap();
            let table = MemTable::try_new(Arc::clone(&schema), partitions).unwrap();
            ctx.register_table("t", Arc::new(table)).unwrap();
            let batches = ctx
                .sql("SELECT number_probe(v, r) FROM t")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            NumberKind::from_probe(batches[0].column(0).as_struct(), 0)
        };
        let whole = probe(vec![vec![batch(&MIXED)]]).await;
        assert_eq!(whole, probed(&MIXED).0);
        for parts in [3, 4] {
            let partitions = MIXED
                .chunks(parts)
                .map(|cells| vec![batch(cells)])
                .collect();
            assert_eq!(probe(partitions).await, whole, "{parts} cells a partition");
        }
    }
}
