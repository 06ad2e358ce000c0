//! Shared frames on a cluster (`udfs::plan::share`): the client plans each frame once per
//! session as one [`SharedFrameExec`], which may stand at many places of a plan.
//!
//! A plan that runs as one task ([`crate::single_task`], [`crate::output_group`]) travels
//! as a table of its frames, each frame's plan encoded once, and then the plans, where a
//! frame is only its id ([`encode_plans`], [`decode_plans`]). The decoder makes one
//! operator per frame, so the frame runs once on the executor however many places (and
//! outputs) read it, as it does in an embedded batch. A plan cut into stages has its frames
//! inlined ([`inline_shared_frames`]) so that Ballista's planner can spread them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::Schema;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion_proto::bytes::{
    physical_plan_from_bytes_with_proto_converter, physical_plan_to_bytes_with_proto_converter,
};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;

use bydelsfakta_udfs::plan::{FrameRun, SharedFrameExec};

const MAGIC: &[u8] = b"bydelsfakta-shared-frame:";

/// The frames of one encoded plan, decoded, by id.
#[derive(Debug, Default)]
struct FrameTable {
    frames: Mutex<HashMap<String, Arc<dyn ExecutionPlan>>>,
}

/// Encodes [`SharedFrameExec`] as its id. Within [`encode_plans`] the frame's plan is in
/// the frame table; decoding outside it (a frame that no table carries) is an error.
#[derive(Debug, Default, Clone)]
pub struct SharedFrameCodec {
    table: Option<Arc<FrameTable>>,
}

impl SharedFrameCodec {
    fn whole_codec(&self) -> Arc<dyn PhysicalExtensionCodec> {
        crate::engine::physical_codec_with(self.clone())
    }
}

impl PhysicalExtensionCodec for SharedFrameCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        _inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let id = buf
            .strip_prefix(MAGIC)
            .ok_or_else(|| DataFusionError::Internal("not a SharedFrameExec node".into()))?;
        let id = std::str::from_utf8(id)
            .map_err(|e| DataFusionError::Internal(format!("shared frame id: {e}")))?;
        self.table
            .as_ref()
            .and_then(|table| table.frames.lock().expect("frame table").get(id).cloned())
            .ok_or_else(|| {
                DataFusionError::Internal(format!("shared frame {id} is in no frame table"))
            })
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(frame) = node.downcast_ref::<SharedFrameExec>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "SharedFrameCodec cannot encode {}",
                node.name()
            )));
        };
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(frame.id().as_bytes());
        Ok(())
    }
}

