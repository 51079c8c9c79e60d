//! Rust source for the `static SYSTEM_PLAN: hyp_arm::domain::plan::SystemPlan` of a checked
//! config. Embedded images become `include_bytes!` of the file that `HYP_ARM_IMAGE_<NAME>` names.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, ConfigErrors, Problem};
use crate::schema::{Config, DomainConsole, Kernel, Role, Scheduling, SystemOffAction};

const PLAN: &str = "hyp_arm::domain::plan";

/// The environment variable naming embedded image `name`: `secure-domain` ->
/// `HYP_ARM_IMAGE_SECURE_DOMAIN`.
pub fn image_variable(name: &str) -> String {
    format!(
        "HYP_ARM_IMAGE_{}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// Where the images come from: `lookup(variable)` reads the environment (or a test's map), and
/// relative paths are taken from `base` (the board crate's folder).
pub struct ImageSource<'a> {
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    pub base: &'a Path,
}

impl ImageSource<'_> {
    /// The absolute path of embedded image `name`, or why there is none.
    fn path(&self, name: &str) -> Result<PathBuf, Problem> {
        let variable = image_variable(name);
        let Some(value) = (self.lookup)(&variable).filter(|value| !value.is_empty()) else {
            return Err(Problem::ImageVariableMissing {
                variable,
                image: name.to_string(),
            });
        };
        let path = self.base.join(&value);
        path.canonicalize().map_err(|_| Problem::ImageFileMissing {
            variable,
            path: path.display().to_string(),
        })
    }
}

/// The generated source, and the image files it includes (for `cargo:rerun-if-changed`).
#[derive(Debug)]
pub struct Generated {
    pub source: String,
    pub images: Vec<PathBuf>,
}

