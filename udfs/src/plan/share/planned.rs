//! Shared frames for engines whose plans run elsewhere (a Ballista cluster): the frame is
//! planned once per session and becomes one [`SharedFrameExec`] wherever it is used, so
//! that the plans that carry it run it once where they run.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, TableType};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use tokio::sync::OnceCell;

use super::FrameRegistry;
use super::exec::{FrameRun, SharedFrameExec};

/// The frames of one session planned for running elsewhere. Register with
/// `SessionConfig::with_extension(Arc::new(PlannedFrames::default()))`.
pub type PlannedFrames = FrameRegistry<PlannedFrame>;

/// One frame: its logical plan, and its operator once a scan has planned it.
#[derive(Debug)]
pub struct PlannedFrame {
    pub(super) id: String,
    plan: LogicalPlan,
    schema: SchemaRef,
    physical: OnceCell<Arc<SharedFrameExec>>,
}

impl PlannedFrame {
    pub(super) fn new(id: String, plan: LogicalPlan, schema: SchemaRef) -> Self {
        Self {
            id,
            plan,
            schema,
            physical: OnceCell::new(),
        }
    }
}

#[async_trait::async_trait]
impl TableProvider for PlannedFrame {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    /// The frame's one operator, under a projection when only some columns are read.
    /// Filters and the limit are applied above the scan (the provider claims neither).
    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let exec = self
            .physical
            .get_or_try_init(|| async {
                let plan = state.create_physical_plan(&self.plan).await?;
                Ok::<_, datafusion::error::DataFusionError>(Arc::new(SharedFrameExec::new(
                    FrameRun::new(self.id.clone(), plan, self.schema.clone()),
                )))
            })
            .await?;
        let exec: Arc<dyn ExecutionPlan> = exec.clone();
        let Some(columns) = projection else {
            return Ok(exec);
        };
        let expressions = columns.iter().map(|&i| {
            let name = self.schema.field(i).name();
            (
                Arc::new(Column::new(name, i)) as Arc<dyn datafusion::physical_expr::PhysicalExpr>,
                name.clone(),
            )
        });
        Ok(Arc::new(ProjectionExec::try_new(expressions, exec)?))
    }
}
