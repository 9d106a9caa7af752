//! Property tests of the CSV reader and planner (see `csv_model`): a bounded number of cases in every test
//! run; `tests/fuzz.sh` runs the same properties for as long as it is given.

mod csv_model;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::SourceParallel("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn well_formed_files_keep_every_row_on_its_line_with_its_own_cells(model in csv_model::model()) {
        csv_model::check_roundtrip(&model)?;
    }

    #[test]
    fn any_bytes_read_without_panic_and_rows_stay_in_line_order(
        bytes in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        csv_model::check_any_bytes(&bytes)?;
    }

    #[test]
    fn a_mangled_well_formed_file_never_panics(
        model in csv_model::model(),
        cut_at in any::<prop::sample::Index>(),
        insert in prop_oneof![Just(b'"'), Just(b'\r'), Just(b'\n'), Just(b','), Just(0u8)],
    ) {
        let mut bytes = model.bytes.clone();
        let at = cut_at.index(bytes.len() + 1);
        bytes.insert(at, insert);
        csv_model::check_any_bytes(&bytes)?;
    }
}
