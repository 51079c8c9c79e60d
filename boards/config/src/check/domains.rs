//! Checks that need no device tree: names, counts, CPUs, memory, kernels, start order, console.
#![forbid(unsafe_code)]

use hyp_arm::domain::plan::{MAX_DOMAINS, MAX_VCPUS_PER_DOMAIN};

use super::Checker;
use crate::error::{Problem, Span};
use crate::schema::{DomainConsole, Kernel, Scheduling};

/// Stage-2 maps domain RAM with 2 MiB blocks.
pub(crate) const BLOCK_SIZE: u64 = 2 << 20;
/// Domain names tag console lines; keep them short.
const MAX_NAME_LENGTH: usize = 16;

pub(super) fn check(checker: &mut Checker<'_>) {
    counts_and_names(checker);
    cpus(checker);
    memory(checker);
    kernels(checker);
    start_order(checker);
    console(checker);
}

/// `[a-z][a-z0-9-]*`, at most `limit` bytes.
pub(crate) fn is_usable_name(name: &str, limit: usize) -> bool {
    name.len() <= limit
        && name.starts_with(|character: char| character.is_ascii_lowercase())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

fn counts_and_names(checker: &mut Checker<'_>) {
    let domains = &checker.config.domains;
    if domains.is_empty() {
        checker.reject("domain", Problem::NoDomains);
    } else if domains.len() > MAX_DOMAINS {
        checker.reject(
            "domain",
            Problem::TooManyDomains {
                count: domains.len(),
                limit: MAX_DOMAINS,
            },
        );
    }
    for (index, domain) in domains.iter().enumerate() {
        let key = format!("domain[{index}].name");
        if !is_usable_name(&domain.name, MAX_NAME_LENGTH) {
            checker.reject(
                key.clone(),
                Problem::BadName {
                    name: domain.name.clone(),
                },
            );
        }
        if let Some(first) = domains[..index]
            .iter()
            .position(|earlier| earlier.name == domain.name)
        {
            checker.reject(
                key,
                Problem::DuplicateName {
                    name: domain.name.clone(),
                    first,
                },
            );
        }
    }
}

fn cpus(checker: &mut Checker<'_>) {
    let config = checker.config;
    let max_cpus = config.board.max_cpus;
    // Pinned: who runs on each physical CPU so far.
    let mut holders: Vec<(usize, String)> = Vec::new();
    for (index, domain) in config.domains.iter().enumerate() {
        if domain.vcpus.is_empty() {
            checker.reject(format!("domain[{index}].vcpus"), Problem::NoVcpus);
        } else if domain.vcpus.len() > MAX_VCPUS_PER_DOMAIN {
            checker.reject(
                format!("domain[{index}].vcpus"),
                Problem::TooManyVcpus {
                    count: domain.vcpus.len(),
                    limit: MAX_VCPUS_PER_DOMAIN,
                },
            );
        }
        for (vcpu, &pcpu) in domain.vcpus.iter().enumerate() {
            let key = format!("domain[{index}].vcpus[{vcpu}]");
            if pcpu >= max_cpus {
                checker.reject(key, Problem::CpuBeyondBoard { pcpu, max_cpus });
                continue;
            }
            if config.board.scheduling != Scheduling::Pinned {
                continue;
            }
            match holders.iter().find(|(held, _)| *held == pcpu) {
                Some((_, holder)) => {
                    let holder = holder.clone();
                    checker.reject(key, Problem::CpuTaken { pcpu, holder });
                }
                None => holders.push((pcpu, format!("vCPU {vcpu} of domain \"{}\"", domain.name))),
            }
        }
    }
}

fn memory(checker: &mut Checker<'_>) {
    let config = checker.config;
    // Fixed physical ranges so far, with their domain's name.
    let mut physical: Vec<(Span, &str)> = Vec::new();
    for (index, domain) in config.domains.iter().enumerate() {
        let memory = domain.memory;
        let size = memory.size.0;
        let key = format!("domain[{index}].memory");
        if size == 0 {
            checker.reject(format!("{key}.size"), Problem::SizeZero);
        } else if size % BLOCK_SIZE != 0 {
            checker.reject(
                format!("{key}.size"),
                Problem::SizeNotBlockMultiple { size },
            );
        }
        for (field, address) in [("ipa", memory.ipa), ("physical", memory.physical)] {
            let Some(address) = address else { continue };
            let field_key = format!("{key}.{field}");
            if address % BLOCK_SIZE != 0 {
                checker.reject(field_key, Problem::AddressNotBlockAligned { address });
            } else if address.checked_add(size).is_none() {
                checker.reject(field_key, Problem::RangeWraps { address, size });
            }
        }
        let Some(start) = memory.physical else {
            continue;
        };
        let span = Span { start, size };
        if let Some((other, other_span)) = physical
            .iter()
            .find(|(other_span, _)| spans_overlap(*other_span, span))
            .map(|(other_span, other)| (other.to_string(), *other_span))
        {
            checker.reject(
                format!("{key}.physical"),
                Problem::PhysicalOverlap {
                    other,
                    span: other_span,
                },
            );
        }
        physical.push((span, &domain.name));
    }
}

/// Whether two byte ranges share a byte (ranges that wrap were rejected already).
pub(crate) fn spans_overlap(first: Span, second: Span) -> bool {
    let end = |span: Span| span.start.saturating_add(span.size);
    first.size != 0 && second.size != 0 && first.start < end(second) && second.start < end(first)
}

fn kernels(checker: &mut Checker<'_>) {
    let config = checker.config;
    let mut boot_modules: Option<&str> = None;
    for (index, domain) in config.domains.iter().enumerate() {
        match &domain.kernel {
            Kernel::BootModules => {
                if let Some(first) = boot_modules {
                    checker.reject(
                        format!("domain[{index}].kernel"),
                        Problem::TwoBootModuleDomains {
                            first: first.to_string(),
                        },
                    );
                } else {
                    boot_modules = Some(&domain.name);
                }
                if domain.initrd.is_some() {
                    checker.reject(
                        format!("domain[{index}].initrd"),
                        Problem::InitrdWithBootModules,
                    );
                }
            }
            Kernel::Embedded(image) => check_image_name(
                checker,
                format!("domain[{index}].kernel.embedded"),
                &image.embedded,
            ),
        }
        if let Some(initrd) = &domain.initrd {
            check_image_name(
                checker,
                format!("domain[{index}].initrd.embedded"),
                &initrd.embedded,
            );
        }
    }
}

fn check_image_name(checker: &mut Checker<'_>, key: String, name: &str) {
    if !is_usable_name(name, 64) {
        checker.reject(
            key,
            Problem::BadImageName {
                name: name.to_string(),
            },
        );
    }
}

fn start_order(checker: &mut Checker<'_>) {
    let config = checker.config;
    for (index, domain) in config.domains.iter().enumerate() {
        let Some(name) = &domain.starts_after else {
            continue;
        };
        let key = format!("domain[{index}].starts_after");
        let name = name.clone();
        match config.domains.iter().position(|other| other.name == name) {
            None => checker.reject(key, Problem::StartsAfterUnknown { name }),
            Some(other) if other == index => checker.reject(key, Problem::StartsAfterItself),
            Some(other) if other > index => checker.reject(key, Problem::StartsAfterLater { name }),
            Some(_) => {}
        }
    }
}

fn console(checker: &mut Checker<'_>) {
    let config = checker.config;
    let escape = config.console.escape;
    // Control characters are 0x00-0x1f and 0x7f (DEL).
    if escape >= 0x20 && escape != 0x7f {
        checker.reject("console.escape", Problem::EscapeNotControl { byte: escape });
    }
    let mut unclaimed_owner: Option<&str> = None;
    for (index, domain) in config.domains.iter().enumerate() {
        if !domain.owns_unclaimed_devices {
            continue;
        }
        match unclaimed_owner {
            Some(first) => checker.reject(
                format!("domain[{index}].owns_unclaimed_devices"),
                Problem::TwoUnclaimedOwners {
                    first: first.to_string(),
                },
            ),
            None => unclaimed_owner = Some(&domain.name),
        }
    }
    let Some(name) = &config.console.initial_focus else {
        return;
    };
    let name = name.clone();
    match config.domains.iter().find(|domain| domain.name == name) {
        None => checker.reject(
            "console.initial_focus",
            Problem::InitialFocusUnknown { name },
        ),
        Some(domain) if domain.console != DomainConsole::EmulatedUart => checker.reject(
            "console.initial_focus",
            Problem::InitialFocusWithoutUart { name },
        ),
        Some(_) => {}
    }
}