/// The frames `plans` hold, each once, a frame after the frames its own plan holds.
fn frames_in(plans: &[Arc<dyn ExecutionPlan>]) -> DfResult<Vec<Arc<dyn ExecutionPlan>>> {
    fn visit(
        plan: &Arc<dyn ExecutionPlan>,
        seen: &mut HashSet<String>,
        ordered: &mut Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<()> {
        plan.apply(|node| {
            if let Some(frame) = node.downcast_ref::<SharedFrameExec>()
                && seen.insert(frame.id().to_string())
            {
                visit(frame.plan(), seen, ordered)?;
                ordered.push(Arc::clone(node));
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .map(|_| ())
    }
    let (mut seen, mut ordered) = (HashSet::new(), vec![]);
    for plan in plans {
        visit(plan, &mut seen, &mut ordered)?;
    }
    Ok(ordered)
}

/// `plans` and the table of the frames they hold, each frame's plan encoded once.
pub fn encode_plans(
    plans: &[Arc<dyn ExecutionPlan>],
    proto_converter: &dyn PhysicalProtoConverterExtension,
) -> DfResult<Vec<u8>> {
    let codec = SharedFrameCodec::default().whole_codec();
    let mut buf = vec![];
    let frames = frames_in(plans)?;
    put_count(&mut buf, frames.len());
    for node in &frames {
        let frame = node
            .downcast_ref::<SharedFrameExec>()
            .expect("frames_in keeps frames");
        let schema = datafusion_proto::protobuf::Schema::try_from(frame.frame_schema().as_ref())?;
        put_part(&mut buf, frame.id().as_bytes());
        put_part(&mut buf, &schema.encode_to_vec());
        let plan = physical_plan_to_bytes_with_proto_converter(
            Arc::clone(frame.plan()),
            codec.as_ref(),
            proto_converter,
        )?;
        put_part(&mut buf, &plan);
    }
    put_count(&mut buf, plans.len());
    for plan in plans {
        let plan = physical_plan_to_bytes_with_proto_converter(
            Arc::clone(plan),
            codec.as_ref(),
            proto_converter,
        )?;
        put_part(&mut buf, &plan);
    }
    Ok(buf)
}

/// The plans [`encode_plans`] encoded, each frame one operator for all of them.
pub fn decode_plans(
    buf: &[u8],
    ctx: &TaskContext,
    proto_converter: &dyn PhysicalProtoConverterExtension,
) -> DfResult<Vec<Arc<dyn ExecutionPlan>>> {
    let table = Arc::new(FrameTable::default());
    let codec = SharedFrameCodec {
        table: Some(Arc::clone(&table)),
    }
    .whole_codec();
    let (frames, mut rest) = take_count(buf)?;
    for _ in 0..frames {
        let (id, after) = take_part(rest)?;
        let (schema, after) = take_part(after)?;
        let (plan, after) = take_part(after)?;
        rest = after;
        let id = std::str::from_utf8(id)
            .map_err(|e| DataFusionError::Internal(format!("shared frame id: {e}")))?;
        let schema = datafusion_proto::protobuf::Schema::decode(schema)
            .map_err(|e| DataFusionError::Internal(format!("shared frame schema: {e}")))?;
        let schema = Arc::new(Schema::try_from(&schema)?);
        let plan = physical_plan_from_bytes_with_proto_converter(
            plan,
            ctx,
            codec.as_ref(),
            proto_converter,
        )?;
        let frame: Arc<dyn ExecutionPlan> =
            Arc::new(SharedFrameExec::new(FrameRun::new(id, plan, schema)));
        table
            .frames
            .lock()
            .expect("frame table")
            .insert(id.to_string(), frame);
    }
    let (plans, mut rest) = take_count(rest)?;
    let mut decoded = Vec::with_capacity(plans.min(1024));
    for _ in 0..plans {
        let (plan, after) = take_part(rest)?;
        rest = after;
        decoded.push(physical_plan_from_bytes_with_proto_converter(
            plan,
            ctx,
            codec.as_ref(),
            proto_converter,
        )?);
    }
    Ok(decoded)
}

fn put_count(buf: &mut Vec<u8>, count: usize) {
    buf.extend_from_slice(&(count as u64).to_le_bytes());
}

fn take_count(buf: &[u8]) -> DfResult<(usize, &[u8])> {
    let truncated = || DataFusionError::Internal("truncated plan table".into());
    let (count, rest) = buf.split_first_chunk::<8>().ok_or_else(truncated)?;
    let count = usize::try_from(u64::from_le_bytes(*count)).map_err(|_| truncated())?;
    Ok((count, rest))
}

/// A length-prefixed part.
fn put_part(buf: &mut Vec<u8>, part: &[u8]) {
    buf.extend_from_slice(&(part.len() as u64).to_le_bytes());
    buf.extend_from_slice(part);
}

/// The length-prefixed part at the start of `buf`, and the rest.
fn take_part(buf: &[u8]) -> DfResult<(&[u8], &[u8])> {
    let truncated = || DataFusionError::Internal("truncated plan table".into());
    let (length, rest) = buf.split_first_chunk::<8>().ok_or_else(truncated)?;
    let length = usize::try_from(u64::from_le_bytes(*length)).map_err(|_| truncated())?;
    if rest.len() < length {
        return Err(truncated());
    }
    Ok(rest.split_at(length))
}

/// `plan` with every shared frame replaced by the frame's own plan, so that Ballista's
/// planner sees (and cuts into stages) the whole tree. Every operator above a leaf is made
/// anew, so that a frame used at several places is as many separate subtrees: operators
/// keep state while they run (a repartition's channels) and must not be reached twice.
pub fn inline_shared_frames(plan: Arc<dyn ExecutionPlan>) -> DfResult<Arc<dyn ExecutionPlan>> {
    if let Some(frame) = plan.downcast_ref::<SharedFrameExec>() {
        return inline_shared_frames(Arc::clone(frame.plan()));
    }
    let children = plan
        .children()
        .into_iter()
        .map(|child| inline_shared_frames(Arc::clone(child)))
        .collect::<DfResult<Vec<_>>>()?;
    if children.is_empty() {
        return Ok(plan);
    }
    plan.replace_children(
        children,
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::functions_aggregate::expr_fn::sum;
    use datafusion::physical_plan::collect;
    use datafusion::prelude::*;
    use datafusion_proto::bytes::{
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };

    use super::*;
    use crate::engine::{ballista_session_config, physical_codec};
    use crate::single_task::{SingleTask, SingleTaskExec};
    use bydelsfakta_udfs::plan::{c, share};

    /// A frame read twice in one plan (a union of it with itself), planned as a cluster's
    /// client plans it; and the rows it gives.
    async fn plan_reading_a_frame_twice() -> (SessionContext, Arc<dyn ExecutionPlan>) {
        let ctx = SessionContext::new_with_config(ballista_session_config());
        let totals = ctx
            .sql("SELECT * FROM (VALUES ('a', 1), ('a', 2), ('b', 5)) t(k, v)")
            .await
            .unwrap()
            .aggregate(vec![c("k")], vec![sum(c("v")).alias("v")])
            .unwrap();
        let frame = share(totals).unwrap();
        let plan = frame
            .clone()
            .union(frame)
            .unwrap()
            .sort(vec![c("k").sort(true, false)])
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        (ctx, plan)
    }

    const ROWS: &str = "\
+---+---+
| k | v |
+---+---+
| a | 3 |
| a | 3 |
| b | 5 |
| b | 5 |
+---+---+";

    fn frames_in(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
        let mut frames = vec![];
        plan.apply(|node| {
            if node.downcast_ref::<SharedFrameExec>().is_some() {
                frames.push(Arc::clone(node));
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        frames
    }

    async fn rows(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>) -> String {
        let batches = collect(plan, ctx.task_ctx()).await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test]
    async fn a_single_task_decodes_each_frame_as_one_operator() {
        let (ctx, plan) = plan_reading_a_frame_twice().await;
        assert_eq!(frames_in(&plan).len(), 2);
        let task: Arc<dyn ExecutionPlan> = Arc::new(SingleTaskExec::new(SingleTask::new(plan)));
        let bytes =
            physical_plan_to_bytes_with_extension_codec(task, physical_codec().as_ref()).unwrap();
        let decoded = physical_plan_from_bytes_with_extension_codec(
            &bytes,
            &ctx.task_ctx(),
            physical_codec().as_ref(),
        )
        .unwrap();
        let inside = Arc::clone(decoded.downcast_ref::<SingleTaskExec>().unwrap().plan());
        let frames = frames_in(&inside);
        assert_eq!(frames.len(), 2);
        assert!(
            Arc::ptr_eq(&frames[0], &frames[1]),
            "decoded as one operator"
        );
        assert_eq!(rows(&ctx, decoded).await, ROWS);
    }

    #[tokio::test]
    async fn a_frame_outside_a_frame_table_is_an_error() {
        let (ctx, plan) = plan_reading_a_frame_twice().await;
        let bytes =
            physical_plan_to_bytes_with_extension_codec(plan, physical_codec().as_ref()).unwrap();
        let err = physical_plan_from_bytes_with_extension_codec(
            &bytes,
            &ctx.task_ctx(),
            physical_codec().as_ref(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("in no frame table"), "{err}");
    }

    #[tokio::test]
    async fn inlined_frames_leave_the_whole_tree_with_the_same_rows() {
        let (ctx, plan) = plan_reading_a_frame_twice().await;
        let inlined = inline_shared_frames(plan).unwrap();
        assert!(frames_in(&inlined).is_empty());
        assert_eq!(rows(&ctx, inlined).await, ROWS);
    }

    #[tokio::test]
    async fn a_truncated_table_is_an_error_not_a_panic() {
        let (ctx, plan) = plan_reading_a_frame_twice().await;
        let converter = datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {};
        let bytes = encode_plans(&[plan], &converter).unwrap();
        for cut in [0, 5, 12, bytes.len() / 2, bytes.len() - 1] {
            let err = decode_plans(&bytes[..cut], &ctx.task_ctx(), &converter).unwrap_err();
            assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
        }
    }
}
