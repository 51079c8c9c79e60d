//! Rejections that need no device tree: names, counts, CPUs, memory, kernels, order, console.
#![forbid(unsafe_code)]

use super::*;

/// A third domain that conflicts with nothing, to append to `BASE`.
const DRIVER: &str = r#"
[[domain]]
name = "driver"
role = "driver"
vcpus = [4]
memory = { size = "2M", ipa = 0x4000_0000 }
kernel = { embedded = "driver" }
console = "hypercall"
on_system_off = "stop-domain"
"#;

#[test]
fn no_domain() {
    let text = edited(&[("initial_focus = \"android\"\n", "")]);
    let text = text.split("[[domain]]").next().unwrap_or_default();
    assert_rejected(
        text,
        "domains.toml: domain: no [[domain]]: declare at least one",
    );
}

#[test]
fn more_domains_than_the_plan_holds() {
    let mut text = BASE.to_string();
    for name in ["d2", "d3", "d4"] {
        text.push_str(
            &DRIVER
                .replace("name = \"driver\"", &format!("name = \"{name}\""))
                .replace("vcpus = [4]", "vcpus = []"),
        );
    }
    let all = messages(&text);
    assert_eq!(
        all[0],
        "domains.toml: domain: 5 domains declared, but hyp-arm runs at most 4 (plan::MAX_DOMAINS)"
    );
}

#[test]
fn a_domain_name_twice() {
    let text = edited(&[("name = \"android\"", "name = \"secure\"")]);
    let all = messages(&text);
    assert!(all.contains(&"domains.toml: domain[1].name: domain name \"secure\" is already used by domain[0]; names must be unique".to_string()), "{all:?}");
}

#[test]
fn a_name_that_cannot_tag_console_lines() {
    assert_rejected(
        &format!(
            "{BASE}{}",
            DRIVER.replace("name = \"driver\"", "name = \"Driver 1\"")
        ),
        "domains.toml: domain[2].name: \"Driver 1\" is not a usable name: use 1 to 16 lowercase \
         letters, digits and '-', starting with a letter",
    );
}

#[test]
fn a_domain_without_vcpus() {
    assert_rejected(
        &edited(&[("vcpus = [3]", "vcpus = []")]),
        "domains.toml: domain[0].vcpus: the domain has no vCPU: list at least one pCPU",
    );
}

#[test]
fn more_vcpus_than_a_domain_has() {
    assert_rejected(
        &edited(&[
            ("scheduling = \"pinned\"", "scheduling = \"shared\""),
            ("vcpus = [0, 1, 2]", "vcpus = [0, 1, 2, 0, 1, 2, 0, 1, 2]"),
        ]),
        "domains.toml: domain[1].vcpus: 9 vCPUs, but a domain has at most 8 \
         (plan::MAX_VCPUS_PER_DOMAIN)",
    );
}

#[test]
fn a_vcpu_beyond_the_boards_cpus() {
    assert_rejected(
        &edited(&[("vcpus = [3]", "vcpus = [8]")]),
        "domains.toml: domain[0].vcpus[0]: physical CPU 8 does not exist: board.max_cpus is 8 \
         (CPUs 0 to 7)",
    );
}

#[test]
fn pinned_vcpus_sharing_a_cpu() {
    assert_rejected(
        &edited(&[("vcpus = [0, 1, 2]", "vcpus = [0, 1, 3]")]),
        "domains.toml: domain[1].vcpus[2]: physical CPU 3 already runs vCPU 0 of domain \
         \"secure\"; with scheduling = \"pinned\" each physical CPU runs one vCPU (use another \
         CPU, or scheduling = \"shared\")",
    );
    // The same placement is fine when CPUs are shared.
    let shared = edited(&[
        ("scheduling = \"pinned\"", "scheduling = \"shared\""),
        ("vcpus = [0, 1, 2]", "vcpus = [0, 1, 3]"),
    ]);
    assert_eq!(messages(&shared), Vec::<String>::new());
}

#[test]
fn a_size_that_is_not_a_block_multiple() {
    assert_rejected(
        &edited(&[("\"16M\"", "\"17M\"")]),
        "domains.toml: domain[0].memory.size: 0x1100000 bytes is not a multiple of 2 MiB \
         (stage-2 block mappings)",
    );
    assert_rejected(
        &edited(&[("\"16M\"", "0")]),
        "domains.toml: domain[0].memory.size: a domain needs some memory",
    );
}

