//! A guard against a Ballista 55 bug that doubles rows after an executor is lost.
//!
//! When an executor dies, the scheduler rolls back the stages that read its shuffle output.
//! If that makes an intermediate stage run again as a whole (not only its lost tasks), the
//! stage that reads it keeps the first attempt's output locations and gets the second
//! attempt's appended (`StageOutput::add_partition` pushes without replacing). Its shuffle
//! reader then reads those map outputs twice, and every join above multiplies the rows: a
//! document of 8 values came out with 512. `cluster/tests/executor_loss.rs` kills an
//! executor while it publishes and reproduces it on every run.
//!
//! A shuffle reader never legitimately reads the same map output twice: within one of its
//! partitions, a (stage, output partition, map partition) names one piece of data. So the
//! codec that decodes every task's plan on the executors keeps only the newest location of
//! each.

use std::collections::HashSet;
use std::sync::Arc;

use ballista_core::execution_plans::ShuffleReaderExec;
use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

/// Ballista's codec, with each decoded shuffle reader reading every map output once.
#[derive(Debug, Default)]
pub struct DistinctShuffleInputs {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for DistinctShuffleInputs {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self
            .ballista
            .try_decode(buf, inputs, ctx, proto_converter)?;
        Ok(distinct_locations(plan))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.ballista.try_encode(node, buf, proto_converter)
    }
}

/// `plan` itself, or for a shuffle reader that lists a map output more than once, a copy
/// that lists each once (its newest location: the scheduler appends a rerun's locations).
pub fn distinct_locations(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let Some(reader) = plan.downcast_ref::<ShuffleReaderExec>() else {
        return plan;
    };
    let mut distinct = reader.clone();
    let mut dropped = 0;
    for locations in &mut distinct.partition {
        let mut seen = HashSet::new();
        let before = locations.len();
        // Newest first, so that the newest of each survives; then back in order.
        locations.reverse();
        locations.retain(|l| {
            seen.insert((
                l.partition_id.stage_id,
                l.partition_id.partition_id,
                l.map_partition_id,
            ))
        });
        locations.reverse();
        dropped += before - locations.len();
    }
    if dropped == 0 {
        return plan;
    }
    tracing::warn!(
        stage = reader.stage_id,
        dropped,
        "a shuffle reader listed map outputs twice (a stage ran again after an executor was lost); each is read once"
    );
    Arc::new(distinct)
}

#[cfg(test)]
mod tests {
    use ballista_core::serde::scheduler::{
        ExecutorMetadata, ExecutorSpecification, PartitionId, PartitionLocation, PartitionStats,
    };
    use datafusion::arrow::datatypes::Schema;
    use datafusion::physical_plan::Partitioning;

    use super::*;

    fn location(executor: &str, output: usize, map: usize) -> PartitionLocation {
        PartitionLocation {
            map_partition_id: map,
            partition_id: PartitionId::new(&"job".to_string().into(), 3, output),
            executor_meta: ExecutorMetadata {
                id: executor.into(),
                host: "localhost".into(),
                port: 50051,
                grpc_port: 50052,
                specification: ExecutorSpecification::default(),
                os_info: Default::default(),
            },
            partition_stats: PartitionStats::default(),
            file_id: None,
            is_sort_shuffle: true,
        }
    }

    fn reader(partition: Vec<Vec<PartitionLocation>>) -> Arc<dyn ExecutionPlan> {
        let count = partition.len();
        Arc::new(
            ShuffleReaderExec::try_new(
                3,
                partition,
                Arc::new(Schema::empty()),
                Partitioning::UnknownPartitioning(count),
            )
            .unwrap(),
        )
    }

    fn listed(plan: &Arc<dyn ExecutionPlan>) -> Vec<Vec<(String, usize)>> {
        let reader = plan.downcast_ref::<ShuffleReaderExec>().unwrap();
        reader
            .partition
            .iter()
            .map(|locations| {
                locations
                    .iter()
                    .map(|l| (l.executor_meta.id.clone(), l.map_partition_id))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_map_output_listed_twice_is_read_once_from_its_newest_location() {
        // Map partitions 0 and 1 ran on "b"; after "a" was lost, both ran again on "b".
        let plan = reader(vec![
            vec![
                location("b", 0, 0),
                location("b", 0, 1),
                location("b", 0, 0),
                location("b", 0, 1),
            ],
            vec![location("b", 1, 1), location("c", 1, 1)],
        ]);
        let distinct = distinct_locations(plan);
        assert_eq!(
            listed(&distinct),
            vec![
                vec![("b".to_string(), 0), ("b".to_string(), 1)],
                vec![("c".to_string(), 1)],
            ]
        );
    }

    #[test]
    fn distinct_readers_and_other_plans_are_left_as_they_are() {
        let plan = reader(vec![vec![location("a", 0, 0), location("b", 0, 1)]]);
        assert!(Arc::ptr_eq(&distinct_locations(Arc::clone(&plan)), &plan));
        let empty: Arc<dyn ExecutionPlan> = Arc::new(
            datafusion::physical_plan::empty::EmptyExec::new(Arc::new(Schema::empty())),
        );
        assert!(Arc::ptr_eq(&distinct_locations(Arc::clone(&empty)), &empty));
    }
}
