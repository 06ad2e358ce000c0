//! How much input a plan reads: what decides whether it runs on a cluster as one task
//! ([`crate::single_task`]) and whether outputs run together ([`crate::output_group`]).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;

use bydelsfakta_udfs::plan::SharedFrameExec;

/// The input of one or more plans: the distinct files they scan (a plan scans one input
/// object as often as it uses its frame; the data is read once per object all the same)
/// and the rows they carry themselves (literal tables). A scan of anything else counts as
/// large: its size is unknown.
#[derive(Debug, Default)]
pub struct InputSize {
    /// Size by object URL.
    files: HashMap<String, u64>,
    /// The rows each shared frame carries, by frame id: a frame counts once.
    frames: HashMap<String, u64>,
    /// The rows carried outside frames.
    carried: u64,
}

impl InputSize {
    pub fn of(plan: &Arc<dyn ExecutionPlan>) -> Self {
        let mut size = Self::default();
        size.carried = size.scan(plan);
        size
    }

    /// Bytes in all.
    pub fn bytes(&self) -> u64 {
        Self::together(std::slice::from_ref(self))
    }

    /// Bytes of several plans' inputs together: a file or frame they share counts once.
    pub fn together(sizes: &[InputSize]) -> u64 {
        let files: HashMap<_, _> = sizes.iter().flat_map(|s| &s.files).collect();
        let frames: HashMap<_, _> = sizes.iter().flat_map(|s| &s.frames).collect();
        let carried = sizes.iter().map(|s| s.carried);
        files
            .into_values()
            .chain(frames.into_values())
            .copied()
            .chain(carried)
            .fold(0, u64::saturating_add)
    }

    /// Records the files below `plan`; returns the bytes of rows carried outside the
    /// frames (or `u64::MAX` for a scan of unknown size).
    fn scan(&mut self, plan: &Arc<dyn ExecutionPlan>) -> u64 {
        if let Some(exec) = plan.downcast_ref::<DataSourceExec>() {
            let source: &dyn std::any::Any = exec.data_source().as_ref();
            if let Some(config) = source.downcast_ref::<FileScanConfig>() {
                for file in config.file_groups.iter().flat_map(|group| group.iter()) {
                    let location = file.object_meta.location.to_string();
                    self.files.insert(location, file.object_meta.size);
                }
                return 0;
            }
            // Rows the plan carries itself: their size in memory.
            if let Some(config) = source.downcast_ref::<MemorySourceConfig>() {
                return config
                    .partitions()
                    .iter()
                    .flatten()
                    .map(|batch| batch.get_array_memory_size() as u64)
                    .sum();
            }
            return u64::MAX;
        }
        if let Some(frame) = plan.downcast_ref::<SharedFrameExec>() {
            if !self.frames.contains_key(frame.id()) {
                self.frames.insert(frame.id().to_string(), 0);
                let carried = self.scan(frame.plan());
                self.frames.insert(frame.id().to_string(), carried);
            }
            return 0;
        }
        plan.children()
            .into_iter()
            .map(|child| self.scan(child))
            .fold(0u64, u64::saturating_add)
    }
}
