//! The exact text the generator prints, locked with insta. Snapshots are of the rendered
//! String (not insta's YAML macro, which would re-render the value and hide our output).

mod common;

#[test]
fn every_generated_manifest() {
    for (name, m) in common::named_manifests() {
        let yaml = m.to_yaml().unwrap();
        insta::with_settings!({ description => m.file_name.clone(), omit_expression => true }, {
            insta::assert_snapshot!(name, yaml);
        });
    }
}
