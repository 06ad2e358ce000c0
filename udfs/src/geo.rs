//! Column names and ids of the geography model (docs/contract.md §3).

/// The year column (`aar` in the files, renamed on read).
pub const DATE: &str = "date";
/// District id, two characters (`01`).
pub const BYDEL_ID: &str = "bydel_id";
/// District name as the data spells it.
pub const BYDEL_NAVN: &str = "bydel_navn";
/// Sub-district id, four characters (`0101`).
pub const DELBYDEL_ID: &str = "delbydel_id";
/// Sub-district name as the data spells it.
pub const DELBYDEL_NAVN: &str = "delbydel_navn";

/// The five key columns of a geography row, in the original's groupby order.
pub const KEYS: [&str; 5] = [DATE, BYDEL_ID, BYDEL_NAVN, DELBYDEL_ID, DELBYDEL_NAVN];

/// Id of the whole city.
pub const OSLO_ID: &str = "00";
/// Label of the whole city.
pub const OSLO_NAME: &str = "Oslo i alt";

/// Pseudo districts (Sentrum, Marka, Uten registrert adresse): never a document of their
/// own, never an entry, never in a scale; still counted in Oslo totals.
pub const PSEUDO_DISTRICTS: [&str; 3] = ["16", "17", "99"];

/// Which of the three levels a rollup row belongs to; the rollup's first sort key.
pub const LEVEL: &str = "__level";

/// Input line order, added by the reader; keeps "first appearance" orders stable.
pub const ROW: &str = "__row";
