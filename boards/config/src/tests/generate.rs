//! The generated `SYSTEM_PLAN` source and its embedded-image lookups.
#![forbid(unsafe_code)]

use std::path::Path;

use super::*;
use crate::{image_variable, system_plan, ImageSource};

fn generate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, Vec<String>> {
    let config = parse("domains.toml", text).map_err(|errors| vec![errors.to_string()])?;
    let images = ImageSource {
        lookup,
        base: Path::new(env!("CARGO_MANIFEST_DIR")),
    };
    system_plan("domains.toml", &config, &images)
        .map(|generated| generated.source)
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

#[test]
fn image_variables_are_upper_case_with_underscores() {
    assert_eq!(
        image_variable("secure-domain"),
        "HYP_ARM_IMAGE_SECURE_DOMAIN"
    );
}

#[test]
fn the_plan_source_lists_every_setting() {
    // Any existing file stands in for the image; relative to the crate's folder.
    let lookup = |variable: &str| {
        (variable == "HYP_ARM_IMAGE_SECURE_DOMAIN").then(|| "Cargo.toml".to_string())
    };
    let source = match generate(BASE, &lookup) {
        Ok(source) => source,
        Err(errors) => panic!("{errors:?}"),
    };
    let image = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("Cargo.toml")
        .canonicalize()
        .unwrap_or_else(|error| panic!("{error}"));
    for expected in [
        "static SYSTEM_PLAN: hyp_arm::domain::plan::SystemPlan = hyp_arm::domain::plan::SystemPlan {",
        "source: \"domains.toml\",",
        "scheduling: hyp_arm::domain::plan::Scheduling::Pinned,",
        "name: \"secure\",",
        "role: hyp_arm::domain::plan::Role::Secure,",
        "vcpu_pcpus: &[3],",
        "priority: 10,",
        "memory: hyp_arm::domain::plan::MemoryPlan { size: 0x1000000, ipa: Some(0x40000000), physical: None },",
        &format!(
            "kernel: hyp_arm::domain::plan::KernelSource::Embedded {{ kernel: include_bytes!({:?}), initrd: None }},",
            image.display().to_string()
        ),
        "devices: &[hyp_arm::domain::plan::DeviceMatch::Path(\"/pl031@9010000\")],",
        "console: hyp_arm::domain::plan::DomainConsole::Hypercall,",
        "on_system_off: hyp_arm::domain::plan::SystemOffAction::StopDomain,",
        "vcpu_pcpus: &[0, 1, 2],",
        "kernel: hyp_arm::domain::plan::KernelSource::BootModules,",
        "owns_unclaimed_devices: true,",
        "starts_after: Some(\"secure\"),",
        "on_system_off: hyp_arm::domain::plan::SystemOffAction::PowerOffMachine,",
        "console: hyp_arm::domain::plan::ConsolePlan { initial_focus: 1, escape: 0x1d },",
    ] {
        assert!(source.contains(expected), "missing {expected}\nin\n{source}");
    }
}

#[test]
fn a_missing_image_variable_says_what_to_set() {
    assert_eq!(
        generate(BASE, &|_| None),
        Err(vec![
            "domains.toml: domain[0].kernel: image \"secure-domain\" is embedded, but \
             HYP_ARM_IMAGE_SECURE_DOMAIN is not set: set it to the image file (`cargo xtask \
             build` sets it when it builds the secure-domain image)"
                .to_string()
        ])
    );
}

#[test]
fn a_missing_image_file_is_named() {
    let text = edited(&[(
        "kernel = { embedded = \"secure-domain\" }",
        "kernel = { embedded = \"secure-domain\" }\ninitrd = { embedded = \"secure-initrd\" }",
    )]);
    let lookup = |variable: &str| match variable {
        "HYP_ARM_IMAGE_SECURE_DOMAIN" => Some("Cargo.toml".to_string()),
        _ => Some("no-such-file.bin".to_string()),
    };
    let errors = generate(&text, &lookup).err().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("domains.toml: domain[0].initrd: HYP_ARM_IMAGE_SECURE_INITRD names ")
            && errors[0].ends_with("no-such-file.bin, which does not exist"),
        "{errors:?}"
    );
}
