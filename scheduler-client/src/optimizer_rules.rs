//! The logical optimizer rules our plan sessions run: DataFusion's defaults, less the rules
//! that change nothing in any plan we build. Each rule is a pass over every plan, and a
//! batch optimizes some 250 small plans, so a rule that never fires still costs CPU.
//!
//! `tests/tests/optimizer_rules.rs` proves the list: it records every plan that the
//! embedded and the cluster sessions optimize for the 84 outputs, and checks that our rules
//! give the same plan as DataFusion's. A plan that a left-out rule would change fails there.
//! Only the sessions that plan our functions use this list; the SQL session that analysts
//! query keeps every rule, as its queries can be anything.

use std::sync::Arc;

use datafusion::optimizer::{Optimizer, OptimizerRule};

/// DataFusion's rules (by name) that change nothing in our plans: they rewrite shapes we
/// never build (subqueries, set comparisons, limits, outer joins, joins written as a filter
/// over a cross join, constant filters and groupings, unions of filters, `DISTINCT` inside an
/// aggregate, struct fields). The six that do change our plans stay:
/// `optimize_unions`, `simplify_expressions`, `replace_distinct_aggregate`,
/// `push_down_filter`, `common_sub_expression_eliminate` and `optimize_projections`.
pub const WITHOUT_EFFECT: &[&str] = &[
    "rewrite_set_comparison",
    "unions_to_filter",
    "eliminate_join",
    "decorrelate_predicate_subquery",
    "scalar_subquery_to_join",
    "decorrelate_lateral_join",
    "extract_equijoin_predicate",
    "eliminate_duplicated_expr",
    "eliminate_filter",
    "eliminate_cross_join",
    "eliminate_limit",
    "propagate_empty_relation",
    "filter_null_join_keys",
    "eliminate_outer_join",
    "push_down_limit",
    "single_distinct_aggregation_to_group_by",
    "eliminate_group_by_constant",
    "extract_leaf_expressions",
    "push_down_leaf_projections",
];

/// DataFusion's default rules without [`WITHOUT_EFFECT`], in their order.
pub fn our_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    Optimizer::new()
        .rules
        .into_iter()
        .filter(|rule| !WITHOUT_EFFECT.contains(&rule.name()))
        .collect()
}
