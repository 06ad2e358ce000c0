//! Carries [`DocumentWriterExec`] through Ballista: the job as JSON behind a magic prefix.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use super::{DocumentWriterExec, WriteJob};

const MAGIC: &[u8] = b"bydelsfakta-document-writer:";

/// Serializes [`DocumentWriterExec`] for Ballista; everything else is left to the codecs it
/// is composed with.
#[derive(Debug, Default, Clone)]
pub struct DocumentWriterCodec;

impl PhysicalExtensionCodec for DocumentWriterCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        _ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let Some(json) = buf.strip_prefix(MAGIC) else {
            return Err(DataFusionError::Internal(
                "not a DocumentWriterExec node".into(),
            ));
        };
        let job: WriteJob = serde_json::from_slice(json)
            .map_err(|e| DataFusionError::Internal(format!("bad DocumentWriterExec: {e}")))?;
        let [input] = inputs else {
            return Err(DataFusionError::Internal(
                "DocumentWriterExec takes one input".into(),
            ));
        };
        Ok(Arc::new(DocumentWriterExec::new(Arc::clone(input), job)))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        let Some(writer) = node.downcast_ref::<DocumentWriterExec>() else {
            return Err(DataFusionError::NotImplemented(format!(
                "DocumentWriterCodec cannot encode {}",
                node.name()
            )));
        };
        buf.extend_from_slice(MAGIC);
        serde_json::to_writer(&mut *buf, &writer.job)
            .map_err(|e| DataFusionError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::job;

    #[test]
    fn the_codec_round_trips_the_job() {
        use datafusion::physical_plan::empty::EmptyExec;
        let input: Arc<dyn ExecutionPlan> =
            Arc::new(EmptyExec::new(crate::writer::summary::schema()));
        let writer: Arc<dyn ExecutionPlan> =
            Arc::new(DocumentWriterExec::new(Arc::clone(&input), job()));
        let codec = DocumentWriterCodec;
        let mut buf = vec![];
        let converter = datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {};
        codec.try_encode(writer, &mut buf, &converter).unwrap();
        let ctx = TaskContext::default();
        let decoded = codec.try_decode(&buf, &[input], &ctx, &converter).unwrap();
        let decoded = decoded.downcast_ref::<DocumentWriterExec>().unwrap();
        assert_eq!(decoded.job(), &job());
    }
}
