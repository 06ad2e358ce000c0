//! The input catalog: every input dataset of docs/contract.md, index §2, with its columns
//! and their kinds. The reader (`crate::reader`) reads an input by it.

use std::sync::LazyLock;

/// What a column holds. Numbers become Int64 or Float64 by the original's rule (a column
/// with one missing cell or one decimal is float, docs/contract.md §2 and §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Kept as a string: ids keep their leading zeros (`01`, `0101`).
    Text,
    /// Integer or float, decided by the file's cells.
    Number,
}

/// One input dataset: the columns a function may read. A file may carry more columns
/// (their kind is inferred); it must carry these.
#[derive(Debug, Clone)]
pub struct InputDataset {
    pub id: &'static str,
    pub columns: Vec<(String, Kind)>,
    /// The columns must come in exactly this order (label-range slicing in the original).
    pub exact_order: bool,
    /// District ids its functions drop on purpose, which the reader lets pass.
    pub legacy_district_ids: &'static [&'static str],
}

/// `eieform`'s legacy raw district ids, which its function drops (docs/functions/eieform.md step 2).
pub const LEGACY_DISTRICT_IDS: [&str; 2] = ["15000", "20000"];

impl InputDataset {
    pub fn kind_of(&self, column: &str) -> Option<Kind> {
        self.columns
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, k)| *k)
    }

    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|(c, _)| c.clone()).collect()
    }
}

/// The year column as the files name it.
pub const YEAR_COLUMN: &str = "aar";

const GEO: [&str; 4] = ["delbydel_id", "delbydel_navn", "bydel_id", "bydel_navn"];
const DISTRICT: [&str; 2] = ["bydel_id", "bydel_navn"];

fn dataset(
    id: &'static str,
    geo: &[&str],
    texts: &[&str],
    numbers: &[&str],
    exact_order: bool,
) -> InputDataset {
    let columns = std::iter::once((YEAR_COLUMN.to_string(), Kind::Number))
        .chain(geo.iter().map(|c| (c.to_string(), Kind::Text)))
        .chain(texts.iter().map(|c| (c.to_string(), Kind::Text)))
        .chain(numbers.iter().map(|c| (c.to_string(), Kind::Number)))
        .collect();
    InputDataset {
        id,
        columns,
        exact_order,
        legacy_district_ids: &[],
    }
}

fn ages(to: u32) -> Vec<String> {
    (0..=to).map(|a| a.to_string()).collect()
}

const FLYTTING_INN: [&str; 3] = [
    "innflytting_til_oslo",
    "innflytting_innenfor_bydelen",
    "innflytting_mellom_bydeler",
];
const FLYTTING_UT: [&str; 3] = [
    "utflytting_fra_oslo",
    "utflytting_innenfor_bydelen",
    "utflytting_mellom_bydeler",
];
const INNVANDRING_KATEGORIER: [&str; 6] = [
    "innvandrer",
    "norskfodt_med_innvandrerforeldre",
    "fodt_i_utlandet_av_norskfodte_foreldre",
    "norskfodt_med_en_utenlandskfodt_forelder",
    "uten_innvandringsbakgrunn",
    "utenlandsfodt_med_en_norsk_forelder",
];

