//! Where xtask finds its inputs and puts what it produces.

use std::env;
use std::path::{Path, PathBuf};

/// Paths in the repository. Everything xtask produces lives under `<repository>/target/`, whatever
/// the current directory, so the README's paths are always right.
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new() -> Layout {
        // xtask/ sits at the top of the workspace.
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.parent().unwrap_or(manifest).to_path_buf();
        Layout { root }
    }

    pub fn target(&self) -> PathBuf {
        self.root.join("target")
    }

    /// Where cargo puts compiled crates: `$CARGO_TARGET_DIR` if set, else `target/`.
    pub fn cargo_target(&self) -> PathBuf {
        match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                match env::current_dir() {
                    Ok(current) if dir.is_relative() => current.join(dir),
                    _ => dir,
                }
            }
            None => self.target(),
        }
    }

    pub fn board_crate(&self, board: &str) -> PathBuf {
        self.root.join("boards").join(board)
    }

    pub fn hypervisor_image(&self, board: &str) -> PathBuf {
        self.target().join("images").join(board).join("hyp-arm.img")
    }

    /// Everything about the guest: Debian packages, their contents, kernel, busybox, initramfs.
    pub fn guest(&self) -> PathBuf {
        self.target().join("guest")
    }

    pub fn guest_debs(&self) -> PathBuf {
        self.guest().join("debs")
    }

    /// The Debian packages, extracted.
    pub fn guest_root(&self) -> PathBuf {
        self.guest().join("root")
    }

    /// Names the kernel version once the guest packages are in place.
    pub fn guest_stamp(&self) -> PathBuf {
        self.guest().join("kernel-version")
    }

    pub fn guest_kernel(&self) -> PathBuf {
        self.guest().join("Image")
    }

    pub fn busybox(&self) -> PathBuf {
        self.guest().join("busybox")
    }

    pub fn initramfs(&self) -> PathBuf {
        self.guest().join("initramfs.cpio.gz")
    }

    /// The init script and module list the initramfs is made of.
    pub fn initramfs_sources(&self) -> PathBuf {
        self.root.join("images").join("initramfs")
    }

    /// The Android-style kernel's recipe: README and config fragment.
    pub fn android_kernel_recipe(&self) -> PathBuf {
        self.root.join("images").join("android-kernel")
    }

    /// Everything `cargo xtask android-kernel` produces: unpacked sources, build tree, Image.
    pub fn android_kernel_work(&self) -> PathBuf {
        self.target().join("android-kernel")
    }

    /// The Android-style guest kernel (arm64 Image) built from images/android-kernel.
    pub fn android_kernel(&self) -> PathBuf {
        self.android_kernel_work().join("Image")
    }

    pub fn test_logs(&self) -> PathBuf {
        self.target().join("test-logs")
    }
}
