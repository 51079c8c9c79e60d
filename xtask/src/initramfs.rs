//! `cargo xtask initramfs`: packs busybox, the test init and kernel modules into a gzipped cpio.
//!
//! Inputs: `target/guest/busybox`, the kernel modules of `target/guest/root`,
//! `images/initramfs/{init,modules.txt}` and the static guest programs (`/bin/binder-client`,
//! `/bin/keystore-cli`, built by [`guest_programs`]). The archive is rebuilt only when one of them (or xtask
//! itself) is newer than it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, ensure, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use hyp_arm_system_tests::command_line::GUEST_INITRD_MAX_SIZE;

use crate::cpio;
use crate::deps;
use crate::guest_programs;
use crate::layout::Layout;
use crate::process::say;

/// What goes into the archive.
struct Contents {
    kernel_version: String,
    init: PathBuf,
    busybox: PathBuf,
    /// Paths relative to `lib/modules/<version>/`, each after the modules it needs.
    modules: Vec<String>,
    modules_dir: PathBuf,
    /// `modules.dep` for exactly these modules.
    modules_dep: String,
    /// Static guest programs (images/binder-client, images/keystore-cli): the file and its path
    /// in the archive.
    programs: Vec<(PathBuf, &'static str)>,
}

/// Builds `target/guest/initramfs.cpio.gz` if needed and returns its path.
pub fn build(layout: &Layout) -> Result<PathBuf> {
    let kernel_version = deps::guest_packages(layout)?;
    let sources = layout.initramfs_sources();
    let modules_dir = deps::guest_modules(layout, &kernel_version)?;
    let list = sources.join("modules.txt");
    let listed = read_module_list(&list)?;
    let (modules, modules_dep) = resolve_modules(&modules_dir, &listed)?;
    let programs = guest_programs::build(layout)?;
    let contents = Contents {
        kernel_version,
        init: sources.join("init"),
        busybox: layout.busybox(),
        modules,
        modules_dir,
        modules_dep,
        programs,
    };

    let output = layout.initramfs();
    let mut inputs = vec![
        contents.init.clone(),
        list,
        contents.busybox.clone(),
        layout.guest_stamp(),
    ];
    inputs.extend(contents.programs.iter().map(|(file, _)| file.clone()));
    inputs.extend(
        contents
            .modules
            .iter()
            .map(|module| contents.modules_dir.join(module)),
    );
    // A new xtask may pack differently.
    inputs.extend(std::env::current_exe().ok());
    if is_up_to_date(&output, &inputs)? {
        say(format!("initramfs is up to date: {}", output.display()));
        return Ok(output);
    }

    let partial = output.with_extension("gz.partial");
    write_archive(&contents, &partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    fs::rename(&partial, &output).with_context(|| {
        format!(
            "cannot rename {} to {}",
            partial.display(),
            output.display()
        )
    })?;
    let size = fs::metadata(&output)?.len();
    ensure!(
        size <= GUEST_INITRD_MAX_SIZE,
        "{} is {size} bytes; at most {GUEST_INITRD_MAX_SIZE} fit between the initrd's load address \
         and QEMU's device tree (tests/src/command_line.rs); list fewer modules",
        output.display()
    );
    say(format!(
        "initramfs: {} ({size} bytes, kernel {}, {} module(s))",
        output.display(),
        contents.kernel_version,
        contents.modules.len()
    ));
    Ok(output)
}

fn write_archive(contents: &Contents, path: &Path) -> Result<()> {
    let file = File::create(path)?;
    let gzip = GzEncoder::new(BufWriter::new(file), Compression::default());
    let mut archive = Archive {
        writer: cpio::Writer::new(gzip),
        directories: BTreeSet::new(),
    };

    for directory in ["bin", "data", "dev", "etc", "proc", "root", "sys"] {
        archive.directory(directory, 0o755)?;
    }
    archive.directory("tmp", 0o1777)?;
    // The kernel opens /dev/console for init before init can mount devtmpfs.
    archive.writer.char_device("dev/console", 0o600, 5, 1)?;

    let busybox = read(&contents.busybox)?;
    archive.file("bin/busybox", 0o755, &busybox)?;
    // init's `#!/bin/busybox sh` installs the other applets; sh is there for people from the start.
    archive.writer.symlink("bin/sh", "busybox")?;
    archive.file("init", 0o755, &read(&contents.init)?)?;
    for (file, installed_as) in &contents.programs {
        archive.file(installed_as, 0o755, &read(file)?)?;
    }

    let modules_root = format!("lib/modules/{}", contents.kernel_version);
    archive.directory(&modules_root, 0o755)?;
    for module in &contents.modules {
        let data = read(&contents.modules_dir.join(module))?;
        archive.file(&format!("{modules_root}/{module}"), 0o644, &data)?;
    }
    archive.file(
        &format!("{modules_root}/modules.dep"),
        0o644,
        contents.modules_dep.as_bytes(),
    )?;

    let gzip = archive.writer.finish()?;
    let buffered = gzip.finish()?;
    let file = buffered.into_inner().map_err(|error| error.into_error())?;
    file.sync_all()?;
    Ok(())
}

/// A cpio writer that adds each missing parent directory before an entry.
struct Archive<W: std::io::Write> {
    writer: cpio::Writer<W>,
    directories: BTreeSet<String>,
}

impl<W: std::io::Write> Archive<W> {
    fn directory(&mut self, name: &str, permissions: u32) -> Result<()> {
        if self.directories.contains(name) {
            return Ok(());
        }
        self.parents(name)?;
        self.writer.directory(name, permissions)?;
        self.directories.insert(name.to_string());
        Ok(())
    }

    fn file(&mut self, name: &str, permissions: u32, data: &[u8]) -> Result<()> {
        self.parents(name)?;
        Ok(self.writer.file(name, permissions, data)?)
    }

    fn parents(&mut self, name: &str) -> Result<()> {
        if let Some((parent, _)) = name.rsplit_once('/') {
            self.directory(parent, 0o755)?;
        }
        Ok(())
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Whether `output` exists and is newer than every input.
fn is_up_to_date(output: &Path, inputs: &[PathBuf]) -> Result<bool> {
    let Ok(built) = fs::metadata(output).and_then(|metadata| metadata.modified()) else {
        return Ok(false);
    };
    for input in inputs {
        let modified: SystemTime = fs::metadata(input)
            .and_then(|metadata| metadata.modified())
            .with_context(|| format!("cannot read {}", input.display()))?;
        if modified > built {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The module paths of `modules.txt`: one per line, `#` starts a comment.
fn read_module_list(path: &Path) -> Result<Vec<String>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_module_list(&text))
}

fn parse_module_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| line.trim_start_matches('/').to_string())
        .collect()
}

/// The listed modules plus everything they depend on, dependencies first, and a `modules.dep`
/// for them (each module followed by all it needs, the first to load last, as depmod writes it).
fn resolve_modules(modules_dir: &Path, listed: &[String]) -> Result<(Vec<String>, String)> {
    let mut index: Option<BTreeMap<String, String>> = None;
    let mut order = Vec::new();
    let mut needs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut stack: Vec<String> = Vec::new();
    for module in listed {
        visit(
            modules_dir,
            module,
            &mut index,
            &mut order,
            &mut needs,
            &mut stack,
        )?;
    }
    let mut modules_dep = String::new();
    for module in &order {
        let mut all = Vec::new();
        collect_needs(module, &needs, &mut all);
        all.reverse();
        modules_dep.push_str(&format!("{module}:"));
        for dependency in all {
            modules_dep.push(' ');
            modules_dep.push_str(&dependency);
        }
        modules_dep.push('\n');
    }
    Ok((order, modules_dep))
}

/// Depth first: a module's dependencies enter `order` before it.
fn visit(
    modules_dir: &Path,
    module: &str,
    index: &mut Option<BTreeMap<String, String>>,
    order: &mut Vec<String>,
    needs: &mut BTreeMap<String, Vec<String>>,
    stack: &mut Vec<String>,
) -> Result<()> {
    if needs.contains_key(module) {
        return Ok(());
    }
    ensure!(
        !stack.iter().any(|m| m == module),
        "kernel modules depend on each other in a cycle: {} -> {module}",
        stack.join(" -> ")
    );
    let path = modules_dir.join(module);
    ensure!(
        module.ends_with(".ko"),
        "{module}: only uncompressed modules (.ko) are supported"
    );
    let data = read(&path).context("check images/initramfs/modules.txt")?;
    let mut dependencies = Vec::new();
    for name in modinfo_depends(&data) {
        let index = match index {
            Some(index) => index,
            None => index.insert(index_modules(modules_dir)?),
        };
        let Some(dependency) = index.get(&normalize(&name)) else {
            bail!(
                "{module} depends on `{name}`, which is not under {}",
                modules_dir.display()
            );
        };
        dependencies.push(dependency.clone());
    }
    stack.push(module.to_string());
    for dependency in &dependencies {
        visit(modules_dir, dependency, index, order, needs, stack)?;
    }
    stack.pop();
    needs.insert(module.to_string(), dependencies);
    order.push(module.to_string());
    Ok(())
}

/// All modules `module` needs, directly or not, each once, dependencies before dependents.
fn collect_needs(module: &str, needs: &BTreeMap<String, Vec<String>>, all: &mut Vec<String>) {
    for dependency in needs.get(module).into_iter().flatten() {
        if !all.contains(dependency) {
            collect_needs(dependency, needs, all);
            all.push(dependency.clone());
        }
    }
}

/// The names in the `depends=` entry of a module's `.modinfo` section (NUL-separated strings).
fn modinfo_depends(module: &[u8]) -> Vec<String> {
    module
        .split(|&byte| byte == 0)
        .find_map(|entry| entry.strip_prefix(b"depends="))
        .map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The kernel treats `-` and `_` in module names alike.
fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// Module name -> path relative to `modules_dir`, for every `.ko` under it.
fn index_modules(modules_dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut index = BTreeMap::new();
    let mut pending = vec![modules_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if let (Some(stem), Some("ko")) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|e| e.to_str()),
            ) {
                if let Ok(relative) = path.strip_prefix(modules_dir) {
                    index.insert(normalize(stem), relative.to_string_lossy().into_owned());
                }
            }
        }
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_list_ignores_comments_and_blanks() {
        let text = "# comment\n\nkernel/a.ko  # why\n/kernel/b.ko\n";
        assert_eq!(parse_module_list(text), ["kernel/a.ko", "kernel/b.ko"]);
    }

    #[test]
    fn depends_from_modinfo() {
        let module = b"\x7fELF...\0license=GPL\0depends=snd-pcm,soundcore\0name=x\0";
        assert_eq!(modinfo_depends(module), ["snd-pcm", "soundcore"]);
        assert!(modinfo_depends(b"\0depends=\0name=x\0").is_empty());
    }

    #[test]
    fn dependencies_come_first_and_fill_modules_dep() {
        let dir = std::env::temp_dir().join(format!("xtask-modules-{}", std::process::id()));
        let module = |path: &str, depends: &str| {
            let file = dir.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, format!("\0depends={depends}\0")).unwrap();
        };
        module("kernel/a/top.ko", "mid");
        module("kernel/b/mid.ko", "base-x");
        module("kernel/c/base_x.ko", "");
        let (order, modules_dep) = resolve_modules(&dir, &["kernel/a/top.ko".to_string()]).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            order,
            ["kernel/c/base_x.ko", "kernel/b/mid.ko", "kernel/a/top.ko"]
        );
        assert_eq!(
            modules_dep,
            "kernel/c/base_x.ko:\n\
             kernel/b/mid.ko: kernel/c/base_x.ko\n\
             kernel/a/top.ko: kernel/b/mid.ko kernel/c/base_x.ko\n"
        );
    }
}