/// Writes `static SYSTEM_PLAN` for `config` (which `check` accepted), read from `file`.
pub fn system_plan(
    file: &str,
    config: &Config,
    images: &ImageSource<'_>,
) -> Result<Generated, ConfigErrors> {
    let mut errors = Vec::new();
    let mut image_files = Vec::new();
    let mut include = |key: String, name: &str| match images.path(name) {
        Ok(path) => {
            let code = format!("include_bytes!({:?})", path.display().to_string());
            image_files.push(path);
            code
        }
        Err(problem) => {
            errors.push(ConfigError {
                file: file.to_string(),
                key,
                problem,
            });
            String::new()
        }
    };
    let mut domains = String::new();
    for (index, domain) in config.domains.iter().enumerate() {
        let kernel = match &domain.kernel {
            Kernel::BootModules => format!("{PLAN}::KernelSource::BootModules"),
            Kernel::Embedded(image) => {
                let kernel = include(format!("domain[{index}].kernel"), &image.embedded);
                let initrd = match &domain.initrd {
                    Some(initrd) => format!(
                        "Some({})",
                        include(format!("domain[{index}].initrd"), &initrd.embedded)
                    ),
                    None => "None".to_string(),
                };
                format!("{PLAN}::KernelSource::Embedded {{ kernel: {kernel}, initrd: {initrd} }}")
            }
        };
        let devices: Vec<String> = domain
            .devices
            .iter()
            .map(|claim| match (&claim.path, &claim.compatible) {
                (Some(path), _) => format!("{PLAN}::DeviceMatch::Path({path:?})"),
                (None, compatible) => format!(
                    "{PLAN}::DeviceMatch::Compatible({:?})",
                    compatible.as_deref().unwrap_or_default()
                ),
            })
            .collect();
        let memory = domain.memory;
        let _ = write!(
            domains,
            "    {PLAN}::DomainPlan {{\n        name: {name:?},\n        role: {PLAN}::Role::{role},\n        \
             vcpu_pcpus: &{vcpus:?},\n        optional_vcpus: {optional_vcpus},\n        priority: {priority},\n        memory: {PLAN}::MemoryPlan {{ \
             size: {size:#x}, ipa: {ipa}, physical: {physical} }},\n        kernel: {kernel},\n        \
             bootargs: {bootargs:?},\n        devices: &[{devices}],\n        \
             owns_unclaimed_devices: {unclaimed},\n        console: {PLAN}::DomainConsole::{console},\n        \
             starts_after: {starts_after:?},\n        on_system_off: {PLAN}::SystemOffAction::{off},\n    }},\n",
            name = domain.name,
            role = match domain.role {
                Role::Secure => "Secure",
                Role::Rich => "Rich",
                Role::Driver => "Driver",
            },
            vcpus = domain.vcpus,
            optional_vcpus = domain.optional_vcpus,
            priority = domain.priority,
            size = memory.size.0,
            ipa = optional_address(memory.ipa),
            physical = optional_address(memory.physical),
            bootargs = domain.bootargs,
            devices = devices.join(", "),
            unclaimed = domain.owns_unclaimed_devices,
            console = match domain.console {
                DomainConsole::EmulatedUart => "EmulatedUart",
                DomainConsole::Hypercall => "Hypercall",
            },
            starts_after = domain.starts_after,
            off = match domain.on_system_off {
                SystemOffAction::PowerOffMachine => "PowerOffMachine",
                SystemOffAction::StopDomain => "StopDomain",
            },
        );
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let mut channels = String::new();
    for channel in &config.channels {
        let _ = writeln!(
            channels,
            "        {PLAN}::ChannelPlan {{ name: {:?}, frontend: {:?}, backend: {:?}, \
             frontend_address: {:#x}, frontend_interrupt: {}, backend_address: {:#x}, \
             backend_interrupt: {}, size: {:#x}, frontend_cid: {}, backend_cid: {} }},",
            channel.name,
            channel.frontend,
            channel.backend,
            channel.frontend_address,
            channel.frontend_interrupt,
            channel.backend_address,
            channel.backend_interrupt,
            channel.size.0,
            channel.frontend_cid,
            channel.backend_cid,
        );
    }
    let mut virtual_devices = String::new();
    for device in &config.virtual_devices {
        let _ = writeln!(
            virtual_devices,
            "        {PLAN}::VirtualDevicePlan {{ name: {:?}, domain: {:?}, compatible: {:?}, \
             address: {:#x}, size: {:#x}, interrupt: {} }},",
            device.name,
            device.domain,
            device.compatible,
            device.address,
            device.size.0,
            device.interrupt,
        );
    }
    let source = format!(
        "// Generated by hyp-arm-board-config from {file}; edit that file, not this one.\n\
         /// The domains this image runs, from {file}.\n\
         static SYSTEM_PLAN: {PLAN}::SystemPlan = {PLAN}::SystemPlan {{\n    source: {file:?},\n    \
         scheduling: {PLAN}::Scheduling::{scheduling},\n    domains: &[\n{domains}    ],\n    \
         console: {PLAN}::ConsolePlan {{ initial_focus: {focus}, escape: {escape:#04x} }},\n    \
         channels: &[\n{channels}    ],\n    virtual_devices: &[\n{virtual_devices}    ],\n}};\n",
        scheduling = match config.board.scheduling {
            Scheduling::Pinned => "Pinned",
            Scheduling::Shared => "Shared",
        },
        domains = indent(&domains),
        focus = initial_focus(config),
        escape = config.console.escape,
    );
    Ok(Generated {
        source,
        images: image_files,
    })
}

fn optional_address(address: Option<u64>) -> String {
    match address {
        Some(address) => format!("Some({address:#x})"),
        None => "None".to_string(),
    }
}

/// Nests the domain list one level deeper.
fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect()
}

/// `console.initial_focus`, else the first domain with an emulated UART, else domain 0.
pub fn initial_focus(config: &Config) -> usize {
    let named = config.console.initial_focus.as_ref().and_then(|name| {
        config
            .domains
            .iter()
            .position(|domain| &domain.name == name)
    });
    named
        .or_else(|| {
            config
                .domains
                .iter()
                .position(|domain| domain.console == DomainConsole::EmulatedUart)
        })
        .unwrap_or(0)
}