#[test]
fn addresses_that_are_not_block_aligned() {
    assert_rejected(
        &edited(&[("ipa = 0x4000_0000", "ipa = 0x4010_0000")]),
        "domains.toml: domain[0].memory.ipa: 0x40100000 is not aligned to 2 MiB (stage-2 block \
         mappings)",
    );
    assert_rejected(
        &edited(&[("ipa = 0x4000_0000", "physical = 0x4010_0000")]),
        "domains.toml: domain[0].memory.physical: 0x40100000 is not aligned to 2 MiB (stage-2 \
         block mappings)",
    );
    assert_rejected(
        &edited(&[("ipa = 0x4000_0000", "ipa = 0xffff_ffff_ffe0_0000")]),
        "domains.toml: domain[0].memory.ipa: 0x1000000 bytes from 0xffffffffffe00000 run past \
         the end of the address space",
    );
}

#[test]
fn overlapping_physical_memory() {
    let text = edited(&[
        ("ipa = 0x4000_0000", "physical = 0x7000_0000"),
        ("size = \"1G\"", "size = \"1G\", physical = 0x6000_0000"),
    ]);
    assert_rejected(
        &text,
        "domains.toml: domain[1].memory.physical: physical memory overlaps that of domain \
         \"secure\" at [0x70000000, 0x71000000)",
    );
}

#[test]
fn starts_after_an_unknown_domain_itself_or_a_later_one() {
    assert_rejected(
        &edited(&[("starts_after = \"secure\"", "starts_after = \"secur\"")]),
        "domains.toml: domain[1].starts_after: no domain is named \"secur\"",
    );
    assert_rejected(
        &edited(&[("starts_after = \"secure\"", "starts_after = \"android\"")]),
        "domains.toml: domain[1].starts_after: a domain cannot wait for itself",
    );
    assert_rejected(
        &edited(&[
            ("starts_after = \"secure\"\n", ""),
            ("priority = 10", "priority = 10\nstarts_after = \"android\""),
        ]),
        "domains.toml: domain[0].starts_after: domain \"android\" is declared later; domains \
         start in file order, so a domain can only wait for an earlier one",
    );
}

#[test]
fn two_domains_taking_the_boot_modules() {
    assert_rejected(
        &format!(
            "{BASE}{}",
            DRIVER.replace("{ embedded = \"driver\" }", "\"boot-modules\"")
        ),
        "domains.toml: domain[2].kernel: domain \"android\" already takes the boot modules; only \
         one domain can",
    );
}

#[test]
fn an_embedded_initrd_with_boot_modules() {
    assert_rejected(
        &edited(&[(
            "kernel = \"boot-modules\"",
            "kernel = \"boot-modules\"\ninitrd = { embedded = \"initramfs\" }",
        )]),
        "domains.toml: domain[1].initrd: an embedded initrd needs an embedded kernel; with \
         kernel = \"boot-modules\" the ramdisk is a boot module too",
    );
}

#[test]
fn an_image_name_that_cannot_name_a_variable() {
    assert_rejected(
        &edited(&[("\"secure-domain\"", "\"secure domain\"")]),
        "domains.toml: domain[0].kernel.embedded: \"secure domain\" is not a usable image name: \
         use lowercase letters, digits and '-'",
    );
}

#[test]
fn two_owners_of_the_unclaimed_devices() {
    let all = messages(&format!(
        "{BASE}{}",
        DRIVER.replace("console = ", "owns_unclaimed_devices = true\nconsole = ")
    ));
    assert!(
        all.contains(
            &"domains.toml: domain[2].owns_unclaimed_devices: domain \"android\" already owns \
              the unclaimed devices; only one domain can"
                .to_string()
        ),
        "{all:?}"
    );
}

#[test]
fn an_initial_focus_that_is_unknown_or_has_no_uart() {
    assert_rejected(
        &edited(&[("initial_focus = \"android\"", "initial_focus = \"andriod\"")]),
        "domains.toml: console.initial_focus: no domain is named \"andriod\"",
    );
    assert_rejected(
        &edited(&[("initial_focus = \"android\"", "initial_focus = \"secure\"")]),
        "domains.toml: console.initial_focus: domain \"secure\" has no emulated UART, so it \
         cannot have console input",
    );
}

#[test]
fn an_escape_byte_people_type() {
    assert_rejected(
        &edited(&[("escape = 0x1d", "escape = 0x61")]),
        "domains.toml: console.escape: 0x61 is not a control character; the escape byte must \
         not be one people type (0x1d is Ctrl-])",
    );
}