static CATALOG: LazyLock<Vec<InputDataset>> = LazyLock::new(|| {
    let befolkning_ages = ages(120);
    let befolkning_numbers: Vec<&str> = std::iter::once("kjonn")
        .chain(befolkning_ages.iter().map(String::as_str))
        .collect();
    let projection_ages = ages(99);
    let projection_numbers: Vec<&str> = projection_ages.iter().map(String::as_str).collect();
    vec![
        dataset(
            "befolkning-etter-kjonn-og-alder",
            &GEO,
            &[],
            &befolkning_numbers,
            true,
        ),
        dataset("dode", &GEO, &[], &["antall_dode"], false),
        dataset("fodte", &GEO, &[], &["antall_fodte"], false),
        dataset(
            "flytting-til-etter-alder",
            &DISTRICT,
            &["aldersgruppe_5_aar"],
            &FLYTTING_INN,
            false,
        ),
        dataset(
            "flytting-fra-etter-alder",
            &DISTRICT,
            &["aldersgruppe_5_aar"],
            &FLYTTING_UT,
            false,
        ),
        dataset(
            "flytting-til-etter-inn-kat",
            &DISTRICT,
            &["aldersgruppe_5_aar", "innvandringskategori"],
            &FLYTTING_INN,
            false,
        ),
        dataset(
            "flytting-fra-etter-inn-kat",
            &DISTRICT,
            &["aldersgruppe_5_aar", "innvandringskategori"],
            &FLYTTING_UT,
            false,
        ),
        dataset(
            "befolkningsframskrivninger",
            &DISTRICT,
            &[],
            &projection_numbers,
            true,
        ),
        dataset(
            "boligpriser-blokkleiligheter",
            &GEO,
            &[],
            &["antall_omsatte_blokkleiligheter", "kvmpris"],
            false,
        ),
        dataset(
            "botid-ikke-vestlige",
            &GEO,
            &["botid"],
            &[
                "norge",
                "asia_afrika_latin_amerika_og_ost_europa_utenfor_eu",
            ],
            false,
        ),
        dataset(
            "boligmengde-etter-boligtype",
            &GEO,
            &[],
            &[
                "blokk_leiegaard_el",
                "forretningsgaard_bygg_for_felleshusholdning_el",
                "frittliggende_enebolig_eller_vaaningshus",
                "horisontaldelt_tomannsbolig_eller_annet_boligbygg_med_mindre_enn_3_etasjer",
                "hus_i_kjede_rekkehus_terrasse_hus_vertikaldelt_tomannsbolig",
            ],
            false,
        ),
        InputDataset {
            legacy_district_ids: &LEGACY_DISTRICT_IDS,
            ..dataset(
                "eieform",
                &GEO,
                &[],
                &[
                    "selveier_alle",
                    "borettslag_andel_alle",
                    "leier_alle",
                    "selveier_uten_studenter",
                    "borettslag_andel_uten_studenter",
                    "leier_uten_studenter",
                ],
                false,
            )
        },
        dataset(
            "fattige-husholdninger",
            &GEO,
            &[],
            &[
                "husholdninger_i_alt",
                "husholdninger_med_barn_under_18_aar_i_alt",
                "husholdninger_med_barn_under_18_aar_eu_skala_antall",
                "husholdninger_med_barn_under_18_aar_eu_skala_andel",
            ],
            false,
        ),
        dataset(
            "husholdninger-med-barn",
            &GEO,
            &[],
            &[
                "ett_barn_i_hh",
                "to_barn_i_hh",
                "tre_barn_i_hh",
                "fire_barn_eller_mer",
                "ingen_barn_i_hh",
            ],
            false,
        ),
        dataset(
            "husholdningstyper",
            &GEO,
            &[],
            &[
                "aleneboende",
                "par_uten_hjemmeboende_barn",
                "par_med_smaa_barn",
                "par_med_store_barn",
                "mor_eller_far_med_smaa_barn",
                "mor_eller_far_med_store_barn",
                "enfamiliehusholdninger_med_voksne_barn",
                "flerfamiliehusholdninger_med_smaa_barn",
                "flerfamiliehusholdninger_med_store_barn",
                "flerfamiliehusholdninger_uten_barn_0_til_17_aar",
            ],
            false,
        ),
        dataset(
            "ikke-fullfort-vgs",
            &GEO,
            &[],
            &[
                "antall_personer_ikke_fullfort_i_lopet_av_5_aar",
                "andelen_som_ikke_har_fullfort_i_lopet_av_5_aar",
            ],
            false,
        ),
        dataset("botid", &GEO, &["botid"], &INNVANDRING_KATEGORIER, false),
        dataset(
            "innvandrer-befolkningen-0-15-ar",
            &GEO,
            &["alder"],
            &INNVANDRING_KATEGORIER,
            false,
        ),
        dataset("kommunale-boliger", &GEO, &[], &["antall_boliger"], false),
        dataset(
            "landbakgrunn-storste-innvandringsgrupper",
            &DISTRICT,
            &["landbakgrunn"],
            &["innvandrer", "norskfodt_med_innvandrerforeldre"],
            false,
        ),
        dataset("dodsrater", &GEO, &[], &["dodsrate"], false),
        dataset("sysselsatte", &GEO, &[], &["antall_sysselsatte"], false),
        dataset(
            "lav-utdanning",
            &GEO,
            &[],
            &[
                "ingen_utdanning_uoppgitt",
                "grunnskole",
                "videregaende",
                "universitet_hogskole_kort",
                "universitet_hogskole_lang",
            ],
            false,
        ),
        dataset(
            "redusert-funksjonsevne",
            &GEO,
            &[],
            &[
                "antall_personer_med_redusert_funksjonsevne",
                "andel_personer_med_redusert_funksjonsevne",
            ],
            false,
        ),
        dataset(
            "trangbodde",
            &GEO,
            &[],
            &["antall_som_bor_trangt", "andel_som_bor_trangt"],
            false,
        ),
        dataset(
            "husholdninger-etter-rom-per-person",
            &GEO,
            &[],
            &[
                "rom_per_person_under_0_5",
                "rom_per_person_0_5_til_0_9",
                "rom_per_person_1_0_til_1_9",
                "rom_per_person_2_0_og_over",
                "rom_per_person_i_alt",
            ],
            false,
        ),
        dataset(
            "median-totalpris",
            &GEO,
            &["enhetstype"],
            &["totalpris"],
            false,
        ),
        dataset("neets", &GEO, &[], &["andel", "antall"], false),
        dataset(
            "utdanning",
            &GEO,
            &["nivaa", "kjonn", "alder"],
            &["antall"],
            false,
        ),
    ]
});

/// Every input dataset, in catalog order.
pub fn input_datasets() -> &'static [InputDataset] {
    &CATALOG
}

/// The catalog entry of an input dataset id.
pub fn input_dataset(id: &str) -> Option<&'static InputDataset> {
    CATALOG.iter().find(|d| d.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered_columns_start_with_the_year() {
        let mut ids: Vec<_> = input_datasets().iter().map(|d| d.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), input_datasets().len());
        let befolkning = input_dataset("befolkning-etter-kjonn-og-alder").unwrap();
        assert!(befolkning.exact_order);
        assert_eq!(befolkning.columns.len(), 6 + 121);
        assert_eq!(befolkning.columns[0].0, "aar");
        assert_eq!(befolkning.columns[1].0, "delbydel_id");
        assert_eq!(befolkning.columns.last().unwrap().0, "120");
    }
}
