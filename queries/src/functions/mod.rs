//! One module per statistics function; [`all`] is the ordered list the CLI, the event
//! contract and the tests use.

pub mod alder_distribusjon_status;
pub mod befolkningsutvkl_forv_utvkl;
pub mod boligpriser;
pub mod botid_ikke_vestlige;
pub mod bygningstyper;
mod databricks_port;
pub mod eieform;
pub mod fattige_barnehusholdninger;
pub mod flyttehyppighet_inn_kat;
pub mod flyttehyppighet_totalt;
pub mod folkemengde;
pub mod husholdning_med_barn;
pub mod husholdningstyper;
pub mod ikke_fullfort_vgs;
pub mod innvandrer_befolkning;
pub mod innvandring_under16;
pub mod kommunale_boliger;
pub mod landbakgrunn_innvandringsgrupper;
pub mod levekaar_dodsrate;
pub mod levekar_ikke_sysselsatte;
pub mod levekar_lav_utdanning;
pub mod levekar_redusert_funksjonsevne;
pub mod levekar_totalt;
pub mod levekar_trangbodde;
pub mod median_totalpris;
pub mod neets;
pub mod trangboddhet;
pub mod utdanning;

use crate::function::Function;

/// Every implemented function, in name order.
pub fn all() -> &'static [Function] {
    &[
        alder_distribusjon_status::FUNCTION,
        befolkningsutvkl_forv_utvkl::FUNCTION,
        boligpriser::FUNCTION,
        botid_ikke_vestlige::FUNCTION,
        bygningstyper::FUNCTION,
        eieform::FUNCTION,
        fattige_barnehusholdninger::FUNCTION,
        flyttehyppighet_inn_kat::FUNCTION,
        flyttehyppighet_totalt::FUNCTION,
        folkemengde::FUNCTION,
        husholdning_med_barn::FUNCTION,
        husholdningstyper::FUNCTION,
        ikke_fullfort_vgs::FUNCTION,
        innvandrer_befolkning::FUNCTION,
        innvandring_under16::FUNCTION,
        kommunale_boliger::FUNCTION,
        landbakgrunn_innvandringsgrupper::FUNCTION,
        levekaar_dodsrate::FUNCTION,
        levekar_ikke_sysselsatte::FUNCTION,
        levekar_lav_utdanning::FUNCTION,
        levekar_redusert_funksjonsevne::FUNCTION,
        levekar_totalt::FUNCTION,
        levekar_trangbodde::FUNCTION,
        median_totalpris::FUNCTION,
        neets::FUNCTION,
        trangboddhet::FUNCTION,
        utdanning::FUNCTION,
    ]
}

/// The function called `name`.
pub fn by_name(name: &str) -> Option<&'static Function> {
    all().iter().find(|f| f.name == name)
}

/// The function and dataset type that produce output dataset `id`.
pub fn by_output_dataset(id: &str) -> Option<(&'static Function, &'static crate::DatasetType)> {
    all().iter().find_map(|f| {
        f.types
            .iter()
            .find(|t| t.output_dataset == id)
            .map(|t| (f, t))
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::catalog::input_dataset;

    #[test]
    fn names_outputs_and_inputs_are_consistent() {
        let mut names = HashSet::new();
        let mut outputs = HashSet::new();
        for f in all() {
            assert!(names.insert(f.name), "{} twice", f.name);
            for t in f.types {
                assert!(
                    outputs.insert(t.output_dataset),
                    "{} twice",
                    t.output_dataset
                );
            }
            for (_, id) in f.inputs {
                assert!(
                    input_dataset(id).is_some(),
                    "{}: {id} not in the catalog",
                    f.name
                );
            }
        }
    }
}
