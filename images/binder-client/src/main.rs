//! `binder-client`: opens the binder device and asks the kernel's binder driver for its protocol
//! version (`BINDER_VERSION`), the first thing every Android process's libbinder does.
//!
//! Prints `binder: protocol version N` and exits 0, or a sentence with the errno text and exits 1.
//! Built as a static `aarch64-unknown-linux-musl` executable for the guest's initramfs
//! (`cargo xtask initramfs` puts it at `/bin/binder-client`).

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::process::ExitCode;

/// The device the binder_linux module creates with `devices=binder,...`.
const DEFAULT_DEVICE: &str = "/dev/binder";

/// `struct binder_version` of the kernel's UAPI (include/uapi/linux/android/binder.h).
#[repr(C)]
struct BinderVersion {
    protocol_version: i32,
}

/// `_IOWR('b', 9, struct binder_version)`: direction read|write (3) in bits 31:30, the argument
/// size in bits 29:16, the type 'b' in bits 15:8 and the number in bits 7:0 (asm-generic/ioctl.h).
const BINDER_VERSION: u32 = ioctl_read_write(b'b', 9, core::mem::size_of::<BinderVersion>());

const fn ioctl_read_write(kind: u8, number: u8, size: usize) -> u32 {
    3 << 30 | (size as u32) << 16 | (kind as u32) << 8 | number as u32
}

fn main() -> ExitCode {
    // An optional argument names another binder device (hwbinder, vndbinder).
    let device = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_DEVICE.to_string());
    match protocol_version(&device) {
        Ok(version) => {
            println!("binder: protocol version {version}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("binder: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Opens `device` and returns the protocol version its driver reports.
fn protocol_version(device: &str) -> Result<i32, String> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(device)
        .map_err(|error| format!("cannot open {device}: {error}"))?;
    let mut version = BinderVersion {
        protocol_version: -1,
    };
    // SAFETY: BINDER_VERSION writes one `struct binder_version` (its size is encoded in the
    // request) through the pointer, which points at such a struct that lives across the call;
    // the descriptor is open for the whole call.
    let result = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            BINDER_VERSION as _,
            &mut version as *mut BinderVersion,
        )
    };
    if result < 0 {
        let error = io::Error::last_os_error();
        return Err(format!("ioctl BINDER_VERSION on {device} failed: {error}"));
    }
    Ok(version.protocol_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_number_matches_the_kernel_header() {
        // _IOWR('b', 9, __s32) as the kernel computes it.
        assert_eq!(BINDER_VERSION, 0xc004_6209);
    }
}
